"""Sealing OFD certificates with GB/T 38540 electronic seals (GB/T 33190-2016 §18).

:func:`seal_ofd` adds one seal signature (电子签章) to an unsealed package::

    OFD.xml                             + <ofd:Signatures>Doc_0/Signs/Signatures.xml</…>
    Doc_0/Signs/Signatures.xml          MaxSignId, Signature ID="1" Type="Seal" BaseLoc=…
    Doc_0/Signs/Sign_0/Signature.xml    SignedInfo (Provider, SignatureMethod, SignatureDateTime,
                                        References: SM3 of every other file, StampAnnot, Seal)
    Doc_0/Signs/Sign_0/Seal.esl         the seal, DER SESeal
    Doc_0/Signs/Sign_0/SignedValue.dat  DER SES_Signature, dataHash = SM3(Signature.xml)

The References cover every file of the package except the signature's own ``Signature.xml``
(which ``dataHash`` covers) and ``SignedValue.dat`` (the signature itself): ``OFD.xml``,
``Signatures.xml`` and ``Seal.esl`` included, as public signers do. The visible seal is the
seal's own picture, drawn by OFD readers at the ``StampAnnot`` boundary (page coordinates, mm).

:func:`verify_ofd` answers only what the bytes and the trust roots tell, with the codes of
:func:`bdcert.signatures.check_pdf_seal` in the same order (the first failing check decides):

1. ``NOT_PDF`` — not a readable OFD package (the detail says so): not a ZIP, larger than
   :data:`~bdcert.gm.ofd_package.MAX_PACKAGE_BYTES` uncompressed, damaged, or no readable
   ``OFD.xml`` naming its ``Document.xml``.
2. ``UNSEALED`` — no signature listed.
3. ``MULTIPLE_SIGNATURES`` — more than the one seal bdcert applies.
4. ``DIGEST_MISMATCH`` — SM3 of ``Signature.xml`` differs from the signed ``dataHash``, or a file's
   ``CheckValue`` differs from SM3 of the file (or a signed file is gone).
5. ``MODIFIED_AFTER_SEALING`` — the package holds a file no Reference covers (other than the
   signature's own two files), or an entry name twice (readers disagree on which they show).
6. ``SIGNATURE_INVALID`` — the signature files cannot be read, the check method is not SM3, the
   ``Seal.esl`` differs from the signed seal, or the SM2 signature (or the seal's) fails.
7. ``UNTRUSTED_SIGNER`` — the seal maker or the signer does not chain to a trust root, or the seal
   or a certificate is not valid at the signing time (:func:`bdcert.gm.ses.verify_signature`).
8. ``VALID``.

Hostile input never raises. Revocation is not checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import posixpath
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from asn1crypto import x509 as asn1_x509

from bdcert._version import __version__
from bdcert.errors import MissingDependency, SealingError
from bdcert.gm import ses
from bdcert.gm.ofd_package import (
    NS,
    OfdPackage,
    OfdPackageError,
    parse_xml,
    read_package,
    resolve_loc,
    write_package,
    xml_bytes,
)
from bdcert.gm.pdf_sm2 import der_certificates
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, OID_SM3_ALT, SM2PrivateKey, sm3
from bdcert.model import VerdictCode
from bdcert.signatures import SealCheck, _fail, _subject

__all__ = ["seal_ofd", "verify_ofd"]

_Q = "{" + NS + "}"


def _el(tag: str, attrib: Mapping[str, str] | None = None, text: str | None = None) -> ET.Element:
    element = ET.Element(_Q + tag, dict(attrib or {}))
    element.text = text
    return element


def _sub(
    parent: ET.Element, tag: str, attrib: Mapping[str, str] | None = None, text: str | None = None
) -> ET.Element:
    element = _el(tag, attrib, text)
    parent.append(element)
    return element


def _check_value(data: bytes) -> str:
    return base64.b64encode(sm3(data)).decode("ascii")


def _document(files: Mapping[str, bytes]) -> tuple[ET.Element, ET.Element, str]:
    """OFD.xml's root, its (first) DocBody and the path of its Document.xml."""
    if "OFD.xml" not in files:
        raise OfdPackageError("no OFD.xml")
    root = parse_xml(files["OFD.xml"], "OFD.xml")
    body = root.find(_Q + "DocBody")
    if root.tag != _Q + "OFD" or body is None:
        raise OfdPackageError("OFD.xml is not an ofd:OFD with a DocBody")
    doc_root = body.find(_Q + "DocRoot")
    path = resolve_loc("", (doc_root.text or "") if doc_root is not None else "")
    if path is None or path not in files:
        raise OfdPackageError("OFD.xml has no DocRoot naming a file of the package")
    return root, body, path


# --------------------------------------------------------------------------- sealing


def seal_ofd(
    package: bytes,
    *,
    seal_der: bytes,
    signer_key: SM2PrivateKey,
    signer_cert_der: bytes,
    page: int,
    box_mm: tuple[float, float, float, float],
    time: datetime,
) -> bytes:
    """Seal an OFD package with one GB/T 38540 seal signature; return the sealed package.

    :param package: an unsealed OFD package (:func:`bdcert.gm.ofd.write_ofd`).
    :param seal_der: the DER v4 ``SESeal`` (:func:`bdcert.gm.ses.make_seal`), stored as
        ``Seal.esl``; its picture is what readers draw.
    :param signer_key: the signer's SM2 key; ``signer_cert_der`` must be in the seal's list.
    :param page: zero-based page number for the seal annotation.
    :param box_mm: ``(x, y, w, h)`` of the seal on that page, millimetres from the page's
        top-left corner (:attr:`bdcert.gm.ofd.RenderedOfd.seal_box_mm`).
    :param time: the signing time, aware; written as ``SignatureDateTime`` (UTC) and as the
        signature's ``timeInfo``; must lie in the seal's validity window.
    :raises SealingError: the package is unreadable or already sealed, the page does not exist,
        the box is empty, or :func:`bdcert.gm.ses.sign_data` refuses (seal not valid at
        ``time``, signer not in the seal, key not matching the certificate, naive ``time``).
    """
    if time.tzinfo is None or time.utcoffset() is None:
        raise SealingError("the signing time must be timezone-aware")
    if len(box_mm) != 4 or not all(math.isfinite(v) for v in box_mm) or min(box_mm[2:]) <= 0:
        raise SealingError(f"the seal box {box_mm!r} is not (x, y, w, h) with w, h > 0")
    try:
        pkg = read_package(package)
        if pkg.duplicates:
            raise OfdPackageError(f"{pkg.duplicates[0]} occurs more than once")
        root, body, document = _document(pkg.files)
        pages = _page_ids(pkg.files, document)
    except OfdPackageError as exc:
        raise SealingError(f"cannot seal: not a readable OFD package: {exc}") from None
    doc_dir = posixpath.dirname(document)
    signs = f"{doc_dir}/Signs" if doc_dir else "Signs"
    if body.find(_Q + "Signatures") is not None or any(
        name.startswith(signs + "/") for name in pkg.files
    ):
        raise SealingError("the OFD package is already sealed")
    if not 0 <= page < len(pages):
        raise SealingError(f"page {page} does not exist (the document has {len(pages)})")

    sign_dir = f"{signs}/Sign_0"
    signature_path = f"{sign_dir}/Signature.xml"
    value_path = f"{sign_dir}/SignedValue.dat"
    files = dict(pkg.files)
    _sub(body, "Signatures", text=f"{signs}/Signatures.xml")
    files["OFD.xml"] = xml_bytes(root)
    signatures = _el("Signatures")
    _sub(signatures, "MaxSignId", text="1")
    _sub(signatures, "Signature", {"ID": "1", "Type": "Seal", "BaseLoc": "/" + signature_path})
    files[f"{signs}/Signatures.xml"] = xml_bytes(signatures)
    files[f"{sign_dir}/Seal.esl"] = bytes(seal_der)

    signature = _el("Signature")
    info = _sub(signature, "SignedInfo")
    _sub(info, "Provider", {"ProviderName": "bdcert", "Version": __version__, "Company": "bdcert"})
    _sub(info, "SignatureMethod", text=OID_SM2_WITH_SM3)
    _sub(info, "SignatureDateTime", text=time.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"))
    references = _sub(info, "References", {"CheckMethod": OID_SM3})
    for name, data in files.items():
        reference = _sub(references, "Reference", {"FileRef": "/" + name})
        _sub(reference, "CheckValue", text=_check_value(data))
    boundary = " ".join(f"{v:.3f}".rstrip("0").rstrip(".") for v in box_mm)
    _sub(info, "StampAnnot", {"ID": "1", "PageRef": pages[page], "Boundary": boundary})
    _sub(_sub(info, "Seal"), "BaseLoc", text=f"/{sign_dir}/Seal.esl")
    _sub(signature, "SignedValue", text="/" + value_path)
    signature_xml = xml_bytes(signature)
    files[signature_path] = signature_xml
    files[value_path] = ses.sign_data(
        seal_der=bytes(seal_der),
        signer_key=signer_key,
        signer_cert_der=bytes(signer_cert_der),
        data_hash=sm3(signature_xml),
        property_info="/" + signature_path,
        time=time,
    )
    return write_package(files, time)


def _page_ids(files: Mapping[str, bytes], document: str) -> list[str]:
    root = parse_xml(files[document], document)
    pages = root.find(_Q + "Pages")
    return [p.get("ID", "") for p in pages.findall(_Q + "Page")] if pages is not None else []


# --------------------------------------------------------------------------- verifying


def _signer_subject(cert_der: bytes) -> str | None:
    try:
        return _subject(asn1_x509.Certificate.load(cert_der))
    except Exception:
        return None


def verify_ofd(package: bytes, *, trust_roots: Sequence[bytes]) -> SealCheck:
    """Check the one seal signature of an OFD certificate against ``trust_roots``.

    :param package: the package as received; any bytes (hostile input never raises).
    :param trust_roots: root certificates, each PEM (one or more) or DER.
    :returns: a :class:`~bdcert.signatures.SealCheck`; see the module docstring for the codes.
        ``signed_revision_sha256`` is SHA-256 of the package when no file was changed, added or
        removed since sealing.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    :raises MissingDependency: without the ``gm`` extra (SM2).
    """
    roots = der_certificates(trust_roots)
    data = bytes(package)
    try:
        pkg = read_package(data)
        _, body, _ = _document(pkg.files)
        entries = _signature_entries(pkg.files, body)
    except OfdPackageError as exc:
        return _fail(VerdictCode.NOT_PDF, f"not a readable OFD package: {exc}")
    if isinstance(entries, SealCheck):
        return entries
    if not entries:
        return _fail(VerdictCode.UNSEALED, "the OFD package lists no signature")
    if len(entries) > 1:
        return _fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            f"the package lists {len(entries)} signatures; a certificate carries exactly one seal",
        )
    try:
        return _check_one(data, pkg, entries[0], roots)
    except MissingDependency:
        raise
    except Exception as exc:  # asn1crypto and the XML parser raise many unrelated types
        return _fail(
            VerdictCode.SIGNATURE_INVALID,
            f"the signature cannot be read: {type(exc).__name__}: {exc}",
        )


def _signature_entries(files: Mapping[str, bytes], body: ET.Element) -> list[str] | SealCheck:
    """The paths of the Signature.xml files the package lists, or a verdict if the list is bad."""
    out: list[str] = []
    for loc in body.findall(_Q + "Signatures"):
        path = resolve_loc("", loc.text or "")
        if path is None or path not in files:
            return _fail(VerdictCode.UNSEALED, "OFD.xml names a signature list that is missing")
        try:
            listing = parse_xml(files[path], path)
        except OfdPackageError as exc:
            return _fail(VerdictCode.SIGNATURE_INVALID, f"the signature list is unreadable: {exc}")
        for entry in listing.findall(_Q + "Signature"):
            target = resolve_loc(posixpath.dirname(path), entry.get("BaseLoc", ""))
            out.append(target or "")
    return out


def _check_one(
    data: bytes, pkg: OfdPackage, signature_path: str, roots: tuple[bytes, ...]
) -> SealCheck:
    files = pkg.files
    if signature_path not in files:
        return _fail(VerdictCode.SIGNATURE_INVALID, "the listed Signature.xml is missing")
    signature_xml = files[signature_path]
    root = parse_xml(signature_xml, signature_path)
    info = root.find(_Q + "SignedInfo")
    value_loc = root.find(_Q + "SignedValue")
    if root.tag != _Q + "Signature" or info is None or value_loc is None:
        return _fail(VerdictCode.SIGNATURE_INVALID, "Signature.xml lacks SignedInfo or SignedValue")
    base = posixpath.dirname(signature_path)
    value_path = resolve_loc(base, value_loc.text or "")
    if value_path is None or value_path not in files:
        return _fail(VerdictCode.SIGNATURE_INVALID, "the SignedValue file is missing")
    try:
        sig = ses.parse_signature(files[value_path])
    except ses.SealFormatError as exc:
        return _fail(VerdictCode.SIGNATURE_INVALID, f"SignedValue is not an SES_Signature: {exc}")
    facts: dict[str, Any] = {"signer": _signer_subject(sig.signer_cert), "signed_at": sig.time}
    data_hash = sm3(signature_xml)
    if sig.data_hash != data_hash:
        return _fail(
            VerdictCode.DIGEST_MISMATCH,
            "Signature.xml was changed: its SM3 differs from the signed dataHash",
            **facts,
        )
    # The signature, the seal and the signer are checked before any file is hashed, so an
    # unsigned package cannot make the verifier hash gigabytes.
    code, detail = ses.verify_signature(sig, data_hash=data_hash, trust_roots=roots)
    if code is not VerdictCode.VALID:
        return _fail(code, detail, **facts)
    unfit = _unfit_signer(sig)
    if unfit is not None:
        return _fail(VerdictCode.UNTRUSTED_SIGNER, unfit, **facts)
    references = info.find(_Q + "References")
    if references is None:
        return _fail(VerdictCode.SIGNATURE_INVALID, "Signature.xml lists no References", **facts)
    method = references.get("CheckMethod", OID_SM3)
    if method not in (OID_SM3, OID_SM3_ALT):
        return _fail(
            VerdictCode.SIGNATURE_INVALID, f"unsupported CheckMethod {method} (not SM3)", **facts
        )
    covered = {signature_path, value_path}
    listed = references.findall(_Q + "Reference")
    if len(listed) > len(files):
        return _fail(
            VerdictCode.SIGNATURE_INVALID,
            f"Signature.xml lists {len(listed)} References for {len(files)} files",
            **facts,
        )
    for reference in listed:
        target = resolve_loc("", reference.get("FileRef", ""))
        check = reference.find(_Q + "CheckValue")
        if target is None or target not in files:
            return _fail(
                VerdictCode.DIGEST_MISMATCH,
                f"the signed file {reference.get('FileRef', '')!r} is missing",
                **facts,
            )
        if target in covered:
            return _fail(VerdictCode.SIGNATURE_INVALID, f"{target} is referenced twice", **facts)
        try:
            expected = base64.b64decode(
                (check.text or "") if check is not None else "", validate=True
            )
        except binascii.Error:
            expected = b""
        if expected != sm3(files[target]):
            return _fail(
                VerdictCode.DIGEST_MISMATCH,
                f"{target} was changed: its SM3 differs from the signed CheckValue",
                **facts,
            )
        covered.add(target)
    added = [name for name in files if name not in covered]
    if added:
        shown = ", ".join(added[:3]) + (" …" if len(added) > 3 else "")
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            f"{len(added)} file(s) no signed Reference covers were added: {shown}",
            **facts,
        )
    if pkg.duplicates:
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            f"the archive holds {pkg.duplicates[0]} more than once (a shadowed copy was added)",
            **facts,
        )
    facts_sha: dict[str, Any] = {
        **facts,
        "signed_revision_sha256": hashlib.sha256(data).hexdigest(),
    }
    seal_loc = info.find(f"{_Q}Seal/{_Q}BaseLoc")
    if seal_loc is not None:
        seal_path = resolve_loc(base, seal_loc.text or "")
        if seal_path is None or files.get(seal_path) != sig.seal.der:
            return _fail(
                VerdictCode.SIGNATURE_INVALID,
                "Seal.esl is not the seal the signature carries",
                **facts_sha,
            )
    return SealCheck(code=VerdictCode.VALID, trusted=True, detail=detail, **facts_sha)


def _unfit_signer(sig: Any) -> str | None:
    """Why a trusted chain still does not make this an authority's seal signature: the signer is
    a CA, the seal was made by a certificate that is not a CA (any authority's key could then
    make seals in any name), or the seal's name is not the signer's organisation."""
    from asn1crypto import x509 as asn1_x509

    from bdcert.signatures import _signer_problem

    signer = asn1_x509.Certificate.load(sig.signer_cert)
    problem = _signer_problem(signer)
    if problem is not None:
        return problem
    maker = asn1_x509.Certificate.load(sig.seal.maker_cert)
    if not maker.ca:
        return "the seal was made by a certificate that is not a seal-making authority (a CA)"
    names = signer.subject.native
    if sig.seal.name not in {names.get("organization_name"), names.get("common_name")}:
        return (
            f"the seal {sig.seal.name!r} does not belong to the signer {names.get('common_name')!r}"
        )
    return None
