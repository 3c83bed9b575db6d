"""Breaking a face value into lines (Chinese style, with the 禁则 of GB/T 15834).

:func:`wrap_text` serves every document format through :mod:`bdcert.render.layout` (which
re-exports these names): Chinese text may break between any two characters, but never inside a
designation such as a parking space ``B2-118号`` (:data:`UNBREAKABLE_RE`), never with closing
punctuation at a line's start (:data:`NO_LINE_START`) or an opening bracket or hyphen at its end
(:data:`NO_LINE_END`), preferably just after ``、，；`` (:data:`PREFERRED_BREAKS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = [
    "NO_LINE_END",
    "NO_LINE_START",
    "PREFERRED_BREAKS",
    "UNBREAKABLE_RE",
    "wrap_text",
]

#: Line-breaking rules (a light form of the Chinese 禁则): characters that must not end a line
#: (hyphens, opening brackets) or start one (closing punctuation).
NO_LINE_END = frozenset("-\u00ad\u2010\u2011([{（［｛〔【《〈「『“‘")
NO_LINE_START = frozenset(")]}，。、；：？！）］｝〕】》〉」』”’％,.;:?!%·…—～")
#: Punctuation after which a line is preferably broken (a pause in the sentence).
PREFERRED_BREAKS = frozenset("、，；,;")
#: A designation that is never broken across lines: Latin letters and digits (also full-width),
#: joined by ``-``, ``.``, ``/`` or ``:``, with the unit that follows (``B2-118号``, ``1单元``,
#: ``12.50㎡``, ``60%``).
UNBREAKABLE_RE = re.compile(
    r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]+(?:[-./:][0-9A-Za-z０-９Ａ-Ｚａ-ｚ]+)*"
    r"(?:单元|[号栋幢座楼层室户年月日元㎡%％])?"
)
_UNIT_RE = re.compile(UNBREAKABLE_RE.pattern + "|.", re.S)
_PREFER_WITHIN = 4  # how many units back from a full line's end a preferred break is looked for


def wrap_text(text: str, width: float, advance: Callable[[str], float]) -> list[str]:
    """Break ``text`` into lines of at most ``width`` mm (Chinese style, with the 禁则).

    ``advance`` gives a character's width in mm. Line breaks in ``text`` are kept (an empty
    paragraph is an empty line). Chinese text may break between any two characters, except:

    - inside a designation (:data:`UNBREAKABLE_RE`): a run of Latin letters and digits, joined
      by ``-``, ``.``, ``/`` or ``:``, with the unit that follows it (``B2-118号``, ``1506号``,
      ``128.93㎡``, ``2024年``), unless it is wider than a whole line;
    - a line never ends with a hyphen or an opening bracket (:data:`NO_LINE_END`) and the next
      never starts with closing punctuation (:data:`NO_LINE_START`): line-breaking rules of
      GB/T 15834 (标点符号用法) and the 行首行尾禁则 of Chinese typesetting, when a character can
      move down instead; when none can, one closing punctuation mark hangs past ``width``
      (悬挂), and only a run of them is broken where the line is full;
    - a break just after ``、，；`` (:data:`PREFERRED_BREAKS`) among the last few characters of a
      full line is taken before a break between two ordinary characters.

    (A line ending in ``-`` would also be read as a word hyphenated across lines and joined
    without its hyphen by text extractors such as ``pdftotext``.)
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        units: list[str] = []
        for match in _UNIT_RE.finditer(paragraph):
            unit = match.group()
            if len(unit) > 1 and _width(unit, advance) > width:
                units.extend(unit)  # wider than a line: it must break somewhere
            else:
                units.append(unit)
        line: list[str] = []
        used = 0.0
        for unit in units:
            step = _width(unit, advance)
            if line and used + step > width:
                cut = _break_point(line, unit)
                if cut is None and unit in NO_LINE_START and used <= width:
                    line.append(unit)  # 悬挂: closing punctuation hangs past the width
                    used += step
                    continue
                cut = len(line) if cut is None else cut
                lines.append("".join(line[:cut]))
                line = line[cut:]
                used = sum(_width(u, advance) for u in line)
            line.append(unit)
            used += step
        lines.append("".join(line))
    return lines


def _width(unit: str, advance: Callable[[str], float]) -> float:
    return sum(advance(ch) for ch in unit)


def _break_point(line: Sequence[str], following: str) -> int | None:
    """Where to end a full line of units before ``following``: the number of units kept, or
    None when the rules allow no break."""

    def allowed(cut: int) -> bool:
        kept = "".join(line[:cut]).rstrip(" ")  # trailing spaces do not count: extractors drop them
        head = line[cut] if cut < len(line) else following
        return bool(kept) and kept[-1] not in NO_LINE_END and head[0] not in NO_LINE_START

    for cut in range(len(line), max(len(line) - _PREFER_WITHIN, 0), -1):
        if line[cut - 1][-1] in PREFERRED_BREAKS and allowed(cut):
            return cut
    for cut in range(len(line), 0, -1):
        if allowed(cut):
            return cut
    return None
