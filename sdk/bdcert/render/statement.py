"""One-page A4 statements printed by the workspace (an audit-log checkpoint, a status
snapshot): a title, a note, labelled values, document metadata, optionally an embedded file.

The page is unsealed; its caller seals it. Importing this module loads fpdf2 and fontTools.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

from bdcert.errors import MissingGlyph
from bdcert.fonts import FontChain, FontConfig, glyph_source

__all__ = ["statement_pdf"]


def statement_pdf(
    fonts: FontConfig,
    title: str,
    note: str,
    lines: Sequence[tuple[str, str]],
    *,
    replace_missing: bool = False,
    pdf_title: str,
    subject: str,
    keywords: str,
    author: str,
    created: datetime,
    attachment: tuple[str, bytes, str, str] | None = None,
) -> bytes:
    """The one-page A4 PDF printing ``title`` (18 pt, centred), ``note`` (10 pt) and each
    ``(label, value)`` of ``lines`` (label 9 pt, value 11 pt), in ``fonts`` (subsets embedded).

    :param replace_missing: print "?" for a character no font draws (and one "?" more is
        assigned a font); False: :class:`~bdcert.errors.MissingGlyph` is raised.
    :param pdf_title: ``/Title``. :param subject: ``/Subject``. :param keywords: ``/Keywords``.
    :param author: ``/Author``. :param created: ``/CreationDate`` (aware).
    :param attachment: ``(file name, bytes, media type, description)`` of a file to embed
        (modified at ``created``), or None.
    :returns: the PDF's bytes (``/Creator`` bdcert, language zh-CN).
    """
    chain = FontChain(fonts)
    try:
        assignment = chain.assign(title + note + "".join(a + b for a, b in lines))
    except MissingGlyph as exc:
        if not replace_missing:
            raise
        lines = [(a, "".join("?" if c in exc.characters else c for c in b)) for a, b in lines]
        assignment = chain.assign(title + note + "".join(a + b for a, b in lines) + "?")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    with tempfile.TemporaryDirectory(prefix="bdcert-statement-") as tmp:
        fallbacks = []
        for position, codepoints in sorted(assignment.items()):
            path = Path(tmp) / f"f{position}.ttf"
            path.write_bytes(glyph_source(fonts.chain[position]).subset_font(codepoints))
            key = "cp" if position == 0 else f"cpfallback{position}"
            pdf.add_font(key, "", str(path))
            if position:
                fallbacks.append(key)
        pdf.set_fallback_fonts(fallbacks)
        pdf.add_page()
        pdf.set_font("cp", size=18)
        pdf.cell(0, 14, title, new_x="LMARGIN", new_y="NEXT", align="C")
        pdf.set_font("cp", size=10)
        pdf.multi_cell(0, 6, note, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        for label, value in lines:
            pdf.set_font("cp", size=9)
            pdf.cell(0, 5, label, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("cp", size=11)
            pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        if attachment is not None:
            basename, data, mime_type, desc = attachment
            pdf.embed_file(
                bytes=data,
                basename=basename,
                modification_date=created,
                mime_type=mime_type,
                desc=desc,
            )
        pdf.set_title(pdf_title)
        pdf.set_subject(subject)
        pdf.set_keywords(keywords)
        pdf.set_author(author)
        pdf.set_creator("bdcert")
        pdf.set_lang("zh-CN")
        pdf.set_creation_date(created)
        return bytes(pdf.output())
