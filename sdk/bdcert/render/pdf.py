"""Draw a certificate face as an unsealed PDF (fpdf2), with its QR code and a seal picture.

The page layout is :class:`bdcert.render.layout.PageLayout`, shared with the OFD renderer
(:mod:`bdcert.render.ofd`); this module is its fpdf2 surface. Layout (A4 portrait, lengths in
millimetres unless stated):

- page 1, top: the title (:attr:`CertificateKind.title`: 不动产权证书, rule article 6; 不动产登记证明,
  article 5), the e-licence identifier (电子证照标识) in small type, and the QR code (top right,
  :data:`QR_SIZE_MM` square, ASCII verification URL only, error correction M or higher);
- then every face item in the order given, as a row: the label in a fixed left column, the value
  beside it, wrapped by :func:`~bdcert.render.layout.wrap_text` (Chinese style with the 禁则,
  designations such as ``B2-118号`` never split) and continued onto following pages, never
  truncated; line breaks in values are kept. 登记机构 ``djjg`` and 签发日期 ``qfsj`` are printed
  in the signature block instead of a row;
- 附图 (the attached plan), when given, on a page of its own, scaled to fit;
- the signature block at the bottom of the last page, never alone on a page (the last lines of
  the rows come with it): ``登记机构：<name>``, and ``签发日期：<date>`` under the seal. A
  :data:`SEAL_SIZE_MM` square box centred on the authority's name horizontally, its centre
  :data:`~bdcert.render.layout.SEAL_ABOVE_NAME_MM` above the name, is left for the seal: the
  sealing step draws :attr:`RenderedCertificate.seal_png` there as the visible signature
  appearance. The renderer itself never draws the seal.
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
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path

import attrs
import segno
from fpdf import FPDF
from fpdf.enums import Align, TextMode
from PIL import Image, ImageDraw, ImageFont

from bdcert.fonts import FontChain, FontConfig, glyph_source
from bdcert.model import CHINA_TZ, AttachedPlan, Authority, CertificateKind, FaceItem
from bdcert.protocols import SealRequest
from bdcert.render.layout import (
    CONTENT_W,
    FOOTER,
    FOOTER_H,
    FOOTER_TOP,
    FRAME,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    PAGE_FOOTER,
    PAGE_FURNITURE_RE,
    PAGE_H,
    QR_SIZE_MM,
    RED,
    SEAL_SIZE_MM,
    TEXT_PT,
    Colour,
    PageLayout,
    PlanPicture,
    TextStyle,
    face_value,
    prepare_face,
)

__all__ = [
    "PAGE_FURNITURE_RE",
    "QR_SIZE_MM",
    "SEAL_DPI",
    "SEAL_SIZE_MM",
    "RenderedCertificate",
    "Renderer",
]

#: Resolution of the seal picture (dots per inch).
SEAL_DPI = 300

_PT_PER_MM = 72 / 25.4
_SEAL_RED = (210, 20, 20)
_SEAL_MOTTO = "不动产登记专用章"


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

    def seal_request(self, authority: Authority, signing_time: datetime) -> SealRequest:
        """What a seal provider needs to seal this certificate for ``authority``: its seal
        picture in the reserved box, located at the authority's place, signed at
        ``signing_time`` (aware)."""
        return SealRequest(
            authority=authority,
            page=self.seal_page,
            box=self.seal_box,
            appearance_png=self.seal_png,
            location=authority.place_name,
            signing_time=signing_time,
        )


class _CertificatePDF(FPDF):
    """Page furniture: the frame on every page and the page-number footer."""

    def header(self) -> None:
        self.set_draw_color(*RED)
        for x, y, w, h, width in FRAME:
            self.set_line_width(width)
            self.rect(x, y, w, h)

    def footer(self) -> None:
        self.set_y(FOOTER_TOP)
        self.set_font(size=FOOTER.pt)
        self.set_text_color(*FOOTER.colour)
        text = PAGE_FOOTER.format(page=self.page_no(), pages="{nb}")
        self.cell(0, FOOTER_H, text, align=Align.C)


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
        checked = prepare_face(
            self._chain,
            kind=kind,
            face=face,
            verification_url=verification_url,
            licence_id=licence_id,
            authority=authority,
            attached_plan=attached_plan,
        )
        name = checked.authority_name
        seal_png = self.seal_picture(authority)
        assignment = self._chain.assign(checked.characters)
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
            spot = PageLayout(_PdfSurface(pdf)).draw(
                kind=kind,
                face=face,
                verification_url=verification_url,
                authority_name=name,
                licence_id=licence_id,
                plan=checked.plan,
            )
            pdf.set_title(face_value(face, "zh") or kind.title)
            pdf.set_subject(kind.title)
            pdf.set_author(name)
            pdf.set_creator("bdcert")
            pdf.set_lang("zh-CN")
            pdf.set_creation_date(datetime.now(CHINA_TZ))
            out = bytes(pdf.output())
        # The seal square in PDF points from the page's lower-left corner (pyHanko's convention).
        half = SEAL_SIZE_MM / 2
        x1, x2 = spot.centre_x - half, spot.centre_x + half
        y_top, y_bottom = spot.centre_y - half, spot.centre_y + half
        seal_box = (
            round(x1 * _PT_PER_MM, 2),
            round((PAGE_H - y_bottom) * _PT_PER_MM, 2),
            round(x2 * _PT_PER_MM, 2),
            round((PAGE_H - y_top) * _PT_PER_MM, 2),
        )
        return RenderedCertificate(out, spot.page, seal_box, seal_png)

    # ----------------------------------------------------------------------- the seal

    def seal_picture(self, authority: Authority) -> bytes:
        """A red round official seal for ``authority``: an RGBA PNG, alpha 0 wherever there is
        no ink (OFD readers draw it over the page and must show the text beneath).

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


class _PdfSurface:
    """The :class:`~bdcert.render.layout.Surface` of an fpdf2 document (mm, origin top-left)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        pdf.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
        pdf.set_auto_page_break(True, MARGIN_BOTTOM)
        pdf.alias_nb_pages()
        pdf.set_font("bdcert", size=TEXT_PT)

    def add_page(self) -> None:
        self.pdf.add_page()  # the frame is drawn by _CertificatePDF.header

    def string_width(self, text: str, pt: float) -> float:
        self.pdf.set_font(size=pt)
        return float(self.pdf.get_string_width(text))

    def cell(self, x: float, top: float, h: float, text: str, style: TextStyle) -> None:
        pdf = self.pdf
        pdf.set_text_color(*style.colour)
        width = self.string_width(text, style.pt)
        pdf.set_xy(x, top)
        pdf.cell(width + 2 * pdf.c_margin, h, text)

    def centred_cell(self, top: float, h: float, text: str, style: TextStyle) -> None:
        pdf = self.pdf
        pdf.set_text_color(*style.colour)
        pdf.set_font(size=style.pt)
        if style.spacing_pt:
            pdf.set_char_spacing(style.spacing_pt)
        pdf.set_xy(MARGIN_X, top)
        if style.stroke:
            with pdf.local_context(
                text_mode=TextMode.FILL_STROKE, line_width=style.stroke, draw_color=style.colour
            ):
                pdf.cell(CONTENT_W, h, text, align=Align.C)
        else:
            pdf.cell(CONTENT_W, h, text, align=Align.C)
        if style.spacing_pt:
            pdf.set_char_spacing(0)

    def line(self, x1: float, y: float, x2: float, colour: Colour) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*colour)
        pdf.set_line_width(0.2)
        pdf.line(x1, y, x2, y)

    def rect(self, x: float, y: float, w: float, h: float, width: float, colour: Colour) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*colour)
        pdf.set_line_width(width)
        pdf.rect(x, y, w, h)

    def qr_code(self, url: str, x: float, y: float) -> None:
        _draw_qr(self.pdf, url, x, y)

    def picture(self, plan: PlanPicture, x: float, y: float, w: float, h: float) -> None:
        self.pdf.image(BytesIO(plan.data), x=x, y=y, w=w, h=h)


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
    # At most 220 degrees: the last characters stay above the band under the star that the
    # authority's name runs through (layout.SEAL_ABOVE_NAME_MM).
    span = math.radians(min(220.0, 22.0 * max(len(chars), 6)))
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
    # RGBA (PNG colour type 6): the ink's opacity in a real alpha channel, alpha 0 wherever
    # there is no ink. Readers that draw the seal over the page (OFD stamp annotations) then
    # show the face beneath; a palette picture's transparency table is ignored by some.
    picture = Image.new("RGBA", (size, size), (*_SEAL_RED, 0))
    picture.putalpha(mask)
    out = BytesIO()
    picture.save(out, format="PNG", optimize=True, dpi=(SEAL_DPI, SEAL_DPI))
    return out.getvalue()
