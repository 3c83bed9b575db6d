"""Hostile files built in the tests (issue 9, bounded work): PDFs and OFD packages small on disk
that cost a naive verifier minutes and gigabytes. Built here from the bytes up, so the fixture
does not depend on the code it attacks."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

#: Ways to write an object stream's dictionary that a naive scan misreads (review of issue 9):
#: a key holding "obj" after the type, the type's name escaped (ISO 32000-1 §7.3.5), a fake
#: "N G obj" token in a string, a fake "stream" keyword in a string before the type.
DISGUISES = {
    "plain": (b"", b"/Type /ObjStm", b""),
    "key": (b"", b"/Type /ObjStm", b" /Xobj 1"),
    "escape": (b"", b"/Type /Obj#53tm", b""),
    "obj token": (b"", b"/Type /ObjStm", b" /X (1 0 obj)"),
    "stream keyword": (b" /X (a stream\n)", b"/Type /ObjStm", b""),
}


def pdf_with_field_children(
    sealed: bytes, children: int, *, nested: bool = True, disguise: str = "plain"
) -> bytes:
    """``sealed`` with an incremental update (ISO 32000-1 §7.5.6) that gives its signature field
    ``children`` children, all in one compressed object stream (§7.5.7) indexed by a
    cross-reference stream (§7.5.8). With ``nested`` every child lists every child again as its
    own ``/Kids`` (a quadratic tree that compresses to a few kilobytes). ``disguise`` (a key of
    :data:`DISGUISES`) writes the object stream's dictionary so that a naive scan misses it."""
    before, type_, after = DISGUISES[disguise]
    size = int(re.findall(rb"/Size\s+(\d+)", sealed)[-1])
    startxref = int(re.findall(rb"startxref\s+(\d+)", sealed)[-1])
    field = re.search(rb"(\d+) 0 obj\s*<<(?:(?!endobj).)*?/FT\s*/Sig", sealed, re.S)
    assert field is not None, "no signature field found"
    field_number = int(field.group(1))
    root = re.findall(rb"/Root\s+(\d+ \d+ R)", sealed)[-1]
    first = size
    kids = b"[" + b" ".join(b"%d 0 R" % (first + i) for i in range(children)) + b"]"
    bodies = [
        b"<< /Parent %d 0 R /T (k%d)%s >>" % (field_number, i, b" /Kids " + kids if nested else b"")
        for i in range(children)
    ]
    offsets, position = [], 0
    for body in bodies:
        offsets.append(position)
        position += len(body) + 1
    index = b" ".join(b"%d %d" % (first + i, off) for i, off in enumerate(offsets)) + b"\n"
    contents = index + b"\n".join(bodies) + b"\n"
    packed = zlib.compress(contents, 9)
    out = io.BytesIO()
    out.write(sealed)
    if not sealed.endswith(b"\n"):
        out.write(b"\n")
    # the signature field again, now with the children
    original = re.search(rb"%d 0 obj\s*<<(.*?)>>\s*endobj" % field_number, sealed, re.S)
    assert original is not None
    field_at = out.tell()
    out.write(b"%d 0 obj\n<<%s /Kids %s>>\nendobj\n" % (field_number, original.group(1), kids))
    stream_number = first + children
    stream_at = out.tell()
    out.write(
        b"%d 0 obj\n<<%s %s /N %d /First %d /Filter /FlateDecode /Length %d%s >>\nstream\n"
        % (stream_number, before, type_, children, len(index), len(packed), after)
    )
    out.write(packed + b"\nendstream\nendobj\n")
    xref_number = stream_number + 1
    xref_at = out.tell()
    rows = [(field_number, 1, field_at, 0), (stream_number, 1, stream_at, 0)]
    rows += [(first + i, 2, stream_number, i) for i in range(children)]
    rows.append((xref_number, 1, xref_at, 0))
    rows.sort()
    table = b"".join(
        bytes([kind]) + value.to_bytes(4, "big") + extra.to_bytes(2, "big")
        for _, kind, value, extra in rows
    )
    index_pairs = b" ".join(b"%d 1" % number for number, *_ in rows)
    out.write(
        b"%d 0 obj\n<< /Type /XRef /Size %d /Root %s /Prev %d /W [1 4 2] /Index [%s] "
        b"/Length %d >>\nstream\n"
        % (xref_number, xref_number + 1, root, startxref, index_pairs, len(table))
    )
    out.write(table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def ofd_with_elements(sealed: bytes, elements: int, *, name: str = "Doc_0/Document.xml") -> bytes:
    """``sealed`` (an OFD package) with the XML file ``name`` replaced by one holding
    ``elements`` empty elements (highly compressible: a few hundred kilobytes on disk)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sealed)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == name:
                body = (
                    b'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016">'
                    + b"<a/>" * elements
                    + b"</ofd:Document>"
                )
            target.writestr(
                info.filename, body, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9
            )
    return out.getvalue()


def pdf_with_revisions(sealed: bytes, updates: int) -> bytes:
    """``sealed`` followed by ``updates`` incremental updates (ISO 32000-1 §7.5.6) of one small
    object each (a new /Info): a few dozen bytes per revision, but a reader's change analysis
    walks every one."""
    out = bytearray(sealed if sealed.endswith(b"\n") else sealed + b"\n")
    prev = int(re.findall(rb"startxref\s+(\d+)", sealed)[-1])
    root = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", sealed)[-1]
    number = max(int(n) for n in re.findall(rb"/Size\s+(\d+)", sealed))
    for i in range(updates):
        at = len(out)
        out += b"%d 0 obj\n<< /Title (revision %d) >>\nendobj\n" % (number, i)
        xref = len(out)
        out += (
            b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \ntrailer\n"
            b"<< /Size %d /Root %s /Info %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (number, at, number + 1, root, number, prev, xref)
        )
        prev = xref
    return bytes(out)
