"""bdcert.bounds: each bound is hit by a file just over it, and a file just under it passes."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest

from bdcert import bounds


def _pdf(body: bytes) -> bytes:
    return b"%PDF-1.7\n" + body + b"\ntrailer\n<< /Size 3 >>\n%%EOF\n"


def _objstm(n: int, *, filter_: bytes = b"/FlateDecode") -> bytes:
    contents = b" ".join(b"%d 0" % i for i in range(n)) + b"\n" + b"<< >>\n" * n
    packed = zlib.compress(contents) if b"Fl" in filter_ else contents.hex().encode()
    return (
        b"7 0 obj\n<< /Type /ObjStm /N %d /First 1 /Filter %s /Length %d >>\nstream\n"
        % (n, filter_, len(packed))
        + packed
        + b"\nendstream\nendobj\n"
    )


def test_nesting_of_pdf_arrays_is_bounded() -> None:
    deep = bounds.MAX_NESTING
    bounds.check_pdf(_pdf(b"1 0 obj\n" + b"[" * deep + b"]" * deep + b"\nendobj"))
    with pytest.raises(bounds.TooComplex, match="deep") as caught:
        bounds.check_pdf(_pdf(b"1 0 obj\n" + b"[" * (deep + 1) + b"]" * (deep + 1) + b"\nendobj"))
    assert caught.value.bound == "PDF nesting"


def test_object_stream_work_is_bounded() -> None:
    bounds.check_pdf(_pdf(_objstm(500)))
    with pytest.raises(bounds.TooComplex) as caught:
        bounds.check_pdf(_pdf(_objstm(501)))
    assert caught.value.bound == "PDF object streams"


def test_an_object_stream_in_another_filter_is_refused() -> None:
    with pytest.raises(bounds.TooComplex, match="ASCIIHexDecode"):
        bounds.check_pdf(_pdf(_objstm(3, filter_=b"/ASCIIHexDecode")))


def test_objects_references_and_declared_size_are_bounded() -> None:
    refs = b"1 0 obj\n[" + b"2 0 R " * (bounds.MAX_PDF_REFERENCES + 1) + b"]\nendobj"
    with pytest.raises(bounds.TooComplex) as caught:
        bounds.check_pdf(_pdf(refs))
    assert caught.value.bound == "PDF references"
    objects = b"".join(b"%d 0 obj\nnull\nendobj\n" % i for i in range(bounds.MAX_PDF_OBJECTS + 1))
    with pytest.raises(bounds.TooComplex) as caught:
        bounds.check_pdf(_pdf(objects))
    assert caught.value.bound == "PDF objects"
    with pytest.raises(bounds.TooComplex, match="declares"):
        bounds.check_pdf(b"%PDF-1.7\ntrailer\n<< /Size 99999999 >>\n")


def test_an_embedded_files_size_is_not_a_declared_object_count() -> None:
    """An embedded file's ``/Params << /Size N >>`` is its length in bytes (a sealed conformance
    manifest or status snapshot of more than 5,000 bytes was refused as too complex)."""
    big = bounds.MAX_PDF_OBJECTS * 3
    spec = (
        b"1 0 obj\n<< /Type /EmbeddedFile /Params << /Size %d /ModDate (D:2026) >> >>\nendobj" % big
    )
    bounds.check_pdf(_pdf(spec))
    with pytest.raises(bounds.TooComplex, match="declares"):  # a trailer's still counts
        bounds.check_pdf(_pdf(spec) + b"trailer\n<< /Size %d /Params << /Size 1 >> >>\n" % big)


def test_the_pdf_file_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounds, "MAX_PDF_BYTES", 100)
    with pytest.raises(bounds.TooComplex, match="larger than 100 bytes"):
        bounds.check_pdf(b"%PDF-1.7\n" + b" " * 100)


def test_xml_elements_nesting_and_dtds_are_bounded() -> None:
    many = b"<r>" + b"<a/>" * (bounds.MAX_XML_ELEMENTS - 1) + b"</r>"
    bounds.check_xml(many, "ok.xml")
    with pytest.raises(bounds.TooComplex, match=r"big\.xml holds more than"):
        bounds.check_xml(many.replace(b"</r>", b"<a/></r>"), "big.xml")
    deep = bounds.MAX_NESTING
    bounds.check_xml(b"<a>" * deep + b"</a>" * deep, "ok.xml")
    with pytest.raises(bounds.TooComplex, match="deep"):
        bounds.check_xml(b"<a>" * (deep + 1) + b"</a>" * (deep + 1), "deep.xml")
    bomb = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><r>&a;</r>'
    with pytest.raises(bounds.TooComplex, match="DTD"):
        bounds.check_xml(bomb, "bomb.xml")


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return out.getvalue()


def test_zip_entries_and_ratio_are_bounded() -> None:
    bounds.check_zip(_zip({f"f{i}": b"" for i in range(bounds.MAX_ZIP_ENTRIES)}))
    with pytest.raises(bounds.TooComplex, match="entries"):
        bounds.check_zip(_zip({f"f{i}": b"" for i in range(bounds.MAX_ZIP_ENTRIES + 1)}))
    bounds.check_zip(_zip({"small": b"\0" * bounds.RATIO_FREE_BYTES}))  # any ratio when small
    with pytest.raises(bounds.TooComplex, match="inflates"):
        bounds.check_zip(_zip({"bomb": b"\0" * (bounds.RATIO_FREE_BYTES + 1)}))
    bounds.check_zip(b"not a zip")  # the package reader reports it


def test_form_fields_are_bounded() -> None:
    fields = b"".join(b"<< /T (f%d) /FT /Sig >>\n" % i for i in range(bounds.MAX_PDF_FIELDS))
    bounds.check_pdf(_pdf(b"1 0 obj\n[" + fields + b"]\nendobj"))
    more = fields + b"<< /T <6600> /FT /Sig >>\n"
    with pytest.raises(bounds.TooComplex) as caught:
        bounds.check_pdf(_pdf(b"1 0 obj\n[" + more + b"]\nendobj"))
    assert caught.value.bound == "PDF form fields"


@pytest.mark.parametrize(
    "dictionary",
    [
        b"<< /Type /ObjStm /N 600 /First 1 /Filter /FlateDecode /Length 9 /Xobj 1 >>",  # review
        b"<< /Type /Obj#53tm /N 600 /First 1 /Filter /FlateDecode /Length 9 >>",
        b"<< /Type /ObjStm /N 600 /First 1 /Filter /FlateDecode /X (1 0 obj) >>",
        b"<< /Type 9 0 R /N 600 /First 1 /Filter /FlateDecode >>",
        b"<< /Type /ObjStm /N 1 /First 1 /Filter /FlateDecode >>",  # the index holds 600
    ],
)
def test_an_object_stream_is_found_however_its_dictionary_is_written(dictionary: bytes) -> None:
    """Review: the dictionary was read from the last "obj" before the stream, so /Xobj 1 after
    /Type /ObjStm hid the stream (its objects, N² index cost, references and fields)."""
    contents = b" ".join(b"%d 0" % i for i in range(600)) + b"\n" + b"<< >>\n" * 600
    data = _pdf(
        b"7 0 obj\n" + dictionary + b"\nstream\n" + zlib.compress(contents) + b"\nendstream\nendobj"
    )
    with pytest.raises(bounds.TooComplex) as caught:
        bounds.check_pdf(data)
    assert caught.value.bound == "PDF object streams"


def test_an_object_stream_named_inside_another_streams_data_is_refused() -> None:
    stream = _objstm(3).replace(b"<< /Type", b"<< /X (a stream\n) /Type")
    with pytest.raises(bounds.TooComplex, match="inside another stream"):
        bounds.check_pdf(_pdf(stream))


@pytest.mark.parametrize(
    ("filter_", "message"),
    [
        (b"/FlateDecode /DecodeParms << /Predictor 12 >>", "decode parameters"),
        (b"9 0 R", "not given directly"),
        (b"[/FlateDecode /A85]", "A85"),
    ],
)
def test_an_object_stream_that_cannot_be_bounded_is_refused(filter_: bytes, message: str) -> None:
    with pytest.raises(bounds.TooComplex, match=message):
        bounds.check_pdf(_pdf(_objstm(3, filter_=filter_)))


def test_escaped_names_count_as_their_decoded_names() -> None:
    fields = b"".join(b"<< /#54 (f%d) >>\n" % i for i in range(bounds.MAX_PDF_FIELDS + 1))
    with pytest.raises(bounds.TooComplex) as caught:
        bounds.check_pdf(_pdf(b"1 0 obj\n[" + fields + b"]\nendobj"))
    assert caught.value.bound == "PDF form fields"
    with pytest.raises(bounds.TooComplex, match="declares"):
        bounds.check_pdf(b"%PDF-1.7\ntrailer\n<< /S#69ze 99999999 >>\n")


def _revision(prev: int, *, key: bytes = b"/Prev", startxref: bool = True) -> bytes:
    end = b"startxref\n0\n%%EOF\n" if startxref else b""
    return b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 %s %d >>\n%s" % (key, prev, end)


def test_revisions_are_bounded() -> None:
    """Review: 2,500 one-object incremental updates took 84 s (pyHanko walks every revision)."""
    most = bounds.MAX_PDF_REVISIONS
    bounds.check_pdf(b"%PDF-1.7\n" + b"".join(_revision(i) for i in range(most - 1)))
    too_many = [
        b"".join(_revision(i) for i in range(most + 1)),
        # one startxref, the chain in /Prev links (escaped too)
        b"".join(_revision(i, key=b"/Pr#65v", startxref=False) for i in range(most)),
    ]
    for body in too_many:
        with pytest.raises(bounds.TooComplex, match=f"at most {most}") as caught:
            bounds.check_pdf(b"%PDF-1.7\n" + body + b"startxref\n0\n%%EOF\n")
        assert caught.value.bound == "PDF revisions"
