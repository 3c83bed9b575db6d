"""The documents plan: do the certificates a city system made from its registration-book entries
carry what the provincial scheme requires?

**Options read** (:class:`~bdcert_conformance.kit.RunOptions`; ``bdcert conformance run --plan
documents``):

- ``entries`` (``--entries FILE.jsonl``): the registration-book entries, JSON Lines in the push
  format ``bdcert issue`` reads, every entry the documents were made from;
- ``documents`` (``--documents DIR``): the certificates the system made from them, PDF and/or
  OFD, any file names, sub-directories allowed (files are told apart by their first bytes);
- ``trust`` (``--trust ROOT.pem``, repeatable): the root certificates of the province's trust
  list, PEM or DER.

**Settings** (``--set KEY=VALUE``):

- ``authorities=FILE``: the registration authorities (a JSON list shaped like bdcert's
  ``authorities.json``: code, name, province_abbr, place_name, credit_code); default: bdcert's
  bundled example authorities;
- ``index=FILE``: a JSON object ``{"file name": "ywh"}`` saying which entry each document was
  made from, or ``{"file name": {"ywh": "…", "issued_at": "2024-03-05T10:21:07+08:00"}}`` with
  the issue time the system's register recorded (P-013 then compares the signing time to it);
  default: matched by the face (see :mod:`~bdcert_conformance.plans.documents_read`);
- ``long_value_chars=N`` (default 30): a face value at least this long (without whitespace) is
  "long" for P-003;
- ``sequence_from=1|min`` (default 1): numbers of each authority, year and kind must run from 1
  (the documents are a whole year's), or only without gaps from the smallest found;
- ``seal_distance_mm=D`` (default 15): how far the seal may be from the authority's name;
- ``verification_base=URL``: the province's verification URL prefix (``https://…/v/``): every
  QR code's URL must start with it (P-007); default: the base most QR codes of the set share;
- ``licence_type_property`` / ``licence_type_proof``: the licence type codes of the two kinds
  (default ``11100000MB03271699001`` / ``11100000MB03271699022``, FACTS: national practice).

Checks P-001–P-016 and F-008, F-012 (:func:`checks`); the broken implementations the self-test
runs are :data:`BROKEN` (:mod:`bdcert_conformance.broken.documents`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from bdcert.model import CHINA_TZ
from bdcert_conformance.kit.model import (
    Evidence,
    RunOptions,
    Verdict,
    check,
    failed,
    passed,
    skipped,
    warning,
)
from bdcert_conformance.plans import documents_seal as seals
from bdcert_conformance.plans.documents_read import (
    Document,
    EntryRecord,
    Match,
    china_date,
    compact,
    expected_face,
    match_documents,
    read_document,
    read_entries,
    xml,
)

NAME = "documents"
PLAN = NAME

__all__ = [
    "BROKEN",
    "NAME",
    "DocumentsContext",
    "iso7064_mod37_36",
    "open_context",
    "problems",
    "reference_environment",
    "reference_run",
]

DEFAULT_LICENCE_TYPES = {
    "property_certificate": "11100000MB03271699001",
    "registration_proof": "11100000MB03271699022",
}
_NUMBER = re.compile(
    r"^(?P<sfjc>\w)[(（](?P<year>\d{4})[)）](?P<szmc>.+?)(?P<word>不动产权|不动产证明)"
    r"第(?P<seq>\d{7})号$"
)
_KIND_WORD = {"property_certificate": "不动产权", "registration_proof": "不动产证明"}
_LICENCE = re.compile(
    r"^1\.2\.156\.3005\.2\.(?P<type>[0-9A-Z]+)\.(?P<issuer>[0-9A-Z]+)\.(?P<serial>[0-9A-Z]+)"
    r"\.(?P<version>\d{3})\.(?P<check>[0-9A-Z])$"
)
_ID_NUMBER = re.compile(r"\d{17}[\dXx]")
_MOD37 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def iso7064_mod37_36(data: str) -> str:
    """The ISO/IEC 7064 MOD 37,36 (hybrid) check character of ``data`` (``0-9A-Z``), the
    e-licence identifier's (FACTS: 电子证照标识), written here independently of bdcert.

    :raises ValueError: a character outside ``0-9A-Z``.
    """
    product = 36
    for ch in data.upper():
        if ch not in _MOD37:
            raise ValueError(f"{ch!r} is not allowed in ISO 7064 MOD 37,36 input")
        total = (product + _MOD37.index(ch)) % 36
        product = ((total or 36) * 2) % 37
    return _MOD37[(37 - product) % 36]


# --------------------------------------------------------------------------- the context


@attrs.define
class DocumentsContext:
    """What every check of the plan reads: the entries, the documents, their matches, the trust
    roots, the authorities and the settings. Seal facts and QR payloads are read once, lazily."""

    records: list[EntryRecord]
    entry_problems: list[tuple[int, str]]
    documents: list[Document]
    matches: list[Match]
    unmatched: list[Document]
    trust: list[bytes]
    authorities: dict[str, Any]
    codes: Any
    settings: dict[str, str]
    entries_name: str = "entries"
    #: issue times by file, from the index (the system's register), when it gives them
    issued_at: dict[str, datetime] = attrs.field(factory=dict)
    _seals: dict[str, seals.SealFacts] = attrs.field(factory=dict)
    _qr: dict[str, tuple[list[str], str | None]] = attrs.field(factory=dict)

    def seal(self, document: Document) -> seals.SealFacts:
        if document.file not in self._seals:
            self._seals[document.file] = seals.seal_facts(document)
        return self._seals[document.file]

    def qr(self, document: Document) -> tuple[list[str], str | None]:
        """The QR payloads on the document's first page (``zbarimg``) and a problem reading."""
        if document.file not in self._qr:
            self._qr[document.file] = _qr_payloads(document)
        return self._qr[document.file]

    def setting(self, key: str, default: str) -> str:
        return str(self.settings.get(key, default))

    @property
    def readable(self) -> list[Document]:
        return [d for d in self.documents if d.problem is None]


#: The options this plan reads (others given are a usage error: :func:`kit.runner.run_plan`).
READS = frozenset({"entries", "documents", "trust", "settings"})
#: The settings it knows (``--set KEY=VALUE``).
SETTINGS = frozenset(
    {
        "authorities",
        "index",
        "long_value_chars",
        "sequence_from",
        "seal_distance_mm",
        "licence_type_property",
        "licence_type_proof",
        "verification_base",
    }
)


def problems(options: RunOptions) -> list[str]:
    """Every missing or bad option of a documents run, named."""
    out = []
    if options.entries is None:
        out.append("--entries FILE.jsonl is required (the registration-book entries)")
    elif not options.entries.is_file():
        out.append(f"--entries {options.entries}: no such file")
    if options.documents is None:
        out.append("--documents DIR is required (the certificates the system made)")
    elif not options.documents.is_dir():
        out.append(f"--documents {options.documents}: not a directory")
    if not options.trust:
        out.append("--trust ROOT.pem is required (the province's trust list), at least one")
    out += [f"--trust {p}: no such file" for p in options.trust if not p.is_file()]
    for key in ("authorities", "index"):
        value = options.settings.get(key)
        if value is not None and not Path(value).is_file():
            out.append(f"--set {key}={value}: no such file")
        elif key == "index" and value is not None:
            out += _index_problems(Path(value))
    for key in ("long_value_chars", "seal_distance_mm"):
        value = options.settings.get(key)
        if value is not None:
            try:
                float(value)
            except ValueError:
                out.append(f"--set {key}={value}: not a number")
    base = options.settings.get("verification_base")
    if base is not None and not (base.isascii() and re.fullmatch(r"https?://[^/\s]+/\S*", base)):
        out.append(f"--set verification_base={base}: an ASCII http(s) URL with a path")
    if options.settings.get("sequence_from", "1") not in {"1", "min"}:
        out.append("--set sequence_from: 1 or min")
    return out


def read_index(path: Path) -> tuple[dict[str, str], dict[str, datetime]]:
    """The index file: ``{"file": "ywh"}`` or ``{"file": {"ywh": …, "issued_at": ISO 8601 with
    offset}}`` → (file -> ywh, file -> issue time as the system's register records it).

    :raises ValueError: a file that is not such an object (:func:`problems` names it first).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    ywhs: dict[str, str] = {}
    times: dict[str, datetime] = {}
    for file, value in data.items():
        if isinstance(value, str):
            ywhs[file] = value
            continue
        if not (isinstance(value, dict) and isinstance(value.get("ywh"), str)):
            raise ValueError(f"{file!r}: a ywh string or an object with a ywh string")
        ywhs[file] = value["ywh"]
        if "issued_at" in value:
            at = datetime.fromisoformat(str(value["issued_at"]))
            if at.utcoffset() is None:
                raise ValueError(f"{file!r}: issued_at {value['issued_at']!r} has no UTC offset")
            times[file] = at
    return ywhs, times


def _index_problems(path: Path) -> list[str]:
    try:
        read_index(path)
    except (ValueError, OSError) as exc:
        return [f"--set index={path}: {exc}"]
    return []


def _authorities(settings: dict[str, str]) -> dict[str, Any]:
    from bdcert.config import load_authorities

    path = settings.get("authorities")
    if path is None:
        from importlib import resources

        source = resources.files("bdcert_adapters") / "examples" / "authorities.json"
        with resources.as_file(source) as p:
            return load_authorities(Path(p))
    return load_authorities(Path(path))


@contextlib.contextmanager
def open_context(options: RunOptions, workdir: Path) -> Iterator[DocumentsContext]:
    """Read the entries, the documents and the trust roots once, and match them."""
    from bdcert.codes import NATIONAL_2024

    assert options.entries is not None and options.documents is not None
    settings = dict(options.settings)
    authorities = _authorities(settings)
    records, entry_problems = read_entries(options.entries, authorities, NATIONAL_2024)
    root = options.documents
    documents = [read_document(p, root) for p in sorted(root.rglob("*")) if p.is_file()]
    index, issued_at = None, {}
    if settings.get("index"):
        index, issued_at = read_index(Path(settings["index"]))
    matches, unmatched = match_documents(documents, records, index)
    yield DocumentsContext(
        records,
        entry_problems,
        documents,
        matches,
        unmatched,
        [p.read_bytes() for p in options.trust],
        authorities,
        NATIONAL_2024,
        settings,
        options.entries.name,
        issued_at,
    )


# --------------------------------------------------------------------------- helpers


def _verdict(
    findings: list[Evidence], what: str, summary_ok: str, *, compared: int, nothing: str
) -> Verdict:
    """FAILED with every finding; else PASSED only if something was compared (``compared`` >
    0): a check that compared nothing could not have failed, so it is SKIPPED saying why
    (``nothing``: what the run lacked), and a certification run that skips fails."""
    if findings:
        return failed(f"{len(findings)} finding(s): {what}", findings)
    if compared <= 0:
        return skipped(f"nothing compared: {nothing}")
    return passed(summary_ok)


def _unreadable(context: DocumentsContext) -> list[Evidence]:
    return [
        Evidence("document", "a readable PDF or OFD", d.problem, d.file)
        for d in context.documents
        if d.problem is not None
    ]


def _sealed(context: DocumentsContext) -> Iterator[tuple[Document, seals.SealFacts]]:
    for d in context.readable:
        yield d, context.seal(d)


def _qr_payloads(document: Document) -> tuple[list[str], str | None]:
    try:
        with tempfile.TemporaryDirectory(prefix="bdcert-kit-qr-") as tmp:
            if document.format == "pdf":
                out = Path(tmp) / "page"
                subprocess.run(
                    ["pdftoppm", "-f", "1", "-l", "1", "-r", "110", "-gray", "-png",
                     str(document.path), str(out)],
                    check=True, capture_output=True, timeout=60,
                )  # fmt: skip
                images = sorted(Path(tmp).glob("page*.png"))
            else:
                from bdcert_conformance.plans.documents_read import ofd_files

                images = []
                for name, data in ofd_files(document.data).items():
                    if name.lower().endswith((".png", ".jpg", ".jpeg")) and "/Signs/" not in name:
                        path = Path(tmp) / name.replace("/", "_")
                        path.write_bytes(data)
                        images.append(path)
            found: list[str] = []
            for image in images:
                run = subprocess.run(
                    ["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
                    capture_output=True, timeout=60,
                )  # fmt: skip
                if run.returncode == 0:
                    found += [
                        line for line in run.stdout.decode("utf-8", "replace").splitlines() if line
                    ]
            return found, None
    except (subprocess.SubprocessError, OSError) as exc:
        return [], f"the QR code could not be read: {exc}"


# --------------------------------------------------------------------------- the checks


@check("P-001", PLAN, "each entry produces the kind of certificate its registration calls for",
       "规则第5条、第6条")  # fmt: skip
def kind_per_articles(context: DocumentsContext) -> Verdict:
    """An entry after 抵押权, 地役权, 预告登记, 异议登记 or 居住权 produces a registration proof
    (不动产登记证明, article 5); 注销 and 查封 produce nothing; every other registration a
    property certificate (不动产权证书, article 6). Every document must match an entry, show the
    title of the kind its entry calls for, and every entry that calls for a certificate must
    have one — and no more: one certificate per holder under 分别持证, one for the entry
    otherwise, in each format (the PDF and the OFD of one certificate are one certificate); a
    second document of one format for the same holders is an extra certificate. A proof issued as a property certificate is the classic fault. An entry the
    push format refuses (a system must reject it, rule article 7) calls for no certificate: a
    document made from one matches no valid entry and is a finding; the invalid entries are
    counted in the summary, not held against the system."""
    findings = _unreadable(context)
    findings += [
        Evidence("entry", "the entry this document was made from", "no entry matches its face",
                 d.file)
        for d in context.unmatched
    ]  # fmt: skip
    made: dict[str, list[Match]] = defaultdict(list)
    for m in context.matches:
        made[m.record.ywh].append(m)
        expected = m.record.kind
        found = m.document.kind
        if expected is None:
            findings.append(
                Evidence("kind", "no certificate (注销 / 查封)", found.title if found else "a document",
                         m.document.file, 1, note=f"entry {m.record.ywh}")
            )  # fmt: skip
        elif found is not expected:
            findings.append(
                Evidence("kind", expected.title, found.title if found else "no title", m.document.file,
                         1, note=f"entry {m.record.ywh} (djlx {m.record.raw.get('djlx')})")
            )  # fmt: skip
    for r in context.records:
        if r.kind is not None and not made.get(r.ywh):
            findings.append(
                Evidence("kind", r.kind.title, "no document", None,
                         note=f"entry {r.ywh} (line {r.line}) has no certificate")
            )  # fmt: skip
        findings += _extra_certificates(r, made.get(r.ywh, []))
    kinds = Counter(r.kind.title if r.kind else "无证" for r in context.records)
    invalid = [line for line, _ in context.entry_problems]
    rejected = (
        f"; {len(invalid)} invalid entries (lines {', '.join(map(str, invalid))}) call for none"
        if invalid
        else ""
    )
    return _verdict(
        findings,
        "kinds",
        compared=len(context.records) + len(context.documents),
        nothing="no valid entry and no document",
        summary_ok=f"{len(context.records)} entries ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}),"
        f" {len(context.matches)} documents of the right kind{rejected}",
    )


def _extra_certificates(record: EntryRecord, made: list[Match]) -> list[Evidence]:
    """An entry calls for one certificate per holder under 分别持证 and one in all otherwise
    (article 6 practice); a certificate may come as a PDF and an OFD: more than one document
    of one format for one holder set is an extra certificate."""
    per: dict[tuple[str, tuple[str, ...]], list[Match]] = defaultdict(list)
    for m in made:
        per[(m.document.format, tuple(h.name for h in m.holders))].append(m)
    separately = record.entry.holding_mode == "分别持证"
    return [
        Evidence("kind", "one certificate per holder (分别持证)" if separately else
                 "one certificate for the entry", f"{len(ms)} {fmt.upper()} documents",
                 ", ".join(m.document.file for m in ms), 1,
                 note=f"entry {record.ywh} (line {record.line}), holders {'、'.join(names)}")
        for (fmt, names), ms in sorted(per.items())
        if len(ms) > 1
    ]  # fmt: skip


def _face_for(context: DocumentsContext, m: Match) -> tuple[Any, ...]:
    authority = context.authorities[m.record.entry.authority_code]
    kind = m.record.kind or m.document.kind
    if kind is None:
        return ()
    return expected_face(m, authority, context.codes, kind)


@check("P-002", PLAN, "every face item of the kind is printed and equal to the entry",
       "规则第5条、第6条")  # fmt: skip
def face_items_present(context: DocumentsContext) -> Verdict:
    """Each face item rule article 5 (proof) or 6 (property certificate) lists is printed with
    its label and with the value the entry gives (compared without whitespace, in the PDF's text
    as ``pdftotext`` extracts it or the OFD's page text — not the metadata). Only text the page
    shows counts: text in rendering mode 3 or 7, filled white, or an OFD text object with
    ``Visible="false"`` is left out (:mod:`.documents_visible`; an OCR layer or a hidden value
    is not printed). A document whose face matches no entry (its unit numbers and 登簿日期 are
    no entry's) is a finding here too. The QR code, seal and issue date are checked by their
    own checks."""
    findings = [
        Evidence("face", "the 不动产单元号 and 登簿日期 of an entry", "no entry's printed", d.file,
                 note="its face items equal no entry's (the document is P-001's finding too)")
        for d in context.unmatched
    ]  # fmt: skip
    compared = len(context.unmatched)
    for m in context.matches:
        text = m.document.compact
        for item in _face_for(context, m):
            compared += 1
            if item.key == "zh" and not item.value:
                findings.append(
                    Evidence(item.label, "a certificate number", "none", m.document.file)
                )
                continue
            if compact(item.label) not in text:
                findings.append(
                    Evidence(item.label, item.value, "the label is missing", m.document.file,
                             note=f"entry {m.record.ywh}")
                )  # fmt: skip
            elif compact(item.value) not in text:
                hidden = m.document.hidden_text
                findings.append(
                    Evidence(item.label, item.value, _near(m.document, item.label), m.document.file,
                             m.document.page_of(item.label), note=f"entry {m.record.ywh}" + (
                                 f"; {hidden} invisible text runs not counted" if hidden else ""))
                )  # fmt: skip
    return _verdict(
        findings,
        "face items",
        f"{len(context.matches)} documents, {compared} face items compared",
        compared=compared,
        nothing="no document matched an entry",
    )


def _near(document: Document, label: str) -> str:
    """What the document prints after ``label`` (up to 60 characters), for the evidence."""
    for line in document.text.splitlines():
        if label in line:
            return line.split(label, 1)[1].strip()[:60] or "(empty)"
    return "(not found)"


@check("P-003", PLAN, "long face values are printed complete, never truncated",
       "规则第5条、第6条")  # fmt: skip
def long_values_complete(context: DocumentsContext) -> Verdict:
    """A long value (a location, 权利其他状况, 附记: at least ``long_value_chars`` characters) is
    printed whole, wrapped over lines and pages if it must, never cut or ended with an
    ellipsis. The evidence says how much of it was printed."""
    limit = int(float(context.setting("long_value_chars", "30")))
    findings: list[Evidence] = []
    long_values = 0
    for m in context.matches:
        text = m.document.compact
        for item in _face_for(context, m):
            value = compact(item.value)
            if len(value) < limit:
                continue
            long_values += 1
            if value in text:
                continue
            shown = 0
            while shown < len(value) and value[: shown + 1] in text:
                shown += 1
            findings.append(
                Evidence(item.label, item.value, value[:shown] + ("…" if shown else ""),
                         m.document.file, m.document.page_of(value[:shown]) if shown else None,
                         note=f"{shown} of {len(value)} characters printed")
            )  # fmt: skip
    return _verdict(
        findings,
        "truncated values",
        f"{long_values} long values (≥ {limit} characters) in {len(context.matches)} documents "
        "printed whole",
        compared=long_values,
        nothing=f"no face value of {len(context.matches)} matched documents is {limit} characters "
        "or longer (the documents hold no long value, or long_value_chars is set too high)",
    )


def _number_parts(m: Match) -> re.Match[str] | None:
    return _NUMBER.match(m.document.number or "")


@check("P-004", PLAN, "the certificate number has the provincial format",
       "规则第5条、第6条; FACTS 证书编号")  # fmt: skip
def number_format(context: DocumentsContext) -> Verdict:
    """The number is ``<省简称>(<year>)<place>不动产权第<7 digits>号`` for a property certificate,
    ``…不动产证明第…号`` for a proof: the authority's province abbreviation and place name, the
    China-time year of the entry's 登簿时间, the kind's word, seven digits."""
    findings: list[Evidence] = []
    for m in context.matches:
        authority = context.authorities[m.record.entry.authority_code]
        kind = m.document.kind or m.record.kind
        parts = _number_parts(m)
        file = m.document.file
        if parts is None:
            findings.append(
                Evidence("证号", "川(YYYY)某市不动产权第NNNNNNN号", m.document.number, file)
            )
            continue
        page = m.document.page_of(m.document.number or "")
        want = {
            "sfjc": authority.province_abbr,
            "year": str(m.record.entry.recorded_at.astimezone(CHINA_TZ).year),
            "szmc": authority.place_name,
            "word": _KIND_WORD.get(kind.value if kind else "", "?"),
        }
        for key, value in want.items():
            if parts[key] != value:
                findings.append(
                    Evidence(f"证号 ({key})", value, parts[key], file, page,
                             note=f"number {m.document.number}")
                )  # fmt: skip
    return _verdict(
        findings,
        "numbers",
        f"{len(context.matches)} numbers well formed",
        compared=len(context.matches),
        nothing="no document matched an entry",
    )


@check("P-005", PLAN, "numbers run per authority, year and kind without gaps or duplicates",
       "规则第5条、第6条; FACTS 证书编号")  # fmt: skip
def number_sequence(context: DocumentsContext) -> Verdict:
    """Per authority, year and kind the sequence numbers run 1, 2, 3, … (``sequence_from=min``:
    from the smallest found) with no gap and no number on two certificates. The PDF and the OFD
    of one certificate (same entry, same holders) share its number; two documents of one format,
    or of two entries, do not. Gaps are judged over the numbers of all formats together."""
    findings: list[Evidence] = []
    groups: dict[tuple[str, str, str], dict[int, list[Match]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for m in context.matches:
        parts = _number_parts(m)
        if parts is None:
            continue
        key = (parts["sfjc"] + parts["szmc"], parts["year"], parts["word"])
        groups[key][int(parts["seq"])].append(m)
    from_min = context.setting("sequence_from", "1") == "min"
    for (place, year, word), by_seq in sorted(groups.items()):
        label = f"{place} {year} {word}"
        for _seq, ms in sorted(by_seq.items()):
            formats = Counter(x.document.format for x in ms)
            certificates = {(x.record.ywh, tuple(h.name for h in x.holders)) for x in ms}
            if len(certificates) > 1 or max(formats.values()) > 1:
                findings.append(
                    Evidence("证号", f"{label}: one certificate per number",
                             f"{ms[0].document.number} on {len(ms)} documents",
                             ", ".join(x.document.file for x in ms), 1,
                             note="entries " + ", ".join(sorted({c[0] for c in certificates})))
                )  # fmt: skip
        first = min(by_seq) if from_min else 1
        missing = [s for s in range(first, max(by_seq) + 1) if s not in by_seq]
        if missing:
            findings.append(
                Evidence("证号", f"{label}: {first}…{max(by_seq)} without gaps",
                         "missing " + ", ".join(f"{s:07d}" for s in missing[:20]),
                         note=f"{len(missing)} missing")
            )  # fmt: skip
    return _verdict(
        findings,
        "numbering",
        f"{len(groups)} sequences (authority, year, kind), "
        f"{sum(len(v) for v in groups.values())} numbers without gaps or duplicates",
        compared=len(groups),
        nothing="no matched document shows a well-formed number",
    )


@check("P-006", PLAN, "the e-licence identifier is well formed and its check character right",
       "GB/T 36904; FACTS 电子证照标识 (ISO/IEC 7064 MOD 37,36)")  # fmt: skip
def licence_identifier(context: DocumentsContext) -> Verdict:
    """The printed 电子证照标识 is ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>``:
    the licence type code of the kind, the authority's unified social credit code as issuer, a
    three-digit version, and the ISO 7064 MOD 37,36 check character over type + issuer + serial +
    version (computed by the kit itself). Two certificates never share one."""
    types = {
        "property_certificate": context.setting(
            "licence_type_property", DEFAULT_LICENCE_TYPES["property_certificate"]
        ),
        "registration_proof": context.setting(
            "licence_type_proof", DEFAULT_LICENCE_TYPES["registration_proof"]
        ),
    }
    findings: list[Evidence] = []
    owners: dict[str, set[str]] = defaultdict(set)
    for m in context.matches:
        file, value = m.document.file, m.document.licence_id
        page = m.document.page_of(value) if value else None
        parts = _LICENCE.match(value or "")
        if parts is None:
            findings.append(
                Evidence("电子证照标识", "1.2.156.3005.2.<type>.<issuer>.<serial>.<ver>.<check>",
                         value or "not printed", file, page)
            )  # fmt: skip
            continue
        owners[value or ""].add(m.document.number or m.document.file)
        kind = m.document.kind or m.record.kind
        authority = context.authorities[m.record.entry.authority_code]
        if kind is not None and parts["type"] != types[kind.value]:
            findings.append(
                Evidence("电子证照标识 (type)", types[kind.value], parts["type"], file, page)
            )
        if parts["issuer"] != authority.credit_code:
            findings.append(
                Evidence(
                    "电子证照标识 (issuer)", authority.credit_code, parts["issuer"], file, page
                )
            )
        body = parts["type"] + parts["issuer"] + parts["serial"] + parts["version"]
        want = iso7064_mod37_36(body)
        if parts["check"] != want:
            findings.append(
                Evidence("电子证照标识 (check character)", want, parts["check"], file, page,
                         note=f"identifier {value}")
            )  # fmt: skip
    for value, numbers in owners.items():
        if len(numbers) > 1:
            findings.append(
                Evidence("电子证照标识", "one certificate per identifier",
                         f"{value} on {', '.join(sorted(numbers))}")
            )  # fmt: skip
    return _verdict(
        findings,
        "identifiers",
        f"{len(context.matches)} identifiers verified",
        compared=len(context.matches),
        nothing="no document matched an entry",
    )


@check(
    "P-007",
    PLAN,
    "the QR code holds one ASCII verification URL, its certificate's own",
    "规则第5条、第6条、第14条; GB/T 36905",
)
def qr_is_url(context: DocumentsContext) -> Verdict:
    """The first page carries exactly one QR code (decoded with ``zbarimg``), and its payload is
    one ASCII ``http(s)://`` URL: Chinese text in QR codes decodes wrongly on many scanners.
    The QR code is how a holder verifies the certificate (article 14), so it must lead to this
    certificate's verification: every URL of the set shares one verification base (scheme, host
    and path up to its last ``/``; with ``verification_base=URL``, each URL starts with that
    URL), something follows the base (the certificate's token), and no two certificates carry
    the same URL (the PDF and the OFD of one certificate may). The kit does not fetch the URL:
    whether the page behind it answers for this certificate is the interface plan's."""
    from urllib.parse import urlsplit

    given = context.settings.get("verification_base")
    findings: list[Evidence] = []
    urls: dict[str, list[Document]] = {}
    for d in context.readable:
        payloads, problem = context.qr(d)
        if problem:
            findings.append(Evidence("QR code", "a decodable QR code", problem, d.file, 1))
        elif len(payloads) != 1:
            findings.append(
                Evidence("QR code", "exactly one QR code", f"{len(payloads)} decoded", d.file, 1)
            )
        elif not (payloads[0].isascii() and re.fullmatch(r"https?://\S+", payloads[0])):
            findings.append(Evidence("QR code", "an ASCII http(s) URL", payloads[0], d.file, 1))
        else:
            urls.setdefault(payloads[0], []).append(d)
    bases: dict[str, list[str]] = defaultdict(list)
    for url in urls:
        parts = urlsplit(url)
        bases[f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/"].append(url)
    base = given or max(bases, key=lambda b: (len(bases[b]), b), default="")
    for url, documents in urls.items():
        files = ", ".join(d.file for d in documents)
        if not url.startswith(base) or not url[len(base) :].strip("/"):
            findings.append(
                Evidence("QR code", f"{base}<the certificate's token>", url, files, 1,
                         note="the verification base given (verification_base)" if given else
                         f"the verification base {len(bases.get(base, ()))} of "
                         f"{len(urls)} URLs share")
            )  # fmt: skip
    certificate = {m.document.file: (m.document.number, m.record.ywh, m.holders) for m in
                   context.matches}  # fmt: skip
    for url, documents in sorted(urls.items()):
        owners = {certificate.get(d.file, d.file) for d in documents}
        if len(owners) > 1:
            findings.append(
                Evidence("QR code", "one certificate per verification URL",
                         f"{url} on {len(owners)} certificates",
                         ", ".join(d.file for d in documents), 1)
            )  # fmt: skip
    return _verdict(
        findings,
        "QR codes",
        f"{len(urls)} distinct verification URLs under {base or '(none)'} on "
        f"{len(context.readable)} documents",
        compared=len(urls),
        nothing="no readable document",
    )


@check("F-008", PLAN, "no personal data in the QR code", "规则第16条、第17条; GB/T 36905")
def qr_no_personal_data(context: DocumentsContext) -> Verdict:
    """The QR code must not carry personal data: no holder's or obligor's name or ID number, no
    ID-number-shaped digits, no unit number or location. It is scanned by anyone who sees the
    paper; the verification page behind the URL shows masked values to those allowed."""
    findings: list[Evidence] = []
    scanned = 0
    for m in context.matches:
        payloads, _ = context.qr(m.document)
        e = m.record.entry
        secrets = {p.name: "name" for p in (*e.holders, *e.obligors)}
        secrets |= {p.id_number: "ID number" for p in (*e.holders, *e.obligors) if p.id_number}
        secrets |= {u: "unit number" for u in e.unit_numbers}
        secrets[e.location] = "location"
        for payload in payloads:
            from urllib.parse import unquote

            scanned += 1
            plain = unquote(payload)
            for value, what in secrets.items():
                if value and value in plain:
                    findings.append(
                        Evidence("QR code", f"no {what}", payload, m.document.file, 1,
                                 note=f"carries the {what} {value}")
                    )  # fmt: skip
            shaped = _ID_NUMBER.search(plain)
            if shaped and all(shaped.group(0) != v for v in secrets):
                findings.append(
                    Evidence("QR code", "no ID number", payload, m.document.file, 1,
                             note=f"an ID-number-shaped value {shaped.group(0)}")
                )  # fmt: skip
    return _verdict(
        findings,
        "personal data",
        f"{scanned} QR payloads of {len(context.matches)} documents free of personal data",
        compared=scanned,
        nothing="no QR payload decoded on a matched document",
    )


@check("P-009", PLAN, "a visible seal at the authority's name", "规则第3条、第5条、第6条")
def visible_seal(context: DocumentsContext) -> Verdict:
    """The seal is shown as a picture (article 3) over the issuing authority's name (articles 5,
    6: 登记机构（章）): the signature's widget (PDF) or stamp annotation (OFD) is on the page
    where ``登记机构：…`` is printed, has an area of at least 20 × 20 mm, is not hidden, draws a
    picture (the seal contract's ``check_visible_seal``), and overlaps the name horizontally
    within ``seal_distance_mm`` of it vertically."""
    distance = float(context.setting("seal_distance_mm", "15"))
    findings: list[Evidence] = []
    for d, facts in _sealed(context):
        name = d.authority_box
        if facts.signatures != 1:
            findings.append(Evidence("seal", "one seal", f"{facts.signatures} signatures", d.file))
            continue
        if facts.visible_problem or facts.box is None:
            findings.append(
                Evidence("seal", "a visible seal", facts.visible_problem or "no box", d.file,
                         facts.box.page if facts.box else None)
            )  # fmt: skip
            continue
        x1, y1, x2, y2 = facts.box.box
        where = f"seal at ({x1:.0f}, {y1:.0f})–({x2:.0f}, {y2:.0f}) mm"
        if x2 - x1 < 20 or y2 - y1 < 20:
            findings.append(
                Evidence("seal", "at least 20 × 20 mm", f"{x2 - x1:.1f} × {y2 - y1:.1f} mm",
                         d.file, facts.box.page)
            )  # fmt: skip
            continue
        if name is None:
            findings.append(
                Evidence("登记机构", "the authority's name printed", "not found", d.file)
            )
            continue
        nx1, ny1, nx2, ny2 = name.box
        gap = max(0.0, ny1 - y2, y1 - ny2)
        if name.page != facts.box.page or x2 < nx1 or x1 > nx2 or gap > distance:
            findings.append(
                Evidence("seal", f"over 登记机构 at ({nx1:.0f}, {ny1:.0f})–({nx2:.0f}, {ny2:.0f}) mm"
                         f" on page {name.page}", where, d.file, facts.box.page)
            )  # fmt: skip
    return _verdict(
        findings,
        "seals",
        f"{len(context.readable)} seals visible at the authority's name",
        compared=len(context.readable),
        nothing="no readable document",
    )


@check("P-010", PLAN, "exactly one signature, covering the whole file",
       "规则第3条; ETSI EN 319 142-1; GB/T 38540 §7")  # fmt: skip
def one_signature(context: DocumentsContext) -> Verdict:
    """One seal per certificate: exactly one signature (PDF document timestamps of PAdES B-LTA
    aside), whose ``/ByteRange`` covers every byte but its own ``/Contents`` — or, at B-LTA, the
    seal's revision followed only by validation data and timestamps (the seal contract's
    check); in an OFD package, every part but the signature's own files."""
    findings: list[Evidence] = []
    for d, facts in _sealed(context):
        if facts.problem:
            findings.append(Evidence("signature", "exactly one", facts.problem, d.file))
        elif facts.signatures != 1:
            findings.append(Evidence("signature", "exactly one", str(facts.signatures), d.file))
        elif (why := seals.covers_whole_file(d)) is not None:
            findings.append(Evidence("signature", "covering the whole file", why, d.file))
    return _verdict(
        findings,
        "signatures",
        f"{len(context.readable)} documents, one signature each",
        compared=len(context.readable),
        nothing="no readable document",
    )


@check("P-011", PLAN, "the seal locks the document against later changes (certification)",
       "ISO 32000-2 §12.8.2.2 (DocMDP); GB/T 38540 §7")  # fmt: skip
def certification_lock(context: DocumentsContext) -> Verdict:
    """A PDF seal is a certification signature with DocMDP permission 1 (no changes allowed),
    referenced from the catalogue's ``/Perms`` (the seal contract's ``check_docmdp_lock``), so a
    reader flags any later change; an OFD seal covers ``Signatures.xml``."""
    findings = [
        Evidence("DocMDP", "certification, /P 1", why, d.file)
        for d in context.readable
        if (why := seals.locked(d)) is not None
    ]
    return _verdict(
        findings,
        "locks",
        f"{len(context.readable)} documents locked by their seal",
        compared=len(context.readable),
        nothing="no readable document",
    )


@check("F-012", PLAN, "no change after sealing", "ISO 32000-2 §12.8.2.2; 规则第8条")
def no_change_after_sealing(context: DocumentsContext) -> Verdict:
    """A certificate changed after it was sealed must not pass as sealed: the signed bytes are
    intact, and whatever follows the seal's revision is only PAdES validation data and
    document timestamps (pyHanko's modification analysis); an OFD's covered parts all match
    their digests and nothing was added."""
    findings = [
        Evidence("document", "unchanged since sealing", why, d.file)
        for d in context.readable
        if (why := seals.unchanged(d, context.trust)) is not None
    ]
    return _verdict(
        findings,
        "changed documents",
        f"{len(context.readable)} documents unchanged",
        compared=len(context.readable),
        nothing="no readable document",
    )


@check("P-013", PLAN, "the signing time is the issue time", "规则第7条、第15条")
def signing_time(context: DocumentsContext) -> Verdict:
    """The seal is made when the certificate is issued (article 7) and claims that time: the
    signing time (PDF ``/M``, and the CMS signing-time attribute when present, which must agree;
    OFD ``SignatureDateTime``) falls on the printed 签发日期 (China time) and is not before the
    entry's 登簿时间 — a certificate cannot be issued before it is recorded; one issued late
    (article 15) shows its real issue time, not the recording time. When the index gives the
    issue time the system's register recorded (``issued_at``), the signing time must be that
    instant (to the second)."""
    findings: list[Evidence] = []
    exact = 0
    for m in context.matches:
        facts = context.seal(m.document)
        file = m.document.file
        if facts.signed_at is None:
            findings.append(Evidence("signing time", "present", "none", file))
            continue
        at = facts.signed_at.astimezone(CHINA_TZ)
        if facts.cms_signed_at is not None and facts.cms_signed_at != facts.signed_at:
            findings.append(
                Evidence("signing time", at.isoformat(),
                         facts.cms_signed_at.astimezone(CHINA_TZ).isoformat(), file,
                         note="the CMS signing time differs from /M")
            )  # fmt: skip
        printed = m.document.issue_date
        if printed != china_date(at):
            findings.append(
                Evidence("签发日期", china_date(at), printed or "not printed", file,
                         m.document.page_of(printed or "签发日期"),
                         note=f"the seal was signed at {at.isoformat()}")
            )  # fmt: skip
        registered = context.issued_at.get(file)
        if registered is not None:
            exact += 1
            if abs(facts.signed_at - registered) >= timedelta(seconds=1):
                findings.append(
                    Evidence("signing time", registered.isoformat(), at.isoformat(), file,
                             note="the issue time the index (the system's register) gives")
                )  # fmt: skip
        recorded = m.record.entry.recorded_at
        if at < recorded:
            findings.append(
                Evidence("signing time", f"not before 登簿时间 {recorded.isoformat()}",
                         at.isoformat(), file)
            )  # fmt: skip
    return _verdict(
        findings,
        "signing times",
        f"{len(context.matches)} signing times on the issue date, {exact} of them equal to the "
        "register's issue time (index)",
        compared=len(context.matches),
        nothing="no document matched an entry",
    )


@check("P-014", PLAN, "the signer chains to the province's trust list and is the authority",
       "规则第3条、第11条; RFC 5280 §6")  # fmt: skip
def signer_trusted(context: DocumentsContext) -> Verdict:
    """The signature verifies and its signer's certificate chains to one of the ``trust`` roots
    (pyHanko, no fetching; bdcert's SM2 verifiers for SM2 and OFD) — and the signer is the
    issuing authority (its name or credit code in the certificate's subject)."""
    findings: list[Evidence] = []
    for m in context.matches:
        d = m.document
        why = seals.chained(d, context.trust)
        if why is not None:
            findings.append(Evidence("signer", "chained to the trust list", why, d.file))
            continue
        signer = context.seal(d).signer if d.format == "pdf" else seals.ofd_signer(d)
        authority = context.authorities[m.record.entry.authority_code]
        if not (authority.name in signer or authority.credit_code in signer):
            findings.append(Evidence("signer", authority.name, signer or "unknown", d.file))
    return _verdict(
        findings,
        "signers",
        f"{len(context.matches)} signers chained to the trust list",
        compared=len(context.matches),
        nothing="no document matched an entry",
    )


@check("P-015", PLAN, "dates are printed in China time (UTC+08:00)", "规则第5条、第6条; GB/T 7408")
def china_time_dates(context: DocumentsContext) -> Verdict:
    """签发日期 and 登簿日期 are China-time dates (UTC+08:00) of the seal's signing time and of
    the entry's 登簿时间. A system that prints the UTC date shifts every certificate issued or
    recorded between 00:00 and 08:00 China time to the day (at new year, the year) before: a
    printed date that is the UTC date where it differs from the China date FAILS here (other
    wrong dates are P-002's and P-013's). Only such early-morning times can tell the two
    apart: when no date of the run falls in that window the result is a WARNING saying so."""
    findings: list[Evidence] = []
    telling = 0
    compared = 0
    for m in context.matches:
        facts = context.seal(m.document)
        pairs = [("登簿日期", m.record.entry.recorded_at, m.document.recorded_date)]
        if facts.signed_at is not None:
            pairs.append(("签发日期", facts.signed_at, m.document.issue_date))
        for label, instant, printed in pairs:
            compared += 1
            want, utc = china_date(instant), china_date(instant.astimezone(UTC).date())
            if want == utc:
                continue
            telling += 1
            if printed == utc:
                findings.append(
                    Evidence(label, want, printed, m.document.file, m.document.page_of(label),
                             note=f"the UTC date of {instant.astimezone(CHINA_TZ).isoformat()}")
                )  # fmt: skip
    if findings:
        return failed(f"{len(findings)} date(s) printed in UTC, not China time", findings)
    if not compared:
        return skipped("nothing compared: no document matched an entry")
    if not telling:
        return warning(
            f"{compared} dates compared, none between 00:00 and 08:00 China time: a UTC date "
            "could not be told from a China-time one in this run"
        )
    return passed(
        f"{compared} dates in China time, {telling} of them early-morning times where the UTC "
        "date differs"
    )


@check("P-016", PLAN, "every font is embedded", "ISO 32000-2 §9.9; GB/T 33190 §8")
def fonts_embedded(context: DocumentsContext) -> Verdict:
    """Every font the document uses is embedded (``pdffonts``: ``emb yes``; OFD: each font's
    ``FontFile`` is in the package), so the face reads the same on every reader — a reader
    substituting a font may not have the rare characters of a name."""
    findings: list[Evidence] = []
    fonts = 0
    for d in context.readable:
        for name, embedded in _fonts(d):
            fonts += 1
            if not embedded:
                findings.append(Evidence("font", "embedded", f"{name} not embedded", d.file))
    return _verdict(
        findings,
        "fonts",
        f"{fonts} fonts in {len(context.readable)} documents embedded",
        compared=fonts,
        nothing="no font found in a readable document",
    )


def _fonts(d: Document) -> list[tuple[str, bool]]:
    if d.format == "pdf":
        out = subprocess.run(
            ["pdffonts", str(d.path)], capture_output=True, timeout=60, check=True
        ).stdout.decode("utf-8", "replace")
        rows = []
        for line in out.splitlines()[2:]:
            cols = line.split()
            # name type… encoding emb sub uni object-id gen: emb is the 5th from the end
            if len(cols) >= 7:
                rows.append((cols[0], cols[-5] == "yes"))
        return rows

    from bdcert_conformance.plans.documents_read import ofd_files

    files = ofd_files(d.data)
    rows = []
    ns = {"ofd": "http://www.ofdspec.org/2016"}
    for part, data in files.items():
        if not part.endswith(("PublicRes.xml", "DocumentRes.xml")):
            continue
        root = xml(data)
        base = root.get("BaseLoc", "")
        folder = part.rsplit("/", 1)[0]
        for font in root.iterfind(".//ofd:Font", namespaces=ns):
            file = (font.findtext("ofd:FontFile", namespaces=ns) or "").strip()
            if file.startswith("/"):  # absolute in the package (GB/T 33190 §7.2)
                path = file.lstrip("/")
            elif base.startswith("/"):
                path = f"{base.strip('/')}/{file}"
            else:
                path = f"{folder}/{base}/{file}" if base else f"{folder}/{file}"
            rows.append((font.get("FontName", "?"), bool(file) and path in files))
    return rows


# --------------------------------------------------------------------------- self-test


@functools.cache
def _reference() -> Any:
    from bdcert_conformance.plans import documents_reference

    return documents_reference


def reference_environment(stack: contextlib.ExitStack, workdir: Path) -> Any:
    """The reference city system's documents (see :mod:`.documents_reference`)."""
    return _reference().reference_environment(stack, workdir)


def reference_run(env: Any, workdir: Path) -> RunOptions:
    return _reference().reference_run(env, workdir)


from bdcert_conformance.broken.documents import BROKEN  # noqa: E402 (the self-test's)
