"""The documents plan's content-stream lexer: which text-showing operators draw invisible text
(ISO 32000-2 §9.3.6), without a PDF around them."""

from __future__ import annotations

import pytest

from bdcert_conformance.plans.documents_visible import hide_invisible_text


@pytest.mark.parametrize(
    ("stream", "hidden", "kept"),
    [
        (b"BT /F1 12 Tf (shown) Tj ET", 0, b"(shown)"),
        (b"BT 3 Tr (ocr) Tj ET", 1, b"()"),
        (b"BT 7 Tr [(clip) -20 (only)] TJ ET", 1, b"[]"),
        (b"1 g BT (white) Tj ET", 1, b"()"),
        (b"1 1 1 rg BT (white) ' ET 0 g BT (black) Tj ET", 1, b"(black)"),
        (b'0 0 0 0 k BT 1 2 (white) " ET', 1, b"1 2 ()"),
        (b"q 3 Tr Q BT (after Q) Tj ET", 0, b"(after Q)"),
        (b"BT 3 Tr (a \\) b (nested) c) Tj 0 Tr (seen) Tj ET", 1, b"() Tj 0 Tr (seen)"),
        (b"BI /W 1 /H 1 ID \x00 3 Tr EI BT (img) Tj ET", 0, b"(img)"),
        (b"% 3 Tr\nBT <0041> Tj ET", 0, b"<0041>"),
        (b"BT 3 Tr <0041> Tj ET", 1, b"() Tj"),
    ],
)
def test_invisible_text_is_emptied(stream: bytes, hidden: int, kept: bytes) -> None:
    out, count = hide_invisible_text(stream)
    assert count == hidden
    assert kept in out
