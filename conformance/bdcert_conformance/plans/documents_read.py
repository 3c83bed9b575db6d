"""Reading the documents plan's inputs: the entries, the certificate documents (PDF and OFD) and
which entry each document was made from.

Text is read independently of bdcert: PDF text with poppler's ``pdftotext`` (``-layout`` for
the face, ``-bbox`` for where the authority's name is drawn), OFD text from every page's
``Content.xml`` (GB/T 33190 ``TextCode`` elements). What a face must show is computed from the
entry with bdcert's face builder (:func:`bdcert.face.face_items`: the face items of rule
articles 5 and 6), but the kind each entry must produce is decided here, from the articles.

**Matching a document to its entry** (a system's file names are arbitrary):

1. with the setting ``index=FILE``: a JSON object ``{"file name": "ywh", …}`` or ``{"file
   name": {"ywh": …, "issued_at": …}, …}`` (names relative to the documents directory) says it;
2. otherwise by the face: the entry whose unit numbers (不动产单元号) and 登簿日期 the document's
   text shows, preferring the one whose location (坐落) and holders (权利人) it shows too. The
   holders printed on a document are those of the entry whose names it shows (under 分别持证,
   one certificate per holder, rule article 6 practice); under 共同持证, all of them.
"""

from __future__ import annotations

import html
import io
import json
import lzma
import re
import subprocess
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert.model import CHINA_TZ, Authority, CertificateKind, FaceItem, Party

__all__ = [
    "Document",
    "EntryRecord",
    "Match",
    "compact",
    "expected_kind",
    "match_documents",
    "read_document",
    "read_entries",
    "xml",
]

#: 第 N 页 共 M 页, the page furniture removed before looking for a value across a page break.
FURNITURE = re.compile(r"第\s*\d+\s*页\s*共\s*\d+\s*页")
_NUMBER = re.compile(r"\S[(（]\d{4}[)）]\S+?不动产(?:权|证明)第\d+号")
_LICENCE = re.compile(r"电子证照标识[:：]\s*(\S+)")
_ISSUE_DATE = re.compile(r"签发日期[:：]\s*(\d{4}年\d{2}月\d{2}日)")
_RECORDED_DATE = re.compile(r"登簿日期[:：]?(\d{4}年\d{2}月\d{2}日)")
_AUTHORITY = re.compile(r"登记机构[:：]\s*(\S+)")
_OFD_NS = {"ofd": "http://www.ofdspec.org/2016"}

#: Registration types that produce no certificate (rule article 6: 注销, 查封).
NO_CERTIFICATE_TYPES = frozenset({"400", "800"})
#: Registration types after which a registration proof is issued (article 5: 预告, 异议).
PROOF_TYPES = frozenset({"600", "700"})
#: 权利类型 codes recorded with a proof (article 5: 地役权).
PROOF_RIGHT_TYPES = frozenset({"19"})


def compact(text: str) -> str:
    """``text`` without page furniture and without any whitespace (wrapping and layout gaps)."""
    return re.sub(r"\s+", "", FURNITURE.sub("", text))


def china_date(value: date | datetime) -> str:
    """``2024年03月05日`` (an aware datetime converted to China time, UTC+08:00, first)."""
    if isinstance(value, datetime):
        value = value.astimezone(CHINA_TZ).date()
    return f"{value.year}年{value.month:02d}月{value.day:02d}日"


def expected_kind(raw: Mapping[str, Any]) -> CertificateKind | None:
    """The kind an entry must produce, from rule articles 5 and 6 (decided here, not by bdcert):
    nothing for 注销 (400) and 查封 (800); a registration proof for 预告 (700), 异议 (600),
    地役权 (qllx 19) and an entry that states what it proves (``zmsx``: 抵押权, 居住权, …); a
    property certificate for every other registration."""
    djlx = str(raw.get("djlx", ""))
    if djlx in NO_CERTIFICATE_TYPES:
        return None
    if djlx in PROOF_TYPES or str(raw.get("qllx", "")) in PROOF_RIGHT_TYPES or raw.get("zmsx"):
        return CertificateKind.REGISTRATION_PROOF
    return CertificateKind.PROPERTY_CERTIFICATE


@attrs.frozen
class EntryRecord:
    """One registration-book entry: ``line`` (from 1), the raw object, the parsed entry
    (:class:`bdcert.model.RegistrationEntry`) and the kind it must produce."""

    line: int
    raw: Mapping[str, Any]
    entry: Any
    kind: CertificateKind | None

    @property
    def ywh(self) -> str:
        return str(self.raw.get("ywh", ""))


def read_entries(
    path: Path, authorities: Mapping[str, Authority], codes: Any
) -> tuple[list[EntryRecord], list[tuple[int, str]]]:
    """The entries of a JSON Lines file and the lines that are not valid entries
    ``(line, why)``. A ``ywh`` pushed twice (a replay) counts once."""
    from bdcert.errors import ValidationError
    from bdcert.validation import parse_entry

    records: list[EntryRecord] = []
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            entry = parse_entry(raw, authorities=authorities, codes=codes)
        except (ValueError, ValidationError) as exc:
            problems.append((number, str(exc)))
            continue
        if entry.business_number in seen:
            continue
        seen.add(entry.business_number)
        records.append(EntryRecord(number, raw, entry, expected_kind(raw)))
    return records, problems


@attrs.frozen
class TextBox:
    """Where a piece of text is drawn: ``page`` (from 1) and ``(x1, y1, x2, y2)`` in millimetres
    from the page's top-left corner."""

    page: int
    box: tuple[float, float, float, float]


@attrs.frozen
class Document:
    """One certificate document as the kit reads it.

    :ivar file: its name relative to the documents directory.
    :ivar format: ``pdf`` or ``ofd``.
    :ivar pages: the text of each page (PDF: ``pdftotext -layout``; OFD: the pages' text codes).
    :ivar authority_box: where ``登记机构：…`` is drawn (last occurrence), when found.
    :ivar problem: why the document could not be read (then the rest is empty).
    """

    file: str
    path: Path
    format: str
    data: bytes = attrs.field(repr=False)
    pages: tuple[str, ...] = ()
    authority_box: TextBox | None = None
    problem: str | None = None
    #: how many text-showing operators draw invisible text (not in ``pages``)
    hidden_text: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.pages)

    @property
    def compact(self) -> str:
        return compact(self.text)

    @property
    def kind(self) -> CertificateKind | None:
        """The kind its title names (不动产权证书 / 不动产登记证明), from the first page."""
        head = compact(self.pages[0])[:40] if self.pages else ""
        if CertificateKind.REGISTRATION_PROOF.title in head:
            return CertificateKind.REGISTRATION_PROOF
        if CertificateKind.PROPERTY_CERTIFICATE.title in head:
            return CertificateKind.PROPERTY_CERTIFICATE
        return None

    def _first(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.search(self.text)
        return found.group(found.lastindex or 0) if found else None

    @property
    def number(self) -> str | None:
        """The certificate number (证号 / 证明号) the face shows."""
        found = _NUMBER.search(self.compact)
        return found.group(0) if found else None

    @property
    def licence_id(self) -> str | None:
        return self._first(_LICENCE)

    @property
    def issue_date(self) -> str | None:
        """签发日期 as printed."""
        return self._first(_ISSUE_DATE)

    @property
    def recorded_date(self) -> str | None:
        """登簿日期 as printed."""
        found = _RECORDED_DATE.search(self.compact)
        return found.group(1) if found else None

    @property
    def authority_name(self) -> str | None:
        """The name printed after 登记机构："""
        found = _AUTHORITY.findall(self.text)
        return found[-1] if found else None

    def page_of(self, value: str) -> int | None:
        """The page (from 1) whose text shows ``value`` (compared without whitespace)."""
        wanted = compact(value)
        for i, page in enumerate(self.pages, 1):
            if wanted and wanted in compact(page):
                return i
        return None


def read_document(path: Path, root: Path) -> Document:
    """Read one PDF or OFD document (by its first bytes, not its name)."""
    data = path.read_bytes()
    name = path.relative_to(root).as_posix()
    if data.startswith(b"%PDF-"):
        return _read_pdf(path, name, data)
    if data.startswith(b"PK"):
        return _read_ofd(path, name, data)
    return Document(name, path, "unknown", data, problem="neither a PDF nor an OFD package")


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, check=True, timeout=60).stdout.decode(
        "utf-8", "replace"
    )


def _read_pdf(path: Path, name: str, data: bytes) -> Document:
    """The text the pages SHOW (:mod:`.documents_visible`: invisible text emptied first)."""
    import tempfile

    from bdcert_conformance.plans.documents_visible import visible_copy

    try:
        copy, hidden = visible_copy(data)
    except Exception as exc:  # pyHanko on a hostile file: one unreadable document
        return Document(name, path, "pdf", data, problem=f"not a readable PDF: {exc}")
    try:
        with tempfile.TemporaryDirectory(prefix="bdcert-kit-text-") as tmp:
            source = path
            if copy is not None:
                source = Path(tmp) / "visible.pdf"
                source.write_bytes(copy)
            text = _run("pdftotext", "-layout", "-enc", "UTF-8", str(source), "-")
            bbox = _run("pdftotext", "-bbox", "-enc", "UTF-8", str(source), "-")
    except (subprocess.SubprocessError, OSError) as exc:
        return Document(name, path, "pdf", data, problem=f"pdftotext cannot read it: {exc}")
    pages = tuple(p for p in text.split("\f"))
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return Document(name, path, "pdf", data, pages, _pdf_authority_box(bbox), hidden_text=hidden)


_PT_TO_MM = 25.4 / 72
_PAGE = re.compile(r"<page\b[^>]*>(.*?)</page>", re.S)
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', re.S
)


def _pdf_authority_box(bbox_html: str) -> TextBox | None:
    items = []
    for number, page in enumerate(_PAGE.findall(bbox_html), 1):
        for x1, y1, x2, y2, word in _WORD.findall(page):
            box = tuple(float(v) * _PT_TO_MM for v in (x1, y1, x2, y2))
            items.append((number, box, html.unescape(word)))
    return _label_line(items)


def _label_line(items: list[tuple[int, tuple[float, ...], str]]) -> TextBox | None:
    """The box of the last ``登记机构：<name>`` line: the label's text item and the items right
    of it on the same line (within 2 mm of its top)."""
    found = None
    for page, box, text in items:
        if text.startswith("登记机构"):
            x1, y1, x2, y2 = box
            for other_page, other, _ in items:
                if other_page == page and abs(other[1] - box[1]) < 2 and other[0] >= box[0]:
                    x2, y2 = max(x2, other[2]), max(y2, other[3])
            found = TextBox(page, (x1, y1, x2, y2))
    return found


def xml(data: bytes) -> Any:
    """An XML part of a package parsed safely: no entities resolved, no network, no DTD, no
    huge trees (the documents are the system's, not trusted)."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    return etree.fromstring(data, parser)


def ofd_files(data: bytes) -> dict[str, bytes]:
    """The parts of an OFD package by name (no leading slash), its ZIP directory bounded first
    (:func:`bdcert.bounds.check_zip`: entry count, inflation ratio).

    :raises bdcert.bounds.TooComplex: a package that would inflate too far.
    """
    from bdcert.bounds import check_zip

    check_zip(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def ofd_page_paths(files: Mapping[str, bytes]) -> list[str]:
    """The content parts of the pages in document order (``Doc_0/Document.xml``'s Pages)."""

    root = xml(files["OFD.xml"])
    doc_root = root.findtext(".//ofd:DocRoot", namespaces=_OFD_NS).strip().lstrip("/")
    base = doc_root.rsplit("/", 1)[0]
    document = xml(files[doc_root])
    return [
        f"{base}/{p.get('BaseLoc').lstrip('/')}"
        for p in document.iterfind(".//ofd:Pages/ofd:Page", namespaces=_OFD_NS)
    ]


def ofd_page_ids(files: Mapping[str, bytes]) -> list[str]:

    root = xml(files["OFD.xml"])
    doc_root = root.findtext(".//ofd:DocRoot", namespaces=_OFD_NS).strip().lstrip("/")
    document = xml(files[doc_root])
    return [p.get("ID") for p in document.iterfind(".//ofd:Pages/ofd:Page", namespaces=_OFD_NS)]


def _read_ofd(path: Path, name: str, data: bytes) -> Document:
    from lxml import etree

    from bdcert.bounds import TooComplex

    try:
        files = ofd_files(data)
        pages = []
        hidden = 0
        items: list[tuple[int, tuple[float, ...], str]] = []
        for number, part in enumerate(ofd_page_paths(files), 1):
            content = xml(files[part])
            lines: list[str] = []
            for obj in content.iterfind(".//ofd:TextObject", namespaces=_OFD_NS):
                if obj.get("Visible", "true") == "false":  # GB/T 33190 CT_GraphicUnit
                    hidden += 1
                    continue
                text = "".join(
                    t.text or "" for t in obj.iterfind("ofd:TextCode", namespaces=_OFD_NS)
                )
                lines.append(text)
                x, y, w, h = (float(v) for v in obj.get("Boundary", "0 0 0 0").split())
                items.append((number, (x, y, x + w, y + h), text))
            pages.append("\n".join(lines))
        found = _label_line(items)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        KeyError,
        AttributeError,
        IndexError,
        TypeError,
        ValueError,  # a Boundary that is not four numbers
        RuntimeError,  # an encrypted ZIP entry
        NotImplementedError,  # an unsupported compression method
        EOFError,
        OSError,
        zlib.error,
        lzma.LZMAError,
        etree.LxmlError,
        TooComplex,
    ) as exc:
        # A hostile package is one unreadable document (a P-001 finding), never the run's end.
        return Document(
            name,
            path,
            "ofd",
            data,
            problem=f"not a readable OFD package: {type(exc).__name__}: {exc}",
        )
    return Document(name, path, "ofd", data, tuple(pages), found, hidden_text=hidden)


@attrs.frozen
class Match:
    """A document and the entry it was made from, with the holders it prints."""

    document: Document
    record: EntryRecord
    holders: tuple[Party, ...]


#: The labels printed after 权利人 on the two faces (articles 5 and 6).
_AFTER_HOLDERS = ("共有情况", "义务人", "坐落")


def _holders_shown(document: Document, record: EntryRecord) -> tuple[Party, ...]:
    text = document.compact
    holders = record.entry.holders
    if record.entry.holding_mode == "分别持证":
        # the names printed as 权利人 (up to the next item's label), not those of 共有情况
        start = text.find("权利人")
        ends = [i for label in _AFTER_HOLDERS if (i := text.find(label, start + 3)) > start]
        field = text[start + 3 : min(ends, default=len(text))] if start >= 0 else text
        shown = tuple(h for h in holders if compact(h.name) in field)
        shown = shown or tuple(h for h in holders if compact(h.name) in text)
        return shown[:1] or holders[:1]
    return tuple(holders)


def match_documents(
    documents: Sequence[Document], records: Sequence[EntryRecord], index: Mapping[str, str] | None
) -> tuple[list[Match], list[Document]]:
    """Each readable document's entry (see the module docstring) and the documents that match
    no entry."""
    by_ywh = {r.ywh: r for r in records}
    matches: list[Match] = []
    unmatched: list[Document] = []
    for document in documents:
        if document.problem is not None:
            continue
        record: EntryRecord | None = None
        if index is not None:
            record = by_ywh.get(index.get(document.file, ""))
        else:
            best = 0
            text = document.compact
            for r in records:
                e = r.entry
                if not all(compact(u) in text for u in e.unit_numbers):
                    continue
                if china_date(e.recorded_at) not in text:
                    continue
                score = (
                    1
                    + (compact(e.location) in text)
                    + sum(compact(h.name) in text for h in e.holders)
                )
                if score > best:
                    best, record = score, r
        if record is None:
            unmatched.append(document)
        else:
            matches.append(Match(document, record, _holders_shown(document, record)))
    return matches, unmatched


def expected_face(
    match: Match, authority: Authority, codes: Any, kind: CertificateKind
) -> tuple[FaceItem, ...]:
    """The face items of ``kind`` the entry gives (bdcert's face builder), with the number the
    document shows; 签发日期 is left out (the issue time is checked against the seal)."""
    from bdcert.face import face_items

    items = face_items(
        match.record.entry,
        kind=kind,
        number=match.document.number or "",
        holders=match.holders,
        authority=authority,
        issued_at=match.record.entry.recorded_at,
        codes=codes,
    )
    return tuple(i for i in items if i.key != "qfsj")
