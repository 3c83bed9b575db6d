"""Checking the PAdES seal of a certificate PDF (ECDSA/RSA, pyHanko's validator).

:func:`check_pdf_seal` runs the pipeline of :mod:`bdcert.verify.pipeline` (its module docstring
lists the codes and their order) with pyHanko as the crypto step: the digest with the signature's
own algorithm, then :func:`pyhanko.sign.validation.async_validate_pdf_signature` against the trust
roots, offline (no fetching, revocation soft-fail).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bdcert import pki
from bdcert.errors import ConfigurationError
from bdcert.model import VerdictCode
from bdcert.verify.pipeline import (
    ByteRange,
    SealCheck,
    Verification,
    check_pdf_signature,
    judge_single_seal,
    message_digest,
    raw_check,
)

__all__ = ["PadesCrypto", "check_pdf_seal"]

_CHANGED = "bytes inside the signed range were changed: the digest does not match the seal"


@functools.lru_cache(maxsize=8)
def _parse_roots(roots: tuple[bytes, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for data in roots:
        try:
            certs = pki.load_certificates(data)
        except ValueError:
            raise ConfigurationError(f"a trust root {pki.NOT_A_CERTIFICATE}") from None
        out.extend(asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in certs)
    return tuple(out)


def _usable(root: Any) -> bool:
    """Whether a root's key is one pyHanko can check signatures with: an SM2 root (an SM2
    workspace) anchors only GB/T 38540 seals, so a PAdES seal meets it as untrusted, not as a
    signature that cannot be validated."""
    try:
        x509.load_der_x509_certificate(root.dump()).public_key()
    except Exception:
        return False
    return True


def _validation_context(trust_roots: Sequence[bytes]) -> Any:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=[r for r in _parse_roots(tuple(bytes(r) for r in trust_roots)) if _usable(r)],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def check_pdf_seal(pdf: bytes, trust_roots: Sequence[bytes]) -> SealCheck:
    """Check the one PAdES seal of a certificate PDF against ``trust_roots``.

    :param pdf: the file as received; any bytes (hostile input never raises).
    :param trust_roots: root certificates, each PEM (one or more) or DER.
    :returns: a :class:`~bdcert.verify.pipeline.SealCheck`; see
        :mod:`bdcert.verify.pipeline` for the codes and their order.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    """
    data = bytes(pdf)
    crypto = PadesCrypto(_validation_context(trust_roots))  # configuration errors surface first
    return judge_single_seal(
        data,
        lambda sig: check_pdf_signature(data, sig, crypto),
        lambda why: raw_check(data, why),
    )


class PadesCrypto:
    """The crypto step of a PAdES seal check: pyHanko's validator with ``context``
    (a ``pyhanko_certvalidator.ValidationContext``)."""

    valid_detail = "one intact seal covering the whole file, signed by a trusted certificate"

    def __init__(self, context: Any) -> None:
        self.context = context

    def signer_certificate(self, sig: Any) -> Any:
        try:
            return sig.signer_cert
        except Exception:
            return None

    def claimed_time(self, sig: Any) -> datetime | None:
        """``/M`` (pyHanko's self-reported timestamp)."""
        try:
            value = sig.self_reported_timestamp
        except Exception:
            return None
        return value if isinstance(value, datetime) else None

    def check_digest(self, data: bytes, rng: ByteRange, sig: Any) -> Verification | None:
        expected = message_digest(sig.signer_info)
        if expected is not None and rng.digest(data, sig.md_algorithm) != expected:
            return Verification(VerdictCode.DIGEST_MISMATCH, _CHANGED)
        return None

    def verify(self, sig: Any, cert: Any) -> Verification:
        # pyHanko is heavy: loaded by the first check, not when the register is opened
        from pyhanko.sign.validation import async_validate_pdf_signature

        from bdcert.sealing.pades import run_sync

        try:
            status = run_sync(
                async_validate_pdf_signature(
                    sig, signer_validation_context=self.context, skip_diff=True
                )
            )
        except Exception as e:
            return Verification(
                VerdictCode.SIGNATURE_INVALID,
                f"the signature cannot be validated: {type(e).__name__}: {e}",
            )
        if not status.intact:
            return Verification(VerdictCode.DIGEST_MISMATCH, _CHANGED)
        if not status.valid:
            return Verification(
                VerdictCode.SIGNATURE_INVALID,
                "the cryptographic signature does not verify against the signer's certificate",
            )
        signed_at = status.signer_reported_dt
        if not status.trusted:
            indication = status.trust_problem_indic
            why = f" ({indication})" if indication is not None else ""
            return Verification(
                VerdictCode.UNTRUSTED_SIGNER,
                f"the signer's certificate does not chain to a configured trust root{why}",
                signed_at,
            )
        return Verification(signed_at=signed_at)
