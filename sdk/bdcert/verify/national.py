"""The national result codes of the e-licence sharing interface (GB/T 36906, 信息验证 and
文件验证), answered from bdcert's register.

The code tables are those of the national e-licence sharing-service interface as provincial
implementations publish them (/work/shared/reference/FACTS.md, "信息验证 results"):

信息验证 (information check: are these face values those of a certificate in force?)
    ==  ================  ====================================================================
    0   信息正确且有效     the values are the certificate's, and it is in force (VALID)
    1   信息正确且未激活   the values are right but the certificate is not yet in force: its
                          签发日期 (issue time) is after now (a certificate filed ahead of its
                          issue time, e.g. deposited by a city whose clock runs ahead)
    2   信息正确且证照暂时失效  the unit is under seizure (查封, RESTRICTED): bdcert keeps a
                          seized certificate in force, the national table calls it temporarily
                          suspended
    3   信息正确且证照已失效  superseded by a newer certificate, or cancelled (注销)
    4   信息不全无法验证   a required field is missing (the answer names it): ``zh`` (证号,
                          the certificate number) and ``qlr`` (权利人, a holder's name)
    5   查无此信息         no certificate has this number
    6   信息错误参数不一致  the certificate exists but a value differs (the answer names the
                          field, never the registered value, and only to an asker with the
                          full view of the certificate: to anybody else every mismatch is
                          answered alike)
    ==  ================  ====================================================================

文件验证 (file check: is this file's seal genuine and the file the one issued?)
    ==  ==============  ======================================================================
    0   文件验证通过     the seal is genuine, the file unchanged and the one registered (VALID,
                        RESTRICTED, SUPERSEDED, CANCELLED: the status is the information check's
                        question, the sentence still says it)
    1   文件签章校验失败  the seal fails: no seal (UNSEALED), SIGNATURE_INVALID,
                        UNTRUSTED_SIGNER (another CA, or another authority's seal), REVOKED,
                        NONCONFORMING (a sound seal of the wrong form: invisible, no
                        certification lock, signing time not the issue time)
    2   文件校验失败     the file fails: not a readable document (NOT_PDF), TOO_COMPLEX,
                        changed (DIGEST_MISMATCH), appended to (MODIFIED_AFTER_SEALING,
                        MULTIPLE_SIGNATURES), or soundly sealed but not a file the register
                        issued (UNKNOWN_CERTIFICATE)
    ==  ==============  ======================================================================

The information check's fields are the registration's standard terms (rule articles 5, 6; the
face items of :mod:`bdcert.face`): ``zh`` 证号 (required), ``qlr`` 权利人 (required: one
holder's name, or all of them joined by 、), ``zjh`` a holder's 证件号, ``bdcdyh`` 不动产单元号
(one of the certificate's units), ``zzbs`` 电子证照标识, and any other face item (``zl`` 坐落,
``qllx``, ``yt``, ``mj``, …) compared with the face as printed. Values are compared after
Unicode NFKC with blanks removed (full-width and half-width forms are the same value).

An anonymous information check is counted against the ``[lookup]`` limit (as
:meth:`bdcert.lifecycle.Registry.lookup`: it would otherwise be an oracle for guessing names);
every check is written to the audit log (action ``verify``, details ``check`` and ``code``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from bdcert.errors import Problem, ValidationError
from bdcert.model import Certificate, Principal, VerdictCode

__all__ = [
    "FILE_CODES",
    "INFORMATION_CODES",
    "REQUIRED_FIELDS",
    "NationalResult",
    "answer",
    "canonical_number",
    "check_fields",
    "file_check",
    "file_code",
    "information_check",
]

#: 信息验证 result codes and their national meaning.
INFORMATION_CODES: Mapping[int, str] = {
    0: "信息正确且有效",
    1: "信息正确且未激活",
    2: "信息正确且证照暂时失效",
    3: "信息正确且证照已失效",
    4: "信息不全无法验证",
    5: "查无此信息",
    6: "信息错误参数不一致",
}

#: 文件验证 result codes and their national meaning.
FILE_CODES: Mapping[int, str] = {0: "文件验证通过", 1: "文件签章校验失败", 2: "文件校验失败"}

#: The fields an information check needs, with their Chinese names.
REQUIRED_FIELDS: Mapping[str, str] = {"zh": "证号", "qlr": "权利人"}

#: Optional fields that are not face items, with their Chinese names.
_OTHER_FIELDS: Mapping[str, str] = {"zjh": "证件号", "zzbs": "电子证照标识"}

_FILE_CODE: Mapping[VerdictCode, int] = {
    VerdictCode.VALID: 0,
    VerdictCode.RESTRICTED: 0,
    VerdictCode.SUPERSEDED: 0,
    VerdictCode.CANCELLED: 0,
    VerdictCode.UNSEALED: 1,
    VerdictCode.SIGNATURE_INVALID: 1,
    VerdictCode.UNTRUSTED_SIGNER: 1,
    VerdictCode.REVOKED: 1,
    VerdictCode.NONCONFORMING: 1,
    VerdictCode.NOT_PDF: 2,
    VerdictCode.TOO_COMPLEX: 2,
    VerdictCode.DIGEST_MISMATCH: 2,
    VerdictCode.MODIFIED_AFTER_SEALING: 2,
    VerdictCode.MULTIPLE_SIGNATURES: 2,
    VerdictCode.UNKNOWN_CERTIFICATE: 2,
}


@attrs.define(frozen=True)
class NationalResult:
    """The answer of a national check.

    :ivar check: ``information`` (信息验证) or ``file`` (文件验证).
    :ivar code: the national result code (:data:`INFORMATION_CODES`, :data:`FILE_CODES`).
    :ivar meaning: the national code's meaning (e.g. ``信息正确且有效``).
    :ivar verdict: bdcert's :class:`~bdcert.model.VerdictCode` of the same answer; None when no
        certificate was judged (information code 4, and 1: not yet in force).
    :ivar sentence: a plain Chinese sentence for a clerk, holder or bank.
    :ivar detail: an English detail.
    :ivar fields: for information codes 4 and 6, the fields missing or differing.
    :ivar number: the certificate number, when one was found.
    """

    check: str
    code: int
    meaning: str
    verdict: VerdictCode | None
    sentence: str
    detail: str
    fields: tuple[str, ...] = ()
    number: str | None = None


def file_code(verdict: VerdictCode) -> int:
    """The 文件验证 code of a verdict (see the module docstring)."""
    return _FILE_CODE[verdict]


def file_check(
    registry: Any, document: bytes, principal: Principal | None = None
) -> NationalResult:
    """文件验证 of one PDF or OFD: :meth:`bdcert.lifecycle.Registry.verify` (audited there),
    its verdict mapped to the national code; the sentence is that of
    :class:`bdcert.verify.report.VerificationReport` (masked for the asker).

    :param registry: a :class:`~bdcert.lifecycle.Registry`.
    """
    from bdcert.verify.report import report_from_verdict

    verdict = registry.verify(document, principal=principal)
    report = report_from_verdict(verdict)
    code = file_code(verdict.code)
    return NationalResult(
        check="file",
        code=code,
        meaning=FILE_CODES[code],
        verdict=verdict.code,
        sentence=report.summary,
        detail=verdict.detail,
        number=report.number,
    )


def _norm(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).split())


def _names(value: str) -> frozenset[str]:
    return frozenset(
        _norm(n) for n in value.replace("，", "、").replace(",", "、").split("、") if n
    )


def _problems(fields: Any, known: set[str]) -> list[Problem]:
    if not isinstance(fields, Mapping):
        return [Problem("(body)", "must be an object of field names and strings")]
    problems = []
    for key, value in fields.items():
        if not isinstance(key, str) or key not in known:
            problems.append(
                Problem(
                    str(key), "is not a field of an information check: " + ", ".join(sorted(known))
                )
            )
        elif value is not None and not isinstance(value, str):
            problems.append(Problem(key, "must be a string"))
    return problems


#: Face items an information check may give (those of both certificate kinds, :mod:`bdcert.face`).
_FACE_FIELDS: Mapping[str, str] = {
    "djjg": "登记机构",
    "fzrq": "登簿日期",
    "qfsj": "签发日期",
    "zmsx": "证明权利或事项",
    "ywr": "义务人",
    "zl": "坐落",
    "bdcdyh": "不动产单元号",
    "qt": "其他",
    "fj": "附记",
    "gyqk": "共有情况",
    "qllx": "权利类型",
    "qlxz": "权利性质",
    "yt": "用途",
    "mj": "面积",
    "syqx": "使用期限",
    "qlqtzk": "权利其他状况",
}


def _label(field: str) -> str:
    return {**REQUIRED_FIELDS, **_OTHER_FIELDS, **_FACE_FIELDS}.get(field, field)


def _differs(cert: Certificate, field: str, given: str) -> bool:
    """Whether ``given`` is not the certificate's value of ``field``."""
    value = _norm(given)
    if field == "qlr":
        holders = {_norm(p.name) for p in cert.holders}
        return not (value in holders or (_names(given) and _names(given) == holders))
    if field == "zjh":
        return value.upper() not in {_norm(p.id_number).upper() for p in cert.holders}
    if field == "bdcdyh":
        return value not in {_norm(u) for u in cert.unit_numbers}
    if field == "zzbs":
        return value != _norm(cert.licence_id)
    if field == "zh":
        return value != _norm(cert.number)
    return value != _norm(cert.face_value(field) or "")


def information_check(
    registry: Any,
    fields: Mapping[str, Any],
    principal: Principal | None = None,
    *,
    client: str | None = None,
) -> NationalResult:
    """信息验证: are ``fields`` the face values of a certificate in force? (GB/T 36906 codes,
    see the module docstring.) :meth:`bdcert.lifecycle.Registry.information_check`, which
    counts the asker against the ``[lookup]`` limit, reads the register and logs the check,
    then answers with :func:`check_fields` and :func:`answer`.

    :param registry: a :class:`~bdcert.lifecycle.Registry`.
    :param fields: field name (``zh``, ``qlr``, ``zjh``, ``bdcdyh``, ``zzbs``, a face item key)
        -> string; a missing or blank required field gives code 4 naming it.
    :param principal: who asks (None: anonymous, counted against the ``[lookup]`` limit).
    :param client: who asks for the limit when anonymous (e.g. ``address:203.0.113.9``).
    :raises ValidationError: ``fields`` is not an object of strings, or names an unknown field
        (every bad field named; nothing is looked up).
    :raises TooManyAttempts: the client has had its share of checks (``[lookup]``).
    """
    result: NationalResult = registry.information_check(fields, principal=principal, client=client)
    return result


def check_fields(fields: Any) -> tuple[dict[str, str], NationalResult | None]:
    """The non-blank fields of an information check, and the code-4 answer naming the missing
    required fields (None when none is missing).

    :raises ValidationError: ``fields`` is not an object of strings, or names an unknown field.
    """
    known = {*REQUIRED_FIELDS, *_OTHER_FIELDS, *_FACE_FIELDS}
    problems = _problems(fields, known)
    if problems:
        raise ValidationError(problems, subject="information check")
    given = {k: v for k, v in fields.items() if isinstance(v, str) and v.strip()}
    missing = tuple(f for f in REQUIRED_FIELDS if f not in given)
    if not missing:
        return given, None
    names = "、".join(f"{REQUIRED_FIELDS[f]}（{f}）" for f in missing)
    return given, NationalResult(
        "information",
        4,
        INFORMATION_CODES[4],
        None,
        f"信息不全，无法验证：缺少{names}",
        "missing required fields: " + ", ".join(missing),
        fields=missing,
    )


def canonical_number(number: str) -> str:
    """A certificate number as filed: NFKC, blanks removed (full-width brackets are ASCII)."""
    return "".join(unicodedata.normalize("NFKC", number).split())


def answer(
    cert: Certificate | None,
    given: Mapping[str, str],
    *,
    now: datetime,
    status: tuple[VerdictCode, str] | None = None,
    seen: Certificate | None = None,
    name_fields: bool = True,
) -> NationalResult:
    """The 信息验证 answer (codes 5, 6, 1, then 0, 2, 3) for ``given`` against ``cert``.

    :param cert: the registered certificate the number names, or None (code 5).
    :param now: the register's time (code 1 before the certificate's issue time).
    :param status: the register's status verdict and its detail, masked for the asker
        (:func:`bdcert.lifecycle.reading.status_verdict`); needed unless the answer is 5, 6 or 1.
    :param seen: the certificate as the asker may see it (:func:`bdcert.access.redact`): the
        successors and the cancellation reason are taken from it.
    :param name_fields: a code-6 answer names the differing fields; False for an asker without
        the full view of the certificate (:func:`bdcert.access.full_view`): the answer is then
        the same whichever values differ, so that a name or an ID number cannot be confirmed
        field by field.
    """
    if cert is None:
        return NationalResult(
            "information",
            5,
            INFORMATION_CODES[5],
            VerdictCode.UNKNOWN_CERTIFICATE,
            "查无此证：登记簿中没有这个证号",
            "no certificate with this number is registered",
        )
    differing = tuple(f for f, v in given.items() if _differs(cert, f, v))
    if differing and not name_fields:
        return NationalResult(
            "information",
            6,
            INFORMATION_CODES[6],
            VerdictCode.UNKNOWN_CERTIFICATE,
            "信息与登记不一致",
            "the values given do not all match the register",
        )
    if differing:
        labels = "、".join(f"{_label(f)}（{f}）" for f in differing)
        return NationalResult(
            "information",
            6,
            INFORMATION_CODES[6],
            VerdictCode.UNKNOWN_CERTIFICATE,
            f"信息与登记不一致：{labels}",
            "these values differ from the register: " + ", ".join(differing),
            fields=differing,
        )
    if cert.issued_at > now:
        return NationalResult(
            "information",
            1,
            INFORMATION_CODES[1],
            None,
            f"信息正确，但证照尚未生效（签发时间 {cert.issued_at.isoformat()}）",
            f"the certificate's issue time {cert.issued_at.isoformat()} has not come",
            number=cert.number,
        )
    if status is None or seen is None:
        raise ValueError("answer() needs the status and the certificate as seen")
    code, detail = status
    if code is VerdictCode.VALID:
        national, sentence = 0, "信息正确，证照现行有效"
    elif code is VerdictCode.RESTRICTED:
        national, sentence = 2, "信息正确，但该不动产单元已被查封，证照暂时失效"
    elif code is VerdictCode.SUPERSEDED:
        national = 3
        sentence = f"信息正确，但证照已失效：该证书已被 {'、'.join(seen.superseded_by)} 取代"
    else:
        national = 3
        sentence = f"信息正确，但证照已失效：该证书已注销，原因：{seen.cancel_reason or ''}"
    return NationalResult(
        "information",
        national,
        INFORMATION_CODES[national],
        code,
        sentence,
        detail,
        number=cert.number,
    )
