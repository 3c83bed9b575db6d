"""Draw a certificate face as an unsealed PDF (fpdf2), with its QR code and a seal picture.

Layout (A4 portrait, lengths in millimetres unless stated):

- page 1, top: the title (:attr:`CertificateKind.title`: 不动产权证书, rule article 6; 不动产登记证明,
  article 5), the e-licence identifier (电子证照标识) in small type, and the QR code (top right,
  :data:`QR_SIZE_MM` square, ASCII verification URL only, error correction M or higher);
- then every face item in the order given, as a row: the label in a fixed left column, the value
  beside it, wrapped at any character and continued onto following pages, never truncated; line
  breaks in values are kept. 登记机构 ``djjg`` and 签发日期 ``qfsj`` are printed in the signature
  block instead of a row;
- 附图 (the attached plan), when given, on a page of its own, scaled to fit;
- the signature block at the bottom of the last page: ``登记机构：<name>`` with ``签发日期：<date>``
  under it. A :data:`SEAL_SIZE_MM` square box centred on the authority's name is left for the
  seal: the sealing step draws :attr:`RenderedCertificate.seal_png` there as the visible
  signature appearance. The renderer itself never draws the seal.
- every page: a thin double frame and the footer ``第 N 页 共 M 页``, which matches
  :data:`PAGE_FURNITURE_RE` (strip it from extracted text before looking for a value that may
  run across a page break).

Text extraction. After removing :data:`PAGE_FURNITURE_RE` matches and all whitespace, the text
``pdftotext`` extracts contains every face value contiguously: labels never wrap into a second
line beside a value, runs of blanks are printed as one space (wide gaps read as column breaks),
and wrapped lines never end with a hyphen (poppler joins such a line to the next and drops the
hyphen). One case cannot be helped by layout: a hyphen that ends one of the value's own lines
(before ``\n`` or at its very end) is dropped by ``pdftotext``; the PDF itself keeps it.
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path

import attrs
import segno
from fpdf import FPDF
from fpdf.enums import Align, TextMode, WrapMode, XPos, YPos
from PIL import Image, ImageDraw, ImageFont

from bdcert.errors import RenderError
from bdcert.fonts import FontChain, FontConfig, glyph_source
from bdcert.model import CHINA_TZ, AttachedPlan, Authority, CertificateKind, FaceItem

__all__ = [
    "PAGE_FURNITURE_RE",
    "QR_SIZE_MM",
    "SEAL_SIZE_MM",
    "RenderedCertificate",
    "Renderer",
]

#: Text printed on every page that is not part of any face value: the page footer
#: ``第 1 页 共 2 页``. Remove its matches from ``pdftotext`` output (before or after removing
#: whitespace) and every face value is found contiguously.
PAGE_FURNITURE_RE = re.compile(r"第\s*\d+\s*页\s*共\s*\d+\s*页")

#: Side of the QR code square, quiet zone included (mm).
QR_SIZE_MM = 30.0
#: Diameter of the seal picture and side of the reserved seal box (mm).
SEAL_SIZE_MM = 42.0
#: Resolution of the seal picture (dots per inch).
SEAL_DPI = 300

_PT_PER_MM = 72 / 25.4
_PAGE_W, _PAGE_H = 210.0, 297.0
_MARGIN_X = 22.0
_MARGIN_TOP = 20.0
_MARGIN_BOTTOM = 22.0
_LABEL_W = 36.0
_VALUE_X = _MARGIN_X + _LABEL_W + 2.0
_VALUE_W = _PAGE_W - _MARGIN_X - _VALUE_X
_TEXT_PT = 11.0
_LINE_H = 6.2
_ROW_PAD = 1.6
_SIGNATURE_H = 50.0  # height reserved at the bottom of the last page for the signature block
_TABLE_TOP = 53.0  # first row on page 1, under the title, identifier and QR code

_INK = (25, 25, 25)
_RED = (160, 30, 30)
_GREY = (110, 110, 110)
_SEAL_RED = (210, 20, 20)

#: Items printed in the signature block rather than as rows.
_SIGNATURE_KEYS = ("djjg", "qfsj")
_FIXED_TEXT = "登记机构签发日期：附图电子证照标识第共页0123456789 "
_SEAL_MOTTO = "不动产登记专用章"
#: Line-breaking rules (a light form of the Chinese 禁则): characters that must not end a line
#: (hyphens, opening brackets) or start one (closing punctuation).
_NO_LINE_END = frozenset("-\u00ad\u2010\u2011([{（［｛〔【《〈「『“‘")
_NO_LINE_START = frozenset(")]}，。、；：？！）］｝〕】》〉」』”’％,.;:?!%")


@attrs.define(frozen=True)
class RenderedCertificate:
    """An unsealed certificate PDF and where its seal goes.

    :ivar pdf: the PDF bytes (A4, fonts embedded as subsets).
    :ivar seal_page: zero-based index of the page that carries the signature block.
    :ivar seal_box: ``(x1, y1, x2, y2)`` of the reserved seal square in PDF points, origin at the
        lower-left corner of the page (the pyHanko convention for signature field boxes).
    :ivar seal_png: the seal picture (:meth:`Renderer.seal_picture`) for the visible signature.
    """

    pdf: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    seal_page: int
    seal_box: tuple[float, float, float, float]
    seal_png: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")


class _CertificatePDF(FPDF):
    """Page furniture: the frame on every page and the page-number footer."""

    def header(self) -> None:
        self.set_draw_color(*_RED)
        self.set_line_width(0.6)
        self.rect(10, 10, _PAGE_W - 20, _PAGE_H - 20)
        self.set_line_width(0.2)
        self.rect(12, 12, _PAGE_W - 24, _PAGE_H - 24)

    def footer(self) -> None:
        self.set_y(_PAGE_H - 17)
        self.set_font(size=8)
        self.set_text_color(*_GREY)
        self.cell(0, 4, f"第 {self.page_no()} 页 共 {{nb}} 页", align=Align.C)


_BLANKS_RE = re.compile(r"[^\S\n]+")


def _printable(text: str) -> str:
    """Line breaks normalised to ``\\n``; every other run of whitespace printed as one space.

    Wide blanks (tabs, U+3000, several spaces) would open gaps that text extractors take for
    column boundaries, splitting a value; a single space keeps each line in one piece.
    """
    return _BLANKS_RE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))


def _face_value(face: Sequence[FaceItem], key: str) -> str | None:
    for item in face:
        if item.key == key:
            return item.value
    return None


class Renderer:
    """Draws certificate faces (rule articles 5 and 6) as PDFs and makes authority seal pictures.

    Thread-safe; keep one per process (fonts and seal pictures are cached).

    :param fonts: the face fonts; files are opened on first use, not here.
    """

    def __init__(self, fonts: FontConfig) -> None:
        self.fonts = fonts
        self._chain = FontChain(fonts)
        self._seals: dict[tuple[str, str], bytes] = {}
        self._seal_lock = threading.Lock()

    # ----------------------------------------------------------------------- the PDF

    def render(
        self,
        *,
        kind: CertificateKind,
        face: Sequence[FaceItem],
        verification_url: str,
        authority: Authority,
        licence_id: str,
        attached_plan: AttachedPlan | None,
    ) -> RenderedCertificate:
        """Draw one certificate.

        :param kind: decides the title (不动产权证书 / 不动产登记证明).
        :param face: the face items in print order (see :func:`bdcert.face.face_items`).
        :param verification_url: the QR code payload; must be ASCII.
        :param authority: the issuing authority; its name is printed in the signature block
            (face item ``djjg`` when present) and drawn in the seal picture.
        :param licence_id: the e-licence identifier (电子证照标识), printed small under the title.
        :param attached_plan: 附图, PNG or JPEG, drawn on a page of its own.
        :raises ValueError: ``verification_url`` is not ASCII (QR scanners misread other text).
        :raises MissingGlyph: a character of a face item that no configured font can draw; its
            ``field`` is the item's key (``licence_id`` or ``djjg`` for those inputs).
        :raises RenderError: the attached plan is not a readable PNG or JPEG picture.
        :raises ConfigurationError: a configured font file cannot be read.
        """
        if not verification_url or not verification_url.isascii():
            raise ValueError(f"verification URL must be non-empty ASCII: {verification_url!r}")
        chain = self._chain
        for item in face:
            chain.check(item.label + item.value, item.key)
        chain.check(licence_id, "licence_id")
        name = _face_value(face, "djjg") or authority.name
        chain.check(name, "djjg")
        plan = _load_plan(attached_plan) if attached_plan is not None else None
        seal_png = self.seal_picture(authority)

        texts = [kind.title, licence_id, name, _FIXED_TEXT]
        texts += [_printable(item.label + item.value) for item in face]
        assignment = chain.assign("".join(texts))
        with tempfile.TemporaryDirectory(prefix="bdcert-fonts-") as tmp:
            pdf = _CertificatePDF(orientation="P", unit="mm", format="A4")
            fallback_keys = []
            for position, codepoints in sorted(assignment.items()):
                data = glyph_source(self.fonts.chain[position]).subset_font(codepoints)
                path = Path(tmp) / f"face{position}.ttf"
                path.write_bytes(data)
                key = "bdcert" if position == 0 else f"bdcertfallback{position}"
                pdf.add_font(key, "", str(path))
                _keep_glyph_data(pdf, key)
                if position:
                    fallback_keys.append(key)
            pdf.set_fallback_fonts(fallback_keys)
            layout = _Layout(pdf)
            seal_page, seal_box = layout.draw(
                kind=kind,
                face=face,
                verification_url=verification_url,
                authority_name=name,
                licence_id=licence_id,
                plan=plan,
            )
            pdf.set_title(_face_value(face, "zh") or kind.title)
            pdf.set_subject(kind.title)
            pdf.set_author(name)
            pdf.set_creator("bdcert")
            pdf.set_lang("zh-CN")
            pdf.set_creation_date(datetime.now(CHINA_TZ))
            out = bytes(pdf.output())
        return RenderedCertificate(out, seal_page, seal_box, seal_png)

    # ----------------------------------------------------------------------- the seal

    def seal_picture(self, authority: Authority) -> bytes:
        """A red round official seal for ``authority``: PNG, transparent background.

        :data:`SEAL_SIZE_MM` in diameter at :data:`SEAL_DPI` (496 × 496 pixels): a ring, a
        five-pointed star in the centre, the authority's name along the upper arc (each character
        rotated to face outwards) and 不动产登记专用章 under the star. Cached per authority.

        :raises MissingGlyph: a character of the name no configured font can draw (field ``djjg``).
        """
        key = (authority.code, authority.name)
        with self._seal_lock:
            cached = self._seals.get(key)
        if cached is None:
            self._chain.check(authority.name, "djjg")
            cached = _draw_seal(self._chain, self.fonts, authority.name)
            with self._seal_lock:
                self._seals[key] = cached
        return cached


def _keep_glyph_data(pdf: FPDF, key: str) -> None:
    """Let fpdf2 copy our prepared glyphs as they are instead of recompiling them.

    The font built by :meth:`GlyphSource.subset_font` already carries exact bounds and maxima;
    fontTools would otherwise decompile and recompile every glyph when fpdf2 saves its subset.
    """
    font = getattr(pdf, "fonts", {}).get(key)
    ttfont = getattr(font, "ttfont", None)
    if ttfont is not None:
        ttfont.recalcBBoxes = False


@attrs.define(frozen=True)
class _Plan:
    data: bytes
    width: int
    height: int


def _load_plan(plan: AttachedPlan) -> _Plan:
    try:
        with Image.open(BytesIO(plan.data)) as image:
            image.verify()
        with Image.open(BytesIO(plan.data)) as image:
            kind, (width, height) = image.format, image.size
    except Exception as exc:
        raise RenderError(f"附图 (ft) is not a readable picture: {exc}") from exc
    if kind not in ("PNG", "JPEG"):
        raise RenderError(f"附图 (ft) must be PNG or JPEG, not {kind}")
    return _Plan(plan.data, width, height)


class _Layout:
    """Places everything on the pages of one document (mm, origin top-left as in fpdf2)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self._widths: dict[tuple[str, float], float] = {}
        pdf.set_margins(_MARGIN_X, _MARGIN_TOP, _MARGIN_X)
        pdf.set_auto_page_break(True, _MARGIN_BOTTOM)
        pdf.alias_nb_pages()

    def draw(
        self,
        *,
        kind: CertificateKind,
        face: Sequence[FaceItem],
        verification_url: str,
        authority_name: str,
        licence_id: str,
        plan: _Plan | None,
    ) -> tuple[int, tuple[float, float, float, float]]:
        pdf = self.pdf
        pdf.set_font("bdcert", size=_TEXT_PT)
        pdf.add_page()
        self._head(kind, verification_url, licence_id)
        pdf.set_y(_TABLE_TOP)
        self._rule()
        for item in face:
            if item.key not in _SIGNATURE_KEYS:
                self._row(item)
        if plan is not None:
            self._plan(plan)
        return self._signature(authority_name, _face_value(face, "qfsj"))

    def _head(self, kind: CertificateKind, url: str, licence_id: str) -> None:
        pdf = self.pdf
        pdf.set_text_color(*_RED)
        pdf.set_font(size=26)
        pdf.set_char_spacing(4)
        pdf.set_xy(_MARGIN_X, 24)
        with pdf.local_context(text_mode=TextMode.FILL_STROKE, line_width=0.35, draw_color=_RED):
            pdf.cell(_PAGE_W - 2 * _MARGIN_X, 12, kind.title, align=Align.C)
        pdf.set_char_spacing(0)
        pdf.set_text_color(*_GREY)
        pdf.set_font(size=7.5)
        pdf.set_xy(_MARGIN_X, 40)
        pdf.cell(_PAGE_W - 2 * _MARGIN_X, 4, f"电子证照标识：{licence_id}", align=Align.C)
        qr_x, qr_y = _PAGE_W - 14 - QR_SIZE_MM, 14.0
        _draw_qr(pdf, url, qr_x, qr_y)
        pdf.set_text_color(*_INK)
        pdf.set_font(size=_TEXT_PT)

    def _rule(self) -> None:
        pdf = self.pdf
        pdf.set_draw_color(200, 170, 170)
        pdf.set_line_width(0.2)
        pdf.line(_MARGIN_X, pdf.get_y(), _PAGE_W - _MARGIN_X, pdf.get_y())

    def _row(self, item: FaceItem) -> None:
        pdf = self.pdf
        if pdf.get_y() + _ROW_PAD + _LINE_H > pdf.page_break_trigger:
            pdf.add_page()
            self._rule()
        y = pdf.get_y() + _ROW_PAD
        pdf.set_xy(_MARGIN_X, y)
        pdf.set_text_color(*_RED)
        fit = (_LABEL_W - 2 * pdf.c_margin) / max(pdf.get_string_width(item.label), 1e-6)
        if fit < 1:  # an unusually long label: smaller type, never into the value column
            pdf.set_font(size=_TEXT_PT * fit)
        pdf.cell(_LABEL_W, _LINE_H, item.label)
        pdf.set_font(size=_TEXT_PT)
        pdf.set_text_color(*_INK)
        pdf.set_xy(_VALUE_X, y)
        pdf.multi_cell(
            _VALUE_W,
            _LINE_H,
            "\n".join(self._wrap(_printable(item.value), _VALUE_W - 2 * pdf.c_margin - 0.05)),
            wrapmode=WrapMode.CHAR,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_y(pdf.get_y() + _ROW_PAD)
        self._rule()

    def _wrap(self, text: str, width: float) -> list[str]:
        """Break ``text`` into lines of at most ``width`` mm, at any character (Chinese style).

        A line never ends with a hyphen or an opening bracket and the next never starts with
        closing punctuation when a character can move down instead. (A line ending in ``-``
        would also be read as a word hyphenated across lines and joined without its hyphen by
        text extractors such as ``pdftotext``.)
        """
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line, used = "", 0.0
            for ch in paragraph:
                advance = self._width(ch)
                if line and used + advance > width:
                    cut = len(line) - 1 if ch in _NO_LINE_START else len(line)
                    while cut > 0:  # trailing spaces do not count: extractors drop them
                        kept = line[:cut].rstrip(" ")
                        if not kept or kept[-1] not in _NO_LINE_END:
                            break
                        cut = len(kept) - 1
                    if cut <= 0:
                        cut = len(line)
                    lines.append(line[:cut])
                    line = line[cut:]
                    used = sum(self._width(c) for c in line)
                line += ch
                used += advance
            lines.append(line)
        return lines

    def _width(self, ch: str) -> float:
        key = (ch, self.pdf.font_size_pt)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = self.pdf.get_string_width(ch)
        return width

    def _plan(self, plan: _Plan) -> None:
        pdf = self.pdf
        pdf.add_page()
        pdf.set_text_color(*_RED)
        pdf.set_font(size=16)
        pdf.set_char_spacing(4)
        pdf.set_xy(_MARGIN_X, _MARGIN_TOP)
        pdf.cell(_PAGE_W - 2 * _MARGIN_X, 10, "附图", align=Align.C)
        pdf.set_char_spacing(0)
        pdf.set_font(size=_TEXT_PT)
        pdf.set_text_color(*_INK)
        top = _MARGIN_TOP + 14
        box_w = _PAGE_W - 2 * _MARGIN_X
        box_h = _PAGE_H - _MARGIN_BOTTOM - _SIGNATURE_H - 4 - top
        scale = min(box_w / plan.width, box_h / plan.height)
        w, h = plan.width * scale, plan.height * scale
        pdf.image(BytesIO(plan.data), x=_MARGIN_X + (box_w - w) / 2, y=top, w=w, h=h)
        pdf.set_draw_color(*_GREY)
        pdf.set_line_width(0.2)
        pdf.rect(_MARGIN_X + (box_w - w) / 2, top, w, h)
        pdf.set_y(top + h + 2)

    def _signature(
        self, name: str, issued: str | None
    ) -> tuple[int, tuple[float, float, float, float]]:
        """The signature block at the bottom of the current page (a new page if it is full)."""
        pdf = self.pdf
        top = _PAGE_H - _MARGIN_BOTTOM - _SIGNATURE_H
        if pdf.get_y() > top:
            pdf.add_page()
        right = _PAGE_W - _MARGIN_X - 2
        name_pt, label_pt = 13.0, 11.0
        pdf.set_font(size=name_pt)
        name_w = pdf.get_string_width(name)
        pdf.set_font(size=label_pt)
        label = "登记机构："
        label_w = pdf.get_string_width(label)
        name_x = right - name_w  # where the name's ink starts; cells add c_margin before it
        pad = pdf.c_margin
        line_y = top + _SIGNATURE_H / 2 - 4  # top of the name line
        line_h = 8.0
        pdf.set_text_color(*_RED)
        pdf.set_xy(name_x - label_w - pad, line_y)
        pdf.cell(label_w, line_h, label)
        pdf.set_text_color(*_INK)
        pdf.set_font(size=name_pt)
        pdf.set_xy(name_x - pad, line_y)
        pdf.cell(name_w + 2 * pad, line_h, name)
        if issued:
            pdf.set_font(size=label_pt)
            text = f"签发日期：{issued}"
            text_w = pdf.get_string_width(text)
            pdf.set_xy(right - text_w - pad, line_y + line_h + 3)
            pdf.cell(text_w + 2 * pad, line_h, text)
        pdf.set_font(size=_TEXT_PT)
        # The seal square, centred on the printed name, kept inside the inner frame.
        half = SEAL_SIZE_MM / 2
        cx = min(max(name_x + name_w / 2, 12 + half), _PAGE_W - 12 - half)
        cy = line_y + line_h / 2
        x1, x2 = cx - half, cx + half
        y_top, y_bottom = cy - half, cy + half
        box = (
            round(x1 * _PT_PER_MM, 2),
            round((_PAGE_H - y_bottom) * _PT_PER_MM, 2),
            round(x2 * _PT_PER_MM, 2),
            round((_PAGE_H - y_top) * _PT_PER_MM, 2),
        )
        return pdf.page_no() - 1, box


def _draw_qr(pdf: FPDF, url: str, x: float, y: float) -> None:
    """The QR code of ``url`` as filled rectangles (crisp at any resolution), quiet zone included."""
    code = segno.make(url, error="m", micro=False)
    matrix = code.matrix
    n = len(matrix)
    module = QR_SIZE_MM / (n + 8)
    x0, y0 = x + 4 * module, y + 4 * module
    pdf.set_fill_color(0, 0, 0)
    overlap = module * 0.04  # hides hairline seams between rows when rasterised
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            h = module + (overlap if r + 1 < n else 0)
            pdf.rect(x0 + start * module, y0 + r * module, (c - start) * module, h, style="F")


# --------------------------------------------------------------------------- seal picture


def _draw_seal(chain: FontChain, config: FontConfig, name: str) -> bytes:
    size = round(SEAL_SIZE_MM / 25.4 * SEAL_DPI)
    s = size * 2  # drawn at twice the size, then reduced: smooth edges
    c = s / 2
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)
    ring = round(s * 0.03)
    edge = s * 0.004  # a hair inside the picture so the reduced ring keeps a smooth edge
    draw.ellipse((edge, edge, s - 1 - edge, s - 1 - edge), outline=255, width=ring)

    star_r = s * 0.16
    points = []
    for k in range(10):
        radius = star_r if k % 2 == 0 else star_r * 0.382
        angle = math.radians(-90 + 36 * k)
        points.append((c + radius * math.cos(angle), c + radius * math.sin(angle)))
    draw.polygon(points, fill=255)

    fonts: dict[tuple[int, int], ImageFont.FreeTypeFont] = {}

    def font(ch: str, px: int) -> ImageFont.FreeTypeFont:
        position = chain.font_for(ch) or 0
        key = (position, px)
        if key not in fonts:
            spec = config.chain[position]
            fonts[key] = ImageFont.truetype(str(spec.path), px, index=spec.index)
        return fonts[key]

    chars = [ch for ch in name if not ch.isspace()]
    span = math.radians(min(250.0, 22.0 * max(len(chars), 6)))
    text_px = round(min(s * 0.125, 0.92 * (s * 0.37) * span / max(len(chars), 1)))
    radius = c - ring - s * 0.025 - text_px / 2
    for i, ch in enumerate(chars):
        theta = -span / 2 + span * (i + 0.5) / len(chars)  # 0 = top, clockwise
        tile = Image.new("L", (text_px * 2, text_px * 2), 0)
        ImageDraw.Draw(tile).text(
            (text_px, text_px),
            ch,
            fill=255,
            font=font(ch, text_px),
            anchor="mm",
            stroke_width=max(1, text_px // 40),
            stroke_fill=255,
        )
        tile = tile.rotate(-math.degrees(theta), resample=Image.Resampling.BICUBIC)
        px = c + radius * math.sin(theta) - text_px
        py = c - radius * math.cos(theta) - text_px
        mask.paste(255, (round(px), round(py)), tile)

    motto_px = round(s * 0.07)
    motto_y = c + s * 0.27
    step = motto_px * 1.05
    x = c - step * (len(_SEAL_MOTTO) - 1) / 2
    for ch in _SEAL_MOTTO:
        draw.text(
            (x, motto_y),
            ch,
            fill=255,
            font=font(ch, motto_px),
            anchor="mm",
            stroke_width=max(1, motto_px // 40),
            stroke_fill=255,
        )
        x += step

    mask = mask.resize((size, size), Image.Resampling.LANCZOS)
    # One colour at 256 opacities: a palette picture whose index is the opacity (small PNG).
    picture = mask.convert("P")
    picture.putpalette(list(_SEAL_RED) * 256)
    out = BytesIO()
    picture.save(
        out,
        format="PNG",
        optimize=True,
        dpi=(SEAL_DPI, SEAL_DPI),
        transparency=bytes(range(256)),
    )
    return out.getvalue()
