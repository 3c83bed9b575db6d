"""A verification explained check by check: :class:`VerificationReport` (rule article 14).

:meth:`bdcert.lifecycle.Registry.verify` answers one :class:`~bdcert.model.VerdictCode`, the
first failing check of :mod:`bdcert.verify.pipeline` (then the register's status). A clerk, a
holder or a bank wants to see every check: which passed, which failed and why, which did not
run. Because the pipeline's checks run in a fixed order and the first failure decides, the
verdict code alone says which check failed; every check before it passed and every check
after it did not run. :func:`report_from_verdict` therefore builds the report from the
:class:`~bdcert.model.Verdict` (and, offline, from what :mod:`bdcert.verify.offline` knows)
without verifying anything again.

The six checks, in order (:data:`CHECKS`):

1. ``integrity`` 完整性 — the file is a readable document whose sealed bytes are unchanged.
   Codes: ``intact`` (passed), ``changed_in_signed_range`` (DIGEST_MISMATCH),
   ``appended_after_sealing`` (MODIFIED_AFTER_SEALING), ``extra_signature``
   (MULTIPLE_SIGNATURES: a second signature is necessarily appended after sealing),
   ``no_seal`` (UNSEALED: without a seal no change can be detected), ``not_a_document``
   (NOT_PDF), ``too_complex`` (TOO_COMPLEX: refused before reading).
2. ``seal`` 签章 — the signature verifies, chains to a trust root, is not revoked, and the signer
   is a seal certificate. Codes: ``seal_valid`` (passed), ``signature_invalid``
   (SIGNATURE_INVALID), ``seal_revoked`` (REVOKED), ``untrusted_root`` and ``signer_not_a_seal``
   (UNTRUSTED_SIGNER: no chain to a root, or a CA / a key not for signing / a seal not the
   signer's).
3. ``issuer`` 签发机关 — the seal's authority is the authority the certificate names (its
   document author and the place in its number: :func:`bdcert.verify.pipeline.authority_problem`).
   Codes: ``issuer_matches`` (passed), ``issuer_mismatch`` (UNTRUSTED_SIGNER whose detail says
   "another authority's seal").
4. ``form`` 签章形式 — the sound seal has the form the scheme requires (the conformance kit's
   seal checks, :class:`~bdcert.model.SealFormFinding`): visible, a certification lock (DocMDP
   ``/P 1``), signed at the certificate's issue time. Codes: ``form_conforms`` (passed),
   ``invisible_seal``, ``no_certification_lock``, ``signing_time_mismatch`` (failed: the first
   finding's code; the sentence lists every finding). A VALID or RESTRICTED certificate with a
   finding is NONCONFORMING; a superseded, cancelled or unregistered one keeps its code and
   still shows the finding. Offline the issue time is not known (no register): the signing
   time is not compared, and the sentence says so.
5. ``register`` 登记状态 — the certificate's status. Codes: ``in_force`` (passed),
   ``restricted`` (passed: in force, but the unit is under seizure 查封; RESTRICTED),
   ``superseded`` (SUPERSEDED), ``cancelled`` (CANCELLED), ``not_registered``
   (UNKNOWN_CERTIFICATE: the file is not in the register); offline (:mod:`bdcert.verify.offline`)
   ``not_listed`` (passed: not among the numbers a sealed status snapshot lists as no longer in
   force, as of its time) and ``not_checked`` (None: seal-only verification has no register).
6. ``face`` 证面信息 — the face values the file shows are the register's. Online this follows
   from the file's SHA-256 (or that of the revision it extends) being the one registered for the
   certificate: ``matches_register`` (passed). Offline the register is not consulted:
   ``as_sealed`` (passed: the face is as the authority sealed it, unchanged since; whether the
   register still holds the same values needs the online check).

Every check not run because an earlier one failed has ``passed=None`` and code ``not_run``.
The certificate's status does not hide its face: a superseded, cancelled or restricted
certificate still reports ``matches_register`` (the file is the one registered; only its status
changed).

Names in sentences come from the verdict, already masked for the asker by the SDK
(:func:`bdcert.access.redact`, :func:`bdcert.access.mask_text`): an anonymous caller sees masked
names in a cancellation reason.

:data:`LEVEL_ONLINE`, :func:`level_snapshot` and :data:`LEVEL_SEAL_ONLY` name which level of
verification ran (the register, a sealed status snapshot, or the seal alone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from bdcert.model import CHINA_TZ, Verdict, VerdictCode

__all__ = [
    "CHECKS",
    "CHECK_CODES",
    "LEVEL_ONLINE",
    "LEVEL_SEAL_ONLY",
    "SUMMARIES",
    "CheckResult",
    "VerificationReport",
    "level_snapshot",
    "report_from_verdict",
    "signer_name",
    "verification_report",
]

#: The checks in order: (key, Chinese label).
CHECKS: tuple[tuple[str, str], ...] = (
    ("integrity", "完整性"),
    ("seal", "签章"),
    ("issuer", "签发机关"),
    ("form", "签章形式"),
    ("register", "登记状态"),
    ("face", "证面信息"),
)

#: Every code each check can give (see the module docstring); ``not_run`` for all.
CHECK_CODES: Mapping[str, frozenset[str]] = {
    "integrity": frozenset(
        {
            "intact",
            "changed_in_signed_range",
            "appended_after_sealing",
            "extra_signature",
            "no_seal",
            "not_a_document",
            "too_complex",
            "not_run",
        }
    ),
    "seal": frozenset(
        {"seal_valid", "signature_invalid", "seal_revoked", "untrusted_root", "signer_not_a_seal"}
        | {"not_run"}
    ),
    "issuer": frozenset({"issuer_matches", "issuer_mismatch", "not_run"}),
    "form": frozenset(
        {"form_conforms", "invisible_seal", "no_certification_lock", "signing_time_mismatch"}
        | {"not_run"}
    ),
    "register": frozenset(
        {
            "in_force",
            "restricted",
            "superseded",
            "cancelled",
            "not_registered",
            "not_listed",
            "not_checked",
            "not_run",
        }
    ),
    "face": frozenset({"matches_register", "as_sealed", "not_run"}),
}

#: The level of a verification against the register (``bdcert verify``, ``POST /api/v1/verify``).
LEVEL_ONLINE = "online register"
#: The level of an offline verification without a status snapshot: seal, integrity, issuer.
LEVEL_SEAL_ONLY = "seal only"


def level_snapshot(made_at: datetime) -> str:
    """The level of an offline verification with a sealed status snapshot made at ``made_at``:
    ``seal and snapshot as of <ISO 8601, China time>``."""
    return f"seal and snapshot as of {made_at.astimezone(CHINA_TZ).isoformat()}"


#: The overall sentence (Chinese, for a clerk, holder or bank) of every verdict code; the
#: statuses' sentences are completed with the successor, the reason (see :func:`_summary`).
SUMMARIES: Mapping[VerdictCode, str] = {
    VerdictCode.VALID: "证书真实有效：由登记机构盖章，盖章后未被修改，现行有效",
    VerdictCode.RESTRICTED: "证书真实且现行有效，但该不动产单元已被查封",
    VerdictCode.SUPERSEDED: "证书真实，但已被新证书取代，不再有效",
    VerdictCode.CANCELLED: "证书真实，但已注销，不再有效",
    VerdictCode.NOT_PDF: "这不是一份可读的 PDF 或 OFD 文件",
    VerdictCode.UNSEALED: "文件没有电子签章，无法证明其真实性",
    VerdictCode.MULTIPLE_SIGNATURES: "文件在盖章后被加上了另一个签章，不能作为证书使用",
    VerdictCode.DIGEST_MISMATCH: "文件在盖章后被修改过",
    VerdictCode.MODIFIED_AFTER_SEALING: "文件在盖章后被追加了内容",
    VerdictCode.SIGNATURE_INVALID: "签章无法通过验证，文件可能是伪造的",
    VerdictCode.UNTRUSTED_SIGNER: "印章不是由受信任的机构签发，文件可能是伪造的",
    VerdictCode.REVOKED: "印章证书在盖章前已被吊销，签章无效",
    VerdictCode.UNKNOWN_CERTIFICATE: "签章完好，但登记簿中没有这份文件",
    VerdictCode.TOO_COMPLEX: "文件过于复杂，已拒绝验证",
    VerdictCode.NONCONFORMING: (
        "证书已登记且盖章后未被修改，但印章不符合规范，不能视为有效证书，请向登记机构核实"
    ),
}

_ISSUER_MISMATCH = "another authority's seal"
_NOT_A_SEAL = (
    "not a seal certificate",
    "key usage",
    "does not belong to the signer",
    "not a seal-making authority",
)


@attrs.define(frozen=True)
class CheckResult:
    """One check of a verification.

    :ivar check: ``integrity``, ``seal``, ``issuer``, ``form``, ``register`` or ``face``
        (:data:`CHECKS`).
    :ivar label: its Chinese name (完整性, 签章, 签发机关, 签章形式, 登记状态, 证面信息).
    :ivar code: a stable snake_case code (:data:`CHECK_CODES`, the module docstring).
    :ivar passed: True, False, or None (not run: an earlier check failed, or the level of
        verification does not include it).
    :ivar sentence: one plain Chinese sentence for a clerk, holder or bank.
    :ivar detail: an English detail (the pipeline's own words for a failure).
    """

    check: str
    label: str
    code: str
    passed: bool | None
    sentence: str
    detail: str


@attrs.define(frozen=True)
class VerificationReport:
    """One verification, check by check.

    :ivar verdict: the overall :class:`~bdcert.model.VerdictCode`.
    :ivar ok: True when the certificate is genuine and in force (valid or restricted).
    :ivar summary: the overall Chinese sentence.
    :ivar detail: the verdict's English detail.
    :ivar checks: one :class:`CheckResult` per check, in the order of :data:`CHECKS`.
    :ivar level: which level ran: ``online register``, ``seal only`` or ``seal and snapshot as
        of <time>``.
    :ivar number: the certificate number, when known (from the register, or offline from the
        sealed document's title).
    :ivar signer: the seal certificate's subject (RFC 4514), when read.
    :ivar signed_at: the signing time (aware), when read.
    :ivar trust_bundle: offline, the SHA-256 (hex) of the trust bundle used; None online.
    :ivar name: the file's name as given (e.g. an upload's file name), or None.
    """

    verdict: VerdictCode
    ok: bool
    summary: str
    detail: str
    checks: tuple[CheckResult, ...]
    level: str = LEVEL_ONLINE
    number: str | None = None
    signer: str | None = None
    signed_at: datetime | None = None
    trust_bundle: str | None = None
    name: str | None = None

    def check(self, key: str) -> CheckResult:
        """The result of check ``key`` (:data:`CHECKS`). :raises KeyError: for another key."""
        for result in self.checks:
            if result.check == key:
                return result
        raise KeyError(key)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (codes as strings, times ISO 8601)."""
        return {
            "verdict": self.verdict.value,
            "ok": self.ok,
            "summary": self.summary,
            "detail": self.detail,
            "level": self.level,
            "number": self.number,
            "signer": self.signer,
            "signed_at": None if self.signed_at is None else self.signed_at.isoformat(),
            "trust_bundle": self.trust_bundle,
            "name": self.name,
            "checks": [attrs.asdict(c) for c in self.checks],
        }


#: A failing seal verdict -> (check key, check code, Chinese sentence) of the check it names
#: (UNTRUSTED_SIGNER depends on its detail: see :func:`_failed_check`).
_FAILURES = {
    VerdictCode.TOO_COMPLEX: (
        "integrity",
        "too_complex",
        "文件超出了验证所允许的复杂程度，未作进一步检查",
    ),
    VerdictCode.NOT_PDF: ("integrity", "not_a_document", "这不是一份可读的 PDF 或 OFD 文件"),
    VerdictCode.UNSEALED: ("integrity", "no_seal", "文件没有电子签章，无法确认是否被修改"),
    VerdictCode.MULTIPLE_SIGNATURES: (
        "integrity",
        "extra_signature",
        "文件在盖章后被加上了另一个签章",
    ),
    VerdictCode.DIGEST_MISMATCH: ("integrity", "changed_in_signed_range", "文件在盖章后被修改过"),
    VerdictCode.MODIFIED_AFTER_SEALING: (
        "integrity",
        "appended_after_sealing",
        "文件在盖章后被追加了内容",
    ),
    VerdictCode.SIGNATURE_INVALID: (
        "seal",
        "signature_invalid",
        "签章的密码校验不通过，文件可能是伪造的",
    ),
    VerdictCode.REVOKED: ("seal", "seal_revoked", "印章证书在盖章前已被吊销"),
}


def _failed_check(code: VerdictCode, detail: str) -> tuple[str, str, str]:
    """(check key, check code, Chinese sentence) of the check a failing seal verdict names."""
    if code in _FAILURES:
        return _FAILURES[code]
    if code is VerdictCode.UNTRUSTED_SIGNER:
        if _ISSUER_MISMATCH in detail:
            return "issuer", "issuer_mismatch", "印章不属于证书上的登记机构，文件可能是伪造的"
        if any(marker in detail for marker in _NOT_A_SEAL):
            return "seal", "signer_not_a_seal", "签名所用的证书不是登记机构的印章证书"
        return "seal", "untrusted_root", "印章不是由受信任的机构签发，文件可能是伪造的"
    raise ValueError(f"{code} is not a failing seal verdict")


_PASSED = {
    "integrity": ("intact", "文件自盖章以来未被修改", "the sealed bytes are unchanged"),
    "seal": (
        "seal_valid",
        "签章验证通过，印章由受信任的机构签发，未被吊销",
        "the signature verifies and the signer chains to a trust root",
    ),
    "issuer": (
        "issuer_matches",
        "印章属于证书上的登记机构",
        "the seal is that of the registration authority the certificate names",
    ),
}

_NOT_RUN_SENTENCE = "前一项检查未通过，未进行此项检查"
_SEIZED = "the unit is under seizure"  # in a NONCONFORMING detail: the status was RESTRICTED


def form_check(verdict: Verdict, *, offline: bool = False) -> CheckResult:
    """The ``form`` check of a verdict whose seal is sound: its findings, or ``form_conforms``
    (offline: the signing time not compared, the issue time being the register's)."""
    label = dict(CHECKS)["form"]
    if verdict.form:
        first = verdict.form[0]
        sentence = "；".join(f.sentence for f in verdict.form)
        detail = "; ".join(f"{f.code}: {f.detail}" for f in verdict.form)
        return CheckResult("form", label, first.code, False, sentence, detail)
    if offline:
        return CheckResult(
            "form",
            label,
            "form_conforms",
            True,
            "印章可见，并已锁定文件（认证签章）；签章时间是否为签发时间需在线核验",
            "visible, a certification seal (DocMDP 1); the signing time is not compared offline",
        )
    return CheckResult(
        "form",
        label,
        "form_conforms",
        True,
        "印章可见，已锁定文件（认证签章），签章时间即签发时间",
        "visible, a certification seal (DocMDP 1), signed at the issue time",
    )


_NAME = re.compile(r"(?:^|,)(O|CN)=((?:[^,\\]|\\.)+)")


def signer_name(subject: str | None) -> str | None:
    """The organisation (else common name) of a signer's RFC 4514 subject, or None."""
    if not subject:
        return None
    found: dict[str, str] = {m[1]: m[2] for m in _NAME.finditer(subject)}
    name = found.get("O") or found.get("CN")
    return name.replace("\\", "") if name else None


def _passed(key: str, label: str, signer: str | None) -> CheckResult:
    """A passed check; the seal and issuer checks name the signer (the seal's subject)."""
    code, sentence, detail = _PASSED[key]
    name = signer_name(signer)
    if key == "seal" and signer:
        sentence = f"签章验证通过：签章人为{name}，印章由受信任的机构签发，未被吊销"
        detail = f"{detail}; signer: {signer}"
    elif key == "issuer" and name:
        sentence = f"印章属于证书上的登记机构（{name}）"
    return CheckResult(key, label, code, True, sentence, detail)


def _not_run(key: str, label: str) -> CheckResult:
    return CheckResult(
        key, label, "not_run", None, _NOT_RUN_SENTENCE, "not run: an earlier check failed"
    )


def _status_check(verdict: Verdict) -> tuple[str, bool, str, str]:
    """(code, passed, sentence, detail) of the register check of a registered certificate."""
    cert = verdict.certificate
    code = verdict.code
    if code is VerdictCode.SUPERSEDED:
        successors = "、".join(cert.superseded_by) if cert is not None else ""
        sentence = f"该证书已被 {successors} 取代" if successors else "该证书已被新证书取代"
        return "superseded", False, sentence, verdict.detail
    if code is VerdictCode.CANCELLED:
        reason = cert.cancel_reason if cert is not None else None
        sentence = f"该证书已注销，原因：{reason}" if reason else "该证书已注销"
        return "cancelled", False, sentence, verdict.detail
    if code is VerdictCode.NONCONFORMING and _SEIZED in verdict.detail:
        code = VerdictCode.RESTRICTED
    if code is VerdictCode.RESTRICTED:
        seized = cert.restrictions[-1] if cert is not None and cert.restrictions else None
        which = f"（{seized.authority} {seized.document_number}）" if seized is not None else ""
        return "restricted", True, f"该不动产单元已被查封{which}，证书仍然有效", verdict.detail
    return "in_force", True, "该证书现行有效", "in force"


def _summary(verdict: Verdict, register_sentence: str | None) -> str:
    if verdict.code is VerdictCode.NONCONFORMING:
        return SUMMARIES[verdict.code]
    if verdict.code in (VerdictCode.SUPERSEDED, VerdictCode.CANCELLED, VerdictCode.RESTRICTED):
        return f"证书真实，但{register_sentence}" if register_sentence else SUMMARIES[verdict.code]
    return SUMMARIES[verdict.code]


def report_from_verdict(
    verdict: Verdict,
    *,
    level: str = LEVEL_ONLINE,
    register: CheckResult | None = None,
    number: str | None = None,
    trust_bundle: str | None = None,
    name: str | None = None,
) -> VerificationReport:
    """The report of one verification from its :class:`~bdcert.model.Verdict` (see the module
    docstring for how each code maps to the checks).

    :param level: which level ran (:data:`LEVEL_ONLINE`, :data:`LEVEL_SEAL_ONLY`,
        :func:`level_snapshot`).
    :param register: offline, the register check as the snapshot (or its absence) decided it;
        None online (the check follows from the verdict).
    :param number: the certificate number when the verdict carries no certificate (offline).
    :param trust_bundle: offline, the trust bundle's digest.
    :param name: the file's name, to carry along.
    """
    code = verdict.code
    labels = dict(CHECKS)
    results: list[CheckResult] = []
    failed_at: str | None = None
    seal_codes = set(VerdictCode) - {
        VerdictCode.VALID,
        VerdictCode.RESTRICTED,
        VerdictCode.SUPERSEDED,
        VerdictCode.CANCELLED,
        VerdictCode.UNKNOWN_CERTIFICATE,
        VerdictCode.NONCONFORMING,
    }
    if code in seal_codes:
        failed_at, check_code, sentence = _failed_check(code, verdict.detail)
        for key, label in CHECKS:
            if failed_at is None:
                results.append(_not_run(key, label))
            elif key == failed_at:
                detail = verdict.detail
                if key in ("seal", "issuer") and verdict.signer:
                    detail = f"{detail} (signer: {verdict.signer})"
                results.append(CheckResult(key, label, check_code, False, sentence, detail))
                failed_at = None
            else:
                results.append(_passed(key, label, verdict.signer))
        summary = SUMMARIES[code]
    else:
        for key in ("integrity", "seal", "issuer"):
            results.append(_passed(key, labels[key], verdict.signer))
        results.append(form_check(verdict, offline=register is not None))
        register_sentence: str | None = None
        if register is not None:
            results.append(register)
            register_sentence = register.sentence
            results.append(
                CheckResult(
                    "face",
                    labels["face"],
                    "as_sealed",
                    True,
                    "证面信息与登记机构盖章时一致；是否与登记簿现状一致需在线核验",
                    "offline: the face is as the authority sealed it (not compared with the register)",
                )
            )
        elif code is VerdictCode.UNKNOWN_CERTIFICATE:
            results.append(
                CheckResult(
                    "register",
                    labels["register"],
                    "not_registered",
                    False,
                    "登记簿中没有这份文件：它不是登记机构发放的证书文件",
                    verdict.detail,
                )
            )
            results.append(_not_run("face", labels["face"]))
        else:
            status_code, passed, register_sentence, detail = _status_check(verdict)
            results.append(
                CheckResult(
                    "register", labels["register"], status_code, passed, register_sentence, detail
                )
            )
            results.append(
                CheckResult(
                    "face",
                    labels["face"],
                    "matches_register",
                    True,
                    "文件与登记簿中存档的证书文件完全一致（按 SHA-256 摘要比对），证面信息即登记信息",
                    "the file's SHA-256 (or that of the revision it extends) is the one registered"
                    " for the certificate, so its face values are the register's",
                )
            )
        if register is not None and register.passed is None and not verdict.form:
            summary = "证书文件真实：由登记机构盖章，盖章后未被修改（离线验证，未核验登记状态）"
        else:
            summary = _summary(verdict, register_sentence)
    return VerificationReport(
        verdict=code,
        ok=code in (VerdictCode.VALID, VerdictCode.RESTRICTED),
        summary=summary,
        detail=verdict.detail,
        checks=tuple(results),
        level=level,
        number=number or (verdict.certificate.number if verdict.certificate else None),
        signer=verdict.signer,
        signed_at=verdict.signed_at,
        trust_bundle=trust_bundle,
        name=name,
    )


def verification_report(
    registry: Any,
    document: bytes,
    *,
    principal: Any = None,
    name: str | None = None,
    at: datetime | None = None,
) -> VerificationReport:
    """Verify ``document`` (PDF or OFD bytes) against the register and explain it: :meth:`bdcert.
    lifecycle.Registry.verify` (audited as it is), then :func:`report_from_verdict`.

    :param registry: a :class:`~bdcert.lifecycle.Registry`.
    :param principal: who asks (None: anonymous; names masked accordingly).
    """
    verdict = registry.verify(document, principal=principal, at=at)
    return report_from_verdict(verdict, name=name)
