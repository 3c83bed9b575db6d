"""Checking the SM2 seal of a certificate PDF (a GM/T 0010-style detached CMS, SM2 with SM3).

:func:`check_pdf_sm2` runs the pipeline of :mod:`bdcert.verify.pipeline` — the codes of
:func:`bdcert.verify.pades.check_pdf_seal`, in the same order, with the same ``/ByteRange`` and
whole-file checks — with SM2/SM3 as the crypto step: the SM3 digest of the byte ranges, the SM2
signature over the signed attributes, and the chain to the trust roots
(:func:`bdcert.gm.x509.verify_sm2_chain`, at the time of the check, as PAdES validation without a
timestamp does). The seals are made by :func:`bdcert.sealing.pdf_sm2.seal_pdf_sm2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes

from bdcert.errors import BdcertError
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, OID_SM3_ALT
from bdcert.gm.x509 import sm2_public_key_of, verify_sm2_chain
from bdcert.model import VerdictCode
from bdcert.verify.pipeline import (
    ByteRange,
    SealCheck,
    Verification,
    check_pdf_signature,
    der_certificates,
    find_signer_cert,
    hashlib_range_digest,
    judge_single_seal,
    message_digest,
    raw_check,
)

__all__ = ["Sm2Crypto", "check_pdf_sm2", "sm3_range_digest"]

#: sm2sign (GM/T 0006), accepted as a signatureAlgorithm when reading (some GM/T 0010 signers).
_OID_SM2_SIGN = "1.2.156.10197.1.301.1"


def check_pdf_sm2(pdf: bytes, *, trust_roots: Sequence[bytes]) -> SealCheck:
    """Check the one SM2 seal of a certificate PDF against ``trust_roots``.

    :param pdf: the file as received; any bytes (hostile input never raises).
    :param trust_roots: SM2 root certificates, each PEM (one or more) or DER.
    :returns: a :class:`~bdcert.verify.pipeline.SealCheck` with the codes of
        :func:`bdcert.verify.pades.check_pdf_seal`; a signature that is not SM2 with SM3 is
        ``SIGNATURE_INVALID``.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    :raises MissingDependency: without the ``gm`` extra (SM2).
    """
    crypto = Sm2Crypto(der_certificates(trust_roots))
    data = bytes(pdf)
    return judge_single_seal(
        data,
        lambda sig: check_pdf_signature(data, sig, crypto),
        lambda why: raw_check(data, why, sm3_range_digest),
        reraise=(BdcertError,),
    )


def _sm3_ranges(data: bytes, rng: ByteRange) -> bytes:
    a, b, c, d = rng.values
    h = hashes.Hash(hashes.SM3())
    h.update(memoryview(data)[a : a + b])
    h.update(memoryview(data)[c : c + d])
    return h.finalize()


def sm3_range_digest(data: bytes, rng: ByteRange, signer_info: Any) -> bytes | None:
    """The digest of the signed range for :func:`~bdcert.verify.pipeline.raw_check`: SM3 for an
    SM3 signature (:mod:`hashlib` has no name for the SM3 OID), else by the hashlib name."""
    if signer_info["digest_algorithm"]["algorithm"].dotted in (OID_SM3, OID_SM3_ALT):
        return _sm3_ranges(data, rng)
    return hashlib_range_digest(data, rng, signer_info)


class Sm2Crypto:
    """The crypto step of an SM2 seal check, against ``roots`` (DER certificates)."""

    valid_detail = "one intact SM2 seal covering the whole file, signed by a trusted certificate"

    def __init__(self, roots: tuple[bytes, ...]) -> None:
        self.roots = roots

    def signer_certificate(self, sig: Any) -> Any:
        return find_signer_cert(sig.signed_data, sig.signer_info)

    def claimed_time(self, sig: Any) -> datetime | None:
        """The signingTime signed attribute."""
        return _signing_time_of(sig.signer_info)

    def check_digest(self, data: bytes, rng: ByteRange, sig: Any) -> Verification | None:
        signer_info = sig.signer_info
        if signer_info["digest_algorithm"]["algorithm"].dotted not in (OID_SM3, OID_SM3_ALT):
            return Verification(
                VerdictCode.SIGNATURE_INVALID, "the seal is not an SM3/SM2 signature"
            )
        expected = message_digest(signer_info)
        if expected is None or _sm3_ranges(data, rng) != expected:
            return Verification(
                VerdictCode.DIGEST_MISMATCH,
                "bytes inside the signed range were changed: the SM3 digest does not match the"
                " seal",
            )
        return None

    def verify(self, sig: Any, cert: Any) -> Verification:
        why = _signature_problem(sig.signer_info, cert)
        if why is not None:
            return Verification(VerdictCode.SIGNATURE_INVALID, why)
        intermediates = [
            c.chosen.dump()
            for c in sig.signed_data["certificates"] or ()
            if c.name == "certificate" and c.chosen.dump() != cert.dump()
        ]
        untrusted = verify_sm2_chain(
            cert.dump(), self.roots, datetime.now(UTC), intermediates_der=intermediates
        )
        if untrusted is not None:
            return Verification(
                VerdictCode.UNTRUSTED_SIGNER,
                f"the signer's certificate does not chain to a configured trust root ({untrusted})",
            )
        return Verification()


def _signature_problem(signer_info: Any, cert: Any) -> str | None:
    """Why the SM2 signature over the signed attributes does not verify, or None."""
    if cert is None:
        return "the signer's certificate is not in the signature"
    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in (OID_SM2_WITH_SM3, _OID_SM2_SIGN):
        return f"the signature algorithm {algorithm} is not SM2 with SM3"
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        return "the signature has no signed attributes"
    kinds = {a["type"].native: a["values"] for a in attrs}
    if "content_type" not in kinds or kinds["content_type"][0].native != "data":
        return "the signed contentType is not id-data"
    try:
        public = sm2_public_key_of(cert.dump())
    except ValueError as exc:
        return f"the signer's certificate holds no SM2 key: {exc}"
    signed = b"\x31" + attrs.dump()[1:]  # [0] IMPLICIT as signed: universal SET OF
    if not public.verify(bytes(signer_info["signature"].native), signed):
        return "the SM2 signature does not verify against the signer's certificate"
    return None


def _signing_time_of(signer_info: Any) -> datetime | None:
    try:
        for attr in signer_info["signed_attrs"]:
            if attr["type"].native == "signing_time":
                value = attr["values"][0].native
                return value if isinstance(value, datetime) else None
    except Exception:
        return None
    return None
