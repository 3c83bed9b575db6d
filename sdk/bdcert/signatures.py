"""Storage-independent check of a sealed certificate PDF: one seal, intact, whole file, trusted.

:func:`check_pdf_seal` answers only what the bytes and the trust roots can tell; whether the
certificate is registered, valid, superseded, cancelled or restricted is decided by the caller
from storage. Every outcome has its own :class:`~bdcert.model.VerdictCode`; hostile input never
raises. Checks, in order (the first failing one decides):

1. ``NOT_PDF`` — the bytes are not a readable PDF (and hold no recognisable signature).
2. ``UNSEALED`` — no signature.
3. ``MULTIPLE_SIGNATURES`` — more than the one seal bdcert applies. A second signature is
   necessarily an update appended after sealing, but this more specific code wins.
4. ``DIGEST_MISMATCH`` — the digest of the bytes named by ``/ByteRange`` differs from the
   signed ``messageDigest``: bytes inside the signed range were changed (also when the change
   made the PDF unparsable: the signature is then found by a raw scan of the bytes).
5. ``MODIFIED_AFTER_SEALING`` — the ``/ByteRange`` does not cover the whole file: anything
   appended (an incremental update: page, annotation, form field, /Info; or plain garbage), or
   a non-standard ``/ByteRange`` (not starting at 0, overlapping, or whose gap is not exactly the
   ``/Contents`` hex string — signature-wrapping and universal-forgery shapes).
6. ``SIGNATURE_INVALID`` — the CMS signature does not verify (or cannot be parsed).
7. ``UNTRUSTED_SIGNER`` — sound, but the signer does not chain to a trust root (or the chain is
   not valid now, or the certificate lacks the nonRepudiation key usage).
8. ``VALID``.

Standards: ISO 32000-1 §12.8 (signatures, /ByteRange), ETSI EN 319 142-1 (PAdES).
Revocation is not checked (soft-fail, no fetching): demo and offline certificates carry no
CRL or OCSP pointers, and verification must not touch the network.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from bdcert.errors import ConfigurationError
from bdcert.model import VerdictCode

__all__ = ["SealCheck", "check_pdf_seal", "judge_single_seal"]


@attrs.define(frozen=True)
class SealCheck:
    """What the bytes of a sealed PDF say.

    :ivar code: the first failing check, or ``VALID`` (see the module docstring for the order).
    :ivar trusted: True only for ``VALID``: intact, whole file, verifies, chains to a trust root.
    :ivar detail: one sentence explaining the code.
    :ivar signer: the signer certificate's subject (RFC 4514), when one was read.
    :ivar signed_at: the signing time the signature claims (``/M``), when read.
    :ivar signed_revision_sha256: hex SHA-256 of the bytes from offset 0 to the end of the signed
        ``/ByteRange`` — for an intact seal, the PDF exactly as sealed, to compare with the
        register's ``pdf_sha256`` even when something was appended.
    """

    code: VerdictCode
    trusted: bool
    detail: str
    signer: str | None = None
    signed_at: datetime | None = None
    signed_revision_sha256: str | None = None


_BYTE_RANGE = re.compile(
    rb"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]"
)
_HEX = re.compile(rb"[0-9A-Fa-f]*")
_SUBJECT_NAMES = {NameOID.SERIAL_NUMBER: "serialNumber"}


def _fail(code: VerdictCode, detail: str, **kwargs: Any) -> SealCheck:
    return SealCheck(code=code, trusted=False, detail=detail, **kwargs)


# --------------------------------------------------------------------------- trust roots


@functools.lru_cache(maxsize=8)
def _parse_roots(roots: tuple[bytes, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for data in roots:
        try:
            if b"-----BEGIN" in data:
                certs = x509.load_pem_x509_certificates(data)
            else:
                certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise ConfigurationError("a trust root is not a PEM or DER X.509 certificate") from None
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


# --------------------------------------------------------------------------- byte ranges


@attrs.define(frozen=True)
class _Range:
    """A standard ``/ByteRange [0 b c d]`` read from the file."""

    values: tuple[int, ...]

    @property
    def end(self) -> int:
        return self.values[2] + self.values[3] if len(self.values) == 4 else 0

    def in_bounds(self, size: int) -> bool:
        v = self.values
        return (
            len(v) == 4 and all(x >= 0 for x in v) and v[0] + v[1] <= v[2] and v[2] + v[3] <= size
        )

    def digest(self, data: bytes, md: str) -> bytes:
        a, b, c, d = self.values
        h = hashlib.new(md)
        h.update(memoryview(data)[a : a + b])
        h.update(memoryview(data)[c : c + d])
        return h.digest()

    def gap(self, data: bytes) -> bytes | None:
        """The hex string between the two ranges, or None if the gap is not exactly ``<hex>``."""
        _, b, c, _ = self.values
        gap = data[b:c]
        if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">":
            return None
        inner = gap[1:-1]
        if len(inner) % 2 or _HEX.fullmatch(inner) is None:
            return None
        return inner

    def problem(self, data: bytes, contents: bytes | None) -> str | None:
        """Why this range does not cover the whole file as a sound seal must, or None."""
        a, _, c, d = self.values
        if a != 0:
            return "the signed /ByteRange does not start at the beginning of the file"
        inner = self.gap(data)
        if inner is None:
            return "the gap in the /ByteRange is not exactly the signature's /Contents hex string"
        if contents is not None and binascii.unhexlify(inner) != contents:
            return "the gap in the /ByteRange does not hold the signature's /Contents"
        if contents is not None and not _only_zero_padding(contents):
            return "the signature's /Contents carries bytes after the signature (it was changed)"
        if c + d != len(data):
            extra = len(data) - (c + d)
            return f"{extra} bytes were appended after the signed range (an incremental update?)"
        return None


def _only_zero_padding(contents: bytes) -> bool:
    """True when ``/Contents`` is one DER value followed only by zero bytes (PDF 32000 12.8.1)."""
    if len(contents) < 2 or contents[0] != 0x30:
        return False
    first = contents[1]
    if first < 0x80:
        size = 2 + first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or len(contents) < 2 + n:
            return False
        size = 2 + n + int.from_bytes(contents[2 : 2 + n], "big")
    return size <= len(contents) and not any(contents[size:])


def _signer_problem(cert: Any) -> str | None:
    """Why a trusted certificate still may not be an e-seal: a CA, or a key not for signing."""
    try:
        if cert.ca:
            return "the signer is a certification authority, not a seal certificate"
        usage = cert.key_usage_value
        if usage is not None and not ({"digital_signature", "non_repudiation"} & set(usage.native)):
            return "the signer's key usage does not allow signing documents"
    except (AttributeError, ValueError) as e:
        return f"the signer's certificate cannot be read: {e}"
    return None


def _signed_revision_sha256(data: bytes, rng: _Range) -> str | None:
    if not rng.in_bounds(len(data)):
        return None
    return hashlib.sha256(memoryview(data)[: rng.end]).hexdigest()


def _message_digest(signer_info: Any) -> bytes | None:
    signed_attrs = signer_info["signed_attrs"]
    if signed_attrs.native is None:
        return None
    for attr in signed_attrs:
        if attr["type"].native == "message_digest":
            return bytes(attr["values"][0].native)
    return None


# --------------------------------------------------------------------------- signer facts


def _subject(cert: Any) -> str | None:
    try:
        parsed = x509.load_der_x509_certificate(cert.dump())
        return parsed.subject.rfc4514_string(_SUBJECT_NAMES)
    except Exception:
        return None


def _find_signer_cert(signed_data: Any, signer_info: Any) -> Any:
    sid = signer_info["sid"]
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.serial_number == ias["serial_number"].native and cert.issuer == ias["issuer"]:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


# --------------------------------------------------------------------------- raw fallback


def _raw_check(data: bytes, why: str) -> SealCheck:
    """Judge a file pyHanko could not read (or found no signature in) from its raw bytes."""
    ranges = {m.groups() for m in _BYTE_RANGE.finditer(data)}
    if not ranges:
        if b"%PDF-" not in data[:1024]:
            return _fail(VerdictCode.NOT_PDF, "the bytes are not a PDF (nor an OFD package)")
        if why:
            return _fail(VerdictCode.NOT_PDF, f"the PDF cannot be read: {why}")
        return _fail(VerdictCode.UNSEALED, "the PDF holds no signature")
    if len(ranges) > 1:
        return _fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            f"the file holds {len(ranges)} signatures; a certificate carries exactly one seal",
        )
    rng = _Range(tuple(int(x) for x in next(iter(ranges))))
    sha = _signed_revision_sha256(data, rng)
    if not rng.in_bounds(len(data)):
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the signature's /ByteRange lies outside the file",
        )
    inner = rng.gap(data)
    if inner is None:
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the gap in the /ByteRange is not exactly the signature's /Contents hex string",
            signed_revision_sha256=sha,
        )
    try:
        content = cms.ContentInfo.load(binascii.unhexlify(inner), strict=False)
        signed_data = content["content"]
        signer_info = signed_data["signer_infos"][0]
        md = signer_info["digest_algorithm"]["algorithm"].native
        expected = _message_digest(signer_info)
        signer = _subject(_find_signer_cert(signed_data, signer_info))
    except Exception:
        return _fail(
            VerdictCode.SIGNATURE_INVALID,
            "the signature container cannot be parsed",
            signed_revision_sha256=sha,
        )
    try:
        actual = rng.digest(data, md)
    except (ValueError, TypeError):
        actual = None
    if expected is None or actual != expected:
        return _fail(
            VerdictCode.DIGEST_MISMATCH,
            "bytes inside the signed range were changed: the digest does not match the seal",
            signer=signer,
            signed_revision_sha256=sha,
        )
    problem = rng.problem(data, None)
    if problem is not None:
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING, problem, signer=signer, signed_revision_sha256=sha
        )
    if not why:
        return _fail(
            VerdictCode.UNSEALED,
            "the file holds an intact signature value that no signature field refers to",
            signer=signer,
            signed_revision_sha256=sha,
        )
    return _fail(
        VerdictCode.NOT_PDF,
        f"the signed bytes are intact but the PDF structure cannot be read: {why}",
        signer=signer,
        signed_revision_sha256=sha,
    )


# --------------------------------------------------------------------------- the check


def check_pdf_seal(pdf: bytes, trust_roots: Sequence[bytes]) -> SealCheck:
    """Check the one PAdES seal of a certificate PDF against ``trust_roots``.

    :param pdf: the file as received; any bytes (hostile input never raises).
    :param trust_roots: root certificates, each PEM (one or more) or DER.
    :returns: a :class:`SealCheck`; see the module docstring for the codes and their order.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    """
    data = bytes(pdf)
    context = _validation_context(trust_roots)  # configuration errors surface first
    return judge_single_seal(
        data,
        lambda sig: _check_one(data, sig, context),
        lambda why: _raw_check(data, why),
    )


def judge_single_seal(
    data: bytes,
    check_one: Callable[[Any], SealCheck],
    raw_check: Callable[[str], SealCheck],
    *,
    reraise: tuple[type[BaseException], ...] = (),
) -> SealCheck:
    """The steps every PDF seal check shares: find the embedded signatures with pyHanko; none, or
    a file pyHanko cannot read, is judged from the raw bytes by ``raw_check(why)``; more than
    one is MULTIPLE_SIGNATURES; the one is judged by ``check_one(signature)``, falling back to
    the raw bytes when pyHanko trips over a malformed structure (``reraise`` passes through).
    """
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader

        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as e:
        return raw_check(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
    if not signatures:
        return raw_check("")
    if len(signatures) > 1:
        return _fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            f"the file holds {len(signatures)} signatures; a certificate carries exactly one seal",
        )
    try:
        return check_one(signatures[0])
    except reraise:
        raise
    except Exception as e:  # a malformed structure pyHanko tripped over: judge the raw bytes
        return raw_check(f"{type(e).__name__}: {e}")


def _check_one(data: bytes, sig: Any, context: Any) -> SealCheck:
    from pyhanko.sign.validation import async_validate_pdf_signature

    from bdcert.sealing.pades import run_sync

    try:
        values = tuple(int(x) for x in sig.byte_range)
    except (TypeError, ValueError):
        values = ()
    rng = _Range(values)
    signer = _subject(sig.signer_cert) if _has_signer_cert(sig) else None
    signed_at = _signed_at(sig)
    facts: dict[str, Any] = {
        "signer": signer,
        "signed_at": signed_at,
        "signed_revision_sha256": _signed_revision_sha256(data, rng),
    }
    if not rng.in_bounds(len(data)):
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the signature's /ByteRange is not a standard range inside the file",
            **facts,
        )
    expected = _message_digest(sig.signer_info)
    if expected is not None and rng.digest(data, sig.md_algorithm) != expected:
        return _fail(
            VerdictCode.DIGEST_MISMATCH,
            "bytes inside the signed range were changed: the digest does not match the seal",
            **facts,
        )
    problem = rng.problem(data, bytes(sig.pkcs7_content))
    if problem is not None:
        return _fail(VerdictCode.MODIFIED_AFTER_SEALING, problem, **facts)
    try:
        status = run_sync(
            async_validate_pdf_signature(sig, signer_validation_context=context, skip_diff=True)
        )
    except Exception as e:
        return _fail(
            VerdictCode.SIGNATURE_INVALID,
            f"the signature cannot be validated: {type(e).__name__}: {e}",
            **facts,
        )
    if not status.intact:
        return _fail(
            VerdictCode.DIGEST_MISMATCH,
            "bytes inside the signed range were changed: the digest does not match the seal",
            **facts,
        )
    if not status.valid:
        return _fail(
            VerdictCode.SIGNATURE_INVALID,
            "the cryptographic signature does not verify against the signer's certificate",
            **facts,
        )
    if status.signer_reported_dt is not None:
        facts["signed_at"] = status.signer_reported_dt
    if not status.trusted:
        indication = status.trust_problem_indic
        why = f" ({indication})" if indication is not None else ""
        return _fail(
            VerdictCode.UNTRUSTED_SIGNER,
            f"the signer's certificate does not chain to a configured trust root{why}",
            **facts,
        )
    unfit = _signer_problem(sig.signer_cert)
    if unfit is not None:
        return _fail(VerdictCode.UNTRUSTED_SIGNER, unfit, **facts)
    return SealCheck(
        code=VerdictCode.VALID,
        trusted=True,
        detail="one intact seal covering the whole file, signed by a trusted certificate",
        **facts,
    )


def _has_signer_cert(sig: Any) -> bool:
    try:
        return sig.signer_cert is not None
    except Exception:
        return False


def _signed_at(sig: Any) -> datetime | None:
    try:
        value = sig.self_reported_timestamp
    except Exception:
        return None
    return value if isinstance(value, datetime) else None
