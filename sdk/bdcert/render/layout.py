"""The one page layout of a certificate face, shared by every document format (PDF and OFD).

:class:`PageLayout` places everything; a :class:`Surface` (one per format: fpdf2 for the PDF in
:mod:`bdcert.render.pdf`, OFD page XML in :mod:`bdcert.render.ofd`) draws it. Both formats
therefore print the same face at the same places. Layout (A4 portrait, lengths in millimetres
from the page's top-left corner, type sizes in points):

- page 1, top: the title (:attr:`CertificateKind.title`: 不动产权证书, rule article 6; 不动产登记证明,
  article 5), the e-licence identifier (电子证照标识) in small type, and the QR code (top right,
  :data:`QR_SIZE_MM` square);
- then every face item in the order given, as a row: the label in a fixed left column
  (:data:`LABEL_W`, shrunk when too long, never into the value column), the value beside it
  broken into lines by :func:`wrap_text` (禁则, designations kept whole) and continued onto
  following pages, never truncated;
  line breaks in values are kept. 登记机构 ``djjg`` and 签发日期 ``qfsj`` (:data:`SIGNATURE_KEYS`)
  are printed in the signature block instead of a row;
- 附图 (the attached plan), when given, on a page of its own, scaled to fit;
- the signature block at the bottom of the last page, never alone on it (the last lines of the
  rows come with it when it needs a new page): ``登记机构：<name>``, and a :data:`SEAL_SIZE_MM`
  square for the seal centred on the name horizontally, :data:`SEAL_ABOVE_NAME_MM` above it
  (:class:`SealSpot`), with ``签发日期：<date>`` under the seal;
- every page: a thin double frame (:data:`FRAME`) and the footer :data:`PAGE_FOOTER`, which
  matches :data:`PAGE_FURNITURE_RE`. Surfaces draw this page furniture themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from io import BytesIO
from typing import Protocol

import attrs
from PIL import Image

from bdcert.errors import RenderError
from bdcert.fonts import FontChain
from bdcert.model import AttachedPlan, Authority, CertificateKind, FaceItem
from bdcert.render.linebreak import (
    NO_LINE_END,
    NO_LINE_START,
    PREFERRED_BREAKS,
    UNBREAKABLE_RE,
    wrap_text,
)
from bdcert.validation import MAX_PLAN_PIXELS

__all__ = [
    "CELL_PAD",
    "CONTENT_W",
    "FIXED_TEXT",
    "FOOTER",
    "FOOTER_H",
    "FOOTER_TOP",
    "FRAME",
    "GREY",
    "INK",
    "KEEP_WITH_SIGNATURE",
    "LABEL_W",
    "LINE_H",
    "MARGIN_BOTTOM",
    "MARGIN_TOP",
    "MARGIN_X",
    "NO_LINE_END",
    "NO_LINE_START",
    "PAGE_FOOTER",
    "PAGE_FURNITURE_RE",
    "PAGE_H",
    "PAGE_W",
    "PREFERRED_BREAKS",
    "QR_SIZE_MM",
    "RED",
    "ROW_PAD",
    "RULE",
    "SEAL_ABOVE_NAME_MM",
    "SEAL_SIZE_MM",
    "SIGNATURE_H",
    "SIGNATURE_KEYS",
    "TABLE_TOP",
    "TEXT_PT",
    "UNBREAKABLE_RE",
    "VALUE_W",
    "VALUE_X",
    "Colour",
    "PageLayout",
    "PlanPicture",
    "PreparedFace",
    "SealSpot",
    "Surface",
    "TextStyle",
    "face_value",
    "load_plan",
    "prepare_face",
    "printable",
    "wrap_text",
]

#: Text printed on every page that is not part of any face value: the page footer
#: ``第 1 页 共 2 页``. Remove its matches from ``pdftotext`` output (before or after removing
#: whitespace) and every face value is found contiguously.
PAGE_FURNITURE_RE = re.compile(r"第\s*\d+\s*页\s*共\s*\d+\s*页")
#: The page footer, a :meth:`str.format` template with ``page`` and ``pages``.
PAGE_FOOTER = "第 {page} 页 共 {pages} 页"

#: Side of the QR code square, quiet zone included (mm).
QR_SIZE_MM = 30.0
#: Diameter of the seal picture and side of the reserved seal box (mm).
SEAL_SIZE_MM = 42.0

PAGE_W, PAGE_H = 210.0, 297.0  # A4 portrait (mm)
MARGIN_X = 22.0
MARGIN_TOP = 20.0
MARGIN_BOTTOM = 22.0
CONTENT_W = PAGE_W - 2 * MARGIN_X  # between the left and right margins (mm)
LABEL_W = 36.0
VALUE_X = MARGIN_X + LABEL_W + 2.0
VALUE_W = PAGE_W - MARGIN_X - VALUE_X
#: Space between a cell's left edge and its first character (mm): fpdf2's cell margin.
CELL_PAD = 1.0
TEXT_PT = 11.0
LINE_H = 6.2
ROW_PAD = 1.6
SIGNATURE_H = 50.0  # height reserved at the bottom of the last page for the signature block
TABLE_TOP = 53.0  # first row on page 1, under the title, identifier and QR code
#: The footer's cell, centred between the margins: top and height (mm); its style is FOOTER.
FOOTER_TOP, FOOTER_H = PAGE_H - 17, 4.0
#: The double frame on every page: ``(x, y, w, h, line width)`` in mm, in :data:`RED`.
FRAME = (
    (10.0, 10.0, PAGE_W - 20, PAGE_H - 20, 0.6),
    (12.0, 12.0, PAGE_W - 24, PAGE_H - 24, 0.2),
)

#: An RGB colour, each component 0-255.
Colour = tuple[int, int, int]
INK: Colour = (25, 25, 25)
RED: Colour = (160, 30, 30)
GREY: Colour = (110, 110, 110)
RULE: Colour = (200, 170, 170)  # the line under each row


@attrs.define(frozen=True)
class TextStyle:
    """How a cell's text looks.

    :ivar pt: type size (points).
    :ivar colour: the ink.
    :ivar spacing_pt: extra space after each character (points).
    :ivar stroke: when not 0, the glyphs are also outlined with a line this wide (mm) in the
        same colour (bold-looking headings).
    """

    pt: float
    colour: Colour
    spacing_pt: float = 0.0
    stroke: float = 0.0


_TITLE = TextStyle(26, RED, spacing_pt=4, stroke=0.35)
_IDENTIFIER = TextStyle(7.5, GREY)
_PLAN_TITLE = TextStyle(16, RED, spacing_pt=4)
_VALUE = TextStyle(TEXT_PT, INK)
#: The page footer's style.
FOOTER = TextStyle(8, GREY)

#: Items printed in the signature block rather than as rows.
SIGNATURE_KEYS = ("djjg", "qfsj")
#: Characters printed whatever the face says (fonts must carry them).
FIXED_TEXT = "登记机构签发日期：附图电子证照标识第共页0123456789 "
_BLANKS_RE = re.compile(r"[^\S\n]+")
_TRIGGER = PAGE_H - MARGIN_BOTTOM  # no line of text goes below this (mm)
_SIGNATURE_TOP = PAGE_H - MARGIN_BOTTOM - SIGNATURE_H  # the signature block's top (mm)
#: The seal's centre lies this far (mm) above the middle of the authority name's em box: the
#: name then runs through the clear band between the seal picture's star and its motto
#: (:meth:`bdcert.render.pdf.Renderer.seal_picture`), so it stays legible in OFD readers, which
#: draw the seal over the page with no blending.
SEAL_ABOVE_NAME_MM = 7.65
#: Printed value lines that go with the signature block when it needs a page of its own.
KEEP_WITH_SIGNATURE = 2


def printable(text: str) -> str:
    """Line breaks normalised to ``\\n``; every other run of whitespace printed as one space.

    Wide blanks (tabs, U+3000, several spaces) would open gaps that text extractors take for
    column boundaries, splitting a value; a single space keeps each line in one piece.
    """
    return _BLANKS_RE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))


def face_value(face: Sequence[FaceItem], key: str) -> str | None:
    """The value of the first face item with ``key``, or None when there is none."""
    for item in face:
        if item.key == key:
            return item.value
    return None


@attrs.define(frozen=True)
class PlanPicture:
    """A checked 附图: the PNG or JPEG bytes and the picture's size in pixels."""

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    width: int
    height: int


def load_plan(plan: AttachedPlan) -> PlanPicture:
    """Check that ``plan`` is a readable PNG or JPEG picture and measure it.

    :raises RenderError: it is not a readable picture, neither PNG nor JPEG, or larger than
        :data:`bdcert.validation.MAX_PLAN_PIXELS` (a decompression bomb).
    """
    try:
        with Image.open(BytesIO(plan.data)) as image:
            kind, (width, height) = image.format, image.size
        if width * height <= MAX_PLAN_PIXELS:  # never decode a decompression bomb
            with Image.open(BytesIO(plan.data)) as image:
                image.verify()
    except Exception as exc:
        raise RenderError(f"附图 (ft) is not a readable picture: {exc}") from exc
    if kind not in ("PNG", "JPEG"):
        raise RenderError(f"附图 (ft) must be PNG or JPEG, not {kind}")
    if width * height > MAX_PLAN_PIXELS:
        raise RenderError(
            f"附图 (ft) is {width} × {height} pixels; at most {MAX_PLAN_PIXELS} are allowed"
        )
    return PlanPicture(plan.data, width, height)


@attrs.define(frozen=True)
class PreparedFace:
    """A face's inputs, checked (:func:`prepare_face`).

    :ivar authority_name: printed in the signature block: face item ``djjg``, else the
        authority's name.
    :ivar plan: the measured 附图, or None.
    :ivar characters: every character the layout may print (the fonts are subset to these).
    """

    authority_name: str
    plan: PlanPicture | None
    characters: str


def prepare_face(
    chain: FontChain,
    *,
    kind: CertificateKind,
    face: Sequence[FaceItem],
    verification_url: str,
    licence_id: str,
    authority: Authority,
    attached_plan: AttachedPlan | None,
) -> PreparedFace:
    """Check a face before drawing it, in any format.

    :raises ValueError: ``verification_url`` is empty or not ASCII (QR scanners misread other
        text).
    :raises MissingGlyph: a character of a face item that no font of ``chain`` can draw; its
        ``field`` is the item's key (``licence_id`` or ``djjg`` for those inputs).
    :raises RenderError: the attached plan is not a readable PNG or JPEG picture.
    """
    if not verification_url or not verification_url.isascii():
        raise ValueError(f"verification URL must be non-empty ASCII: {verification_url!r}")
    for item in face:
        chain.check(item.label + item.value, item.key)
    chain.check(licence_id, "licence_id")
    name = face_value(face, "djjg") or authority.name
    chain.check(name, "djjg")
    plan = load_plan(attached_plan) if attached_plan is not None else None
    texts = [kind.title, licence_id, name, FIXED_TEXT]
    texts += [printable(item.label + item.value) for item in face]
    return PreparedFace(name, plan, "".join(texts))


@attrs.define(frozen=True)
class SealSpot:
    """Where the seal goes: the centre of a :data:`SEAL_SIZE_MM` square.

    :ivar page: zero-based index of the page that carries the signature block.
    :ivar centre_x: mm from the page's left edge.
    :ivar centre_y: mm from the page's top edge.
    """

    page: int
    centre_x: float
    centre_y: float


class Surface(Protocol):
    """What :class:`PageLayout` draws on: one document format's pages (mm, origin top-left).

    A text cell is ``h`` mm high with its top at ``top``; its first character starts
    :data:`CELL_PAD` after ``x`` and the baseline sits as fpdf2 places it in a cell.
    """

    def add_page(self) -> None:
        """Start a new page and draw its frame (:data:`FRAME`); later drawing goes there."""

    def string_width(self, text: str, pt: float) -> float:
        """Width of ``text`` in mm at ``pt`` points, fallback fonts included."""
        ...

    def cell(self, x: float, top: float, h: float, text: str, style: TextStyle) -> None:
        """Text in a left-aligned cell whose left edge is ``x``."""

    def centred_cell(self, top: float, h: float, text: str, style: TextStyle) -> None:
        """Text in a cell reaching from margin to margin, centred."""

    def line(self, x1: float, y: float, x2: float, colour: Colour) -> None:
        """A horizontal 0.2 mm line from ``x1`` to ``x2``."""

    def rect(self, x: float, y: float, w: float, h: float, width: float, colour: Colour) -> None:
        """An unfilled rectangle drawn with a ``width`` mm line."""

    def qr_code(self, url: str, x: float, y: float) -> None:
        """The QR code of ``url``, a :data:`QR_SIZE_MM` square with its corner at ``x, y``."""

    def picture(self, plan: PlanPicture, x: float, y: float, w: float, h: float) -> None:
        """The attached plan scaled into ``w`` × ``h`` mm at ``x, y``."""


@attrs.define(frozen=True)
class _Line:
    """One value line as placed: its page, the index of its row's first line, and whether it
    prints anything (an empty paragraph does not)."""

    page: int
    row_first: int
    printed: bool


class _Measure:
    """A :class:`Surface` that only measures: the dry run that finds where pages break."""

    def __init__(self, surface: Surface) -> None:
        self._surface = surface

    def add_page(self) -> None:
        pass

    def string_width(self, text: str, pt: float) -> float:
        return self._surface.string_width(text, pt)

    def cell(self, x: float, top: float, h: float, text: str, style: TextStyle) -> None:
        pass

    def centred_cell(self, top: float, h: float, text: str, style: TextStyle) -> None:
        pass

    def line(self, x1: float, y: float, x2: float, colour: Colour) -> None:
        pass

    def rect(self, x: float, y: float, w: float, h: float, width: float, colour: Colour) -> None:
        pass

    def qr_code(self, url: str, x: float, y: float) -> None:
        pass

    def picture(self, plan: PlanPicture, x: float, y: float, w: float, h: float) -> None:
        pass


class PageLayout:
    """Places a certificate face on a :class:`Surface` (see the module docstring); one per document."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.pages = 0
        self.y = 0.0  # the next free position on the current page (mm)
        self._widths: dict[tuple[str, float], float] = {}
        self._keep_from: int | None = None  # the value line that must start a page
        self._lines: list[_Line] = []

    def draw(
        self,
        *,
        kind: CertificateKind,
        face: Sequence[FaceItem],
        verification_url: str,
        authority_name: str,
        licence_id: str,
        plan: PlanPicture | None,
    ) -> SealSpot:
        """Draw one certificate face; returns where its seal goes.

        The signature block (登记机构, 签发日期 and the seal) is never alone on a page: when it
        does not fit under the last row, the last :data:`KEEP_WITH_SIGNATURE` printed lines of
        the rows (the whole last row when it is that short, never one line of a row left
        behind) go to the new page with it (keep-with-next). With 附图, the block sits under
        the plan on the plan's page.

        :param authority_name: printed in the signature block (face item ``djjg`` is skipped
            as a row).
        """
        if plan is None:
            dry = PageLayout(_Measure(self.surface))
            dry._widths = self._widths
            dry._content(kind, face, verification_url, licence_id)
            self._keep_from = dry._carried_lines()
        self._content(kind, face, verification_url, licence_id)
        if plan is not None:
            self._plan(plan)
        return self._signature(authority_name, face_value(face, "qfsj"))

    def _content(
        self, kind: CertificateKind, face: Sequence[FaceItem], url: str, licence_id: str
    ) -> None:
        """Page 1's head and every row."""
        surface = self.surface
        self._add_page()
        surface.centred_cell(24, 12, kind.title, _TITLE)
        surface.centred_cell(40, 4, f"电子证照标识：{licence_id}", _IDENTIFIER)
        surface.qr_code(url, PAGE_W - 14 - QR_SIZE_MM, 14.0)
        self.y = TABLE_TOP
        self._rule()
        for item in face:
            if item.key not in SIGNATURE_KEYS:
                self._row(item)

    def _carried_lines(self) -> int | None:
        """After a dry run of the rows: the index of the first value line to carry onto the
        signature block's page, or None when the block fits under the rows."""
        lines = self._lines
        if self.y <= _SIGNATURE_TOP or not lines:
            return None
        start = len(lines)
        printed = 0
        while start > 0 and printed < KEEP_WITH_SIGNATURE:
            start -= 1
            printed += lines[start].printed
        row_first = lines[start].row_first
        if start - row_first < KEEP_WITH_SIGNATURE:
            start = row_first  # no lone line of a row left behind: the row goes whole
        page_first = next(i for i, line in enumerate(lines) if line.page == lines[-1].page)
        if start <= page_first:  # the whole page would move: carry what can be carried
            start = max(page_first + 1, len(lines) - KEEP_WITH_SIGNATURE)
            if start >= len(lines):
                return None
        return start

    def _add_page(self) -> None:
        self.surface.add_page()
        self.pages += 1
        self.y = MARGIN_TOP

    def _rule(self) -> None:
        self.surface.line(MARGIN_X, self.y, PAGE_W - MARGIN_X, RULE)

    def _advance(self, ch: str) -> float:
        key = (ch, TEXT_PT)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = self.surface.string_width(ch, TEXT_PT)
        return width

    def _row(self, item: FaceItem) -> None:
        surface = self.surface
        first = len(self._lines)
        if self.y + ROW_PAD + LINE_H > _TRIGGER or first == self._keep_from:
            self._add_page()
            self._rule()
        y = self.y + ROW_PAD
        label_pt = TEXT_PT
        fit = (LABEL_W - 2 * CELL_PAD) / max(surface.string_width(item.label, TEXT_PT), 1e-6)
        if fit < 1:  # an unusually long label: smaller type, never into the value column
            label_pt = TEXT_PT * fit
        surface.cell(MARGIN_X, y, LINE_H, item.label, TextStyle(label_pt, RED))
        width = VALUE_W - 2 * CELL_PAD - 0.05
        for line in wrap_text(printable(item.value), width, self._advance):
            number = len(self._lines)
            if y + LINE_H > _TRIGGER or (number == self._keep_from and number != first):
                self._add_page()
                y = self.y
            self._lines.append(_Line(self.pages - 1, first, bool(line.strip())))
            if line:
                surface.cell(VALUE_X, y, LINE_H, line, _VALUE)
            y += LINE_H
        self.y = y + ROW_PAD
        self._rule()

    def _plan(self, plan: PlanPicture) -> None:
        surface = self.surface
        self._add_page()
        surface.centred_cell(MARGIN_TOP, 10, "附图", _PLAN_TITLE)
        top = MARGIN_TOP + 14
        box_h = PAGE_H - MARGIN_BOTTOM - SIGNATURE_H - 4 - top
        scale = min(CONTENT_W / plan.width, box_h / plan.height)
        w, h = plan.width * scale, plan.height * scale
        x = MARGIN_X + (CONTENT_W - w) / 2
        surface.picture(plan, x, top, w, h)
        surface.rect(x, top, w, h, 0.2, GREY)
        self.y = top + h + 2

    def _signature(self, name: str, issued: str | None) -> SealSpot:
        """The signature block at the bottom of the current page (a new page if it is full).

        The seal's top is the block's top; the name line runs through the seal's clear band
        (:data:`SEAL_ABOVE_NAME_MM`) and the issue date sits under the seal.
        """
        surface = self.surface
        top = _SIGNATURE_TOP
        if self.y > top:
            self._add_page()
        right = PAGE_W - MARGIN_X - 2
        name_pt, label_pt = 13.0, 11.0
        name_w = surface.string_width(name, name_pt)
        label = "登记机构："
        label_w = surface.string_width(label, label_pt)
        name_x = right - name_w  # where the name's ink starts; cells add CELL_PAD before it
        line_h = 8.0
        half = SEAL_SIZE_MM / 2
        centre_y = top + half
        line_y = centre_y + SEAL_ABOVE_NAME_MM - _em_middle(line_h, name_pt)  # the name's cell
        surface.cell(name_x - label_w - CELL_PAD, line_y, line_h, label, TextStyle(label_pt, RED))
        surface.cell(name_x - CELL_PAD, line_y, line_h, name, TextStyle(name_pt, INK))
        if issued:
            text = f"签发日期：{issued}"
            text_w = surface.string_width(text, label_pt)
            date_top = centre_y + half + 0.5 - _em_top(line_h, label_pt)  # clear of the seal
            surface.cell(
                right - text_w - CELL_PAD, date_top, line_h, text, TextStyle(label_pt, INK)
            )
        # The seal square, centred on the printed name, kept inside the inner frame.
        cx = min(max(name_x + name_w / 2, 12 + half), PAGE_W - 12 - half)
        return SealSpot(self.pages - 1, cx, centre_y)


def _em_top(h: float, pt: float) -> float:
    """Where a CJK em box starts below the top of a cell ``h`` mm high (baseline at
    ``h / 2 + 0.3 em``, as both surfaces place it; the em box spans 0.88 em above the baseline
    and 0.12 em below)."""
    em = pt * 25.4 / 72
    return h / 2 + 0.3 * em - 0.88 * em


def _em_middle(h: float, pt: float) -> float:
    """The middle of a CJK em box below the top of a cell ``h`` mm high (see :func:`_em_top`)."""
    return _em_top(h, pt) + 0.5 * pt * 25.4 / 72
