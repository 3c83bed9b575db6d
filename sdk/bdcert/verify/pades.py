"""Checking the PAdES seal of a certificate PDF (ECDSA/RSA, pyHanko's validator).

:func:`check_pdf_seal` runs the pipeline of :mod:`bdcert.verify.pipeline` (its module docstring
lists the codes and their order) with pyHanko as the crypto step: the digest with the signature's
own algorithm, then the signature and its chain against the trust roots, offline (no fetching).

A seal without timestamps (PAdES B-B) is validated now with pyHanko's
:func:`~pyhanko.sign.validation.async_validate_pdf_signature` (revocation soft-fail). A seal with
a signature timestamp (B-T), validation data (B-LT) or document timestamps (B-LTA) is validated
as ETSI EN 319 102-1 says (pyHanko's AdES LTA validation,
:func:`~pyhanko.sign.validation.ades.ades_lta_validation`): at the validation time ``at``
(default now), using the timestamps as proofs of existence and the embedded certificates, CRLs
and OCSP responses (plus the CRLs given), revocation information required. So a seal whose
certificate expired years ago is still VALID when its evidence shows it was made while the
certificate was in force, and ``REVOKED`` when the certificate was revoked before that.

Document timestamps after the seal are accepted when they follow it in order, are intact, each
is by a TSA chaining to a trust root (now, at ``at``, or at the time the next one proves; with
or without ``at``), the last one covers the whole file, and pyHanko's modification analysis
(:func:`bdcert.verify.ltv.lta_diff_policy`: ``/Info`` and XMP changed only as pyHanko's writer
does) finds nothing but validation data and timestamps added after the seal (ISO 32000-2
§12.8.2.2.2 allows those under DocMDP permission 1); anything else appended is
``MODIFIED_AFTER_SEALING``.

A signature timestamp proves the seal's time only when it validates
(:func:`bdcert.verify.ltv.signature_timestamp_time`); one that does not is ``UNTRUSTED_SIGNER``.
So is a validation time ``at`` before the seal was made (its proven time, else ``/M``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
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
    fail,
    is_document_timestamp,
    judge_single_seal,
    message_digest,
    raw_check,
    signed_revision_sha256,
    subject,
)

__all__ = ["PadesCrypto", "check_pdf_seal", "document_timestamps"]

_EXTENDED_DETAIL = (
    "one intact seal signed by a trusted certificate, followed only by validation data and"
    " document timestamps (PAdES B-LT/B-LTA)"
)
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


def _validation_context(
    trust_roots: Sequence[bytes], crls: Sequence[bytes] = (), moment: datetime | None = None
) -> Any:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=[r for r in _parse_roots(tuple(bytes(r) for r in trust_roots)) if _usable(r)],
        allow_fetching=False,
        revocation_mode="soft-fail",
        crls=[bytes(c) for c in crls],
        moment=moment,
    )


def check_pdf_seal(
    pdf: bytes,
    trust_roots: Sequence[bytes],
    *,
    at: datetime | None = None,
    crls: Sequence[bytes] = (),
) -> SealCheck:
    """Check the one PAdES seal of a certificate PDF against ``trust_roots``.

    :param pdf: the file as received; any bytes (hostile input never raises).
    :param trust_roots: root certificates, each PEM (one or more) or DER.
    :param at: the validation time (aware; default now): a time years ahead asks whether the
        seal will still be proven then, from the evidence embedded today (B-LT, B-LTA).
    :param crls: CRLs (DER) the verifier knows besides those embedded (e.g. the demo root's
        current CRL): a revocation they list is found even in a seal made before it was
        published.
    :returns: a :class:`~bdcert.verify.pipeline.SealCheck`; see
        :mod:`bdcert.verify.pipeline` for the codes and their order.
    :raises ConfigurationError: only if a trust root cannot be parsed, or ``at`` is naive.
    """
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise ConfigurationError("the validation time must be timezone-aware")
    data = bytes(pdf)
    roots = tuple(bytes(r) for r in trust_roots)
    crypto = PadesCrypto(_validation_context(roots, crls), roots=roots, at=at, crls=tuple(crls))

    def check_one(sig: Any) -> SealCheck:
        stamps = document_timestamps(sig)
        if _ends_in_signed_range(data, sig) or not (stamps or _has_validation_data(sig)):
            return check_pdf_signature(data, sig, crypto)  # nothing a PAdES extension adds
        # what was added after the seal; then the seal (its range, value, chain); then the
        # document timestamps
        modified: SealCheck | None = _modified_beyond_lta(data, sig, crypto)
        if modified is not None:
            return modified
        check = check_pdf_signature(data, sig, crypto, extended=True)
        if check.code is not VerdictCode.VALID:
            return check
        problem: SealCheck | None = _extension_problem(data, sig, stamps, crypto)
        if problem is not None:
            return problem
        return attrs.evolve(check, detail=_EXTENDED_DETAIL)

    return judge_single_seal(data, check_one, lambda why: raw_check(data, why))


def document_timestamps(sig: Any) -> list[Any]:
    """The document timestamps (``/DocTimeStamp``) of the seal's file, in file order."""
    return [s for s in sig.reader.embedded_signatures if is_document_timestamp(s)]


def _ends_in_signed_range(data: bytes, sig: Any) -> bool:
    """Whether the seal's ``/ByteRange`` reaches the end of the file (or is malformed: the
    pipeline judges it), so nothing follows it."""
    try:
        rng = ByteRange(tuple(int(x) for x in sig.byte_range))
    except (TypeError, ValueError):
        return True
    return not rng.in_bounds(len(data)) or rng.end == len(data)


_EOF = re.compile(rb"%%EOF[\r\n\s]*\Z")


def _facts(data: bytes, seal: Any, crypto: PadesCrypto) -> dict[str, Any]:
    try:
        seal_range = ByteRange(tuple(int(x) for x in seal.byte_range))
    except (TypeError, ValueError):
        seal_range = ByteRange(())
    return {
        "signer": subject(crypto.signer_certificate(seal)),
        "signed_at": crypto.claimed_time(seal),
        "signed_revision_sha256": signed_revision_sha256(data, seal_range),
    }


def _modified_beyond_lta(data: bytes, seal: Any, crypto: PadesCrypto) -> Any:
    """MODIFIED_AFTER_SEALING (a failed SealCheck) when the updates after the seal do more than
    add validation data and document timestamps (pyHanko's modification analysis), or None."""
    from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel

    from bdcert.verify.ltv import lta_diff_policy

    try:
        seal.compute_integrity_info(diff_policy=lta_diff_policy())
        diff = seal.diff_result
    except Exception as e:
        diff, why = None, f"{type(e).__name__}: {e}"
    else:
        why = "" if isinstance(diff, DiffResult) else f"{diff}"
    if not isinstance(diff, DiffResult) or diff.modification_level > ModificationLevel.LTA_UPDATES:
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the file was changed after sealing beyond validation data and document timestamps"
            + (f" ({why})" if why else ""),
            **_facts(data, seal, crypto),
        )
    return None


def _extension_problem(data: bytes, seal: Any, stamps: list[Any], crypto: PadesCrypto) -> Any:
    """Why the document timestamps after the seal are not a sound PAdES extension (a failed
    SealCheck), or None: every one after the seal and intact, and the file ending with the last
    one's signed range, or (B-LT, no timestamp) with the last update's ``%%EOF``."""
    from pyhanko.sign.validation import async_validate_pdf_timestamp

    from bdcert.sealing.pades import run_sync

    facts = _facts(data, seal, crypto)
    if any(s.signed_revision <= seal.signed_revision for s in stamps):
        return fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            "a document timestamp precedes the seal; a certificate is sealed first",
            **facts,
        )
    for stamp in stamps:
        try:
            rng = ByteRange(tuple(int(x) for x in stamp.byte_range))
            status = run_sync(
                async_validate_pdf_timestamp(
                    stamp, validation_context=crypto.context, skip_diff=True
                )
            )
            intact, valid, trusted = status.intact, status.valid, status.trusted
        except Exception as e:
            return fail(
                VerdictCode.SIGNATURE_INVALID,
                f"a document timestamp cannot be validated: {type(e).__name__}: {e}",
                **facts,
            )
        if not rng.in_bounds(len(data)) or not intact:
            return fail(VerdictCode.DIGEST_MISMATCH, f"a document timestamp: {_CHANGED}", **facts)
        if not valid:
            return fail(
                VerdictCode.SIGNATURE_INVALID,
                "a document timestamp's signature does not verify",
                **facts,
            )
        if not trusted and not _trusted_later(stamp, stamps, crypto):
            # whatever the validation time: a timestamp of a TSA of one's own proves nothing,
            # and would let anything pyHanko counts as an LTA update through
            which = "the newest" if stamp is stamps[-1] else "a"
            return fail(
                VerdictCode.UNTRUSTED_SIGNER,
                f"{which} document timestamp is not by a timestamp authority that chains to"
                " a trust root",
                **facts,
            )
    if stamps:
        last = stamps[-1]
        problem = ByteRange(tuple(int(x) for x in last.byte_range)).problem(
            data, bytes(last.pkcs7_content)
        )
        if problem is not None:
            return fail(
                VerdictCode.MODIFIED_AFTER_SEALING,
                f"after the last document timestamp: {problem}",
                **facts,
            )
    elif _EOF.search(data[-64:]) is None:
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "bytes were appended after the last update of the sealed file",
            **facts,
        )
    return None


def _trusted_later(stamp: Any, stamps: list[Any], crypto: PadesCrypto) -> bool:
    """Whether a document timestamp not trusted now is by a TSA chaining to a trust root at the
    validation time, or (an older one, which may have outlived its TSA certificate) at the time
    the next document timestamp proves."""
    from pyhanko.sign.validation import async_validate_pdf_timestamp

    from bdcert.sealing.pades import run_sync

    moments = [] if crypto.at is None else [crypto.at]
    index = stamps.index(stamp)
    if index + 1 < len(stamps):
        try:
            tst = stamps[index + 1].signed_data["encap_content_info"]["content"].parsed
            moments.append(tst["gen_time"].native)
        except Exception:  # the next one is judged in its turn
            pass
    for moment in moments:
        try:
            context = _validation_context(crypto.roots, crypto.crls, moment)
            status = run_sync(
                async_validate_pdf_timestamp(stamp, validation_context=context, skip_diff=True)
            )
        except Exception:
            continue
        if status.intact and status.valid and status.trusted:
            return True
    return False


class PadesCrypto:
    """The crypto step of a PAdES seal check: pyHanko's validator with ``context``
    (a ``pyhanko_certvalidator.ValidationContext``) for a seal without timestamps, its AdES LTA
    validation at ``at`` (default now) with ``roots`` and ``crls`` for one with evidence."""

    valid_detail = "one intact seal covering the whole file, signed by a trusted certificate"

    def __init__(
        self,
        context: Any,
        *,
        roots: tuple[bytes, ...] = (),
        at: datetime | None = None,
        crls: tuple[bytes, ...] = (),
    ) -> None:
        self.context = context
        self.roots = roots
        self.at = at
        self.crls = crls

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
        from bdcert.verify.ltv import signature_timestamp_time, validate_long_term

        proven, unproven = signature_timestamp_time(sig, self.roots, self.crls)
        if unproven is not None:  # a backdated token of a TSA of one's own
            return Verification(VerdictCode.UNTRUSTED_SIGNER, unproven, self.claimed_time(sig))
        made = proven or self.claimed_time(sig)
        if self.at is not None and made is not None and self.at < made:
            return Verification(
                VerdictCode.UNTRUSTED_SIGNER,
                f"the validation time is before the seal was made ({self.at.isoformat()} <"
                f" {made.isoformat()})",
                self.claimed_time(sig),
            )
        if self.at is not None or _has_validation_data(sig):
            return validate_long_term(sig, self.roots, self.at, self.crls)
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
        # soft-fail skips a certificate that names no CRL distribution point: the known CRLs
        # are checked here, against the seal's proven time (its signature timestamp, else now)
        from bdcert.verify.ltv import revoked_before_proof

        revoked = revoked_before_proof(sig, self.roots, self.crls, datetime.now(UTC))
        if status.revoked or revoked is not None:
            why = revoked or "the seal certificate is revoked (its CRL or OCSP response says so)"
            return Verification(VerdictCode.REVOKED, why, signed_at)
        if not status.trusted:
            indication = status.trust_problem_indic
            why = f" ({indication})" if indication is not None else ""
            return Verification(
                VerdictCode.UNTRUSTED_SIGNER,
                f"the signer's certificate does not chain to a configured trust root{why}",
                signed_at,
            )
        return Verification(signed_at=signed_at)


def _has_validation_data(sig: Any) -> bool:
    """Whether the seal's file carries validation data (a DSS: B-LT, B-LTA): then the seal is
    validated the AdES way, also now."""
    try:
        return "/DSS" in sig.reader.root
    except Exception:
        return False
