"""Validation of registration-book entries (登簿记录) in the wire shape of ``shared/data``.

:func:`parse_entry` checks all of an entry and either returns a :class:`~bdcert.model.RegistrationEntry`
or raises one :class:`~bdcert.errors.ValidationError` listing every problem, each with its field
path (``qlr[0].zjh``). Checks: code tables (DJLX, QLLX, QLXZ, GYFS, ZJZL, 查封类型), unit numbers
(GB/T 37346), resident-ID (GB 11643) and credit-code (GB 32100) check characters, exact shares that
sum to one, dates with offsets, terms that end after they start, non-negative areas, the fields each
certificate kind requires (rule articles 5, 6) and a disposition for every paper original (article 10).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from bdcert.bounds import (
    MAX_ENTRY_BYTES,
    MAX_ENTRY_CHARACTERS,
    MAX_NAME,
    MAX_PARTIES,
    MAX_TEXT,
    entry_problems,
)
from bdcert.codes import PROOF_MATTERS, CodeTables
from bdcert.errors import Problem, ValidationError
from bdcert.identifiers import (
    business_number_problems,
    check_credit_code,
    check_resident_id,
    check_unit_number,
    has_visible,
    normalize_resident_id,
    parse_certificate_number,
)
from bdcert.model import (
    Areas,
    AttachedPlan,
    Authority,
    Party,
    PriorCertificate,
    RegistrationEntry,
    Seizure,
    Term,
    parse_share,  # moved to the values layer; re-exported here
)
from bdcert.wire import canonical_json  # one canonical JSON for every fingerprint and hash

__all__ = [
    "ENTRY_KEYS",
    "MAX_ENTRY_BYTES",
    "MAX_ENTRY_CHARACTERS",
    "MAX_NAME",
    "MAX_PARTIES",
    "MAX_PLAN_BYTES",
    "MAX_PLAN_PIXELS",
    "MAX_TEXT",
    "canonical_json",
    "fingerprint",
    "has_visible",
    "parse_entry",
    "parse_share",
]

#: Every key a registration entry may carry (see shared/data/README.md).
ENTRY_KEYS = frozenset(
    [
        "ywh",
        "djjg",
        "djlx",
        "qllx",
        "zmsx",
        "dbsj",
        "bdcdyh",
        "zl",
        "qlr",
        "gyfs",
        "czfs",
        "ywr",
        "qlxz",
        "yt",
        "mj",
        "syqx",
        "qlqtzk",
        "fj",
        "qt",
        "ft",
        "yzh",
        "zxyy",
        "cfjg",
        "cfwh",
        "cflx",
        "cfqx",
    ]
)
_PARTY_KEYS = frozenset({"mc", "zjzl", "zjh", "qlbl"})
_HOLDING_MODES = ("共同持证", "分别持证")
_DISPOSITIONS = ("收回", "公告作废")
_MEDIA = ("电子", "纸质")
_PICTURE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
#: Limits that keep one entry to one reasonable unit of work (and out of denial of service).
MAX_AREA = Decimal(10) ** 12  # m²
#: Control characters (line breaks, escapes, C1) and bidi overrides: not in a name or an address.
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def fingerprint(raw: Mapping[str, Any]) -> str:
    """Lower-case hex SHA-256 of :func:`canonical_json`: equal for an exact re-push."""
    return hashlib.sha256(canonical_json(raw).encode()).hexdigest()


class _Checker:
    """Walks one raw entry, collecting problems instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    def text(
        self,
        key: str,
        *,
        required: bool,
        src: Mapping[str, Any] | None = None,
        path: str | None = None,
        one_line: bool = False,
    ) -> str | None:
        src = self.raw if src is None else src
        path = key if path is None else path
        value = src.get(key)
        if value is None or value == "":
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {type(value).__name__}")
            return None
        if required and not value.strip():
            self.add(path, "is required (only blanks given)")
            return None
        if required and not has_visible(value):
            self.add(path, "is required (only invisible characters given, e.g. U+3164 or U+200B)")
            return None
        if one_line and (bad := _LINE_CONTROLS.findall(value)):
            codes = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in bad}))
            self.add(path, f"must be one line of text without control characters ({codes})")
            return None
        return value

    def code(self, key: str, table: Mapping[str, str], name: str, *, required: bool) -> str | None:
        value = self.raw.get(key)
        if value is None or value == "":
            if required:
                self.add(key, f"is required ({name})")
            return None
        if not isinstance(value, str):
            self.add(key, f"must be a code string such as {next(iter(table))!r}")
            return None
        if value not in table:
            self.add(key, f"{value!r} is not a {name} code (known: {', '.join(table)})")
            return None
        return value

    def day(self, value: Any, path: str) -> date | None:
        if not isinstance(value, str):
            self.add(path, "must be a date YYYY-MM-DD")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.add(path, f"{value!r} is not a date YYYY-MM-DD")
            return None

    def term(self, key: str, *, required: bool) -> Term | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if not isinstance(value, Mapping):
            self.add(key, "must be an object with qsrq and zzrq")
            return None
        for extra in sorted(set(value) - {"qsrq", "zzrq"}):
            self.add(f"{key}.{extra}", "is not a known field")
        start = self.day(value.get("qsrq"), f"{key}.qsrq")
        end = self.day(value.get("zzrq"), f"{key}.zzrq")
        if start is None or end is None:
            return None
        if end <= start:
            self.add(f"{key}.zzrq", f"term ends {end} on or before it starts {start}")
            return None
        return Term(start, end)

    def parties(self, key: str, codes: CodeTables, *, required: bool) -> tuple[Party, ...]:
        value = self.raw.get(key)
        if value is None or value == []:
            if required:
                self.add(key, "at least one party is required")
            return ()
        if not isinstance(value, list):
            self.add(key, "must be a list of parties")
            return ()
        out = []
        for i, item in enumerate(value):
            path = f"{key}[{i}]"
            if not isinstance(item, Mapping):
                self.add(path, "must be an object with mc, zjzl, zjh")
                continue
            for extra in sorted(set(item) - _PARTY_KEYS):
                self.add(f"{path}.{extra}", "is not a known field")
            name = self.text("mc", required=True, src=item, path=f"{path}.mc", one_line=True)
            if name is not None and len(name) > MAX_NAME:
                self.add(f"{path}.mc", f"has {len(name)} characters; a name has at most {MAX_NAME}")
                name = None
            raw_type = item.get("zjzl")
            id_type: str | None = raw_type if isinstance(raw_type, str) else None
            if raw_type in (None, ""):
                self.add(f"{path}.zjzl", "is required (证件种类)")
            elif id_type not in codes.zjzl:
                self.add(f"{path}.zjzl", f"{raw_type!r} is not a 证件种类 code")
                id_type = None
            number = self.text("zjh", required=True, src=item, path=f"{path}.zjh")
            if number is not None and id_type == "1":
                msg = check_resident_id(number)
                if msg:
                    self.add(f"{path}.zjh", msg)
                number = normalize_resident_id(number)
            elif number is not None and id_type == "7":
                msg = check_credit_code(number)
                if msg:
                    self.add(f"{path}.zjh", msg)
                number = number.strip().upper()
            share = item.get("qlbl")
            if share is not None:
                if not isinstance(share, str):
                    self.add(f"{path}.qlbl", "must be a string such as '60%' or '1/3'")
                    share = None
                else:
                    try:
                        parse_share(share)
                    except ValueError as exc:
                        self.add(f"{path}.qlbl", str(exc))
                        share = None
            if name is not None and id_type is not None and number is not None:
                out.append(Party(name=name, id_type=id_type, id_number=number, share=share))
        return tuple(out)


def parse_entry(
    raw: Any, *, authorities: Mapping[str, Authority], codes: CodeTables
) -> RegistrationEntry:
    """Validate one raw entry (a decoded JSON object) and build the model.

    :param authorities: known authorities by code (``djjg``).
    :param codes: the code-table edition to validate against.
    :raises ValidationError: listing every problem found, each with its field path.
    """
    if not isinstance(raw, Mapping):
        raise ValidationError([Problem("", "an entry must be a JSON object")])
    c = _Checker(raw)
    c.problems.extend(Problem(field, message) for field, message in entry_problems(raw))
    if c.problems:  # strings that cannot be stored or printed: stop before touching them
        raise ValidationError(c.problems, subject="entry")
    for extra in sorted(set(raw) - ENTRY_KEYS, key=str):
        c.add(extra, "is not a known field of a registration entry")

    ywh = c.text("ywh", required=True)
    djjg = c.text("djjg", required=True)
    if djjg is not None and djjg not in authorities:  # djjg is a str here
        c.add("djjg", f"{djjg!r} is not a configured registration authority")
    if ywh is not None:
        for message in business_number_problems(ywh, djjg if djjg in authorities else None):
            c.add("ywh", message)
    djlx = c.code("djlx", codes.djlx, "登记类型", required=True)

    recorded_at = _recording_time(c, c.text("dbsj", required=True))

    zmsx = c.text("zmsx", required=False)
    if zmsx is not None and zmsx not in PROOF_MATTERS:
        c.add("zmsx", f"{zmsx!r} is not one of {'、'.join(PROOF_MATTERS)} (rule article 5)")
        zmsx = None
    cancelling, seizing = djlx == "400", djlx == "800"
    issuing = djlx is not None and not (cancelling or seizing)
    proof = issuing and (zmsx is not None or raw.get("zmsx") not in (None, ""))
    qllx = c.code("qllx", codes.qllx, "权利类型", required=issuing and not proof)
    if issuing and not proof and qllx == "19":
        c.add("zmsx", "地役权 (qllx 19) is proven by a registration proof: give zmsx 地役权")
    property_cert = issuing and not proof

    units: list[str] = []
    bdcdyh = raw.get("bdcdyh")
    if bdcdyh is None or bdcdyh == []:
        c.add("bdcdyh", "at least one unit number is required")
    elif not isinstance(bdcdyh, list):
        c.add("bdcdyh", "must be a list of unit numbers")
    else:
        for i, unit in enumerate(bdcdyh):
            msg = check_unit_number(unit)
            if msg:
                c.add("bdcdyh", f"unit number {i + 1}: {msg}")
            elif unit in units:
                c.add("bdcdyh", f"unit number {unit} is listed twice")
            else:
                units.append(unit)

    if djjg is not None and djjg in authorities:
        area = _division_prefix(authorities[djjg].division_code)
        for unit in units:
            if not unit.startswith(area):
                c.add(
                    "bdcdyh",
                    f"unit number {unit} lies in county {unit[:6]}, outside the "
                    f"area of authority {djjg} ({authorities[djjg].name})",
                )

    location = c.text("zl", required=issuing, one_line=True) or ""
    holders = c.parties("qlr", codes, required=issuing)
    obligors = c.parties("ywr", codes, required=proof)

    gyfs = c.code("gyfs", codes.gyfs, "共有方式", required=property_cert)
    czfs = c.text("czfs", required=False) or "共同持证"
    if czfs not in _HOLDING_MODES:
        c.add("czfs", f"{czfs!r} must be 共同持证 or 分别持证")
    if property_cert and gyfs is not None and holders:
        _check_co_ownership(c, gyfs, holders, len(raw.get("qlr") or []))

    qlxz = c.code("qlxz", codes.qlxz, "权利性质", required=property_cert)
    use = c.text("yt", required=property_cert)
    areas = _areas(c, required=property_cert)
    term = c.term("syqx", required=False)
    other_status = c.text("qlqtzk", required=False) or ""
    notes = c.text("fj", required=False) or ""
    other = c.text("qt", required=False) or ""
    plan = _attached_plan(c)
    prior = _prior_certificates(c, required=cancelling)
    reason = c.text("zxyy", required=cancelling, one_line=True)
    seizure = None
    if seizing:
        cfjg = c.text("cfjg", required=True, one_line=True)
        cfwh = c.text("cfwh", required=True, one_line=True)
        cflx = c.code("cflx", codes.cflx, "查封类型", required=True)
        cfqx = c.term("cfqx", required=False)
        if cfjg and cfwh and cflx:
            seizure = Seizure(cfjg, cfwh, cflx, cfqx)
    else:
        for key in ("cfjg", "cfwh", "cflx", "cfqx"):
            if key in raw:
                c.add(key, "seizure fields belong only to 查封 (djlx 800)")

    if c.problems:
        raise ValidationError(c.problems, subject=f"entry {ywh or '(no ywh)'}")
    assert ywh is not None and djjg is not None and djlx is not None and recorded_at is not None
    return RegistrationEntry(
        business_number=ywh,
        authority_code=djjg,
        registration_type=djlx,
        recorded_at=recorded_at,
        unit_numbers=tuple(units),
        location=location,
        holders=holders,
        obligors=obligors,
        right_type=qllx,
        proven_matter=zmsx,
        co_ownership=gyfs,
        holding_mode=czfs,
        right_nature=qlxz,
        use=use,
        areas=areas,
        term=term,
        other_status=other_status,
        notes=notes,
        other=other,
        attached_plan=plan,
        prior_certificates=prior,
        cancellation_reason=reason,
        seizure=seizure,
        source=canonical_json(raw),
        fingerprint=fingerprint(raw),
    )


def _recording_time(c: _Checker, dbsj: str | None) -> datetime | None:
    """登簿时间: ISO 8601 with a time and an offset, between 1900 and (a day past) now."""
    if dbsj is None:
        return None
    example = "e.g. 2024-03-05T10:21:00+08:00"
    try:
        value = datetime.fromisoformat(dbsj)
    except ValueError:
        c.add("dbsj", f"{dbsj!r} is not an ISO 8601 time with offset, {example}")
        return None
    if "T" not in dbsj or value.tzinfo is None:
        c.add("dbsj", f"{dbsj!r} needs a date, a time and an offset, {example}")
        return None
    if value.year < 1900 or value > datetime.now(UTC) + timedelta(days=1):
        c.add("dbsj", f"{dbsj!r} is not a plausible time of recording (1900 to now)")
        return None
    return value


def _division_prefix(code: str) -> str:
    """The part of a GB/T 2260 division code that its counties share: 510100 -> 5101."""
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def _check_co_ownership(c: _Checker, gyfs: str, holders: tuple[Party, ...], given: int) -> None:
    if gyfs == "0" and given != 1:
        c.add("gyfs", f"单独所有 (0) needs exactly one holder, {given} given")
    if gyfs in ("1", "2") and given < 2:
        c.add("gyfs", f"{'共同共有' if gyfs == '1' else '按份共有'} needs at least two holders")
    if gyfs == "2" or (gyfs == "3" and any(p.share is not None for p in holders)):
        missing = [i for i, p in enumerate(holders) if p.share is None]
        for i in missing:
            c.add(f"qlr[{i}].qlbl", "every holder of 按份共有 needs a share (qlbl)")
        if not missing and len(holders) == given:
            total = sum((parse_share(p.share) for p in holders if p.share), Fraction(0))
            if total != 1:
                c.add("qlr", f"shares add up to {total} ({float(total):.4%}), not exactly 1")


def _areas(c: _Checker, *, required: bool) -> Areas | None:
    value = c.raw.get("mj")
    if value is None:
        if required:
            c.add("mj", "is required (td land area and/or fw building area, m²)")
        return None
    if not isinstance(value, Mapping):
        c.add("mj", "must be an object with td and/or fw in m²")
        return None
    for extra in sorted(set(value) - {"td", "fw"}):
        c.add(f"mj.{extra}", "is not a known field (td, fw)")
    out: dict[str, Decimal] = {}
    for key in ("td", "fw"):
        v = value.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            c.add(f"mj.{key}", "must be a number of m²")
            continue
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            c.add(f"mj.{key}", f"{v!r} is not a number of m²")
            continue
        if not d.is_finite() or d < 0 or d > MAX_AREA:
            c.add(f"mj.{key}", f"{v!r} must be a non-negative number of m², at most {MAX_AREA:.0e}")
            continue
        out[key] = abs(d)  # -0 is 0
    if not out and not any(k in value for k in ("td", "fw")):
        c.add("mj", "needs td (land) or fw (building) area")
        return None
    return Areas(land=out.get("td"), building=out.get("fw"))


#: Largest 附图 (``ft.data``), in bytes of the picture file (4 MiB); its base64 text may be
#: 4/3 as long, beyond the :data:`MAX_TEXT` bound of every other string.
MAX_PLAN_BYTES = 4 * 1024 * 1024
#: Largest 附图 in pixels (width × height): a small file may declare a huge picture that would
#: take gigabytes to decode (a decompression bomb). 25 megapixels hold A3 at 300 dpi.
MAX_PLAN_PIXELS = 25_000_000
_MAX_PLAN_BASE64 = 4 * -(-MAX_PLAN_BYTES // 3)
_PLAN_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def _attached_plan(c: _Checker) -> AttachedPlan | None:
    """附图 ``ft``: ``mime`` image/png or image/jpeg and base64 ``data`` holding a picture of
    that format, at most :data:`MAX_PLAN_BYTES` bytes and :data:`MAX_PLAN_PIXELS` pixels, that
    Pillow opens, verifies and decodes whole. Problems are reported at ``ft``, ``ft.mime`` or
    ``ft.data``."""
    value = c.raw.get("ft")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        c.add("ft", "must be an object with mime and base64 data")
        return None
    mime = value.get("mime")
    if not isinstance(mime, str) or mime not in _PICTURE_MAGIC:
        c.add("ft.mime", f"{mime!r} must be image/png or image/jpeg")
        return None
    encoded = str(value.get("data", ""))
    too_large = f"at most {MAX_PLAN_BYTES} bytes (4 MiB) of picture are allowed"
    if len(encoded) > _MAX_PLAN_BASE64:
        c.add("ft.data", f"has {len(encoded)} characters of base64; {too_large}")
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        c.add("ft.data", "is not valid base64")
        return None
    if len(data) > MAX_PLAN_BYTES:
        c.add("ft.data", f"is {len(data)} bytes; {too_large}")
        return None
    if not data.startswith(_PICTURE_MAGIC[mime]):
        c.add("ft.data", f"is not a {mime} picture")
        return None
    problem = _plan_problem(data, _PLAN_FORMATS[mime])
    if problem is not None:
        c.add("ft.data", problem)
        return None
    return AttachedPlan(mime=mime, data=data)


def _plan_problem(data: bytes, kind: str) -> str | None:
    """Why ``data`` is not a usable ``kind`` (PNG or JPEG) picture, or None."""
    from PIL import Image

    try:  # the header first: the size is known before anything is decoded
        with Image.open(io.BytesIO(data)) as image:
            found, (width, height) = image.format, image.size
    except Exception as exc:  # Pillow raises many types for damaged files
        return f"is not a readable {kind} picture ({type(exc).__name__})"
    if found != kind:
        return f"is a {found} picture, not {kind}"
    if width * height > MAX_PLAN_PIXELS:
        return f"is {width} × {height} pixels; at most {MAX_PLAN_PIXELS} pixels are allowed"
    try:  # the whole file, not only its header: an unreadable picture cannot be rendered
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as exc:
        return f"is not a readable {kind} picture ({type(exc).__name__})"
    return None


#: A paper certificate number of any era (不动产权证书 since 2015, 房屋所有权证, 国有土地使用证…):
#: at most 64 characters, with Chinese characters and a serial number in digits, and nothing
#: but CJK, ASCII letters and (also full-width) digits, brackets and a few separators. Deliberately loose: old
#: formats vary by city, so only what cannot be any certificate number is refused.
_PAPER_NUMBER = re.compile(
    r"(?=.*[\u3400-\u9fff])(?=.*[\d０-９])[\u3400-\u9fff\w０-９()（）〔〕\[\]【】\-·.、 ]{4,64}",
    re.ASCII,  # \w and \d: ASCII letters and digits; CJK and full-width digits are explicit
)


def _prior_certificates(c: _Checker, *, required: bool) -> tuple[PriorCertificate, ...]:
    value = c.raw.get("yzh")
    if value is None or value == []:
        if required:
            c.add("yzh", "注销 needs the certificates it cancels")
        return ()
    if not isinstance(value, list):
        c.add("yzh", "must be a list of {zh, lx, cl}")
        return ()
    out: list[PriorCertificate] = []
    for i, item in enumerate(value):
        path = f"yzh[{i}]"
        if not isinstance(item, Mapping):
            c.add(path, "must be an object with zh and lx")
            continue
        for extra in sorted(set(item) - {"zh", "lx", "cl"}):
            c.add(f"{path}.{extra}", "is not a known field")
        number = c.text("zh", required=True, src=item, path=f"{path}.zh")
        medium = item.get("lx")
        if medium not in _MEDIA:
            c.add(f"{path}.lx", f"{medium!r} must be 电子 or 纸质")
            continue
        disposition = item.get("cl")
        if medium == "纸质":
            if disposition in (None, ""):
                c.add(
                    f"{path}.cl",
                    "a paper original must be 收回 (recovered) or 公告作废 "
                    "(announced void) before an e-certificate is issued (rule article 10)",
                )
                continue
            if disposition not in _DISPOSITIONS:
                c.add(f"{path}.cl", f"{disposition!r} must be 收回 or 公告作废")
                continue
        elif disposition not in (None, ""):
            c.add(f"{path}.cl", "only paper originals take a disposition")
            continue
        if number is not None and medium == "电子" and parse_certificate_number(number) is None:
            c.add(f"{path}.zh", f"{number!r} is not a certificate number")
            continue
        if number is not None and medium == "纸质" and not _PAPER_NUMBER.fullmatch(number):
            c.add(
                f"{path}.zh",
                f"{number!r} is not a paper certificate number (they name the certificate in "
                "Chinese and carry a serial number, e.g. 川(2016)成都市不动产权第0012345号 or "
                "成房权证监证字第1234567号)",
            )
            continue
        if number is not None and any(p.number == number for p in out):
            c.add(f"{path}.zh", f"{number} is listed twice")
        elif number is not None:
            out.append(PriorCertificate(number, medium, disposition or None))
    return tuple(out)
