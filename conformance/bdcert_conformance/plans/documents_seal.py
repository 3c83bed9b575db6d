"""The documents plan's view of a document's seal: how many signatures, where the visible seal is,
what it covers, whether it locks the document, when it claims to have been signed, and whether
the signer chains to the trust list.

PDF seals are read with pyHanko (independent of bdcert's verifier) and, where they fit, the
kit's seal contract checks (:mod:`bdcert_conformance.seal`); SM2 PDF seals with
:func:`bdcert.verify.pdf_sm2.check_pdf_sm2`; OFD seals (GB/T 38540) from the package's
``Signatures.xml`` / ``Signature.xml`` and :func:`bdcert.verify.ofd.verify_ofd`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from bdcert_conformance.plans.documents_read import (
    Document,
    TextBox,
    ofd_files,
    ofd_page_ids,
    xml,
)

__all__ = ["SealFacts", "assertion", "seal_facts"]

_PT_TO_MM = 25.4 / 72
_SM3 = "1.2.156.10197.1.401"
_OFD_NS = {"ofd": "http://www.ofdspec.org/2016"}


def assertion(func: Callable[..., None], *args: Any) -> str | None:
    """Run one of the seal contract's ``check_*`` functions: None when it holds, else its
    :class:`AssertionError` message (or what else it raised) as the finding."""
    try:
        func(*args)
    except AssertionError as exc:
        return str(exc) or "the check failed"
    except Exception as exc:  # an unreadable signature is a finding, not a kit crash
        return f"{type(exc).__name__}: {exc}"
    return None


@attrs.frozen
class SealFacts:
    """What the kit read of one document's seal.

    :ivar signatures: the number of (non-timestamp) signatures.
    :ivar box: where the visible seal is drawn (mm from the top-left), None if nowhere.
    :ivar visible_problem: why the seal is not visible (hidden, no area, no picture), or None.
    :ivar signed_at: the signing time the seal claims (PDF ``/M``; OFD ``SignatureDateTime``).
    :ivar cms_signed_at: the CMS signing-time attribute, when there is one.
    :ivar signer: the signer certificate's subject (RFC 4514).
    :ivar sm2: an SM2 seal (GB/T 38540 / GM/T 0010) rather than PAdES.
    """

    signatures: int
    box: TextBox | None = None
    visible_problem: str | None = None
    signed_at: datetime | None = None
    cms_signed_at: datetime | None = None
    signer: str = ""
    sm2: bool = False
    problem: str | None = None


def seal_facts(document: Document) -> SealFacts:
    """Read the seal of ``document`` (never raises: an unreadable seal is ``problem``)."""
    try:
        if document.format == "ofd":
            return _ofd_facts(document)
        return _pdf_facts(document)
    except Exception as exc:  # hostile input: every parser raises its own types
        return SealFacts(0, problem=f"the seal cannot be read: {type(exc).__name__}: {exc}")


def _pdf_facts(document: Document) -> SealFacts:
    from pyhanko.pdf_utils.generic import parse_pdf_date
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.general import NonexistentAttributeError, find_unique_cms_attribute

    import bdcert.gm.sm2_cms  # noqa: F401 (registers the national signedData OID with asn1crypto)
    from bdcert.protocols import SealRequest
    from bdcert_conformance.seal import check_visible_seal

    reader = PdfFileReader(io.BytesIO(document.data), strict=False)
    sigs = list(reader.embedded_regular_signatures)
    if len(sigs) != 1:
        return SealFacts(len(sigs))
    sig = sigs[0]
    sm2 = sig.signer_info["digest_algorithm"]["algorithm"].dotted == _SM3
    signed_at = parse_pdf_date(sig.sig_object["/M"]) if "/M" in sig.sig_object else None
    cms_time = None
    with contextlib.suppress(NonexistentAttributeError):
        cms_time = find_unique_cms_attribute(sig.signer_info["signed_attrs"], "signing_time").native
    field = sig.sig_field
    rect = tuple(float(x) for x in field.get("/Rect", [0, 0, 0, 0]))
    page_index = _widget_page(reader, sig.field_name)
    box = None
    visible_problem = None
    if page_index is None:
        visible_problem = "the seal widget is on no page"
    else:
        height = _page_height(reader.find_page_for_modification(page_index)[0].get_object())
        x1, y1, x2, y2 = rect
        box = TextBox(
            page_index + 1,
            (x1 * _PT_TO_MM, (height - y2) * _PT_TO_MM, x2 * _PT_TO_MM, (height - y1) * _PT_TO_MM),
        )
        request = SealRequest(
            authority=None,  # type: ignore[arg-type]
            page=page_index,
            box=rect,  # type: ignore[arg-type]
            appearance_png=b"",
        )
        visible_problem = assertion(check_visible_seal, document.data, request)
    return SealFacts(
        1,
        box,
        visible_problem,
        signed_at,
        cms_time,
        sig.signer_cert.subject.human_friendly,
        sm2,
    )


def _page_height(page: Any) -> float:
    """The page's height in points (``/MediaBox``, inherited from the page tree)."""
    node = page
    while node is not None:
        if "/MediaBox" in node:
            box = node["/MediaBox"]
            return float(box[3]) - float(box[1])
        node = node.get("/Parent")
        node = node.get_object() if node is not None else None
    return 842.0  # A4, the default of no /MediaBox at all


def _widget_page(reader: Any, field_name: str) -> int | None:
    pages = reader.root["/Pages"]
    count = int(pages["/Count"])
    for index in range(count):
        page, _ = reader.find_page_for_modification(index)
        for annot in page.get_object().get("/Annots", []):
            if annot.get_object().get("/T") == field_name:
                return index
    return None


def ofd_signature_entries(files: dict[str, bytes]) -> list[str]:
    """The ``Signature.xml`` parts ``Signatures.xml`` lists."""

    listing = next((n for n in files if n.endswith("Signs/Signatures.xml")), None)
    if listing is None:
        return []
    base = listing.rsplit("/", 1)[0]
    root = xml(files[listing])
    out = []
    for s in root.iterfind(".//ofd:Signature", namespaces=_OFD_NS):
        loc = s.get("BaseLoc", "").lstrip("/")
        out.append(loc if loc.startswith("Doc_") else f"{base}/{loc}")
    return out


def ofd_references(files: dict[str, bytes], signature_part: str) -> dict[str, str]:
    """The parts a ``Signature.xml`` covers, name -> check value (base64)."""

    root = xml(files[signature_part])
    return {
        r.get("FileRef", "").lstrip("/"): (r.findtext("ofd:CheckValue", namespaces=_OFD_NS) or "")
        for r in root.iterfind(".//ofd:References/ofd:Reference", namespaces=_OFD_NS)
    }


def _ofd_facts(document: Document) -> SealFacts:

    files = ofd_files(document.data)
    entries = ofd_signature_entries(files)
    if len(entries) != 1:
        return SealFacts(len(entries), sm2=True)
    root = xml(files[entries[0]])
    stamp = root.find(".//ofd:StampAnnot", namespaces=_OFD_NS)
    box = None
    visible_problem = None
    if stamp is None:
        visible_problem = "the signature has no StampAnnot (no visible seal)"
    else:
        x, y, w, h = (float(v) for v in stamp.get("Boundary", "0 0 0 0").split())
        ids = ofd_page_ids(files)
        page = ids.index(stamp.get("PageRef")) + 1 if stamp.get("PageRef") in ids else None
        if page is None:
            visible_problem = f"the StampAnnot names page {stamp.get('PageRef')!r}, not a page"
        elif w <= 0 or h <= 0:
            visible_problem = "the seal's StampAnnot has no area (invisible)"
        else:
            box = TextBox(page, (x, y, x + w, y + h))
    stamped = root.findtext(".//ofd:SignatureDateTime", namespaces=_OFD_NS)
    signed_at = None
    if stamped:
        signed_at = datetime.strptime(stamped.strip(), "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    return SealFacts(1, box, visible_problem, signed_at, None, "", True)


# ------------------------------------------------------------------------ whole-file checks


def _ofd_covered(document: Document) -> tuple[dict[str, bytes], str, dict[str, str]] | str:
    """The package's parts, its one ``Signature.xml`` and what that covers; or why not one."""
    files = ofd_files(document.data)
    entries = ofd_signature_entries(files)
    if len(entries) != 1:
        return f"the package lists {len(entries)} signatures, not exactly one"
    return files, entries[0], ofd_references(files, entries[0])


def covers_whole_file(document: Document) -> str | None:
    """None when the one signature covers the whole file (PDF: the seal contract's ByteRange
    check; OFD: every part of the package but the signature's own files is referenced)."""
    if document.format == "pdf":
        from bdcert_conformance.seal import check_one_signature_covering_the_file

        return assertion(check_one_signature_covering_the_file, document.data)
    found = _ofd_covered(document)
    if isinstance(found, str):
        return found
    files, signature, covered = found
    own = {signature, signature.rsplit("/", 1)[0] + "/SignedValue.dat"}
    left = sorted(n for n in files if n not in covered and n not in own)
    return f"parts not covered by the signature: {', '.join(left)}" if left else None


def locked(document: Document) -> str | None:
    """None when the seal locks the document against later changes: a PDF certification
    signature with DocMDP ``/P 1``; an OFD signature that covers ``Signatures.xml`` (no second
    signature or part can be added without breaking it)."""
    if document.format == "pdf":
        from bdcert_conformance.seal import check_docmdp_lock

        return assertion(check_docmdp_lock, document.data)
    found = _ofd_covered(document)
    if isinstance(found, str):
        return found
    files, _, covered = found
    listing = next(n for n in files if n.endswith("Signs/Signatures.xml"))
    if listing not in covered:
        return "the signature does not cover Signatures.xml: signatures can be added unseen"
    return None


def _changed_codes() -> frozenset[Any]:
    from bdcert.model import VerdictCode

    return frozenset(
        {
            VerdictCode.DIGEST_MISMATCH,
            VerdictCode.MODIFIED_AFTER_SEALING,
            VerdictCode.MULTIPLE_SIGNATURES,
            VerdictCode.UNSEALED,
            VerdictCode.NOT_PDF,
        }
    )


_CHANGED = _changed_codes()


def unchanged(document: Document, trust: Sequence[bytes]) -> str | None:
    """None when nothing was changed after sealing: the signed bytes are intact and anything
    after the seal's revision is only PAdES validation data and document timestamps (pyHanko's
    modification analysis, ISO 32000-2 §12.8.2.2); for OFD, every covered part's SM3 digest
    matches and no part was added (bdcert's OFD verifier, ``signed_revision_sha256``)."""
    if document.format == "ofd":
        from bdcert.verify.ofd import verify_ofd

        check = verify_ofd(document.data, trust_roots=list(trust))
        whole = hashlib.sha256(document.data).hexdigest()
        if check.signed_revision_sha256 != whole:
            return f"the package was changed after sealing: {check.code}: {check.detail}"
        return None
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature

    reader = PdfFileReader(io.BytesIO(document.data), strict=False)
    sigs = list(reader.embedded_regular_signatures)
    if len(sigs) != 1:
        return f"{len(sigs)} signatures"
    sig = sigs[0]
    if sig.signer_info["digest_algorithm"]["algorithm"].dotted == _SM3:
        from bdcert.verify.pdf_sm2 import check_pdf_sm2

        check = check_pdf_sm2(document.data, trust_roots=list(trust))
        if check.code in _CHANGED:
            return f"{check.code}: {check.detail}"
        return None
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(trust_roots=_asn1_roots(trust), allow_fetching=False)
    status = validate_pdf_signature(sig, context, diff_policy=DEFAULT_DIFF_POLICY)
    if not status.intact:
        return "the signed bytes were changed (digest mismatch)"
    level = status.modification_level
    if level is not None and level > ModificationLevel.LTA_UPDATES:
        return f"changed after sealing: modification level {level.name} (only LTA updates allowed)"
    if not status.docmdp_ok:
        return "the changes after sealing violate the seal's DocMDP permissions"
    return None


#: The signer subjects bdcert's OFD verifier read, by the package's SHA-256.
_OFD_SIGNERS: dict[str, str] = {}


def ofd_signer(document: Document) -> str:
    """The signer subject of an OFD seal that :func:`chained` verified ("" when none)."""
    return _OFD_SIGNERS.get(hashlib.sha256(document.data).hexdigest(), "")


def chained(document: Document, trust: Sequence[bytes]) -> str | None:
    """None when the signature verifies and its signer chains to one of ``trust`` (PDF: the
    seal contract's pyHanko check, no fetching; SM2 PDF and OFD: bdcert's SM2 verifiers)."""
    if document.format == "ofd":
        from bdcert.verify.ofd import verify_ofd

        check = verify_ofd(document.data, trust_roots=list(trust))
        if check.trusted and check.signer is not None:
            _OFD_SIGNERS[hashlib.sha256(document.data).hexdigest()] = check.signer
        return None if check.trusted else f"{check.code}: {check.detail}"
    facts = seal_facts(document)
    if facts.sm2:
        from bdcert.verify.pdf_sm2 import check_pdf_sm2

        check = check_pdf_sm2(document.data, trust_roots=list(trust))
        return None if check.trusted else f"{check.code}: {check.detail}"
    from bdcert_conformance.seal import check_chains_to_trust_roots

    return assertion(check_chains_to_trust_roots, document.data, pades_roots(trust))


def _asn1_roots(trust: Sequence[bytes]) -> list[Any]:
    from pyhanko.keys import load_certs_from_pemder_data

    return [c for der in pades_roots(trust) for c in load_certs_from_pemder_data(der)]


def pades_roots(trust: Sequence[bytes]) -> list[bytes]:
    """The trust roots pyHanko can use (DER each): an SM2 root (curve 1.2.156.10197.1.301),
    which pyca/cryptography cannot load, is for SM2 seals only and is left out."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.keys import load_certs_from_pemder_data

    out = []
    for data in trust:
        for cert in load_certs_from_pemder_data(data):
            der = cert.dump()
            try:
                x509.load_der_x509_certificate(der).public_key()
            except (UnsupportedAlgorithm, ValueError):
                continue
            out.append(x509.load_der_x509_certificate(der).public_bytes(Encoding.DER))
    return out
