"""Certificates as OFD documents (GB/T 33190-2016, 电子文件存储与交换格式 版式文档).

:func:`write_ofd` lays out the same face as the PDF renderer (:mod:`bdcert.render.pdf`) with
the same engine, :class:`bdcert.render.layout.PageLayout` (this module is its OFD surface): the
title, the e-licence identifier, the QR code, one row per face item with every value wrapped and
continued onto following pages, 附图 on a page of its own, the signature block with a
:data:`~bdcert.render.layout.SEAL_SIZE_MM` seal box centred on the authority's name, the frame
and the ``第 N 页 共 M 页`` footer on every page. It writes them as an OFD package, a ZIP holding::

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

The package container, :func:`~bdcert.gm.ofd_package.read_ofd_text` (the text, for tests and
search) and :func:`~bdcert.gm.ofd_package.ofd_structure_problems` (GB/T 33190 structure rules)
live in :mod:`bdcert.gm.ofd_package` (a national primitive); :mod:`bdcert.gm.ofd`, where all of
this lived before, re-exports them with :func:`write_ofd` and :class:`RenderedOfd`.
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
    write_package,
    xml_bytes,
)
from bdcert.model import CHINA_TZ, AttachedPlan, Authority, CertificateKind, FaceItem
from bdcert.render.layout import (
    CELL_PAD,
    CONTENT_W,
    FOOTER,
    FOOTER_H,
    FOOTER_TOP,
    FRAME,
    MARGIN_X,
    PAGE_FOOTER,
    PAGE_H,
    PAGE_W,
    QR_SIZE_MM,
    RED,
    SEAL_SIZE_MM,
    Colour,
    PageLayout,
    PlanPicture,
    TextStyle,
    face_value,
    prepare_face,
)

__all__ = [
    "RenderedOfd",
    "write_ofd",
]

_Q = "{" + NS + "}"
_PT_MM = 25.4 / 72


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


def _colour(colour: Colour) -> str:
    return " ".join(str(c) for c in colour)


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
    """The pages being drawn: allocates IDs and builds each page's Layer.

    The :class:`~bdcert.render.layout.Surface` of an OFD document; ``qr_id`` and ``plan_id``
    are the IDs of the QR code's and the plan's MultiMedia resources.
    """

    def __init__(self, faces: Mapping[int, _Face]) -> None:
        self.faces = faces
        self.qr_id = 0
        self.plan_id = 0
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
        for x, y, w, h, width in FRAME:
            self.rect(x, y, w, h, width, RED)

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

    # -- the Surface

    def cell(self, x: float, top: float, h: float, text: str, style: TextStyle) -> None:
        self.text(x + CELL_PAD, top, h, text, style.pt, style.colour)

    def centred_cell(self, top: float, h: float, text: str, style: TextStyle) -> None:
        spacing = style.spacing_pt * _PT_MM
        x = MARGIN_X + (CONTENT_W - self.string_width(text, style.pt, spacing)) / 2
        self.text(x, top, h, text, style.pt, style.colour, spacing=spacing, stroke=style.stroke)

    def qr_code(self, url: str, x: float, y: float) -> None:
        self.image(self.qr_id, x, y, QR_SIZE_MM, QR_SIZE_MM)  # the picture of url: _qr_png

    def picture(self, plan: PlanPicture, x: float, y: float, w: float, h: float) -> None:
        self.image(self.plan_id, x, y, w, h)

    def footers(self) -> None:
        """The footer ``第 N 页 共 M 页`` on every page, once all pages are drawn."""
        total = len(self.pages)
        for number, (_, layer) in enumerate(self.pages, start=1):
            self.target = layer
            text = PAGE_FOOTER.format(page=number, pages=total)
            self.centred_cell(FOOTER_TOP, FOOTER_H, text, FOOTER)
        self.target = None

    # -- drawing

    def text(
        self,
        x: float,
        top: float,
        h: float,
        text: str,
        pt: float,
        colour: Colour,
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
            ET.SubElement(obj, _Q + "FillColor", {"Value": _colour(colour)})
            if stroke:
                ET.SubElement(obj, _Q + "StrokeColor", {"Value": _colour(colour)})
            code = {"X": "0", "Y": _num(baseline)}
            if len(run) > 1:
                code["DeltaX"] = _delta_x(advances[:-1])
            ET.SubElement(obj, _Q + "TextCode", code).text = run

    def path(
        self, boundary: tuple[float, float, float, float], data: str, width: float, colour: Colour
    ) -> None:
        """A stroked path; ``data`` is AbbreviatedData relative to the boundary's corner."""
        obj = ET.SubElement(
            self.layer,
            _Q + "PathObject",
            {"ID": str(self.new_id()), "Boundary": _box(*boundary), "LineWidth": _num(width)},
        )
        ET.SubElement(obj, _Q + "StrokeColor", {"Value": _colour(colour)})
        ET.SubElement(obj, _Q + "AbbreviatedData").text = data

    def rect(self, x: float, y: float, w: float, h: float, width: float, colour: Colour) -> None:
        data = f"M 0 0 L {_num(w)} 0 L {_num(w)} {_num(h)} L 0 {_num(h)} C"
        self.path((x, y, w, h), data, width, colour)

    def line(self, x1: float, y: float, x2: float, colour: Colour) -> None:
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
    config = fonts if fonts is not None else default_font_config()
    chain = FontChain(config)
    checked = prepare_face(
        chain,
        kind=kind,
        face=face,
        verification_url=verification_url,
        licence_id=licence_id,
        authority=authority,
        attached_plan=attached_plan,
    )
    name, plan = checked.authority_name, checked.plan
    faces = _faces(chain, config, checked.characters, first_id=1)
    doc = _Document(faces)
    res_files: dict[str, bytes] = {f"Doc_0/Res/{f.file}": f.data for f in faces.values()}
    media: list[tuple[int, str, str]] = []  # (ID, format, file)
    doc.qr_id = doc.new_id()
    media.append((doc.qr_id, "PNG", "qr.png"))
    res_files["Doc_0/Res/qr.png"] = _qr_png(verification_url)
    if plan is not None:
        doc.plan_id = doc.new_id()
        jpeg = plan.data[:3] == b"\xff\xd8\xff"
        plan_file = "plan.jpg" if jpeg else "plan.png"
        media.append((doc.plan_id, "JPEG" if jpeg else "PNG", plan_file))
        res_files[f"Doc_0/Res/{plan_file}"] = plan.data
    spot = PageLayout(doc).draw(
        kind=kind,
        face=face,
        verification_url=verification_url,
        authority_name=name,
        licence_id=licence_id,
        plan=plan,
    )
    doc.footers()
    half = SEAL_SIZE_MM / 2
    seal_box = (
        round(spot.centre_x - half, 3),
        round(spot.centre_y - half, 3),
        SEAL_SIZE_MM,
        SEAL_SIZE_MM,
    )

    now = datetime.now(CHINA_TZ)
    files: dict[str, bytes] = {}
    files["OFD.xml"] = _ofd_xml(face_value(face, "zh") or kind.title, name, now)
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
        ET.SubElement(area, _Q + "PhysicalBox").text = f"0 0 {_num(PAGE_W)} {_num(PAGE_H)}"
        ET.SubElement(page, _Q + "Content").append(layer)
        files[f"Doc_0/Pages/Page_{number}/Content.xml"] = xml_bytes(page)
    files.update(res_files)
    return RenderedOfd(write_package(files, now), spot.page, seal_box)


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
    ET.SubElement(area, _Q + "PhysicalBox").text = f"0 0 {_num(PAGE_W)} {_num(PAGE_H)}"
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
