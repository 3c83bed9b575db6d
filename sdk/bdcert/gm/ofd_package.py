"""Reading OFD packages safely, and checking their structure (GB/T 33190-2016).

An OFD document is a ZIP package of XML files and resources. :func:`read_package` reads one
without trusting it: a cap on the total uncompressed size (:data:`MAX_PACKAGE_BYTES`, zip bombs)
and on the number of entries, no encrypted entries, duplicate names recorded (readers disagree
on which copy they show). :func:`parse_xml` reads one XML file: UTF-8, no DTD, no entities.
:func:`resolve_loc` turns an ``ST_Loc`` into a package path (GB/T 33190 §7.4) and refuses paths
that leave the package. :func:`write_package` writes one.

:func:`read_ofd_text` extracts the text of every ``TextCode`` in page order (for tests and
search). :func:`ofd_structure_problems` checks a package against the structure rules of
GB/T 33190 for the elements bdcert writes and signs (§7 document structure, §18 signatures): a
compact schema table (:data:`SCHEMA`) lists the children (in order), attributes and text each
element may have.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from xml.etree import ElementTree as ET

import attrs

from bdcert.bounds import TooComplex, check_xml
from bdcert.model import CHINA_TZ

__all__ = [
    "MAX_PACKAGE_BYTES",
    "NS",
    "SCHEMA",
    "OfdPackage",
    "OfdPackageError",
    "OfdTooComplex",
    "ofd_structure_problems",
    "parse_xml",
    "read_ofd_text",
    "read_package",
    "resolve_loc",
    "write_package",
    "xml_bytes",
]

#: The OFD namespace (GB/T 33190-2016 §7.1); bdcert writes it with the prefix ``ofd``.
NS = "http://www.ofdspec.org/2016"
_Q = "{" + NS + "}"
#: Largest total uncompressed size of a package that is read at all (zip bombs).
MAX_PACKAGE_BYTES = 50 * 1024 * 1024
_MAX_ENTRIES = 10_000

ET.register_namespace("ofd", NS)


# --------------------------------------------------------------------------- packages


class OfdPackageError(ValueError):
    """The bytes are not a readable OFD package (not a ZIP, too large, unreadable XML, …)."""


class OfdTooComplex(OfdPackageError, TooComplex):
    """An XML file of the package exceeds a bound of :mod:`bdcert.bounds` (elements, nesting)."""


@attrs.define(frozen=True)
class OfdPackage:
    """The files of an OFD package, read safely.

    :ivar files: path (no leading ``/``) -> bytes, in archive order; directories left out.
    :ivar duplicates: names that occur more than once in the archive (readers disagree on
        which copy they show); ``files`` holds the first.
    :ivar comment: the archive comment.
    """

    files: Mapping[str, bytes]
    duplicates: tuple[str, ...] = ()
    comment: bytes = b""


def read_package(package: bytes, *, limit: int = MAX_PACKAGE_BYTES) -> OfdPackage:
    """Read every file of a ZIP package, refusing anything that could exhaust memory.

    :raises OfdPackageError: not a ZIP starting with a local file header, more than 10,000
        entries, encrypted entries, a total uncompressed size over ``limit`` bytes (declared or
        actual), or a damaged entry (bad CRC, truncated data, unknown compression).
    """
    data = bytes(package)
    if not data.startswith(b"PK\x03\x04"):
        raise OfdPackageError("not a ZIP archive")
    files: dict[str, bytes] = {}
    duplicates: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > _MAX_ENTRIES:
                raise OfdPackageError(f"too many entries ({len(infos)})")
            _check_contiguous(data, infos, archive.start_dir)
            if sum(i.file_size for i in infos) > limit:
                raise OfdPackageError(f"the files add up to more than {limit} bytes")
            left = limit
            for info in infos:
                if info.flag_bits & 1:
                    raise OfdPackageError(f"{info.filename} is encrypted")
                if info.is_dir():
                    continue
                with archive.open(info) as handle:
                    body = handle.read(left + 1)
                if len(body) > left:
                    raise OfdPackageError(f"the files add up to more than {limit} bytes")
                left -= len(body)
                if info.filename in files:
                    duplicates.append(info.filename)
                else:
                    files[info.filename] = body
            comment = archive.comment
    except OfdPackageError:
        raise
    except Exception as exc:  # zipfile and zlib raise many unrelated types
        raise OfdPackageError(f"damaged ZIP archive: {type(exc).__name__}: {exc}") from None
    return OfdPackage(files, tuple(dict.fromkeys(duplicates)), comment)


def _check_contiguous(data: bytes, infos: list[zipfile.ZipInfo], start_dir: int) -> None:
    """Every byte before the central directory belongs to a listed entry, in order from 0.

    A local entry the central directory does not list (before, between or after the listed
    ones) is what some readers show instead of the listed one: it is refused, not ignored.
    """
    position = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != position:
            raise OfdPackageError(f"unlisted bytes before {info.filename} (a hidden entry?)")
        header = data[position : position + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise OfdPackageError(f"{info.filename} has no local file header")
        name_length = int.from_bytes(header[26:28], "little")
        extra_length = int.from_bytes(header[28:30], "little")
        position += 30 + name_length + extra_length + info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows: optional signature, CRC, sizes
            position += 16 if data[position : position + 4] == b"PK\x07\x08" else 12
    if position != start_dir:
        raise OfdPackageError("unlisted bytes before the central directory (a hidden entry?)")


def parse_xml(data: bytes, name: str) -> ET.Element:
    """Parse one XML file of a package: UTF-8, no DTD, no entity declarations.

    :raises OfdPackageError: anything else, or XML that does not parse.
    """
    if b"\x00" in data:  # UTF-16/32 text also decodes as "UTF-8" with NULs: refuse it
        raise OfdPackageError(f"{name} is not UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OfdPackageError(f"{name} is not UTF-8") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise OfdPackageError(f"{name} declares a DTD or entities")
    check_xml(data, name, error=OfdTooComplex)  # elements and nesting bounded
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise OfdPackageError(f"{name} is not well-formed XML: {exc}") from None


def xml_bytes(root: ET.Element) -> bytes:
    """``root`` as an XML file: UTF-8 with a declaration, one element per line, ``ofd:`` prefix."""
    ET.indent(root, space="")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def resolve_loc(base_dir: str, loc: str) -> str | None:
    """The package path an ``ST_Loc`` names (GB/T 33190 §7.4): absolute from the package root
    when it starts with ``/``, else relative to ``base_dir``. None if it leaves the package."""
    loc = loc.strip()
    if not loc or "\\" in loc:
        return None
    joined = loc if loc.startswith("/") else posixpath.join("/" + base_dir, loc)
    path = posixpath.normpath(joined)
    if not path.startswith("/") or path.startswith("//") or path == "/":
        return None
    if ".." in path.split("/"):
        return None
    return path[1:]


def _local(element: ET.Element) -> str:
    tag = element.tag
    return tag[len(_Q) :] if tag.startswith(_Q) else tag


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return element.find(_Q + name)


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def write_package(files: Mapping[str, bytes], when: datetime) -> bytes:
    """A ZIP of ``files`` (``OFD.xml`` first, deflated), every entry dated ``when``."""
    stamp = when.astimezone(CHINA_TZ).timetuple()[:6]
    order = sorted(files, key=lambda n: (n != "OFD.xml", n))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], compresslevel=6)
    return out.getvalue()


# --------------------------------------------------------------------------- reading text


def _document_path(files: Mapping[str, bytes]) -> str:
    if "OFD.xml" not in files:
        raise OfdPackageError("no OFD.xml")
    root = parse_xml(files["OFD.xml"], "OFD.xml")
    body = _child(root, "DocBody")
    doc_root = resolve_loc("", _text(_child(body, "DocRoot") if body is not None else None))
    if doc_root is None or doc_root not in files:
        raise OfdPackageError("OFD.xml has no DocRoot naming a file of the package")
    return doc_root


def _page_paths(files: Mapping[str, bytes], document: str) -> Iterator[tuple[str, str, str]]:
    """(page ID, BaseLoc as written, resolved path or "") of each page, in order."""
    root = parse_xml(files[document], document)
    pages = _child(root, "Pages")
    for page in pages.findall(_Q + "Page") if pages is not None else ():
        loc = page.get("BaseLoc", "")
        yield page.get("ID", ""), loc, resolve_loc(posixpath.dirname(document), loc) or ""


def read_ofd_text(package: bytes) -> str:
    """All ``TextCode`` text of an OFD package in page order; one line per text object.

    :raises OfdPackageError: the package or a page cannot be read.
    """
    files = read_package(package).files
    document = _document_path(files)
    lines: list[str] = []
    for _, _, path in _page_paths(files, document):
        if path not in files:
            raise OfdPackageError("a page file is missing")
        page = parse_xml(files[path], path)
        for obj in page.iter(_Q + "TextObject"):
            lines.append("".join(code.text or "" for code in obj.iter(_Q + "TextCode")))
    return "\n".join(lines)


# --------------------------------------------------------------------------- structure check


def _leaves(names: str) -> dict[str, str]:
    """Rules for elements that hold only text."""
    return dict.fromkeys(names.split(), "# |")


#: Allowed content of each element bdcert writes or signs, per file kind, from the XML schemas
#: of GB/T 33190-2016 (§7.4 OFD.xml, §7.5 Document.xml, §7.7 Page, §7.9 Res, §8 colours, §9
#: paths, §10 images, §11 text, §18 signatures). ``children | attributes``: children in the
#: order the schema's sequence gives them (from a ``~`` on: any order, an xs:choice), ``!``
#: marks a required child or attribute, ``#`` text content. A child element the parent allows
#: but the table does not describe is accepted without looking inside.
SCHEMA: Mapping[str, Mapping[str, str]] = {
    "OFD.xml": {
        "OFD": "DocBody! | @Version! @DocType!",
        "DocBody": "DocInfo! DocRoot Versions Signatures |",
        "DocInfo": "DocID Title Author Subject Abstract CreationDate ModDate DocUsage Cover"
        " Keywords Creator CreatorVersion CustomDatas |",
        **_leaves("DocID Title Author Subject Abstract CreationDate ModDate DocUsage Cover"),
        **_leaves("Creator CreatorVersion DocRoot Signatures"),
    },
    "Document.xml": {
        "Document": "CommonData! Pages! Outlines Permissions Actions VPreferences Bookmarks"
        " Annotations CustomTags Attachments Extensions |",
        "CommonData": "MaxUnitID! PageArea! PublicRes DocumentRes TemplatePage DefaultCS |",
        "PageArea": "PhysicalBox! ApplicationBox ContentBox BleedBox |",
        "Pages": "Page! |",
        "Page": " | @ID! @BaseLoc!",
        **_leaves("MaxUnitID PublicRes DocumentRes PhysicalBox ApplicationBox ContentBox BleedBox"),
    },
    "Res": {
        "Res": "~ColorSpaces DrawParams Fonts MultiMedias CompositeGraphicUnits | @BaseLoc!",
        "Fonts": "Font! |",
        "Font": "FontFile | @ID! @FontName! @FamilyName @Charset @Italic @Bold @Serif @FixedWidth",
        "MultiMedias": "MultiMedia! |",
        "MultiMedia": "MediaFile! | @ID! @Type! @Format",
        "FontFile": "# |",
        "MediaFile": "# |",
    },
    "Page": {
        "Page": "Template PageRes Area Content Actions |",
        "Area": "PhysicalBox! ApplicationBox ContentBox BleedBox |",
        "Content": "Layer! |",
        "Layer": "~TextObject PathObject ImageObject CompositeObject PageBlock"
        " | @ID! @Type @DrawParam",
        "TextObject": "Actions Clips FillColor StrokeColor ~CGTransform TextCode!"
        " | @ID! @Boundary! @Font! @Size! @Stroke @Fill @HScale @ReadDirection @CharDirection"
        " @Weight @Italic @Name @Visible @CTM @DrawParam @LineWidth @Cap @Join @MiterLimit"
        " @DashOffset @DashPattern @Alpha",
        "TextCode": "# | @X @Y @DeltaX @DeltaY",
        "PathObject": "Actions Clips StrokeColor FillColor AbbreviatedData!"
        " | @ID! @Boundary! @Stroke @Fill @Rule @Name @Visible @CTM @DrawParam @LineWidth @Cap"
        " @Join @MiterLimit @DashOffset @DashPattern @Alpha",
        "ImageObject": "Actions Clips Border | @ID! @Boundary! @ResourceID! @Substitution"
        " @ImageMask @Name @Visible @CTM @DrawParam @LineWidth @Cap @Join @MiterLimit"
        " @DashOffset @DashPattern @Alpha",
        "FillColor": "Pattern AxialShd RadialShd GouraudShd LaGouraudShd"
        " | @Value @Index @ColorSpace @Alpha",
        "StrokeColor": "Pattern AxialShd RadialShd GouraudShd LaGouraudShd"
        " | @Value @Index @ColorSpace @Alpha",
        "AbbreviatedData": "# |",
        "PhysicalBox": "# |",
    },
    "Signatures.xml": {
        "Signatures": "MaxSignId Signature |",
        "MaxSignId": "# |",
        "Signature": " | @ID! @BaseLoc! @Type",
    },
    "Signature.xml": {
        "Signature": "SignedInfo! SignedValue! |",
        "SignedInfo": "Provider! SignatureMethod SignatureDateTime References! StampAnnot Seal |",
        "Provider": " | @ProviderName! @Version @Company",
        "References": "Reference! | @CheckMethod",
        "Reference": "CheckValue! | @FileRef!",
        "StampAnnot": " | @ID! @PageRef! @Boundary! @Clip",
        "Seal": "BaseLoc! |",
        **_leaves("SignatureMethod SignatureDateTime CheckValue BaseLoc"),
        "SignedValue": "# |",
    },
}


@attrs.define(frozen=True)
class _Rule:
    children: Mapping[str, int]  # name -> position in the sequence (a choice shares one)
    required_children: frozenset[str]
    text: bool
    attributes: frozenset[str]
    required_attributes: frozenset[str]


def _compile(rule: str) -> _Rule:
    kids, _, attributes = rule.partition("|")
    words = kids.split()
    text = "#" in words
    order: dict[str, int] = {}
    choice = False
    for position, word in enumerate(w for w in words if w != "#"):
        choice = choice or word.startswith("~")
        order[word.lstrip("~").rstrip("!")] = -1 if choice else position
    last = max(order.values(), default=0) + 1
    attrs_ = [a.lstrip("@") for a in attributes.split()]
    return _Rule(
        children={name: last if at < 0 else at for name, at in order.items()},
        required_children=frozenset(w.lstrip("~")[:-1] for w in words if w.endswith("!")),
        text=text,
        attributes=frozenset(a.rstrip("!") for a in attrs_),
        required_attributes=frozenset(a[:-1] for a in attrs_ if a.endswith("!")),
    )


_RULES = {kind: {name: _compile(r) for name, r in table.items()} for kind, table in SCHEMA.items()}
_ID_RE = re.compile(r"[1-9][0-9]{0,9}")
#: An ``xs:ID`` (an XML NCName; the name characters beyond Latin-1 are taken as a block).
_XS_ID_RE = re.compile(r"[A-Za-z_\u00c0-\ufffd][\w.\-\u00b7\u00c0-\ufffd]*", re.ASCII)
_NUMBERS_RE = re.compile(r"\s*-?(\d+(\.\d*)?|\.\d+)(\s+-?(\d+(\.\d*)?|\.\d+))*\s*")


def _schema_problems(root: ET.Element, kind: str, name: str, root_name: str) -> list[str]:
    rules = _RULES[kind]
    problems: list[str] = []
    if root.tag != _Q + root_name:
        return [f"{name}: the root element is {root.tag}, not ofd:{root_name}"]

    def visit(element: ET.Element, rule: _Rule) -> None:
        label = f"{name}: ofd:{_local(element)}"
        for attribute in element.attrib:
            if attribute not in rule.attributes:
                problems.append(f"{label} has the attribute {attribute}, not allowed there")
        for attribute in sorted(rule.required_attributes - set(element.attrib)):
            problems.append(f"{label} lacks the required attribute {attribute}")
        if not rule.text and (element.text or "").strip():
            problems.append(f"{label} holds text, not allowed there")
        position = 0
        seen: set[str] = set()
        for child in element:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            if not child.tag.startswith(_Q):
                problems.append(f"{label} holds {child.tag}, outside the OFD namespace")
                continue
            child_name = _local(child)
            if child_name not in rule.children:
                problems.append(f"{label} holds ofd:{child_name}, not allowed there")
                continue
            index = rule.children[child_name]
            if index < position:
                problems.append(f"{label}: ofd:{child_name} is out of the schema's order")
            position = max(position, index)
            seen.add(child_name)
            if (child.tail or "").strip():
                problems.append(f"{label} holds text, not allowed there")
            if child_name in rules:
                visit(child, rules[child_name])
        for missing in sorted(rule.required_children - seen):
            problems.append(f"{label} lacks the required ofd:{missing}")

    visit(root, rules[root_name])
    return problems


def _ids(root: ET.Element) -> Iterator[tuple[str, str]]:
    for element in root.iter():
        if isinstance(element.tag, str) and "ID" in element.attrib:
            yield _local(element), element.attrib["ID"]


def ofd_structure_problems(package: bytes) -> list[str]:
    """What in ``package`` breaks the structure rules of GB/T 33190-2016; empty when none.

    Checked: OFD.xml with its DocBody and a DocRoot that names a file; Document.xml with
    CommonData (MaxUnitID, PageArea) and Pages; every page, resource file (font file, picture)
    and signature file referred to exists; IDs are positive integers, unique in the document
    and at most MaxUnitID; Font, ResourceID and PageRef references name objects that exist;
    boxes hold four numbers; the signature list's ``MaxSignId`` and ``Signature`` IDs and each
    ``StampAnnot`` ID are ``xs:ID`` names (not bare numbers), unique in their file; and each file
    holds only the elements, attributes and text that :data:`SCHEMA` allows, in order. Never
    raises: an unreadable package is one problem.
    """
    try:
        return _structure_problems(read_package(package))
    except OfdPackageError as exc:
        return [f"not a readable OFD package: {exc}"]
    except RecursionError:
        return ["an XML file is nested too deeply to check"]


def _load(files: Mapping[str, bytes], path: str, problems: list[str]) -> ET.Element | None:
    if path not in files:
        problems.append(f"{path} is referred to but missing")
        return None
    try:
        return parse_xml(files[path], path)
    except OfdPackageError as exc:
        problems.append(str(exc))
        return None


def _structure_problems(pkg: OfdPackage) -> list[str]:
    files, problems = pkg.files, []
    problems += [f"{name} occurs more than once in the archive" for name in pkg.duplicates]
    for name in files:
        if resolve_loc("", name) != name:
            problems.append(f"the archive entry {name!r} is not a plain package path")
    ofd = _load(files, "OFD.xml", problems)
    if ofd is None:
        return problems
    problems += _schema_problems(ofd, "OFD.xml", "OFD.xml", "OFD")
    body = _child(ofd, "DocBody")
    if body is None:
        return problems
    document = resolve_loc("", _text(_child(body, "DocRoot")))
    if document is None:
        problems.append("OFD.xml: DocRoot is missing or leaves the package")
        return problems
    doc = _load(files, document, problems)
    if doc is None:
        return problems
    problems += _schema_problems(doc, "Document.xml", document, "Document")
    doc_dir = posixpath.dirname(document)
    common = _child(doc, "CommonData")
    max_id_text = _text(_child(common, "MaxUnitID")) if common is not None else ""
    max_id = int(max_id_text) if max_id_text.isdigit() else None
    if max_id is None:
        problems.append(f"{document}: MaxUnitID is not a number")
    boxes = [e for e in doc.iter(_Q + "PhysicalBox")]
    ids: dict[str, str] = {}  # ID -> element name
    parts: list[tuple[str, ET.Element]] = [(document, doc)]
    for res_kind in ("PublicRes", "DocumentRes"):
        for loc in common.findall(_Q + res_kind) if common is not None else ():
            path = resolve_loc(doc_dir, _text(loc))
            if path is None:
                problems.append(f"{document}: {res_kind} leaves the package")
                continue
            res = _load(files, path, problems)
            if res is None:
                continue
            parts.append((path, res))
            problems += _schema_problems(res, "Res", path, "Res")
            base = resolve_loc(posixpath.dirname(path), res.get("BaseLoc", "") or ".") or ""
            for holder in ("FontFile", "MediaFile"):
                for element in res.iter(_Q + holder):
                    target = resolve_loc(base, _text(element))
                    if target is None or target not in files:
                        problems.append(f"{path}: {holder} {_text(element)!r} is missing")
    page_ids: set[str] = set()
    for page_id, page_loc, path in _page_paths(files, document):
        page_ids.add(page_id)
        page = _load(files, path, problems) if path else None
        if not path:
            problems.append(f"{document}: page BaseLoc {page_loc!r} leaves the package")
        if page is None:
            continue
        parts.append((path, page))
        problems += _schema_problems(page, "Page", path, "Page")
        boxes += list(page.iter(_Q + "PhysicalBox"))
    for path, root in parts:
        for element_name, value in _ids(root):
            if not _ID_RE.fullmatch(value):
                problems.append(
                    f"{path}: ofd:{element_name} ID {value!r} is not a positive integer"
                )
            elif value in ids:
                problems.append(f"{path}: ID {value} is used twice")
            elif max_id is not None and int(value) > max_id:
                problems.append(f"{path}: ID {value} exceeds MaxUnitID {max_id}")
            ids.setdefault(value, element_name)
    for path, root in parts:
        for element in root.iter():
            for attribute, want in (("Font", "Font"), ("ResourceID", "MultiMedia")):
                ref = element.get(attribute)
                if ref is not None and ids.get(ref) != want:
                    problems.append(f"{path}: {attribute}={ref} names no ofd:{want}")
            boundary = element.get("Boundary")
            if boundary is not None and not _four_numbers(boundary):
                problems.append(f"{path}: Boundary {boundary!r} is not four numbers")
    for box in boxes:
        if not _four_numbers(_text(box)):
            problems.append(f"PhysicalBox {_text(box)!r} is not four numbers")
    problems += _signature_problems(files, body, page_ids)
    return problems


def _four_numbers(value: str) -> bool:
    return bool(_NUMBERS_RE.fullmatch(value)) and len(value.split()) == 4


def _signature_problems(
    files: Mapping[str, bytes], body: ET.Element, page_ids: set[str]
) -> list[str]:
    problems: list[str] = []
    for loc in body.findall(_Q + "Signatures"):
        path = resolve_loc("", _text(loc))
        if path is None:
            problems.append("OFD.xml: Signatures leaves the package")
            continue
        signatures = _load(files, path, problems)
        if signatures is None:
            continue
        problems += _schema_problems(signatures, "Signatures.xml", path, "Signatures")
        problems += _xs_id_problems(signatures, path)
        for entry in signatures.findall(_Q + "Signature"):
            sig_path = resolve_loc(posixpath.dirname(path), entry.get("BaseLoc", ""))
            if sig_path is None:
                problems.append(f"{path}: a Signature BaseLoc leaves the package")
                continue
            signature = _load(files, sig_path, problems)
            if signature is None:
                continue
            problems += _schema_problems(signature, "Signature.xml", sig_path, "Signature")
            problems += _xs_id_problems(signature, sig_path)
            base = posixpath.dirname(sig_path)
            targets = [r.get("FileRef", "") for r in signature.iter(_Q + "Reference")]
            targets += [_text(e) for e in signature.iter(_Q + "BaseLoc")]
            targets += [_text(e) for e in signature.iter(_Q + "SignedValue")]
            for target in targets:
                resolved = resolve_loc(base, target)
                if resolved is None or resolved not in files:
                    problems.append(f"{sig_path}: {target!r} is missing")
            for annot in signature.iter(_Q + "StampAnnot"):
                if annot.get("PageRef") not in page_ids:
                    problems.append(f"{sig_path}: StampAnnot PageRef names no page")
    return problems


def _xs_id_problems(root: ET.Element, path: str) -> list[str]:
    """The ``xs:ID`` values of a signature file (``MaxSignId``, ``ID`` attributes): XML names,
    each used once in the file (GB/T 33190-2016 Annex A, Signatures.xsd and Signature.xsd)."""
    values = [(f"ofd:{_local(e)} ID", e.attrib["ID"]) for e in root.iter() if "ID" in e.attrib]
    values += [("ofd:MaxSignId", _text(e)) for e in root.iter(_Q + "MaxSignId")]
    problems: list[str] = []
    seen: set[str] = set()
    for what, value in values:
        if not _XS_ID_RE.fullmatch(value):
            problems.append(f"{path}: {what} {value!r} is not an xs:ID (an XML name)")
        elif value in seen:
            problems.append(f"{path}: the xs:ID {value!r} is used twice")
        seen.add(value)
    return problems
