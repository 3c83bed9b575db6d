"""Fonts for the certificate face: configuration, glyph coverage and fast per-document subsets.

A certificate face is drawn in one main CJK font (Noto Serif CJK SC by default) and, for the
rare name characters of CJK Extension B and later that it lacks, in fallback fonts tried in order
(HanaMinA, HanaMinB from the Debian package ``fonts-hanazono``). A character that no configured
font covers is never drawn as a blank box: :meth:`FontChain.check` raises
:class:`~bdcert.errors.MissingGlyph` naming the characters and the face item.

Speed. Parsing the 26 MB Noto collection with fpdf2 costs about 0.5 s and subsetting it with
fontTools another 0.6 s, for every PDF. Instead each font file is opened once per process
(:func:`glyph_source`); every glyph a certificate uses is converted once to a TrueType outline
(cubic CFF curves approximated by quadratics within 1 font unit) and kept in memory; each
document then gets a tiny TrueType font of exactly the characters it prints
(:meth:`GlyphSource.subset_font`), which fpdf2 parses and embeds in milliseconds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import attrs
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, newTable
from fontTools.ttLib.tables._g_l_y_f import Glyph

from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, MissingGlyph

__all__ = [
    "DEFAULT_FALLBACK_PATHS",
    "DEFAULT_REGULAR_FAMILY",
    "DEFAULT_REGULAR_PATH",
    "FontChain",
    "FontConfig",
    "FontSpec",
    "GlyphSource",
    "default_font_config",
    "font_config_from_settings",
    "glyph_source",
]

#: Debian ``fonts-noto-cjk``: the collection holding the Simplified Chinese serif face.
DEFAULT_REGULAR_PATH = Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
#: The family name of the face chosen inside :data:`DEFAULT_REGULAR_PATH`.
DEFAULT_REGULAR_FAMILY = "Noto Serif CJK SC"
#: Debian ``fonts-hanazono``: HanaMinA (BMP, Ext A) and HanaMinB (Ext B and later planes).
DEFAULT_FALLBACK_PATHS = (
    Path("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf"),
    Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"),
)
_PACKAGES = {
    DEFAULT_REGULAR_PATH: "fonts-noto-cjk",
    DEFAULT_FALLBACK_PATHS[0]: "fonts-hanazono",
    DEFAULT_FALLBACK_PATHS[1]: "fonts-hanazono",
}


@attrs.define(frozen=True)
class FontSpec:
    """A font file and, for a collection (``.ttc``), the zero-based number of the face in it."""

    path: Path = attrs.field(converter=Path)
    index: int = 0

    def __str__(self) -> str:
        return f"{self.path}#{self.index}" if self.index else str(self.path)


def _spec_tuple(specs: Iterable[FontSpec]) -> tuple[FontSpec, ...]:
    return tuple(specs)


@attrs.define(frozen=True)
class FontConfig:
    """The fonts of the certificate face.

    :ivar regular: the main CJK font; every label and most values are drawn in it.
    :ivar fallbacks: tried in order for characters ``regular`` lacks (rare name characters of
        CJK Extension B and later: HanaMinB).
    """

    regular: FontSpec
    fallbacks: tuple[FontSpec, ...] = attrs.field(default=(), converter=_spec_tuple)

    @property
    def chain(self) -> tuple[FontSpec, ...]:
        """``regular`` followed by the fallbacks: the order in which a character is looked up."""
        return (self.regular, *self.fallbacks)


# --------------------------------------------------------------------------- configuration


def _require(path: Path, origin: str) -> Path:
    if not path.is_file():
        package = _PACKAGES.get(path)
        hint = f"; install the Debian package {package}" if package else ""
        raise ConfigurationError(f"font file {path} not found (from {origin}){hint}")
    return path


def _parse_spec(text: str, *, base: Path | None = None, colon_index: bool = False) -> FontSpec:
    """``path``, ``path#index`` or (when ``colon_index``) ``path:index``."""
    path, index = text.strip(), 0
    for sep in ("#", ":") if colon_index else ("#",):
        head, found, tail = path.rpartition(sep)
        if found and head and tail.isdigit():
            path, index = head, int(tail)
            break
    resolved = Path(path).expanduser()
    if base is not None and not resolved.is_absolute():
        resolved = base / resolved
    return FontSpec(resolved, index)


_FACE_INDEX: dict[tuple[Path, str], int] = {}
_FACE_LOCK = threading.Lock()


def _face_index(path: Path, family: str) -> int:
    """The number of the face whose family name (name ID 1 or 16) is ``family`` in a collection."""
    key = (path, family)
    with _FACE_LOCK:
        if key in _FACE_INDEX:
            return _FACE_INDEX[key]
        try:
            collection = TTCollection(str(path), lazy=True)
        except Exception as exc:
            raise ConfigurationError(f"cannot read font collection {path}: {exc}") from exc
        try:
            for number, face in enumerate(collection.fonts):
                names = {face["name"].getDebugName(i) for i in (1, 16)}
                if family in names:
                    _FACE_INDEX[key] = number
                    return number
        finally:
            collection.close()
    raise ConfigurationError(f"font collection {path} has no face of the family {family!r}")


def default_font_config(env: Mapping[str, str] | None = None) -> FontConfig:
    """The fonts of a Debian system, overridable from the environment.

    - ``BDCERT_FONT``: the main font, ``path``, ``path:index`` or ``path#index`` (index = face
      number in a ``.ttc``). Default: the ``Noto Serif CJK SC`` face of
      ``NotoSerifCJK-Regular.ttc`` (package ``fonts-noto-cjk``).
    - ``BDCERT_FALLBACK_FONTS``: fallback fonts separated by :data:`os.pathsep`, each ``path`` or
      ``path#index``; set but empty means no fallbacks. Default: HanaMinA and HanaMinB (package
      ``fonts-hanazono``).

    :param env: the environment to read; :data:`os.environ` when None.
    :raises ConfigurationError: a font file is missing (the message names the path and, for the
        defaults, the Debian package to install) or the collection has no SC face.
    """
    env = os.environ if env is None else env
    if env.get("BDCERT_FONT"):
        regular = _parse_spec(env["BDCERT_FONT"], colon_index=True)
        _require(regular.path, "BDCERT_FONT")
    else:
        regular = _default_regular()
    if "BDCERT_FALLBACK_FONTS" in env:
        parts = [p for p in env["BDCERT_FALLBACK_FONTS"].split(os.pathsep) if p.strip()]
        fallbacks = tuple(_parse_spec(p) for p in parts)
        for spec in fallbacks:
            _require(spec.path, "BDCERT_FALLBACK_FONTS")
    else:
        fallbacks = _default_fallbacks()
    return FontConfig(regular, fallbacks)


def _default_regular() -> FontSpec:
    path = _require(DEFAULT_REGULAR_PATH, "the default configuration")
    return FontSpec(path, _face_index(path, DEFAULT_REGULAR_FAMILY))


def _default_fallbacks() -> tuple[FontSpec, ...]:
    return tuple(FontSpec(_require(p, "the default configuration")) for p in DEFAULT_FALLBACK_PATHS)


def font_config_from_settings(settings: Mapping[str, Any], base: Path) -> FontConfig:
    """Fonts from a workspace settings table (e.g. ``[fonts]``).

    :param settings: ``regular``: a path (``path#index`` for a collection face); ``fallbacks``:
        a list of such paths. Relative paths are taken from ``base``. A missing key keeps the
        value of :func:`default_font_config`; empty settings give exactly the default.
    :raises ConfigurationError: a file is missing or a value has the wrong type.
    """
    if not settings:
        return default_font_config()
    check_settings("fonts", settings, {"regular", "fallbacks"})
    regular: FontSpec | None = None
    fallbacks: tuple[FontSpec, ...] | None = None
    if "regular" in settings:
        if not isinstance(settings["regular"], str):
            raise ConfigurationError("font setting 'regular' must be a path")
        regular = _parse_spec(settings["regular"], base=base)
        _require(regular.path, "font setting 'regular'")
    if "fallbacks" in settings:
        raw = settings["fallbacks"]
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise ConfigurationError("font setting 'fallbacks' must be a list of paths")
        fallbacks = tuple(_parse_spec(str(p), base=base) for p in raw)
        for spec in fallbacks:
            _require(spec.path, "font setting 'fallbacks'")
    return FontConfig(
        _default_regular() if regular is None else regular,
        _default_fallbacks() if fallbacks is None else fallbacks,
    )


# --------------------------------------------------------------------------- glyph sources


@attrs.define(frozen=True)
class _CachedGlyph:
    data: bytes  # compiled TrueType ``glyf`` entry, decomposed, quadratic
    advance: int
    bounds: tuple[int, int, int, int] | None  # xMin, yMin, xMax, yMax; None when empty
    points: int
    contours: int

    @property
    def lsb(self) -> int:
        return self.bounds[0] if self.bounds else 0


class GlyphSource:
    """One face of a font file, opened once per process; thread-safe.

    :ivar spec: the face.
    :ivar cmap: code point -> glyph name of the face (read-only).
    """

    def __init__(self, spec: FontSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        try:
            self._font = TTFont(
                str(spec.path), fontNumber=spec.index, lazy=True, recalcTimestamp=False
            )
            self.cmap: Mapping[int, str] = dict(self._font.getBestCmap() or {})
        except Exception as exc:
            raise ConfigurationError(f"cannot read font {spec}: {exc}") from exc
        if not self.cmap:
            raise ConfigurationError(f"font {spec} has no Unicode character map")
        name = self._font["name"]
        self.family = name.getDebugName(1) or spec.path.stem
        self.full_name = name.getDebugName(4) or self.family
        self.ps_name = name.getDebugName(6) or self.full_name.replace(" ", "")
        self._cubic = "glyf" not in self._font
        self._glyphs: dict[int, _CachedGlyph] = {}
        self._notdef: _CachedGlyph | None = None
        # Tables load lazily; read the shared ones now, while no other thread can see us.
        self._hmtx = self._font["hmtx"]
        self._hhea, self._os2, self._post = (self._font[t] for t in ("hhea", "OS/2", "post"))
        self.units_per_em = int(self._font["head"].unitsPerEm)

    def covers(self, codepoint: int) -> bool:
        return codepoint in self.cmap

    def _convert(self, glyph_name: str) -> _CachedGlyph:
        glyph_set = self._font.getGlyphSet()
        recording = DecomposingRecordingPen(glyph_set)
        glyph_set[glyph_name].draw(recording)
        tt_pen = TTGlyphPen(None)
        recording.replay(Cu2QuPen(tt_pen, max_err=1.0, reverse_direction=self._cubic))
        glyph: Glyph = tt_pen.glyph()
        advance = int(self._hmtx[glyph_name][0])
        if not glyph.numberOfContours:
            return _CachedGlyph(b"", advance, None, 0, 0)
        glyph.recalcBounds(None)
        bounds = (int(glyph.xMin), int(glyph.yMin), int(glyph.xMax), int(glyph.yMax))
        data = bytes(glyph.compile(None))
        return _CachedGlyph(data, advance, bounds, len(glyph.coordinates), glyph.numberOfContours)

    def _glyph(self, codepoint: int) -> _CachedGlyph:
        cached = self._glyphs.get(codepoint)
        if cached is None:
            with self._lock:  # fontTools loads tables lazily and is not thread-safe
                cached = self._glyphs.get(codepoint)
                if cached is None:
                    cached = self._convert(self.cmap[codepoint])
                    self._glyphs[codepoint] = cached
        return cached

    def subset_font(self, codepoints: Iterable[int]) -> bytes:
        """A small TrueType font (``.ttf`` bytes) with the glyphs of ``codepoints`` only.

        Names (family, full name) and vertical metrics are those of the source face, so the
        PDF's font list still shows e.g. ``NotoSerifCJKSC``; widths are unchanged.

        :raises KeyError: a code point the face does not cover.
        """
        wanted = sorted(set(codepoints))
        glyphs = {cp: self._glyph(cp) for cp in wanted}
        if self._notdef is None:
            with self._lock:
                self._notdef = self._convert(".notdef")
        names = {cp: f"u{cp:04X}" for cp in wanted}
        cached = {".notdef": self._notdef, **{names[cp]: glyphs[cp] for cp in wanted}}
        order = list(cached)
        builder = FontBuilder(self.units_per_em, isTTF=True)
        # The compiled glyphs go in as they are; bounds and maxima are filled in from the cache
        # (recalculating them would decompile and recompile every glyph: 10 ms per glyph).
        builder.font.recalcBBoxes = False
        builder.setupGlyphOrder(order)
        builder.setupCharacterMap({cp: names[cp] for cp in wanted})
        glyf, loca = newTable("glyf"), newTable("loca")
        glyf.glyphs = {name: Glyph(g.data) for name, g in cached.items()}
        glyf.glyphOrder = order
        builder.font["loca"] = loca
        builder.font["glyf"] = glyf
        builder.setupHorizontalMetrics({name: (g.advance, g.lsb) for name, g in cached.items()})
        boxes = [g.bounds for g in cached.values() if g.bounds] or [(0, 0, 0, 0)]
        x_min, y_min = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x_max, y_max = max(b[2] for b in boxes), max(b[3] for b in boxes)
        hhea, os2, post = self._hhea, self._os2, self._post
        builder.setupHorizontalHeader(
            ascent=hhea.ascent,
            descent=hhea.descent,
            lineGap=hhea.lineGap,
            advanceWidthMax=max(g.advance for g in cached.values()),
            minLeftSideBearing=min(b[0] for b in boxes),
            minRightSideBearing=min(g.advance - g.bounds[2] for g in cached.values() if g.bounds)
            if any(g.bounds for g in cached.values())
            else 0,
            xMaxExtent=x_max,
            numberOfHMetrics=len(order),
        )
        builder.setupMaxp()
        maxp = builder.font["maxp"]
        maxp.numGlyphs = len(order)
        maxp.maxPoints = max(g.points for g in cached.values())
        maxp.maxContours = max(g.contours for g in cached.values())
        head = builder.font["head"]
        head.xMin, head.yMin, head.xMax, head.yMax = x_min, y_min, x_max, y_max
        builder.setupNameTable(
            {
                "familyName": self.family,
                "styleName": "Regular",
                "fullName": self.full_name,
                "psName": self.ps_name,
            }
        )
        builder.setupOS2(
            sTypoAscender=os2.sTypoAscender,
            sTypoDescender=os2.sTypoDescender,
            sTypoLineGap=os2.sTypoLineGap,
            usWinAscent=os2.usWinAscent,
            usWinDescent=os2.usWinDescent,
            usWeightClass=os2.usWeightClass,
            sCapHeight=getattr(os2, "sCapHeight", hhea.ascent),
            sxHeight=getattr(os2, "sxHeight", 0),
            yStrikeoutPosition=os2.yStrikeoutPosition,
            yStrikeoutSize=os2.yStrikeoutSize,
            fsType=os2.fsType,
        )
        builder.setupPost(
            keepGlyphNames=False,
            underlinePosition=post.underlinePosition,
            underlineThickness=post.underlineThickness,
        )
        out = BytesIO()
        builder.save(out)
        return out.getvalue()


_SOURCES: dict[tuple[Path, int, int, int], GlyphSource] = {}
_SOURCES_LOCK = threading.Lock()


def glyph_source(spec: FontSpec) -> GlyphSource:
    """The process-wide :class:`GlyphSource` of ``spec`` (reopened if the file changed).

    :raises ConfigurationError: the file is missing or not a readable font.
    """
    try:
        stat = spec.path.stat()
    except OSError as exc:
        raise ConfigurationError(f"font file {spec.path} not found: {exc}") from exc
    key = (spec.path.resolve(), spec.index, stat.st_mtime_ns, stat.st_size)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = GlyphSource(spec)
            _SOURCES[key] = source
    return source


def _needs_glyph(ch: str) -> bool:
    return not ch.isspace()


class FontChain:
    """The fonts of a :class:`FontConfig` in lookup order; sources are opened on first need."""

    def __init__(self, config: FontConfig) -> None:
        self.config = config

    @property
    def regular(self) -> GlyphSource:
        return glyph_source(self.config.regular)

    def font_for(self, ch: str) -> int | None:
        """Position in :attr:`FontConfig.chain` of the first font that draws ``ch``, or None."""
        cp = ord(ch)
        for position, spec in enumerate(self.config.chain):
            if glyph_source(spec).covers(cp):
                return position
        return None

    def check(self, text: str, field: str) -> None:
        """Raise if a character of ``text`` (whitespace aside) has no glyph in any font.

        :raises MissingGlyph: with every such character and ``field`` (the face item key).
        """
        regular = self.regular
        missing = [
            ch
            for ch in dict.fromkeys(text)
            if _needs_glyph(ch) and not regular.covers(ord(ch)) and self.font_for(ch) is None
        ]
        if missing:
            raise MissingGlyph(missing, field)

    def assign(self, characters: Iterable[str]) -> dict[int, set[int]]:
        """Split ``characters`` by font: chain position -> code points that font draws.

        Whitespace the regular font lacks is left out (the renderer prints it as a space).

        :raises MissingGlyph: a character no font covers (field ``""``; check fields first).
        """
        regular = self.regular
        out: dict[int, set[int]] = {0: set()}
        missing = []
        for ch in set(characters):
            cp = ord(ch)
            if regular.covers(cp):
                out[0].add(cp)
                continue
            if not _needs_glyph(ch):
                continue
            position = self.font_for(ch)
            if position is None:
                missing.append(ch)
            else:
                out.setdefault(position, set()).add(cp)
        if missing:
            raise MissingGlyph(sorted(missing), "")
        return out
