"""Bounds on the work a hostile file can cause before any signature is checked (issue 9).

A sealed certificate is small and simple: a bdcert PDF is about 70 kB with a few dozen objects,
an OFD package a dozen files whose XML holds a few hundred elements. A verifier that parses
whatever it is given can be made to work for minutes and gigabytes by a file of a few dozen
kilobytes (a signature field with thousands of children in an object stream; an OFD whose
140 kB ZIP inflates to millions of XML elements). These checks are cheap (one pass over the
bytes, stopping at the first bound hit) and independent of the parsers they protect (pyHanko,
:mod:`zipfile`, :mod:`xml.etree`); a bound hit is :class:`TooComplex`, reported by the verifier
as the verdict ``TOO_COMPLEX`` with the bound named.

The bounds (module constants, all far above what bdcert writes, including large 附图):

- PDF (ISO 32000-1 §7.3, §7.5): :data:`MAX_PDF_BYTES` of file, :data:`MAX_PDF_OBJECTS`
  indirect objects (counted in the body and in object streams' ``/N``, and a cross-reference
  ``/Size``), :data:`MAX_OBJECT_STREAM_BYTES` of inflated object streams (§7.5.7),
  :data:`MAX_OBJECT_STREAM_WORK` for the objects' index lookups (a reader such as pyHanko
  reads an object stream's whole index for each object it takes from it: ``N²`` for ``N``
  objects — 3,000 children of a signature field in one stream cost 24 s),
  :data:`MAX_PDF_REFERENCES` indirect references (every form field's ``/Kids`` entry is one),
  :data:`MAX_PDF_FIELDS` named form fields,
  :data:`MAX_NESTING` of nested arrays and dictionaries, :data:`MAX_PDF_REVISIONS` revisions
  (incremental updates, §7.5.6: a reader's change analysis walks every one). Names are read with
  their ``#xx`` escapes decoded (§7.3.5: ``/Obj#53tm`` is ``/ObjStm``).
- OFD (GB/T 33190-2016 §7, a ZIP package): :data:`MAX_ZIP_ENTRIES` entries, an entry over
  :data:`RATIO_FREE_BYTES` inflating at most :data:`MAX_ZIP_RATIO` times its stored size.
- XML (every file of an OFD package): :data:`MAX_XML_ELEMENTS` elements, :data:`MAX_NESTING`
  deep, no DTD (so no entity expansion); counted while parsing, stopping at the bound.

Pushed registration entries are bounded the same way before any field is read
(:func:`entry_problems`: strings, lists, nesting, total characters and bytes), so that one entry
inside every per-field limit cannot make rendering and sealing take minutes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_ENTRY_CHARACTERS",
    "MAX_NAME",
    "MAX_NESTING",
    "MAX_OBJECT_STREAM_BYTES",
    "MAX_OBJECT_STREAM_WORK",
    "MAX_PARTIES",
    "MAX_PDF_BYTES",
    "MAX_PDF_FIELDS",
    "MAX_PDF_OBJECTS",
    "MAX_PDF_REFERENCES",
    "MAX_PDF_REVISIONS",
    "MAX_TEXT",
    "MAX_XML_ELEMENTS",
    "MAX_ZIP_ENTRIES",
    "MAX_ZIP_RATIO",
    "RATIO_FREE_BYTES",
    "TooComplex",
    "check_pdf",
    "check_xml",
    "check_zip",
    "entry_problems",
]

#: Largest PDF verified at all, bytes (a certificate with large 附图 stays far below).
MAX_PDF_BYTES = 64 * 1024 * 1024
#: Most indirect objects in a PDF (a bdcert certificate has about 30).
MAX_PDF_OBJECTS = 5_000
#: Most indirect references (``n g R``) outside content streams (a certificate has about 40).
MAX_PDF_REFERENCES = 20_000
#: Most named form fields (``/T``; a certificate has one, its signature field): each filled
#: signature field costs the reader a CMS parse (15,000 took 5.5 s).
MAX_PDF_FIELDS = 200
#: Most revisions (the original file and its incremental updates, ISO 32000-1 §7.5.6). A sealed
#: B-LTA certificate has 3 (content, seal, document timestamp) and each archive-timestamp renewal
#: adds one: 32 leaves 29 renewals, six decades at one every two years. pyHanko's change analysis
#: walks every revision: 1,000 one-object updates took 12 s, 2,500 took 84 s and 167 MB; a
#: genuine file renewed to 32 revisions verifies in 2.4 s, to 64 in 9.2 s (every timestamp).
MAX_PDF_REVISIONS = 32
#: Most bytes all object streams of a PDF inflate to.
MAX_OBJECT_STREAM_BYTES = 16 * 1024 * 1024
#: Most index entries read for the objects of all object streams: the sum of ``N²`` over the
#: streams (``N`` = their ``/N``); 250,000 is one stream of 500 objects, about a second.
MAX_OBJECT_STREAM_WORK = 250_000
#: Deepest nesting of PDF arrays/dictionaries, and of XML elements.
MAX_NESTING = 64
#: Most entries in an OFD package (a certificate has about 13).
MAX_ZIP_ENTRIES = 1_000
#: Largest ratio of inflated to stored size for an entry over :data:`RATIO_FREE_BYTES`.
MAX_ZIP_RATIO = 100
#: Entries up to this many inflated bytes may have any compression ratio.
RATIO_FREE_BYTES = 1024 * 1024
#: Most elements in one XML file of an OFD package (a certificate's page has about 150).
MAX_XML_ELEMENTS = 100_000

_OBJ = re.compile(rb"\d{1,10}\s+\d{1,5}\s+obj\b")
_REF = re.compile(rb"\d{1,10}\s+\d{1,5}\s+R\b")
_FIELD_NAME = re.compile(rb"/T\s*[(<]")
_STREAM = re.compile(rb"\bstream\r?\n")
_SIZE = re.compile(rb"/Size\s+(\d{1,20})")
# an embedded file's parameters (ISO 32000-1 §7.11.4.2, Table 46): its /Size is the file's bytes
_FILE_PARAMS = re.compile(rb"/Params\s*<<(?:[^<>]|<(?!<)|>(?!>))*>>")
_NEST = re.compile(rb"<<|>>|\[|\]")
_END = rb"(?![^\s/<>\[\](){}%])"  # the end of a name (ISO 32000-1 §7.3.5)
# a stream that may be an object stream: names /ObjStm anywhere before it, or has an indirect /Type
_OBJSTM = re.compile(rb"/ObjStm" + _END + rb"|/Type\s*\d+\s+\d+\s+R")
_N = re.compile(rb"/N\s*(\d{1,20})(?!\d)(?!\s+\d+\s+R)")
_N_INDIRECT = re.compile(rb"/N\s*\d+\s+\d+\s+R")
_FILTER = re.compile(rb"/Filter" + _END + rb"\s*(\[[^\]]*\]|/[^\s/<>\[\](){}%]*)?")
_FILTER_NAME = re.compile(rb"/([^\s/<>\[\](){}%]*)")
_STREAM_FILTERS = frozenset(
    b"ASCIIHexDecode ASCII85Decode LZWDecode FlateDecode RunLengthDecode CCITTFaxDecode "
    b"JBIG2Decode DCTDecode JPXDecode Crypt AHx A85 LZW Fl RL CCF DCT".split()
)
_DECODE_PARMS = re.compile(rb"/(?:DecodeParms|DP)" + _END)
_PAIR = re.compile(rb"\s*\d{1,10}\s+\d{1,20}(?!\d)")
_ESCAPED_NAME = re.compile(rb"/[^\s/<>\[\](){}%]*#[^\s/<>\[\](){}%]*")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_NOT_IN_NAME = frozenset(b" \t\r\n\f\x00/<>[](){}%")
_STARTXREF = re.compile(rb"startxref")
_XREF_TABLE = re.compile(rb"(?<![A-Za-z])xref\s")
_XREF_STREAM = re.compile(rb"/XRef" + _END)
_PREV = re.compile(rb"/Prev" + _END)


class TooComplex(ValueError):
    """A file exceeds a bound on the work verifying it may cost.

    :ivar bound: the bound's name (``"PDF objects"``, ``"XML elements"``, …); ``str()`` is a
        sentence naming the bound, its limit and where it was hit.
    """

    def __init__(self, bound: str, detail: str) -> None:
        super().__init__(detail)
        self.bound = bound


# --------------------------------------------------------------------------- PDF


def check_pdf(data: bytes) -> None:
    """Bound a PDF before any PDF parser sees it (ISO 32000-1 §7.3 objects, §7.5.6 revisions,
    §7.5.7 object streams), in one pass over the bytes outside streams plus the inflated object
    streams.

    A stream is taken for an object stream when anything between the previous stream and it
    names ``/ObjStm`` (escapes decoded) or gives ``/Type`` indirectly: the dictionary is not
    parsed, so a key, string or fake ``obj`` token inside it cannot hide the type. Its objects
    are counted as the larger of its direct ``/N`` and the pairs of its index.

    :param data: the file's bytes (anything: this never parses beyond the bounds).
    :raises TooComplex: over :data:`MAX_PDF_BYTES`, :data:`MAX_PDF_REVISIONS`,
        :data:`MAX_PDF_OBJECTS`, :data:`MAX_OBJECT_STREAM_BYTES`, :data:`MAX_OBJECT_STREAM_WORK`,
        :data:`MAX_PDF_REFERENCES`, :data:`MAX_PDF_FIELDS` or :data:`MAX_NESTING`; or an
        object stream whose contents cannot be bounded without decoding it (a filter other
        than FlateDecode, decode parameters, an indirect ``/N``, or ``/ObjStm`` named inside
        another stream's data, where this scan cannot tell its dictionary).
    """
    if len(data) > MAX_PDF_BYTES:
        raise TooComplex("PDF size", f"the file is larger than {MAX_PDF_BYTES} bytes")
    names = _decode_names(data)
    _check_revisions(names)
    objects = 0
    references = 0
    fields = 0
    inflated_left = MAX_OBJECT_STREAM_BYTES
    stream_work = 0
    object_stream_names = 0
    position = 0
    while position <= len(data):
        match = _STREAM.search(data, position)
        end = match.start() if match else len(data)
        outside = _decode_names(data[position:end])
        _check_size(outside)
        objects += len(_OBJ.findall(outside))
        references += len(_REF.findall(outside))
        fields += len(_FIELD_NAME.findall(outside))
        _check_nesting(outside, "the PDF's objects")
        if match is None:
            break
        stream_end = data.find(b"endstream", match.end())
        stream_end = len(data) if stream_end < 0 else stream_end
        # the stream's dictionary is somewhere in ``outside``: all of it is read as such
        marks = len(_OBJSTM.findall(outside))
        if marks:
            object_stream_names += marks
            inflated = _inflate(outside, data[match.end() : stream_end], inflated_left)
            inflated_left -= len(inflated)
            in_stream = max([_index_pairs(inflated)] + [int(n) for n in _N.findall(outside)])
            objects += in_stream
            stream_work += in_stream * in_stream
            if stream_work > MAX_OBJECT_STREAM_WORK:
                raise TooComplex(
                    "PDF object streams",
                    f"an object stream holds {in_stream} objects: reading them costs more than "
                    f"{MAX_OBJECT_STREAM_WORK} index lookups (the sum of N² over the streams)",
                )
            inflated = _decode_names(inflated)
            references += len(_REF.findall(inflated))
            fields += len(_FIELD_NAME.findall(inflated))
            _check_nesting(inflated, "an object stream")
        position = stream_end + len(b"endstream")
        _check_counts(objects, references, fields)
    _check_counts(objects, references, fields)
    if len(_OBJSTM.findall(names)) > object_stream_names:
        raise TooComplex(
            "PDF object streams",
            "an object stream is named inside another stream's data: its dictionary and "
            "contents cannot be told apart without parsing the file",
        )


def _decode_names(text: bytes) -> bytes:
    """``text`` with the ``#xx`` escapes of its names decoded (ISO 32000-1 §7.3.5), as a reader
    sees them; an escaped delimiter or white-space becomes ``_`` (it stays inside the name)."""
    if b"#" not in text:
        return text

    def decode(name: re.Match[bytes]) -> bytes:
        raw = _HEX_ESCAPE.sub(lambda h: bytes([int(h.group(1), 16)]), name.group()[1:])
        return b"/" + bytes(0x5F if c in _NOT_IN_NAME else c for c in raw)

    return _ESCAPED_NAME.sub(decode, text)


def _check_size(outside: bytes) -> None:
    """No cross-reference section declares more than :data:`MAX_PDF_OBJECTS` objects (an
    embedded file's ``/Params /Size``, its length in bytes, is not one)."""
    for value in _SIZE.findall(_FILE_PARAMS.sub(b"", outside)):
        if int(value) > MAX_PDF_OBJECTS + 1:
            raise TooComplex(
                "PDF objects",
                f"a cross-reference table declares {int(value)} objects "
                f"(at most {MAX_PDF_OBJECTS} are verified)",
            )


def _check_revisions(names: bytes) -> None:
    """At most :data:`MAX_PDF_REVISIONS` revisions: counted as ``startxref`` keywords,
    cross-reference sections (tables and streams) and ``/Prev`` links plus one, the most of
    the three (a reader follows the ``/Prev`` chain from the last ``startxref``)."""
    revisions = max(
        len(_STARTXREF.findall(names)),
        len(_XREF_TABLE.findall(names)) + len(_XREF_STREAM.findall(names)),
        len(_PREV.findall(names)) + 1,
    )
    if revisions > MAX_PDF_REVISIONS:
        raise TooComplex(
            "PDF revisions",
            f"the file has {revisions} revisions (incremental updates); at most "
            f"{MAX_PDF_REVISIONS} are verified (a sealed certificate has 3, and one more per "
            "archive-timestamp renewal)",
        )


def _index_pairs(inflated: bytes) -> int:
    """The number pairs that open an object stream's index (at most one over the object bound)."""
    pairs = 0
    position = 0
    while pairs <= MAX_PDF_OBJECTS:
        pair = _PAIR.match(inflated, position)
        if pair is None:
            break
        pairs += 1
        position = pair.end()
    return pairs


def _check_counts(objects: int, references: int, fields: int) -> None:
    if fields > MAX_PDF_FIELDS:
        raise TooComplex(
            "PDF form fields",
            f"the file names more than {MAX_PDF_FIELDS} form fields ({fields}; a certificate "
            "has one, its signature field)",
        )
    if objects > MAX_PDF_OBJECTS:
        raise TooComplex(
            "PDF objects", f"the file holds more than {MAX_PDF_OBJECTS} objects ({objects})"
        )
    if references > MAX_PDF_REFERENCES:
        raise TooComplex(
            "PDF references",
            f"the file holds more than {MAX_PDF_REFERENCES} object references ({references}; "
            "e.g. a form field with that many children)",
        )


def _inflate(header: bytes, body: bytes, left: int) -> bytes:
    """An object stream's contents, at most ``left`` bytes (else :class:`TooComplex`).

    ``header`` holds the stream's dictionary (and maybe more before it): every stream filter it
    names must be FlateDecode, given directly, without decode parameters, and ``/N`` direct.
    """
    filters: list[bytes] = []
    for found in _FILTER.finditer(header):
        given = found.group(1)
        if given is None:  # an indirect or missing value: cannot be told without parsing
            raise TooComplex(
                "PDF object stream filter", "an object stream's /Filter is not given directly"
            )
        filters += [f for f in _FILTER_NAME.findall(given) if f in _STREAM_FILTERS]
    refused = [f for f in filters if f != b"FlateDecode"]
    if refused:
        raise TooComplex(
            "PDF object stream filter",
            f"an object stream is encoded with {refused[0].decode('latin-1')!r}, not FlateDecode",
        )
    if _DECODE_PARMS.search(header) or _N_INDIRECT.search(header):
        raise TooComplex(
            "PDF object stream filter",
            "an object stream has decode parameters or an indirect /N: its contents cannot be "
            "bounded without parsing the file",
        )
    if not filters:
        out = body
    else:
        try:
            out = zlib.decompressobj().decompress(body, max(left, 0) + 1)
        except zlib.error:
            out = b""  # damaged: the PDF parser says so; nothing to bound
    if len(out) > left:
        raise TooComplex(
            "PDF object streams",
            f"the object streams inflate to more than {MAX_OBJECT_STREAM_BYTES} bytes",
        )
    return out


def _check_nesting(text: bytes, where: str) -> None:
    depth = 0
    for token in _NEST.finditer(text):
        if token.group() in (b"<<", b"["):
            depth += 1
            if depth > MAX_NESTING:
                raise TooComplex(
                    "PDF nesting",
                    f"{where} nest arrays or dictionaries more than {MAX_NESTING} deep",
                )
        elif depth:
            depth -= 1


# --------------------------------------------------------------------------- OFD


def check_zip(data: bytes) -> None:
    """Bound an OFD package's ZIP directory (GB/T 33190-2016 §7.2) before anything is inflated.

    The sizes are the declared ones; :func:`bdcert.gm.ofd_package.read_package` never inflates
    an entry past its declared size and caps the total.

    :raises TooComplex: more than :data:`MAX_ZIP_ENTRIES` entries, or an entry over
        :data:`RATIO_FREE_BYTES` inflating more than :data:`MAX_ZIP_RATIO` times.
        A file that is not a readable ZIP passes (the package reader says what is wrong).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except Exception:  # not a ZIP, damaged: the package reader reports it
        return
    if len(infos) > MAX_ZIP_ENTRIES:
        raise TooComplex(
            "ZIP entries", f"the package holds {len(infos)} entries (at most {MAX_ZIP_ENTRIES})"
        )
    for info in infos:
        if info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_ZIP_RATIO * max(
            info.compress_size, 1
        ):
            raise TooComplex(
                "ZIP compression ratio",
                f"{info.filename!r} inflates {info.compress_size} bytes to {info.file_size} "
                f"(more than {MAX_ZIP_RATIO} times)",
            )


def check_xml(data: bytes, name: str, *, error: type[TooComplex] = TooComplex) -> None:
    """Count the elements and nesting of an XML file while parsing it, stopping at the bound.

    Called on every XML file of an OFD package before it is parsed into a tree.

    :param name: the file's name in the package, for the message.
    :param error: the :class:`TooComplex` subclass to raise (a package reader's own error).
    :raises TooComplex: more than :data:`MAX_XML_ELEMENTS` elements or :data:`MAX_NESTING`
        deep, or a DTD (entity declarations expand without bound). XML that does not parse
        passes (the caller's parser says what is wrong).
    """
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise error("XML entities", f"{name} declares a DTD or entities")
    parser = ET.XMLPullParser(events=("start", "end"))  # type: ignore[var-annotated]
    elements = 0
    depth = 0
    chunk = 64 * 1024
    try:
        for offset in range(0, len(data), chunk):
            parser.feed(data[offset : offset + chunk])
            for item in parser.read_events():
                if item[0] == "end":
                    depth -= 1
                    continue
                elements += 1
                depth += 1
                if elements > MAX_XML_ELEMENTS:
                    raise error(
                        "XML elements", f"{name} holds more than {MAX_XML_ELEMENTS} elements"
                    )
                if depth > MAX_NESTING:
                    raise error(
                        "XML nesting", f"{name} nests elements more than {MAX_NESTING} deep"
                    )
    except ET.ParseError:
        return


# --------------------------------------------------------------------------- entries

#: Characters in any one string of a registration entry.
MAX_TEXT = 10_000
#: Items in any one list of an entry (holders, obligors, units, prior certificates).
MAX_PARTIES = 1_000
#: Characters in all of an entry's strings (keys included), its 附图 (``ft``) aside: 1,000 joint
#: holders with ordinary names and ID numbers need about 30,000 (issue 9: 1,000 holders with
#: 10,000-character names, within every other limit, took 7 minutes and 1.5 GiB to render).
MAX_ENTRY_CHARACTERS = 100_000
#: UTF-8 bytes of a whole entry as JSON, its 附图 included.
MAX_ENTRY_BYTES = 16 * 1024 * 1024
#: Characters in one party's name (``mc``); checked by :func:`bdcert.validation.parse_entry`.
MAX_NAME = 200
_ENTRY_DEPTH = 4  # entry → list → party → value


def entry_problems(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything in a raw registration entry (a decoded JSON object)
    that is too large or cannot be stored, before any field is interpreted: strings over
    :data:`MAX_TEXT` characters or with unpaired surrogates, non-text keys, nesting deeper than
    the entry shape, lists over :data:`MAX_PARTIES` items, more than
    :data:`MAX_ENTRY_CHARACTERS` characters in all (naming the largest fields) or more than
    :data:`MAX_ENTRY_BYTES` bytes as JSON. Empty when none; the work is bounded by the input's
    size (each value visited once, the JSON size measured only once the rest passed).
    """
    problems: list[tuple[str, str]] = []
    characters = _scan(raw, "", 0, problems)
    if characters > MAX_ENTRY_CHARACTERS:
        problems.append(
            (
                "",
                f"the entry holds {characters} characters (附图 aside); at most "
                f"{MAX_ENTRY_CHARACTERS} are allowed (largest fields: {_largest(raw)})",
            )
        )
    if problems:
        return problems
    try:
        size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError):  # not JSON data: the field checks report it
        return problems
    if size > MAX_ENTRY_BYTES:
        problems.append(("", f"the entry is {size} bytes as JSON; at most {MAX_ENTRY_BYTES}"))
    return problems


def _scan(value: Any, path: str, depth: int, problems: list[tuple[str, str]]) -> int:
    """Check ``value`` at ``path``; the characters of its strings outside the 附图 (ft)."""
    if depth > _ENTRY_DEPTH:
        problems.append((path, "is nested deeper than a registration entry allows"))
        return 0
    if isinstance(value, str):
        if len(value) > MAX_TEXT and path != "ft.data":  # 附图 has its own bound (validation)
            problems.append((path, f"has {len(value)} characters; at most {MAX_TEXT} are allowed"))
        elif any("\ud800" <= ch <= "\udfff" for ch in value):
            problems.append((path, "contains an unpaired surrogate (not valid Unicode text)"))
        return 0 if path == "ft" or path.startswith("ft.") else len(value)
    count = 0
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((path, f"has a non-text key {key!r}"))
                continue
            where = f"{path}.{key}" if path else key
            count += _scan(key, where, depth + 1, problems)
            count += _scan(item, where, depth + 1, problems)
    elif isinstance(value, list):
        if len(value) > MAX_PARTIES:
            problems.append((path, f"lists {len(value)} items; at most {MAX_PARTIES} are allowed"))
            return 0
        for i, item in enumerate(value):
            count += _scan(item, f"{path}[{i}]", depth + 1, problems)
    return count


def _largest(raw: Mapping[str, Any]) -> str:
    """The three top-level fields with the most characters, for the too-large message."""

    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, Mapping):
            return sum(len(str(k)) + size(v) for k, v in value.items())
        if isinstance(value, list):
            return sum(size(v) for v in value)
        return 0

    sizes = sorted(((size(v), str(k)) for k, v in raw.items() if k != "ft"), reverse=True)
    return ", ".join(f"{key} {n}" for n, key in sizes[:3])
