"""Checking the SM2 seal of a certificate PDF (a GB/T 35275 / GM/T 0010 detached SignedData,
SM2 with SM3).

:func:`check_pdf_sm2` runs the pipeline of :mod:`bdcert.verify.pipeline` — the codes of
:func:`bdcert.verify.pades.check_pdf_seal`, in the same order, with the same ``/ByteRange`` and
whole-file checks — with SM2/SM3 as the crypto step: the SM3 digest of the byte ranges, the SM2
signature over the signed attributes (strict DER), and the chain to the trust roots
(:func:`bdcert.gm.x509.verify_sm2_chain`). The chain is judged at the time of the signature's
time-stamp token (unsigned attribute id-aa-timeStampToken, verified by
:func:`bdcert.gm.sm2_tsp.check_timestamp`) when it carries one, else at the validation time, as
PAdES validation does; the time-stamp itself must hold at the validation time
(:func:`bdcert.gm.sm2_tsp.stamp_problem_at`: not before it, its authority's chain still valid). Both object-identifier forms are read: GB/T 35275's
(``1.2.156.10197.6.1.4.2.x``) and PKCS #7's, which bdcert wrote before
(:mod:`bdcert.gm.sm2_cms`). The seals are made by :func:`bdcert.sealing.pdf_sm2.seal_pdf_sm2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes

from bdcert.errors import BdcertError
from bdcert.gm.ses_signature import TIMESTAMP_SKEW
from bdcert.gm.sm2 import OID_SM3, OID_SM3_ALT
from bdcert.gm.sm2_cms import DATA_TYPES, attribute_values, signer_info_problem, signing_time_of
from bdcert.gm.sm2_tsp import check_timestamp, stamp_problem_at
from bdcert.gm.x509 import verify_sm2_chain
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

_TIME_STAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"  # id-aa-timeStampToken (RFC 3161 Appendix A)


def check_pdf_sm2(
    pdf: bytes, *, trust_roots: Sequence[bytes], at: datetime | None = None
) -> SealCheck:
    """Check the one SM2 seal of a certificate PDF against ``trust_roots``.

    :param pdf: the file as received; any bytes (hostile input never raises).
    :param trust_roots: SM2 root certificates, each PEM (one or more) or DER.
    :param at: the validation time, aware; None is now. A seal whose certificate has expired by
        then is still valid if its time-stamp token shows it was made while the certificate was
        valid; without one it is ``UNTRUSTED_SIGNER``. A validation time before the time-stamp,
        or at which the time-stamp authority's chain is not valid, is ``UNTRUSTED_SIGNER`` too.
    :returns: a :class:`~bdcert.verify.pipeline.SealCheck` with the codes of
        :func:`bdcert.verify.pades.check_pdf_seal`; a signature that is not SM2 with SM3 is
        ``SIGNATURE_INVALID``, as is a time-stamp token that does not verify over the signature
        value.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    :raises ValueError: if ``at`` is naive.
    :raises MissingDependency: without the ``gm`` extra (SM2).
    """
    crypto = Sm2Crypto(der_certificates(trust_roots), at=at)
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

    def __init__(self, roots: tuple[bytes, ...], *, at: datetime | None = None) -> None:
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise ValueError("the validation time must be timezone-aware")
        self.roots = roots
        self.at = at

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
        why = _signature_problem(sig.signed_data, sig.signer_info, cert)
        if why is not None:
            return Verification(VerdictCode.SIGNATURE_INVALID, why)
        stamped: datetime | None = None
        tokens = attribute_values(
            sig.signer_info["unsigned_attrs"], "signature_time_stamp_token", _TIME_STAMP_TOKEN
        )
        if tokens is not None:
            if len(tokens) != 1:
                return Verification(
                    VerdictCode.SIGNATURE_INVALID, "the seal carries more than one time-stamp token"
                )
            stamp = check_timestamp(
                tokens[0].dump(), bytes(sig.signer_info["signature"].native), trust_roots=self.roots
            )
            if isinstance(stamp, str):
                return Verification(VerdictCode.SIGNATURE_INVALID, f"time-stamp: {stamp}")
            claimed = signing_time_of(sig.signer_info)
            if claimed is not None and claimed > stamp.time + TIMESTAMP_SKEW:
                return Verification(
                    VerdictCode.SIGNATURE_INVALID,
                    f"the claimed signing time {claimed.isoformat()} is after the time-stamp "
                    f"{stamp.time.isoformat()}",
                )
            stale = stamp_problem_at(
                stamp, self.roots, self.at or datetime.now(UTC), skew=TIMESTAMP_SKEW
            )
            if stale is not None:
                return Verification(VerdictCode.UNTRUSTED_SIGNER, stale)
            stamped = stamp.time
        intermediates = [
            c.chosen.dump()
            for c in sig.signed_data["certificates"] or ()
            if c.name == "certificate" and c.chosen.dump() != cert.dump()
        ]
        reference = stamped or self.at or datetime.now(UTC)
        untrusted = verify_sm2_chain(
            cert.dump(), self.roots, reference, intermediates_der=intermediates
        )
        if untrusted is not None:
            when = "at its time-stamp" if stamped else "at the validation time (no time-stamp)"
            return Verification(
                VerdictCode.UNTRUSTED_SIGNER,
                f"the signer's certificate does not chain to a configured trust root {when} "
                f"({untrusted})",
            )
        return Verification(signed_at=stamped)


def _signature_problem(signed_data: Any, signer_info: Any, cert: Any) -> str | None:
    """Why the SM2 signature over the signed attributes does not verify, or None: the signed
    content must be ``data`` (either OID form) and the signed contentType the same."""
    content_type = signed_data["encap_content_info"]["content_type"].native
    if content_type not in DATA_TYPES:
        return f"the signed content type {content_type} is not data"
    return signer_info_problem(signer_info, cert, content_type)


def _signing_time_of(signer_info: Any) -> datetime | None:
    return signing_time_of(signer_info)
