"""Sealing OFD certificates with GB/T 38540 electronic seals (GB/T 33190-2016 §18).

:func:`seal_ofd` adds one seal signature (电子签章) to an unsealed package::

    OFD.xml                             + <ofd:Signatures>Doc_0/Signs/Signatures.xml</…>
    Doc_0/Signs/Signatures.xml          Signature ID="s001" Type="Seal" BaseLoc=…
    Doc_0/Signs/Sign_0/Signature.xml    SignedInfo (Provider, SignatureMethod, SignatureDateTime,
                                        References: SM3 of every other file, StampAnnot, Seal)
    Doc_0/Signs/Sign_0/Seal.esl         the seal, DER SESeal
    Doc_0/Signs/Sign_0/SignedValue.dat  DER SES_Signature, dataHash = SM3(Signature.xml)

The References cover every file of the package except the signature's own ``Signature.xml``
(which ``dataHash`` covers) and ``SignedValue.dat`` (the signature itself): ``OFD.xml``,
``Signatures.xml`` and ``Seal.esl`` included, as public signers do. The visible seal is the
seal's own picture, drawn by OFD readers at the ``StampAnnot`` boundary (page coordinates, mm).

Identifiers. The schemas of GB/T 33190-2016 type the ``Signature`` and ``StampAnnot`` IDs (and
``MaxSignId``) as ``xs:ID``, an XML name: a bare number such as ``1`` is not one. The signature is
:data:`SIGNATURE_ID` (``s001``, the ``sNNN`` form the standard recommends) and its stamp
annotation :data:`STAMP_ANNOT_ID`. ``MaxSignId`` is optional and not written: it would have to
repeat the signature's ID in the same file, and ``xs:ID`` values must be unique in a document
(schema validators such as ``xmlschema`` report the duplicate). Packages sealed before, with bare
numbers, still verify: :func:`bdcert.verify.ofd.verify_ofd` does not judge identifiers.

Checking these seals is :func:`bdcert.verify.ofd.verify_ofd`.
"""

from __future__ import annotations

import base64
import math
import posixpath
from collections.abc import Mapping
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from bdcert._version import __version__
from bdcert.errors import SealingError
from bdcert.gm import ses
from bdcert.gm.ofd_package import (
    NS,
    OfdPackageError,
    parse_xml,
    read_package,
    resolve_loc,
    write_package,
    xml_bytes,
)
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, SM2PrivateKey, sm3
from bdcert.gm.sm2_tsp import Sm2TimeStamper

__all__ = ["SIGNATURE_ID", "STAMP_ANNOT_ID", "Q", "document_parts", "seal_ofd"]

#: The OFD namespace as an ElementTree tag prefix: ``Q + "DocBody"``.
Q = "{" + NS + "}"
#: The ``ID`` of the one ``ofd:Signature`` in ``Signatures.xml`` (an ``xs:ID``, GB/T 33190 §18.2).
SIGNATURE_ID = "s001"
#: The ``ID`` of its ``ofd:StampAnnot`` in ``Signature.xml`` (an ``xs:ID``, GB/T 33190 §18.2.2).
STAMP_ANNOT_ID = "sa001"


def _el(tag: str, attrib: Mapping[str, str] | None = None, text: str | None = None) -> ET.Element:
    element = ET.Element(Q + tag, dict(attrib or {}))
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


def document_parts(files: Mapping[str, bytes]) -> tuple[ET.Element, ET.Element, str]:
    """OFD.xml's root, its (first) DocBody and the path of its Document.xml.

    :param files: the package's files by path (:attr:`bdcert.gm.ofd_package.OfdPackage.files`).
    :raises OfdPackageError: if OFD.xml is missing or does not name a Document.xml of the package.
    """
    if "OFD.xml" not in files:
        raise OfdPackageError("no OFD.xml")
    root = parse_xml(files["OFD.xml"], "OFD.xml")
    body = root.find(Q + "DocBody")
    if root.tag != Q + "OFD" or body is None:
        raise OfdPackageError("OFD.xml is not an ofd:OFD with a DocBody")
    doc_root = body.find(Q + "DocRoot")
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
    timestamper: Sm2TimeStamper | None = None,
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
    :param timestamper: an SM2 time-stamp authority: the signature's ``timeStamp`` field
        (:func:`bdcert.gm.ses.sign_data`); None writes none.
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
        root, body, document = document_parts(pkg.files)
        pages = _page_ids(pkg.files, document)
    except OfdPackageError as exc:
        raise SealingError(f"cannot seal: not a readable OFD package: {exc}") from None
    doc_dir = posixpath.dirname(document)
    signs = f"{doc_dir}/Signs" if doc_dir else "Signs"
    if body.find(Q + "Signatures") is not None or any(
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
    _sub(
        signatures,
        "Signature",
        {"ID": SIGNATURE_ID, "Type": "Seal", "BaseLoc": "/" + signature_path},
    )
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
    stamp = {"ID": STAMP_ANNOT_ID, "PageRef": pages[page], "Boundary": boundary}
    _sub(info, "StampAnnot", stamp)
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
        timestamper=timestamper,
    )
    return write_package(files, time)


def _page_ids(files: Mapping[str, bytes], document: str) -> list[str]:
    root = parse_xml(files[document], document)
    pages = root.find(Q + "Pages")
    return [p.get("ID", "") for p in pages.findall(Q + "Page")] if pages is not None else []
