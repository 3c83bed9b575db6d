"""The one check pipeline for sealed certificates: the steps every document kind shares.

A check answers only what the bytes and the trust roots can tell; whether the certificate is
registered, valid, superseded, cancelled or restricted is decided by the caller from storage.
Every outcome has its own :class:`~bdcert.model.VerdictCode`; hostile input never raises.
Checks, in order (the first failing one decides):

0. ``TOO_COMPLEX`` — the file exceeds a bound on the work verifying it may cost (size, objects,
   object streams, references, nesting: :func:`bdcert.bounds.check_pdf`); the detail names the
   bound. Nothing else is parsed.
1. ``NOT_PDF`` — the bytes are not a readable PDF (and hold no recognisable signature).
2. ``UNSEALED`` — no signature.
3. ``MULTIPLE_SIGNATURES`` — more than the one seal bdcert applies. A second signature is
   necessarily an update appended after sealing, but this more specific code wins. Document
   timestamps (``/Type /DocTimeStamp``, ISO 32000-2 §12.8.5: PAdES B-LTA) are not seals and
   do not count; what they may cover is the crypto step's to judge (step 5).
4. ``DIGEST_MISMATCH`` — the digest of the bytes named by ``/ByteRange`` differs from the
   signed ``messageDigest``: bytes inside the signed range were changed (also when the change
   made the PDF unparsable: the signature is then found by a raw scan of the bytes).
5. ``MODIFIED_AFTER_SEALING`` — the ``/ByteRange`` does not cover the whole file: anything
   appended (an incremental update: page, annotation, form field, /Info; or plain garbage;
   for PAdES only validation data and document timestamps may follow, the last timestamp
   covering the whole file, see :mod:`bdcert.verify.pades`), or
   a non-standard ``/ByteRange`` (not starting at 0, overlapping, or whose gap is not exactly the
   ``/Contents`` hex string — signature-wrapping and universal-forgery shapes).
6. ``SIGNATURE_INVALID`` — the CMS signature does not verify (or cannot be parsed).
7. ``REVOKED`` — the seal certificate was revoked before the seal's proven time (PAdES).
   ``UNTRUSTED_SIGNER`` — sound, but the signer does not chain to a trust root (or the chain is
   not valid at the validation time, or the certificate lacks the nonRepudiation key usage), or
   the signer is not the authority the document names (:func:`authority_problem`: a certificate
   re-sealed with another authority's key).
8. ``VALID``.

A ``VALID`` check also reports the seal's form (:attr:`SealCheck.form`,
:func:`seal_form_findings`): a sound seal whose widget is invisible, or that is not a
certification signature locking the document (DocMDP ``/P 1``), is still VALID here — the bytes
are the authority's — but :meth:`bdcert.lifecycle.Registry.verify` and the offline verifier
answer ``NONCONFORMING`` for it; they also compare the claimed signing time
(:attr:`SealCheck.claimed_at`) with the issue time (:func:`signing_time_finding`).

The steps are here (:func:`judge_single_seal`, :func:`check_pdf_signature`, :func:`raw_check`);
the cryptography is a parameter, a :class:`SignatureCrypto`: PAdES with pyHanko
(:mod:`bdcert.verify.pades`) or SM2/SM3 (:mod:`bdcert.verify.pdf_sm2`). OFD packages
(:mod:`bdcert.verify.ofd`) use the same codes, order and helpers.

Standards: ISO 32000-1 §12.8 (signatures, /ByteRange), ETSI EN 319 142-1 (PAdES).
Revocation is not checked (soft-fail, no fetching): demo and offline certificates carry no
CRL or OCSP pointers, and verification must not touch the network.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import NameOID

from bdcert import bounds, pki
from bdcert.errors import ConfigurationError
from bdcert.identifiers import parse_certificate_number
from bdcert.model import SealFormFinding, VerdictCode
from bdcert.verify.form import (
    nonconforming_detail,
    seal_form_findings,
    signing_time_finding,
)

__all__ = [
    "BYTE_RANGE",
    "ByteRange",
    "SealCheck",
    "SignatureCrypto",
    "Verification",
    "authority_problem",
    "check_pdf_signature",
    "der_certificates",
    "fail",
    "find_signer_cert",
    "is_document_timestamp",
    "judge_single_seal",
    "message_digest",
    "nonconforming_detail",
    "raw_check",
    "seal_form_findings",
    "signed_revision_sha256",
    "signer_problem",
    "signing_time_finding",
    "subject",
]


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
    :ivar claimed_at: the signing time the seal itself claims (PAdES ``/M``, the SM2 signingTime
        attribute, the OFD seal's signing time), even where ``signed_at`` is a time-stamp's:
        what :func:`signing_time_finding` compares with the issue time.
    :ivar form: for a ``VALID`` check, how the seal breaks the scheme's form
        (:func:`seal_form_findings`); empty when it conforms or was not judged.
    """

    code: VerdictCode
    trusted: bool
    detail: str
    signer: str | None = None
    signed_at: datetime | None = None
    signed_revision_sha256: str | None = None
    claimed_at: datetime | None = None
    form: tuple[SealFormFinding, ...] = ()


#: A ``/ByteRange`` array of four numbers, as found by a raw scan of the bytes.
BYTE_RANGE = re.compile(
    rb"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]"
)
_HEX = re.compile(rb"[0-9A-Fa-f]*")
_DOC_TIME_STAMP = re.compile(rb"/Type\s*/DocTimeStamp\b")
_SUBJECT_NAMES = {NameOID.SERIAL_NUMBER: "serialNumber"}


def fail(code: VerdictCode, detail: str, **kwargs: Any) -> SealCheck:
    """A failed check: ``code`` with its one-sentence ``detail`` and what was read (``signer``,
    ``signed_at``, ``signed_revision_sha256``)."""
    return SealCheck(code=code, trusted=False, detail=detail, **kwargs)


# --------------------------------------------------------------------------- byte ranges


@attrs.define(frozen=True)
class ByteRange:
    """A standard ``/ByteRange [0 b c d]`` read from the file (byte offsets and lengths)."""

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

    def problem(self, data: bytes, contents: bytes | None, *, extended: bool = False) -> str | None:
        """Why this range does not cover the whole file as a sound seal must, or None.

        :param extended: bytes after the signed range were already judged (PAdES validation
            data and document timestamps): only the range's own shape is checked."""
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
        if c + d != len(data) and not extended:
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


def signer_problem(cert: Any) -> str | None:
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


def authority_problem(author: str | None, title: str | None, cert: Any) -> str | None:
    """Why the signer is not the registration authority the document names, or None.

    A certificate names its authority twice outside the face: its document information's
    author (the 登记机构, PDF ``/Info /Author``, ISO 32000-1 §14.3.3; OFD ``DocInfo/Author``,
    GB/T 33190 §7.5) and its title (the certificate number, whose place ``szmc`` is the
    authority's, rule articles 5 and 6). The seal certificate's organization (or common name)
    must be that author and contain that place; otherwise the file is another authority's
    certificate re-sealed with this signer's key. A document naming no authority binds nothing.

    :param cert: the signer's asn1crypto certificate.
    """
    try:
        names = cert.subject.native
        own = {
            value
            for value in (names.get("organization_name"), names.get("common_name"))
            if isinstance(value, str) and value
        }
    except (AttributeError, ValueError):
        return "the signer's certificate cannot be read"
    shown = "、".join(sorted(own)) or "(no name)"
    if author and author.strip() and author.strip() not in own:
        return (
            f"the document is issued by {author.strip()!r} but sealed by {shown!r}: "
            "another authority's seal"
        )
    parsed = parse_certificate_number(title) if title else None
    if parsed is not None and not any(parsed[2] in name for name in own):
        return (
            f"the certificate number names {parsed[2]} but the seal is {shown!r}: "
            "another authority's seal"
        )
    return None


def pdf_document_names(sig: Any) -> tuple[str | None, str | None]:
    """The ``/Author`` and ``/Title`` of the document information of the PDF holding ``sig``
    (pyHanko's ``EmbeddedPdfSignature``); None for what is missing or unreadable."""
    try:
        info = sig.reader.trailer["/Info"]
    except Exception:  # no /Info, or a broken one: nothing named
        return None, None
    out: list[str | None] = []
    for key in ("/Author", "/Title"):
        try:
            value = info.get(key)
            out.append(str(value) if value is not None else None)
        except Exception:
            out.append(None)
    return out[0], out[1]


def signed_revision_sha256(data: bytes, rng: ByteRange) -> str | None:
    """Hex SHA-256 of the bytes from 0 to the end of the signed range (the PDF as sealed)."""
    if not rng.in_bounds(len(data)):
        return None
    return hashlib.sha256(memoryview(data)[: rng.end]).hexdigest()


def message_digest(signer_info: Any) -> bytes | None:
    """The signed ``messageDigest`` attribute of a CMS SignerInfo, or None."""
    signed_attrs = signer_info["signed_attrs"]
    if signed_attrs.native is None:
        return None
    for attr in signed_attrs:
        if attr["type"].native == "message_digest":
            return bytes(attr["values"][0].native)
    return None


# --------------------------------------------------------------------------- signer facts


def subject(cert: Any) -> str | None:
    """The subject of an asn1crypto certificate, RFC 4514 (serialNumber named); None if unreadable."""
    try:
        parsed = x509.load_der_x509_certificate(cert.dump())
        return parsed.subject.rfc4514_string(_SUBJECT_NAMES)
    except Exception:
        return None


def find_signer_cert(signed_data: Any, signer_info: Any) -> Any:
    """The certificate of a CMS SignedData that the SignerInfo's ``sid`` names, or None."""
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


def hashlib_range_digest(data: bytes, rng: ByteRange, signer_info: Any) -> bytes | None:
    """The digest of the signed range with the SignerInfo's digest algorithm, by its
    :mod:`hashlib` name; None for an algorithm hashlib does not know."""
    md = signer_info["digest_algorithm"]["algorithm"].native
    try:
        return rng.digest(data, md)
    except (ValueError, TypeError):
        return None


def raw_check(
    data: bytes,
    why: str,
    range_digest: Callable[[bytes, ByteRange, Any], bytes | None] = hashlib_range_digest,
) -> SealCheck:
    """Judge a file pyHanko could not read (or found no signature in) from its raw bytes.

    :param why: why pyHanko could not read it; empty if it read it but found no signature.
    :param range_digest: the crypto step: ``range_digest(data, byte_range, signer_info)``, the
        digest of the signed range to compare with the signed ``messageDigest`` (None: cannot
        be computed, a mismatch).
    """
    ranges = {m.groups() for m in BYTE_RANGE.finditer(data)}
    if not ranges:
        if b"%PDF-" not in data[:1024]:
            return fail(VerdictCode.NOT_PDF, "the bytes are not a PDF (nor an OFD package)")
        if why:
            return fail(VerdictCode.NOT_PDF, f"the PDF cannot be read: {why}")
        return fail(VerdictCode.UNSEALED, "the PDF holds no signature")
    stamps = len(_DOC_TIME_STAMP.findall(data))
    if len(ranges) - stamps > 1 or (len(ranges) > 1 and stamps == 0):
        return fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            f"the file holds {len(ranges)} signatures; a certificate carries exactly one seal",
        )
    # the seal is the first signature; document timestamps (PAdES B-LTA) follow it
    first = min(ranges, key=lambda r: int(r[2]) + int(r[3]))
    rng = ByteRange(tuple(int(x) for x in first))
    sha = signed_revision_sha256(data, rng)
    if not rng.in_bounds(len(data)):
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the signature's /ByteRange lies outside the file",
        )
    inner = rng.gap(data)
    if inner is None:
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the gap in the /ByteRange is not exactly the signature's /Contents hex string",
            signed_revision_sha256=sha,
        )
    try:
        content = cms.ContentInfo.load(binascii.unhexlify(inner), strict=False)
        signed_data = content["content"]
        signer_info = signed_data["signer_infos"][0]
        signer_info["digest_algorithm"]["algorithm"].native  # noqa: B018 - parse it now
        expected = message_digest(signer_info)
        signer = subject(find_signer_cert(signed_data, signer_info))
    except Exception:
        return fail(
            VerdictCode.SIGNATURE_INVALID,
            "the signature container cannot be parsed",
            signed_revision_sha256=sha,
        )
    try:
        actual = range_digest(data, rng, signer_info)
    except Exception:
        actual = None
    if expected is None or actual != expected:
        return fail(
            VerdictCode.DIGEST_MISMATCH,
            "bytes inside the signed range were changed: the digest does not match the seal",
            signer=signer,
            signed_revision_sha256=sha,
        )
    problem = rng.problem(data, None)
    if problem is not None:
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING, problem, signer=signer, signed_revision_sha256=sha
        )
    if not why:
        return fail(
            VerdictCode.UNSEALED,
            "the file holds an intact signature value that no signature field refers to",
            signer=signer,
            signed_revision_sha256=sha,
        )
    return fail(
        VerdictCode.NOT_PDF,
        f"the signed bytes are intact but the PDF structure cannot be read: {why}",
        signer=signer,
        signed_revision_sha256=sha,
    )


# --------------------------------------------------------------------------- the pipeline


def judge_single_seal(
    data: bytes,
    check_one: Callable[[Any], SealCheck],
    raw_check: Callable[[str], SealCheck],
    *,
    reraise: tuple[type[BaseException], ...] = (),
) -> SealCheck:
    """The steps every PDF seal check shares: bound the work (:func:`bdcert.bounds.check_pdf`,
    else TOO_COMPLEX); find the embedded signatures with pyHanko; none, or
    a file pyHanko cannot read, is judged from the raw bytes by ``raw_check(why)``; more than
    one is MULTIPLE_SIGNATURES; the one is judged by ``check_one(signature)``, falling back to
    the raw bytes when pyHanko trips over a malformed structure (``reraise`` passes through).
    """
    if b"%PDF-" not in data[:1024]:  # not a PDF at all: no work to bound, nothing to parse
        return raw_check("no %PDF- header in the first 1024 bytes")
    try:
        bounds.check_pdf(data)
    except bounds.TooComplex as e:
        return fail(VerdictCode.TOO_COMPLEX, f"verification refused, too complex: {e}")
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader

        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as e:
        return raw_check(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
    seals = [s for s in signatures if not is_document_timestamp(s)]
    if not signatures:
        return raw_check("")
    if not seals:
        return fail(VerdictCode.UNSEALED, "the PDF holds document timestamps but no seal")
    if len(seals) > 1:
        return fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            f"the file holds {len(seals)} signatures; a certificate carries exactly one seal",
        )
    try:
        return check_one(seals[0])
    except reraise:
        raise
    except Exception as e:  # a malformed structure pyHanko tripped over: judge the raw bytes
        return raw_check(f"{type(e).__name__}: {e}")


def is_document_timestamp(sig: Any) -> bool:
    """Whether pyHanko's ``EmbeddedPdfSignature`` is a document timestamp (``/Type
    /DocTimeStamp``, ISO 32000-2 §12.8.5), not a signature."""
    try:
        return bool(sig.sig_object_type == "/DocTimeStamp")
    except Exception:
        return False


@attrs.define(frozen=True)
class Verification:
    """What a crypto step says of a signature (its digest, or its value and chain).

    :ivar code: ``None`` if the step passes (the signature verifies and its signer chains to a
        trust root); else ``DIGEST_MISMATCH``, ``SIGNATURE_INVALID``, ``REVOKED`` or
        ``UNTRUSTED_SIGNER``.
    :ivar detail: why, for a failure.
    :ivar signed_at: the signing time the verified signature reports, when it is to replace
        the claimed one.
    """

    code: VerdictCode | None = None
    detail: str = ""
    signed_at: datetime | None = None


class SignatureCrypto(Protocol):
    """The crypto step of :func:`check_pdf_signature`: what differs between PAdES and SM2."""

    #: the detail of a VALID check
    valid_detail: str

    def signer_certificate(self, sig: Any) -> Any:
        """The signer's asn1crypto certificate in pyHanko's ``EmbeddedPdfSignature``, or None."""
        ...

    def claimed_time(self, sig: Any) -> datetime | None:
        """The signing time the signature claims, before verification (None if unreadable)."""
        ...

    def check_digest(self, data: bytes, rng: ByteRange, sig: Any) -> Verification | None:
        """None if the signed range's digest matches the seal's ``messageDigest``; else
        ``DIGEST_MISMATCH`` (or ``SIGNATURE_INVALID`` for a digest algorithm not allowed)."""
        ...

    def verify(self, sig: Any, cert: Any) -> Verification:
        """Verify the signature value and the signer's chain to the trust roots."""
        ...


def check_pdf_signature(
    data: bytes, sig: Any, crypto: SignatureCrypto, *, extended: bool = False
) -> SealCheck:
    """Judge the one signature of a PDF, in the order of the module docstring (steps 4 to 8):
    the ``/ByteRange`` lies in the file, the digest matches (``crypto.check_digest``), the range
    covers the whole file with nothing but the signature in its gap, the signature verifies and
    chains to a trust root (``crypto.verify``), the signer is fit to seal.

    :param sig: pyHanko's ``EmbeddedPdfSignature``.
    :param extended: what follows the signed range was judged by the caller (PAdES B-LT/B-LTA
        validation data and document timestamps): the range need not reach the end of the file.
    """
    try:
        values = tuple(int(x) for x in sig.byte_range)
    except (TypeError, ValueError):
        values = ()
    rng = ByteRange(values)
    cert = crypto.signer_certificate(sig)
    facts: dict[str, Any] = {
        "signer": subject(cert) if cert is not None else None,
        "signed_at": crypto.claimed_time(sig),
        "signed_revision_sha256": signed_revision_sha256(data, rng),
    }
    if not rng.in_bounds(len(data)):
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the signature's /ByteRange is not a standard range inside the file",
            **facts,
        )
    mismatch = crypto.check_digest(data, rng, sig)
    if mismatch is not None and mismatch.code is not None:
        return fail(mismatch.code, mismatch.detail, **facts)
    problem = rng.problem(data, bytes(sig.pkcs7_content), extended=extended)
    if problem is not None:
        return fail(VerdictCode.MODIFIED_AFTER_SEALING, problem, **facts)
    verification = crypto.verify(sig, cert)
    if verification.signed_at is not None:
        facts["signed_at"] = verification.signed_at
    if verification.code is not None:
        return fail(verification.code, verification.detail, **facts)
    unfit = signer_problem(cert) or authority_problem(*pdf_document_names(sig), cert)
    if unfit is not None:
        return fail(VerdictCode.UNTRUSTED_SIGNER, unfit, **facts)
    return SealCheck(
        code=VerdictCode.VALID,
        trusted=True,
        detail=crypto.valid_detail,
        claimed_at=crypto.claimed_time(sig),
        form=seal_form_findings(sig),
        **facts,
    )


# --------------------------------------------------------------------------- trust roots


def der_certificates(trust_roots: Sequence[bytes]) -> tuple[bytes, ...]:
    """Certificates (trust roots) as DER, each input PEM (one or more certificates) or DER.

    :raises ConfigurationError: an input is not a PEM or DER X.509 certificate.
    """
    out: list[bytes] = []
    for data in trust_roots:
        data = bytes(data)
        try:
            for der in pki.certificate_ders(data):
                asn1_x509.Certificate.load(der, strict=True).native  # noqa: B018 - parse now
                out.append(der)
        except (ValueError, TypeError):
            raise ConfigurationError(f"a trust root {pki.NOT_A_CERTIFICATE}") from None
    return tuple(out)
