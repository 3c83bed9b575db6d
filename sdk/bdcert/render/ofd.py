"""Certificates as OFD documents (GB/T 33190-2016, 电子文件存储与交换格式 版式文档).

:func:`write_ofd` lays out the same face as the PDF renderer (:mod:`bdcert.render`: the title,
the e-licence identifier, the QR code, one row per face item with every value wrapped and
continued onto following pages, 附图 on a page of its own, the signature block with a
:data:`~bdcert.render.SEAL_SIZE_MM` seal box centred on the authority's name, the frame and the
``第 N 页 共 M 页`` footer on every page) and writes it as an OFD package, a ZIP holding::

    OFD.xml                          ofd:OFD, DocBody (DocInfo, DocRoot[, Signatures])
    Doc_0/Document.xml               CommonData (MaxUnitID, PageArea, PublicRes, DocumentRes), Pages
    Doc_0/PublicRes.xml              Fonts: the face fonts, each with its subset embedded (FontFile)
    Doc_0/DocumentRes.xml            MultiMedias: the QR code and 附图 pictures
    Doc_0/Res/…                      font_N.ttf, qr.png, plan.png / plan.jpg
    Doc_0/Pages/Page_N/Content.xml   Layer of TextObject, PathObject, ImageObject

Everything is in the namespace :data:`~bdcert.gm.ofd_package.NS` (prefix ``ofd:``); lengths are
millimetres with the origin at the top-left corner of the page (GB/T 33190 §7.2); every object
has an ID unique in the document, at most ``MaxUnitID``. Text is positioned exactly: each
TextCode carries ``DeltaX`` (the advance widths of the embedded font), so a reader's substitute
font cannot reflow it.

:func:`read_ofd_text` (the text, for tests and search) and :func:`ofd_structure_problems`
(GB/T 33190 structure rules) live in :mod:`bdcert.gm.ofd_package` and are re-exported here.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from xml.etree import ElementTree as ET

import attrs
import segno
from fontTools.ttLib import TTFont

from bdcert.fonts import FontChain, FontConfig, default_font_config, glyph_source
from bdcert.gm.ofd_package import (
    NS,
    ofd_structure_problems,
    read_ofd_text,
    write_package,
    xml_bytes,
)
from bdcert.model import CHINA_TZ, AttachedPlan, Authority, CertificateKind, FaceItem
from bdcert.render.pdf import (  # the PDF's layout, so both formats print the same face
    _FIXED_TEXT,
    _LABEL_W,
    _LINE_H,
    _MARGIN_BOTTOM,
    _MARGIN_TOP,
    _MARGIN_X,
    _NO_LINE_END,
    _NO_LINE_START,
    _ROW_PAD,
    _SIGNATURE_H,
    _SIGNATURE_KEYS,
    _TABLE_TOP,
    _TEXT_PT,
    _VALUE_W,
    _VALUE_X,
    QR_SIZE_MM,
    SEAL_SIZE_MM,
    _face_value,
    _load_plan,
    _Plan,
    _printable,
)

__all__ = [
    "RenderedOfd",
    "ofd_structure_problems",
    "read_ofd_text",
    "write_ofd",
]

_Q = "{" + NS + "}"
_PAGE_W, _PAGE_H = 210.0, 297.0
_PT_MM = 25.4 / 72
_PAD = 1.0  # fpdf2's cell margin, so text starts where the PDF's does
_INK = "25 25 25"
_RED = "160 30 30"
_GREY = "110 110 110"
_RULE = "200 170 170"


@attrs.define(frozen=True)
class RenderedOfd:
    """An unsealed certificate as an OFD package and where its seal goes.

    :ivar package: the OFD (ZIP) bytes.
    :ivar seal_page: zero-based index of the page that carries the signature block.
    :ivar seal_box_mm: ``(x, y, w, h)`` of the seal square in millimetres from the page's
        top-left corner (an OFD ``Boundary``), for :func:`bdcert.gm.ofd_seal.seal_ofd`.
    """

    package: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    seal_page: int
    seal_box_mm: tuple[float, float, float, float]


# --------------------------------------------------------------------------- writing


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _box(x: float, y: float, w: float, h: float) -> str:
    return " ".join(_num(v) for v in (x, y, w, h))


def _delta_x(advances: Sequence[float]) -> str:
    """``DeltaX`` with runs of equal values written ``g N v`` (GB/T 33190 §11.3)."""
    parts: list[str] = []
    i = 0
    while i < len(advances):
        value = _num(advances[i])
        j = i
        while j + 1 < len(advances) and _num(advances[j + 1]) == value:
            j += 1
        count = j - i + 1
        parts.append(f"g {count} {value}" if count > 2 else " ".join([value] * count))
        i = j + 1
    return " ".join(parts)


@attrs.define
class _Face:
    """One embedded font: its OFD ID, subset file and advance widths (font units)."""

    id: int
    family: str
    file: str
    data: bytes
    advances: dict[int, int]
    units_per_em: int


class _Document:
    """The pages being drawn: allocates IDs and builds each page's Layer."""

    def __init__(self, faces: Mapping[int, _Face]) -> None:
        self.faces = faces
        self._next_id = max((f.id for f in faces.values()), default=0) + 1
        self.pages: list[tuple[int, ET.Element]] = []  # (page ID, Layer)
        self._widths: dict[tuple[str, float], float] = {}
        self.target: ET.Element | None = None

    def new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    @property
    def max_id(self) -> int:
        return self._next_id - 1

    def add_page(self) -> None:
        page_id = self.new_id()
        layer = ET.Element(_Q + "Layer", {"ID": str(self.new_id()), "Type": "Body"})
        self.pages.append((page_id, layer))
        self.rect(10, 10, _PAGE_W - 20, _PAGE_H - 20, 0.6, _RED)
        self.rect(12, 12, _PAGE_W - 24, _PAGE_H - 24, 0.2, _RED)

    @property
    def layer(self) -> ET.Element:
        """The layer being drawn into: the last page's, unless :attr:`target` is set."""
        return self.target if self.target is not None else self.pages[-1][1]

    # -- metrics

    def font_of(self, ch: str) -> int | None:
        cp = ord(ch)
        for position in sorted(self.faces):
            if cp in self.faces[position].advances:
                return position
        return None

    def width(self, ch: str, pt: float) -> float:
        key = (ch, pt)
        cached = self._widths.get(key)
        if cached is None:
            position = self.font_of(ch)
            face = self.faces[0 if position is None else position]
            units = face.advances.get(ord(ch), face.units_per_em // 4)
            cached = self._widths[key] = units / face.units_per_em * pt * _PT_MM
        return cached

    def string_width(self, text: str, pt: float, spacing: float = 0.0) -> float:
        return sum(self.width(ch, pt) + spacing for ch in text)

    # -- drawing

    def text(
        self,
        x: float,
        top: float,
        h: float,
        text: str,
        pt: float,
        colour: str,
        *,
        spacing: float = 0.0,
        stroke: float = 0.0,
    ) -> None:
        """Text in a cell ``h`` mm high whose top is ``top``, ink from ``x``; baseline as fpdf2's.

        One TextObject per run of characters drawn by the same font (fallback fonts for rare
        characters); whitespace no font has is skipped, its advance kept.
        """
        size = pt * _PT_MM
        baseline = 0.5 * h + 0.3 * size
        runs: list[tuple[int | None, float, str]] = []
        cursor = x
        for ch in text:
            position = self.font_of(ch)
            if runs and runs[-1][0] == position:
                runs[-1] = (position, runs[-1][1], runs[-1][2] + ch)
            else:
                runs.append((position, cursor, ch))
            cursor += self.width(ch, pt) + spacing
        for position, start, run in runs:
            if position is None:  # whitespace no font draws: an advance, nothing to print
                continue
            advances = [self.width(ch, pt) + spacing for ch in run]
            attrs_ = {
                "ID": str(self.new_id()),
                "Boundary": _box(start, top, sum(advances) + 1.0, h),
                "Font": str(self.faces[position].id),
                "Size": _num(size),
            }
            if stroke:
                attrs_ |= {"Stroke": "true", "LineWidth": _num(stroke)}
            obj = ET.SubElement(self.layer, _Q + "TextObject", attrs_)
            ET.SubElement(obj, _Q + "FillColor", {"Value": colour})
            if stroke:
                ET.SubElement(obj, _Q + "StrokeColor", {"Value": colour})
            code = {"X": "0", "Y": _num(baseline)}
            if len(run) > 1:
                code["DeltaX"] = _delta_x(advances[:-1])
            ET.SubElement(obj, _Q + "TextCode", code).text = run

    def path(
        self, boundary: tuple[float, float, float, float], data: str, width: float, colour: str
    ) -> None:
        """A stroked path; ``data`` is AbbreviatedData relative to the boundary's corner."""
        obj = ET.SubElement(
            self.layer,
            _Q + "PathObject",
            {"ID": str(self.new_id()), "Boundary": _box(*boundary), "LineWidth": _num(width)},
        )
        ET.SubElement(obj, _Q + "StrokeColor", {"Value": colour})
        ET.SubElement(obj, _Q + "AbbreviatedData").text = data

    def rect(self, x: float, y: float, w: float, h: float, width: float, colour: str) -> None:
        data = f"M 0 0 L {_num(w)} 0 L {_num(w)} {_num(h)} L 0 {_num(h)} C"
        self.path((x, y, w, h), data, width, colour)

    def line(self, x1: float, y: float, x2: float, colour: str) -> None:
        self.path((x1, y - 0.5, x2 - x1, 1.0), f"M 0 0.5 L {_num(x2 - x1)} 0.5", 0.2, colour)

    def image(self, resource_id: int, x: float, y: float, w: float, h: float) -> None:
        ET.SubElement(
            self.layer,
            _Q + "ImageObject",
            {
                "ID": str(self.new_id()),
                "Boundary": _box(x, y, w, h),
                "CTM": f"{_num(w)} 0 0 {_num(h)} 0 0",
                "ResourceID": str(resource_id),
            },
        )


class _Layout:
    """The face, row by row, as :class:`bdcert.render.Renderer` lays it out."""

    def __init__(self, doc: _Document) -> None:
        self.doc = doc
        self.y = 0.0

    def draw(
        self,
        *,
        kind: CertificateKind,
        face: Sequence[FaceItem],
        licence_id: str,
        authority_name: str,
        qr_id: int,
        plan: tuple[int, _Plan] | None,
    ) -> tuple[int, tuple[float, float, float, float]]:
        doc = self.doc
        doc.add_page()
        content_w = _PAGE_W - 2 * _MARGIN_X
        spacing = 4 * _PT_MM
        title_w = doc.string_width(kind.title, 26, spacing)
        doc.text(
            _MARGIN_X + (content_w - title_w) / 2, 24, 12, kind.title, 26, _RED,
            spacing=spacing, stroke=0.35,
        )  # fmt: skip
        ident = f"电子证照标识：{licence_id}"
        doc.text(
            _MARGIN_X + (content_w - doc.string_width(ident, 7.5)) / 2, 40, 4, ident, 7.5, _GREY
        )
        doc.image(qr_id, _PAGE_W - 14 - QR_SIZE_MM, 14.0, QR_SIZE_MM, QR_SIZE_MM)
        self.y = _TABLE_TOP
        self._rule()
        for item in face:
            if item.key not in _SIGNATURE_KEYS:
                self._row(item)
        if plan is not None:
            self._plan(*plan)
        return self._signature(authority_name, _face_value(face, "qfsj"))

    @property
    def _trigger(self) -> float:
        return _PAGE_H - _MARGIN_BOTTOM

    def _rule(self) -> None:
        self.doc.line(_MARGIN_X, self.y, _PAGE_W - _MARGIN_X, _RULE)

    def _row(self, item: FaceItem) -> None:
        doc = self.doc
        if self.y + _ROW_PAD + _LINE_H > self._trigger:
            doc.add_page()
            self.y = _MARGIN_TOP
            self._rule()
        y = self.y + _ROW_PAD
        label_pt = _TEXT_PT
        fit = (_LABEL_W - 2 * _PAD) / max(doc.string_width(item.label, _TEXT_PT), 1e-6)
        if fit < 1:  # an unusually long label: smaller type, never into the value column
            label_pt = _TEXT_PT * fit
        doc.text(_MARGIN_X + _PAD, y, _LINE_H, item.label, label_pt, _RED)
        for line in self._wrap(_printable(item.value), _VALUE_W - 2 * _PAD - 0.05):
            if y + _LINE_H > self._trigger:
                doc.add_page()
                y = _MARGIN_TOP
            doc.text(_VALUE_X + _PAD, y, _LINE_H, line, _TEXT_PT, _INK)
            y += _LINE_H
        self.y = y + _ROW_PAD
        self._rule()

    def _wrap(self, text: str, width: float) -> list[str]:
        """Break ``text`` into lines of at most ``width`` mm at any character, with the PDF's
        rules (:meth:`bdcert.render._Layout._wrap`): no line ends with a hyphen or an opening
        bracket, none starts with closing punctuation, when a character can move down instead."""
        doc, lines = self.doc, []
        for paragraph in text.split("\n"):
            line, used = "", 0.0
            for ch in paragraph:
                advance = doc.width(ch, _TEXT_PT)
                if line and used + advance > width:
                    cut = len(line) - 1 if ch in _NO_LINE_START else len(line)
                    while cut > 0:
                        kept = line[:cut].rstrip(" ")
                        if not kept or kept[-1] not in _NO_LINE_END:
                            break
                        cut = len(kept) - 1
                    if cut <= 0:
                        cut = len(line)
                    lines.append(line[:cut])
                    line = line[cut:]
                    used = doc.string_width(line, _TEXT_PT)
                line += ch
                used += advance
            lines.append(line)
        return lines

    def _plan(self, resource_id: int, plan: _Plan) -> None:
        doc = self.doc
        doc.add_page()
        spacing = 4 * _PT_MM
        content_w = _PAGE_W - 2 * _MARGIN_X
        title_w = doc.string_width("附图", 16, spacing)
        doc.text(_MARGIN_X + (content_w - title_w) / 2, _MARGIN_TOP, 10, "附图", 16, _RED,
                 spacing=spacing)  # fmt: skip
        top = _MARGIN_TOP + 14
        box_h = _PAGE_H - _MARGIN_BOTTOM - _SIGNATURE_H - 4 - top
        scale = min(content_w / plan.width, box_h / plan.height)
        w, h = plan.width * scale, plan.height * scale
        x = _MARGIN_X + (content_w - w) / 2
        doc.image(resource_id, x, top, w, h)
        doc.rect(x, top, w, h, 0.2, _GREY)
        self.y = top + h + 2

    def _signature(
        self, name: str, issued: str | None
    ) -> tuple[int, tuple[float, float, float, float]]:
        doc = self.doc
        top = _PAGE_H - _MARGIN_BOTTOM - _SIGNATURE_H
        if self.y > top:
            doc.add_page()
        right = _PAGE_W - _MARGIN_X - 2
        name_w = doc.string_width(name, 13)
        label = "登记机构："
        name_x = right - name_w
        line_y, line_h = top + _SIGNATURE_H / 2 - 4, 8.0
        doc.text(name_x - doc.string_width(label, 11), line_y, line_h, label, 11, _RED)
        doc.text(name_x, line_y, line_h, name, 13, _INK)
        if issued:
            text = f"签发日期：{issued}"
            doc.text(
                right - doc.string_width(text, 11), line_y + line_h + 3, line_h, text, 11, _INK
            )
        half = SEAL_SIZE_MM / 2
        cx = min(max(name_x + name_w / 2, 12 + half), _PAGE_W - 12 - half)
        cy = line_y + line_h / 2
        box = (round(cx - half, 3), round(cy - half, 3), SEAL_SIZE_MM, SEAL_SIZE_MM)
        return len(doc.pages) - 1, box

    def footers(self) -> None:
        doc = self.doc
        total = len(doc.pages)
        for number, (_, layer) in enumerate(doc.pages, start=1):
            doc.target = layer
            text = f"第 {number} 页 共 {total} 页"
            x = _MARGIN_X + (_PAGE_W - 2 * _MARGIN_X - doc.string_width(text, 8)) / 2
            doc.text(x, _PAGE_H - 17, 4, text, 8, _GREY)
        doc.target = None


def _faces(chain: FontChain, config: FontConfig, text: str, first_id: int) -> dict[int, _Face]:
    """One subset font per font of the chain that draws part of ``text``."""
    faces: dict[int, _Face] = {}
    next_id = first_id
    for position, codepoints in sorted(chain.assign(text).items()):
        if not codepoints:
            continue
        source = glyph_source(config.chain[position])
        data = source.subset_font(codepoints)
        font = TTFont(io.BytesIO(data), lazy=False)
        hmtx, cmap = font["hmtx"], font.getBestCmap() or {}
        advances = {cp: int(hmtx[name][0]) for cp, name in cmap.items()}
        faces[position] = _Face(
            next_id, source.family, f"font_{position}.ttf", data, advances,
            int(font["head"].unitsPerEm),
        )  # fmt: skip
        next_id += 1
    return faces


def _qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=10, border=4)
    return out.getvalue()


def write_ofd(
    *,
    kind: CertificateKind,
    face: Sequence[FaceItem],
    verification_url: str,
    authority: Authority,
    licence_id: str,
    attached_plan: AttachedPlan | None,
    fonts: FontConfig | None = None,
) -> RenderedOfd:
    """Write one certificate as an unsealed OFD package (GB/T 33190-2016), A4 portrait.

    :param kind: decides the title (不动产权证书 / 不动产登记证明).
    :param face: the face items in print order (see :func:`bdcert.face.face_items`); every value
        is printed in full, wrapped and continued onto following pages.
    :param verification_url: the QR code payload; must be ASCII.
    :param authority: the issuing authority (its name, or face item ``djjg``, is printed in the
        signature block under the seal box).
    :param licence_id: the e-licence identifier (电子证照标识).
    :param attached_plan: 附图, PNG or JPEG, on a page of its own (kept in its own format).
    :param fonts: the face fonts; :func:`bdcert.fonts.default_font_config` when None. The
        subsets actually used are embedded (``ofd:FontFile``).
    :raises ValueError: ``verification_url`` is not ASCII.
    :raises MissingGlyph: a character no configured font can draw (field = the item's key).
    :raises RenderError: the attached plan is not a readable PNG or JPEG picture.
    :raises ConfigurationError: a configured font file cannot be read.
    """
    if not verification_url or not verification_url.isascii():
        raise ValueError(f"verification URL must be non-empty ASCII: {verification_url!r}")
    config = fonts if fonts is not None else default_font_config()
    chain = FontChain(config)
    for item in face:
        chain.check(item.label + item.value, item.key)
    chain.check(licence_id, "licence_id")
    name = _face_value(face, "djjg") or authority.name
    chain.check(name, "djjg")
    plan = _load_plan(attached_plan) if attached_plan is not None else None

    texts = [kind.title, licence_id, name, _FIXED_TEXT, "电子证照标识：登记机构："]
    texts += [_printable(item.label + item.value) for item in face]
    faces = _faces(chain, config, "".join(texts), first_id=1)
    doc = _Document(faces)
    res_files: dict[str, bytes] = {f"Doc_0/Res/{f.file}": f.data for f in faces.values()}
    media: list[tuple[int, str, str]] = []  # (ID, format, file)
    qr_id = doc.new_id()
    media.append((qr_id, "PNG", "qr.png"))
    res_files["Doc_0/Res/qr.png"] = _qr_png(verification_url)
    plan_ref = None
    if plan is not None:
        plan_id = doc.new_id()
        jpeg = plan.data[:3] == b"\xff\xd8\xff"
        plan_file = "plan.jpg" if jpeg else "plan.png"
        media.append((plan_id, "JPEG" if jpeg else "PNG", plan_file))
        res_files[f"Doc_0/Res/{plan_file}"] = plan.data
        plan_ref = (plan_id, plan)
    layout = _Layout(doc)
    seal_page, seal_box = layout.draw(
        kind=kind, face=face, licence_id=licence_id, authority_name=name, qr_id=qr_id,
        plan=plan_ref,
    )  # fmt: skip
    layout.footers()

    now = datetime.now(CHINA_TZ)
    files: dict[str, bytes] = {}
    files["OFD.xml"] = _ofd_xml(_face_value(face, "zh") or kind.title, name, now)
    files["Doc_0/Document.xml"] = _document_xml(doc)
    public = ET.Element(_Q + "Res", {"BaseLoc": "Res"})
    fonts_el = ET.SubElement(public, _Q + "Fonts")
    for f in faces.values():
        font_el = ET.SubElement(
            fonts_el, _Q + "Font", {"ID": str(f.id), "FontName": f.family, "FamilyName": f.family}
        )
        ET.SubElement(font_el, _Q + "FontFile").text = f.file
    files["Doc_0/PublicRes.xml"] = xml_bytes(public)
    document_res = ET.Element(_Q + "Res", {"BaseLoc": "Res"})
    medias = ET.SubElement(document_res, _Q + "MultiMedias")
    for media_id, fmt, file in media:
        m = ET.SubElement(
            medias, _Q + "MultiMedia", {"ID": str(media_id), "Type": "Image", "Format": fmt}
        )
        ET.SubElement(m, _Q + "MediaFile").text = file
    files["Doc_0/DocumentRes.xml"] = xml_bytes(document_res)
    for number, (_, layer) in enumerate(doc.pages):
        page = ET.Element(_Q + "Page")
        area = ET.SubElement(page, _Q + "Area")
        ET.SubElement(area, _Q + "PhysicalBox").text = f"0 0 {_num(_PAGE_W)} {_num(_PAGE_H)}"
        ET.SubElement(page, _Q + "Content").append(layer)
        files[f"Doc_0/Pages/Page_{number}/Content.xml"] = xml_bytes(page)
    files.update(res_files)
    return RenderedOfd(write_package(files, now), seal_page, seal_box)


def _ofd_xml(title: str, author: str, now: datetime) -> bytes:
    root = ET.Element(_Q + "OFD", {"Version": "1.0", "DocType": "OFD"})
    body = ET.SubElement(root, _Q + "DocBody")
    info = ET.SubElement(body, _Q + "DocInfo")
    ET.SubElement(info, _Q + "DocID").text = uuid.uuid4().hex
    ET.SubElement(info, _Q + "Title").text = title
    ET.SubElement(info, _Q + "Author").text = author
    ET.SubElement(info, _Q + "CreationDate").text = now.date().isoformat()
    ET.SubElement(info, _Q + "Creator").text = "bdcert"
    ET.SubElement(body, _Q + "DocRoot").text = "Doc_0/Document.xml"
    return xml_bytes(root)


def _document_xml(doc: _Document) -> bytes:
    root = ET.Element(_Q + "Document")
    common = ET.SubElement(root, _Q + "CommonData")
    ET.SubElement(common, _Q + "MaxUnitID").text = str(doc.max_id)
    area = ET.SubElement(common, _Q + "PageArea")
    ET.SubElement(area, _Q + "PhysicalBox").text = f"0 0 {_num(_PAGE_W)} {_num(_PAGE_H)}"
    ET.SubElement(common, _Q + "PublicRes").text = "PublicRes.xml"
    ET.SubElement(common, _Q + "DocumentRes").text = "DocumentRes.xml"
    pages = ET.SubElement(root, _Q + "Pages")
    for number, (page_id, _) in enumerate(doc.pages):
        ET.SubElement(
            pages,
            _Q + "Page",
            {"ID": str(page_id), "BaseLoc": f"Pages/Page_{number}/Content.xml"},
        )
    return xml_bytes(root)
