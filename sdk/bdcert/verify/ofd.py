"""Checking the GB/T 38540 seal of an OFD certificate (GB/T 33190-2016 §18).

The seals are made by :func:`bdcert.sealing.ofd.seal_ofd`.

:func:`verify_ofd` answers only what the bytes and the trust roots tell, with the codes of
:func:`bdcert.verify.pades.check_pdf_seal` in the same order (the first failing check decides):

0. ``TOO_COMPLEX`` — the package exceeds a bound on verification work (:mod:`bdcert.bounds`:
   ZIP entries and compression ratio, XML elements and nesting); the detail names the bound.
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
import posixpath
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from asn1crypto import x509 as asn1_x509

from bdcert import bounds
from bdcert.errors import MissingDependency
from bdcert.gm import ses
from bdcert.gm.ofd_package import OfdPackage, OfdPackageError, parse_xml, read_package, resolve_loc
from bdcert.gm.sm2 import OID_SM3, OID_SM3_ALT, sm3
from bdcert.model import SealFormFinding, VerdictCode
from bdcert.sealing.ofd import Q, document_parts
from bdcert.verify.pipeline import (
    SealCheck,
    authority_problem,
    der_certificates,
    fail,
    signer_problem,
    subject,
)

__all__ = ["verify_ofd"]


def _signer_subject(cert_der: bytes) -> str | None:
    try:
        return subject(asn1_x509.Certificate.load(cert_der))
    except Exception:
        return None


def verify_ofd(
    package: bytes, *, trust_roots: Sequence[bytes], at: datetime | None = None
) -> SealCheck:
    """Check the one seal signature of an OFD certificate against ``trust_roots``.

    :param package: the package as received; any bytes (hostile input never raises).
    :param trust_roots: root certificates, each PEM (one or more) or DER.
    :param at: the validation time, aware; None is now. An expired certificate is still valid
        for a seal signature whose ``timeStamp`` shows it was made in time
        (:func:`bdcert.gm.ses.verify_signature`).
    :returns: a :class:`~bdcert.verify.pipeline.SealCheck`; see the module docstring for the codes.
        ``signed_revision_sha256`` is SHA-256 of the package when no file was changed, added or
        removed since sealing.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    :raises ValueError: if ``at`` is naive.
    :raises MissingDependency: without the ``gm`` extra (SM2).
    """
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise ValueError("the validation time must be timezone-aware")
    roots = der_certificates(trust_roots)
    data = bytes(package)
    try:
        bounds.check_zip(data)
        pkg = read_package(data)
        _, body, _ = document_parts(pkg.files)
        entries = _signature_entries(pkg.files, body)
    except bounds.TooComplex as exc:
        return fail(VerdictCode.TOO_COMPLEX, f"verification refused, too complex: {exc}")
    except OfdPackageError as exc:
        return fail(VerdictCode.NOT_PDF, f"not a readable OFD package: {exc}")
    if isinstance(entries, SealCheck):
        return entries
    if not entries:
        return fail(VerdictCode.UNSEALED, "the OFD package lists no signature")
    if len(entries) > 1:
        return fail(
            VerdictCode.MULTIPLE_SIGNATURES,
            f"the package lists {len(entries)} signatures; a certificate carries exactly one seal",
        )
    try:
        return _check_one(data, pkg, entries[0], roots, at)
    except MissingDependency:
        raise
    except bounds.TooComplex as exc:
        return fail(VerdictCode.TOO_COMPLEX, f"verification refused, too complex: {exc}")
    except Exception as exc:  # asn1crypto and the XML parser raise many unrelated types
        return fail(
            VerdictCode.SIGNATURE_INVALID,
            f"the signature cannot be read: {type(exc).__name__}: {exc}",
        )


def _signature_entries(files: Mapping[str, bytes], body: ET.Element) -> list[str] | SealCheck:
    """The paths of the Signature.xml files the package lists, or a verdict if the list is bad."""
    out: list[str] = []
    for loc in body.findall(Q + "Signatures"):
        path = resolve_loc("", loc.text or "")
        if path is None or path not in files:
            return fail(VerdictCode.UNSEALED, "OFD.xml names a signature list that is missing")
        try:
            listing = parse_xml(files[path], path)
        except OfdPackageError as exc:
            return fail(VerdictCode.SIGNATURE_INVALID, f"the signature list is unreadable: {exc}")
        for entry in listing.findall(Q + "Signature"):
            target = resolve_loc(posixpath.dirname(path), entry.get("BaseLoc", ""))
            out.append(target or "")
    return out


def _check_one(
    data: bytes,
    pkg: OfdPackage,
    signature_path: str,
    roots: tuple[bytes, ...],
    at: datetime | None = None,
) -> SealCheck:
    files = pkg.files
    if signature_path not in files:
        return fail(VerdictCode.SIGNATURE_INVALID, "the listed Signature.xml is missing")
    signature_xml = files[signature_path]
    root = parse_xml(signature_xml, signature_path)
    info = root.find(Q + "SignedInfo")
    value_loc = root.find(Q + "SignedValue")
    if root.tag != Q + "Signature" or info is None or value_loc is None:
        return fail(VerdictCode.SIGNATURE_INVALID, "Signature.xml lacks SignedInfo or SignedValue")
    base = posixpath.dirname(signature_path)
    value_path = resolve_loc(base, value_loc.text or "")
    if value_path is None or value_path not in files:
        return fail(VerdictCode.SIGNATURE_INVALID, "the SignedValue file is missing")
    try:
        sig = ses.parse_signature(files[value_path])
    except ses.SealFormatError as exc:
        return fail(VerdictCode.SIGNATURE_INVALID, f"SignedValue is not an SES_Signature: {exc}")
    facts: dict[str, Any] = {"signer": _signer_subject(sig.signer_cert), "signed_at": sig.time}
    data_hash = sm3(signature_xml)
    if sig.data_hash != data_hash:
        return fail(
            VerdictCode.DIGEST_MISMATCH,
            "Signature.xml was changed: its SM3 differs from the signed dataHash",
            **facts,
        )
    # The signature, the seal and the signer are checked before any file is hashed, so an
    # unsigned package cannot make the verifier hash gigabytes.
    code, detail = ses.verify_signature(sig, data_hash=data_hash, trust_roots=roots, at=at)
    if code is not VerdictCode.VALID:
        return fail(code, detail, **facts)
    unfit = _unfit_signer(sig)
    if unfit is not None:
        return fail(VerdictCode.UNTRUSTED_SIGNER, unfit, **facts)
    references = info.find(Q + "References")
    if references is None:
        return fail(VerdictCode.SIGNATURE_INVALID, "Signature.xml lists no References", **facts)
    method = references.get("CheckMethod", OID_SM3)
    if method not in (OID_SM3, OID_SM3_ALT):
        return fail(
            VerdictCode.SIGNATURE_INVALID, f"unsupported CheckMethod {method} (not SM3)", **facts
        )
    covered = {signature_path, value_path}
    listed = references.findall(Q + "Reference")
    if len(listed) > len(files):
        return fail(
            VerdictCode.SIGNATURE_INVALID,
            f"Signature.xml lists {len(listed)} References for {len(files)} files",
            **facts,
        )
    for reference in listed:
        target = resolve_loc("", reference.get("FileRef", ""))
        check = reference.find(Q + "CheckValue")
        if target is None or target not in files:
            return fail(
                VerdictCode.DIGEST_MISMATCH,
                f"the signed file {reference.get('FileRef', '')!r} is missing",
                **facts,
            )
        if target in covered:
            return fail(VerdictCode.SIGNATURE_INVALID, f"{target} is referenced twice", **facts)
        try:
            expected = base64.b64decode(
                (check.text or "") if check is not None else "", validate=True
            )
        except binascii.Error:
            expected = b""
        if expected != sm3(files[target]):
            return fail(
                VerdictCode.DIGEST_MISMATCH,
                f"{target} was changed: its SM3 differs from the signed CheckValue",
                **facts,
            )
        covered.add(target)
    added = [name for name in files if name not in covered]
    if added:
        shown = ", ".join(added[:3]) + (" …" if len(added) > 3 else "")
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            f"{len(added)} file(s) no signed Reference covers were added: {shown}",
            **facts,
        )
    if pkg.duplicates:
        return fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            f"the archive holds {pkg.duplicates[0]} more than once (a shadowed copy was added)",
            **facts,
        )
    facts_sha: dict[str, Any] = {
        **facts,
        "signed_revision_sha256": hashlib.sha256(data).hexdigest(),
    }
    seal_loc = info.find(f"{Q}Seal/{Q}BaseLoc")
    if seal_loc is not None:
        seal_path = resolve_loc(base, seal_loc.text or "")
        if seal_path is None or files.get(seal_path) != sig.seal.der:
            return fail(
                VerdictCode.SIGNATURE_INVALID,
                "Seal.esl is not the seal the signature carries",
                **facts_sha,
            )
    info = parse_xml(files["OFD.xml"], "OFD.xml").find(f"{Q}DocBody/{Q}DocInfo")
    names = [info.findtext(Q + key) if info is not None else None for key in ("Author", "Title")]
    signer = asn1_x509.Certificate.load(sig.signer_cert)
    wrong = authority_problem(names[0], names[1], signer)  # re-sealed by another authority?
    if wrong is not None:
        return fail(VerdictCode.UNTRUSTED_SIGNER, wrong, **facts_sha)
    return SealCheck(
        code=VerdictCode.VALID,
        trusted=True,
        detail=detail,
        claimed_at=sig.time,
        form=_stamp_form(root.find(f"{Q}SignedInfo/{Q}StampAnnot")),
        **facts_sha,
    )


def _stamp_form(stamp: Any) -> tuple[SealFormFinding, ...]:
    """``invisible_seal`` when the signature has no ``StampAnnot`` or its ``Boundary`` has no
    area (GB/T 38540 §7.2: the seal's appearance on the page); an OFD has no DocMDP."""
    why = ""
    if stamp is None:
        why = "the signature has no StampAnnot: no seal appears on any page"
    else:
        try:
            _, _, width, height = (float(v) for v in (stamp.get("Boundary") or "").split())
        except ValueError:
            why = f"the StampAnnot's Boundary {stamp.get('Boundary')!r} is not four numbers"
        else:
            if width <= 0 or height <= 0:
                why = f"the StampAnnot's Boundary {stamp.get('Boundary')!r} has no area"
    if not why:
        return ()
    return (SealFormFinding("invisible_seal", "印章不可见：证书上看不到登记机构的印章", why),)


def _unfit_signer(sig: Any) -> str | None:
    """Why a trusted chain still does not make this an authority's seal signature: the signer is
    a CA, the seal was made by a certificate that is not a CA (any authority's key could then
    make seals in any name), or the seal's name is not the signer's organisation."""
    signer = asn1_x509.Certificate.load(sig.signer_cert)
    problem = signer_problem(signer)
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
