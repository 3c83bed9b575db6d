"""Identifiers: unit numbers, certificate numbers, e-licence identifiers and ID-number checks.

Each ``check_*`` function returns ``None`` when the value is well formed and otherwise a message
in plain words saying what is wrong; the validator turns those into :class:`~bdcert.errors.Problem`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from bdcert.model import CertificateKind

__all__ = [
    "CHINA_RESIDENT_ID_WEIGHTS",
    "CREDIT_CODE_ALPHABET",
    "LICENCE_TYPE_CODES",
    "business_number_authority",
    "business_number_problems",
    "check_credit_code",
    "check_resident_id",
    "check_unit_number",
    "format_certificate_number",
    "has_visible",
    "iso7064_mod37_36",
    "licence_identifier",
    "normalize_resident_id",
    "parse_certificate_number",
]

# --- visible text and 业务号 (ywh) ----------------------------------------------------------------
#: Unicode categories that print as nothing on their own: combining and enclosing marks (Mn, Me:
#: they only modify a base character), format, spaces and separators, controls, private-use and
#: unassigned characters.
_INVISIBLE_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cs", "Zs", "Zl", "Zp", "Cc", "Co", "Cn"})
#: Characters that render as nothing although Unicode gives them a visible category (Hangul
#: fillers, braille blank, Mongolian vowel separator, Khmer inherent vowels, …).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f\u17b4\u17b5")
#: A business number (ywh) that starts with six digits and a hyphen names its authority (djjg);
#: matched after NFKC, with any decimal digits (Unicode Nd: full-width, Arabic-Indic, …).
_YWH_AUTHORITY = re.compile(r"(\d{6})-")


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in _INVISIBLE_CATEGORIES
        or ch in _BLANK_LETTERS
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF  # variation selectors supplement
        or 0xE0000 <= code <= 0xE007F  # tag characters
    )


def has_visible(text: str) -> bool:
    """True when ``text`` holds at least one character that prints as something: not a
    combining or enclosing mark (Mn, Me), space or separator (Z*), control, format (zero-width,
    bidi), unassigned or private-use character (C*), variation selector, tag character, nor a
    blank letter such as U+3164 HANGUL FILLER or U+2800 BRAILLE PATTERN BLANK."""
    return any(not _invisible(ch) for ch in text)


def business_number_authority(ywh: str) -> str | None:
    """The authority code (``djjg``) a 业务号 names by its ``NNNNNN-`` prefix (matched after
    NFKC, any decimal digits, returned in ASCII), or None when it names none."""
    named = _YWH_AUTHORITY.match(unicodedata.normalize("NFKC", ywh))
    return "".join(str(unicodedata.decimal(d)) for d in named.group(1)) if named else None


def business_number_problems(ywh: str, djjg: str | None) -> list[str]:
    """What is wrong with a 业务号 (``ywh``) pushed by authority ``djjg``; empty when nothing.

    A ``ywh`` is printable (no control, format or space characters: it is shown to operators and
    is the idempotency key of a push, rule article 7), and one that names an authority
    (``NNNNNN-…``, the form of the registration systems' numbers, e.g. ``510100-2024-000101``)
    names the entry's own ``djjg``: a registrar cannot record, and so block, another
    authority's business number. (A ``ywh`` without an authority prefix binds to nobody.)
    """
    problems = []
    hidden = sorted({f"U+{ord(ch):04X}" for ch in ywh if unicodedata.category(ch)[0] in "ZC"})
    if hidden:
        problems.append(f"contains control, format or space characters ({', '.join(hidden[:5])})")
    # NFKC first: a prefix in full-width (５１０７００-) or other compatibility digits names the
    # same authority as its ASCII form, and must not bind to nobody.
    authority = business_number_authority(ywh)
    if authority is not None and djjg is not None and authority != djjg:
        problems.append(
            f"belongs to authority {authority}, not to djjg {djjg}: an authority records "
            "only its own business numbers"
        )
    return problems


# --- 不动产单元号 GB/T 37346-2019 -------------------------------------------------------------
_PARCEL_OWNER = "GJZ"  # 国家, 集体, 争议
_PARCEL_KIND = "ABSXCDEFHGWY"
_FIXTURE = "FLQW"  # 房屋, 森林林木, 其他, 无定着物


def check_unit_number(value: object) -> str | None:
    """Check a 不动产单元号 against GB/T 37346-2019 §5.

    28 characters: 6-digit county code, 3-digit cadastral district, 3-digit sub-district,
    2-letter parcel feature code (G/J/Z then A B S X C D E F H G W Y), 5-digit parcel sequence,
    fixture feature letter (F 房屋, L 森林林木, Q 其他, W 无定着物) and an 8-digit fixture unit
    number, which is ``00000000`` exactly when the fixture letter is W.
    """
    if not isinstance(value, str):
        return "must be a 28-character string"
    if len(value) != 28:
        return f"{value!r} has {len(value)} characters; a unit number has 28 (GB/T 37346)"
    wrong = []
    if not value[:12].isdigit() or not value[:12].isascii():
        wrong.append("characters 1-12 (county, district, sub-district codes) must be digits")
    if value[12] not in _PARCEL_OWNER:
        wrong.append(f"character 13 {value[12]!r} must be G, J or Z (parcel ownership)")
    if value[13] not in _PARCEL_KIND:
        wrong.append(f"character 14 {value[13]!r} is not a parcel feature letter")
    if not (value[14:19].isdigit() and value[14:19].isascii()):
        wrong.append("characters 15-19 (parcel sequence) must be digits")
    if value[19] not in _FIXTURE:
        wrong.append(f"character 20 {value[19]!r} must be F, L, Q or W (fixture feature)")
    tail = value[20:]
    if not (tail.isdigit() and tail.isascii()):
        wrong.append("characters 21-28 (fixture unit number) must be digits")
    elif value[19] == "W" and tail != "00000000":
        wrong.append("a W (无定着物) unit number must end in 00000000")
    elif value[19] in "FLQ" and tail == "00000000":
        wrong.append(f"a {value[19]} fixture needs a fixture unit number other than 00000000")
    if wrong:
        return f"{value!r}: " + "; ".join(wrong)
    return None


# --- 居民身份证号 GB 11643-1999 ---------------------------------------------------------------
CHINA_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RID_CHECK = "10X98765432"


def normalize_resident_id(value: str) -> str:
    """Upper-case the check character: ``…017x`` and ``…017X`` are the same person."""
    return value.strip().upper()


def check_resident_id(value: str) -> str | None:
    """Check an 18-character resident ID number (GB 11643-1999): digits, birth date, check char."""
    v = normalize_resident_id(value)
    if len(v) != 18 or not v[:17].isdigit() or not v[:17].isascii():
        return "a resident ID number has 17 digits and a check character (18 in all)"
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return f"birth date {v[6:14]} in the ID number is not a date"
    expected = _RID_CHECK[
        sum(int(c) * w for c, w in zip(v[:17], CHINA_RESIDENT_ID_WEIGHTS, strict=True)) % 11
    ]
    if v[17] != expected:
        return f"check character is {v[17]}, the number's digits give {expected} (GB 11643)"
    return None


# --- 统一社会信用代码 GB 32100-2015 -----------------------------------------------------------
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_credit_code(value: str) -> str | None:
    """Check an 18-character unified social credit code (GB 32100-2015) and its check character."""
    v = value.strip().upper()
    if len(v) != 18 or any(c not in CREDIT_CODE_ALPHABET for c in v):
        return "a unified social credit code has 18 characters from 0-9 and A-Y without I O Z S V"
    total = sum(
        CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(v[:17], _CREDIT_WEIGHTS, strict=True)
    )
    expected = CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]
    if v[17] != expected:
        return f"check character is {v[17]}, the code gives {expected} (GB 32100)"
    return None


# --- certificate numbers --------------------------------------------------------------------
_KIND_WORD = {
    CertificateKind.PROPERTY_CERTIFICATE: "不动产权",
    CertificateKind.REGISTRATION_PROOF: "不动产证明",
}
_NUMBER_RE = re.compile(
    r"^(?P<sfjc>\w)[(（](?P<year>\d{4})[)）](?P<szmc>.+?)(?P<word>不动产权|不动产证明)"
    r"第(?P<seq>\d{7})号$"
)


def format_certificate_number(
    sfjc: str, year: int, szmc: str, kind: CertificateKind, sequence: int
) -> str:
    """``川(2024)成都市不动产权第0000001号`` / ``川(2024)成都市不动产证明第0000001号``.

    :param sequence: 1 … 9 999 999, per authority, year (China time) and kind.
    :raises ValueError: if the sequence does not fit in seven digits.
    """
    if not 1 <= sequence <= 9_999_999:
        raise ValueError(f"certificate sequence {sequence} does not fit in 7 digits")
    return f"{sfjc}({year}){szmc}{_KIND_WORD[kind]}第{sequence:07d}号"


def parse_certificate_number(number: str) -> tuple[str, int, str, CertificateKind, int] | None:
    """Split a certificate number into (sfjc, year, szmc, kind, sequence); ``None`` if malformed.

    Accepts ASCII and full-width parentheses, which both occur in the wild.
    """
    m = _NUMBER_RE.match(number.strip())
    if m is None:
        return None
    kind = (
        CertificateKind.PROPERTY_CERTIFICATE
        if m["word"] == "不动产权"
        else CertificateKind.REGISTRATION_PROOF
    )
    return m["sfjc"], int(m["year"]), m["szmc"], kind, int(m["seq"])


# --- 电子证照标识 ---------------------------------------------------------------------------
#: Licence type codes of the national integrated platform, as seen in practice.
LICENCE_TYPE_CODES = {
    CertificateKind.PROPERTY_CERTIFICATE: "11100000MB03271699001",
    CertificateKind.REGISTRATION_PROOF: "11100000MB03271699022",
}
_MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def iso7064_mod37_36(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid) check character over ``0-9A-Z``.

    :raises ValueError: for a character outside ``0-9A-Z``.
    """
    p = 36
    for ch in data.upper():
        value = _MOD37_ALPHABET.find(ch)
        if value < 0:
            raise ValueError(f"{ch!r} is not allowed in ISO 7064 MOD 37,36 input")
        s = (p + value) % 36 or 36
        p = (s * 2) % 37
    return _MOD37_ALPHABET[(37 - p) % 36]


def licence_identifier(type_code: str, issuer_code: str, serial: str, version: int = 1) -> str:
    """The national e-licence identifier (电子证照标识).

    ``1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version, 3 digits>.<check>``; the check
    character is ISO 7064 MOD 37,36 over type code + issuer code + serial + version.
    """
    ver = f"{version:03d}"
    check = iso7064_mod37_36(f"{type_code}{issuer_code}{serial}{ver}")
    return f"1.2.156.3005.2.{type_code}.{issuer_code}.{serial}.{ver}.{check}"
