"""The text a PDF page shows, not only the text it holds: a copy of the document whose invisible
text is emptied, for ``pdftotext`` to read (ISO 32000-2 §9.3.6, text rendering mode; §8.6.8).

A face value drawn in text rendering mode 3 (neither filled nor stroked: an OCR layer) or 7
(clip only), or filled pure white (``1 g``, ``1 1 1 rg``, ``0 0 0 0 k``) in mode 0, is text a
reader of the printed page never sees, yet ``pdftotext`` extracts it like any other. The
content streams of every page and of the form XObjects they draw are tokenised here (a small
PDF content-stream lexer, no font decoding) and each text-showing operator (``Tj``, ``TJ``,
``'``, ``"``) under such a state gets an empty operand; the copy is written as an incremental
update with pyHanko. Text drawn outside the page's box ``pdftotext`` drops by itself.

Known limits: text made invisible by other means (a size of a fraction of a point through
``Tm`` or ``cm``, a colour matching a coloured background, a covering picture, a clip path, a
pattern or a separation colour space) is still read as shown.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

__all__ = ["visible_copy"]

_SPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
_SHOW = {b"Tj", b"TJ", b"'", b'"'}
_NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)$")


def _tokens(data: bytes) -> list[tuple[int, int]]:
    """The spans ``(start, end)`` of the content stream's tokens; an array or a dictionary is
    one token, an inline image's data (``ID`` … ``EI``) is skipped."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(data)
    depth, opened = 0, 0
    while i < n:
        c = data[i : i + 1]
        if data[i] in _SPACE:
            i += 1
            continue
        start = i
        if c == b"%":
            while i < n and data[i] not in b"\r\n":
                i += 1
            continue
        if c == b"(":
            level = 0
            while i < n:
                ch = data[i]
                if ch == 0x5C:  # backslash
                    i += 2
                    continue
                if ch == 0x28:
                    level += 1
                elif ch == 0x29:
                    level -= 1
                    if level == 0:
                        i += 1
                        break
                i += 1
        elif data.startswith(b"<<", i) or c == b"[":
            i += 1 if c == b"[" else 2
            if depth == 0:
                opened = start
            depth += 1
            continue
        elif data.startswith(b">>", i) or c == b"]":
            i += 1 if c == b"]" else 2
            depth = max(0, depth - 1)
            if depth == 0:
                out.append((opened, i))
            continue
        elif c == b"<":
            end = data.find(b">", i)
            i = n if end < 0 else end + 1
        else:
            i += 1
            while i < n and data[i] not in _SPACE and data[i] not in _DELIMITERS:
                i += 1
            if depth == 0 and data[start:i] == b"ID":
                out.append((start, i))
                found = re.compile(rb"[\x00\t\n\x0c\r ]EI(?=[\x00\t\n\x0c\r ]|$)").search(data, i)
                i = n if found is None else found.end()
                continue
        if depth == 0:
            out.append((start, i))
    return out


def hide_invisible_text(data: bytes) -> tuple[bytes, int]:
    """``data`` (a decoded content stream) with the operand of every invisible text-showing
    operator emptied, and how many there were."""
    edits: list[tuple[int, int, bytes]] = []
    operands: list[tuple[int, int]] = []
    state = {"mode": 0, "white": False}
    saved: list[dict[str, object]] = []
    for start, end in _tokens(data):
        token = data[start:end]
        first = token[:1]
        if first in (b"(", b"<", b"[", b"/") or _NUMBER.match(token) or token in (b"true",
                                                                                  b"false", b"null"):  # fmt: skip
            operands.append((start, end))
            continue
        values = [data[s:e] for s, e in operands]
        if token == b"q":
            saved.append(dict(state))
        elif token == b"Q" and saved:
            state = saved.pop()  # type: ignore[assignment]
        elif token == b"Tr" and values:
            with contextlib.suppress(ValueError):
                state["mode"] = int(float(values[-1]))
        elif token in (b"g", b"rg", b"k"):
            numbers = []
            for v in values:
                try:
                    numbers.append(float(v))
                except ValueError:
                    numbers.append(-1.0)
            white = {b"g": [1.0], b"rg": [1.0, 1.0, 1.0], b"k": [0.0, 0.0, 0.0, 0.0]}[token]
            state["white"] = numbers[-len(white) :] == white
        elif token in (b"sc", b"scn", b"cs"):
            state["white"] = False
        elif token in _SHOW and operands:
            mode = state["mode"]
            if mode in (3, 7) or (state["white"] and mode in (0, 4)):
                s, e = operands[-1]
                edits.append((s, e, b"[]" if token == b"TJ" else b"()"))
        operands = []
    out = bytearray(data)
    for s, e, new in reversed(edits):
        out[s:e] = new
    return bytes(out), len(edits)


def visible_copy(data: bytes) -> tuple[bytes | None, int]:
    """A copy of the PDF ``data`` with its invisible text emptied (pages and the form XObjects
    of their resources), or ``None`` when it has none; and how many text operators were hidden.

    :raises Exception: whatever pyHanko raises on a PDF it cannot read (the caller names it).
    """
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer: Any = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)  # pyHanko: untyped
    hidden = 0
    seen: set[tuple[int, int]] = set()

    def clean(ref: Any) -> None:
        nonlocal hidden
        key = (ref.idnum, ref.generation)
        if key in seen:
            return
        seen.add(key)
        stream: Any = ref.get_object()
        if not isinstance(stream, generic.StreamObject):
            return
        new, count = hide_invisible_text(stream.data)
        if count:
            hidden += count
            stream.strip_filters()  # type: ignore[no-untyped-call]
            stream._data = stream._encoded_data = new  # written unfiltered
            writer.mark_update(ref)
        forms(stream.get("/Resources"))

    def forms(resources: object) -> None:
        if resources is None:
            return
        resources = resources.get_object()  # type: ignore[attr-defined]
        xobjects = resources.get("/XObject") if isinstance(resources, dict) else None
        if xobjects is None:
            return
        for value in xobjects.get_object().values():
            if isinstance(value, generic.IndirectObject):
                target = value.get_object()  # type: ignore[no-untyped-call]
                if isinstance(target, generic.StreamObject) and target.get("/Subtype") == "/Form":
                    clean(value)

    count = int(writer.root["/Pages"]["/Count"])
    for index in range(count):
        page_ref, _resources = writer.find_page_for_modification(index)
        page = page_ref.get_object()
        contents = page.get("/Contents")
        refs = []
        if isinstance(contents, generic.IndirectObject):
            target = contents.get_object()  # type: ignore[no-untyped-call]
            refs = list(target) if isinstance(target, generic.ArrayObject) else [contents]
        elif isinstance(contents, generic.ArrayObject):
            refs = list(contents)
        for ref in refs:
            if isinstance(ref, generic.IndirectObject):
                clean(ref)
        forms(page.get("/Resources"))
    if not hidden:
        return None, 0
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), hidden
