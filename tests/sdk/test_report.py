"""The verification report (bdcert.verify.report) and the national codes (bdcert.verify.national): every verdict code mapped to its checks and
sentences, on real files (PDF and OFD, genuine, tampered, forged under another CA, superseded,
cancelled, restricted) and on the codes that are hard to produce from a real file."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.errors import TooManyAttempts, ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import SealFormFinding, Verdict, VerdictCode
from bdcert.verify.national import (
    FILE_CODES,
    INFORMATION_CODES,
    file_check,
    file_code,
    information_check,
)
from bdcert.verify.report import (
    CHECK_CODES,
    CHECKS,
    LEVEL_ONLINE,
    SUMMARIES,
    VerificationReport,
    report_from_verdict,
    verification_report,
)
from bdcert_adapters.cli import main
from tests.support import AUTHORITIES, TIMELINE, make_workspace, require_shared

SUPERSEDED = "川(2024)成都市不动产权第0000001号"  # by line 14's certificate
SUCCESSOR = "川(2024)成都市不动产权第0000003号"  # line 14 (numbers follow the pushes)
RESTRICTED = "川(2024)成都市不动产权第0000002号"  # seized (line 20)
CANCELLED = "川(2024)成都市不动产证明第0000001号"  # cancelled (line 19)
REASON = "抵押人王晓明已清偿主债权"


@attrs.define
class Issued:
    registry: Any
    path: Path  # its workspace
    files: dict[str, bytes]
    forged: bytes  # a genuine-looking certificate sealed under another demo CA
    sm2: Any  # an SM2 registry issuing OFD
    ofd: bytes


def _timeline() -> list[dict[str, Any]]:
    require_shared()
    return [json.loads(line) for line in TIMELINE.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    timeline = _timeline()
    base = tmp_path_factory.mktemp("report")
    cancel = dict(timeline[18], zxyy=REASON)
    path = make_workspace(base / "a").path
    registry = Registry.open(path)
    platform = registry.authenticate({"operator": "platform"})
    pushed = [
        registry.push(raw, principal=platform)
        for raw in (timeline[0], timeline[1], timeline[8], timeline[13], cancel, timeline[19])
    ]
    assert pushed[3].numbers == (SUCCESSOR,) and pushed[3].supersedes == (SUPERSEDED,)
    files = {
        n: registry.pdf(n, principal=platform)
        for n in (SUPERSEDED, SUCCESSOR, RESTRICTED, CANCELLED)
    }
    other = Registry.open(make_workspace(base / "b").path)
    (forged,) = other.push(timeline[0], principal=platform).certificates
    other.close()
    args = ["init", "--demo", "--algorithm", "sm2", "--workspace", str(base / "sm2")]
    assert main([*args, "--authorities", str(AUTHORITIES)]) == 0
    sm2 = Registry.open(base / "sm2", formats=("pdf", "ofd"))
    (cert,) = sm2.push(
        timeline[5], principal=sm2.authenticate({"operator": "platform"})
    ).certificates
    assert cert.ofd is not None
    yield Issued(registry, path, files, forged.pdf, sm2, cert.ofd)
    registry.close()
    sm2.close()


def _shape(report: VerificationReport) -> list[tuple[str, str, bool | None]]:
    return [(c.check, c.code, c.passed) for c in report.checks]


def _assert_well_formed(report: VerificationReport) -> None:
    assert [c.check for c in report.checks] == [key for key, _ in CHECKS]
    assert [c.label for c in report.checks] == [label for _, label in CHECKS]
    for c in report.checks:
        assert c.code in CHECK_CODES[c.check], c
        assert c.sentence and c.detail
        assert c.code.isascii() and c.code == c.code.lower()
    # a failure stops the checks after it; only a status (superseded, cancelled) leaves the
    # face check standing, the file being the registered one
    states = [c.passed for c in report.checks]
    if False in states:
        after = states[states.index(False) + 1 :]
        if report.verdict in (VerdictCode.SUPERSEDED, VerdictCode.CANCELLED):
            assert after == [True]
        elif report.verdict is VerdictCode.NONCONFORMING:  # the seal's form: the file is
            assert after == [True, True]  # still the registered one, in force
        else:
            assert all(s is None for s in after), report
    assert report.ok is (report.verdict in (VerdictCode.VALID, VerdictCode.RESTRICTED))


def test_a_genuine_certificate_passes_every_check(issued: Issued) -> None:
    report = verification_report(issued.registry, issued.files[SUCCESSOR])
    _assert_well_formed(report)
    assert report.verdict is VerdictCode.VALID and report.level == LEVEL_ONLINE
    assert _shape(report) == [
        ("integrity", "intact", True),
        ("seal", "seal_valid", True),
        ("issuer", "issuer_matches", True),
        ("form", "form_conforms", True),
        ("register", "in_force", True),
        ("face", "matches_register", True),
    ]
    assert report.number == SUCCESSOR and report.signer and "成都" in report.signer
    assert "签章人为成都市不动产登记中心" in report.check("seal").sentence
    assert report.check("issuer").sentence == "印章属于证书上的登记机构（成都市不动产登记中心）"
    assert report.summary == SUMMARIES[VerdictCode.VALID]


def test_superseded_names_its_successor(issued: Issued) -> None:
    report = verification_report(issued.registry, issued.files[SUPERSEDED])
    _assert_well_formed(report)
    register = report.check("register")
    assert (register.code, register.passed) == ("superseded", False)
    assert register.sentence == f"该证书已被 {SUCCESSOR} 取代"
    assert SUCCESSOR in report.summary
    # the file is still the registered one: only its status changed
    assert report.check("face").code == "matches_register"


def test_cancelled_gives_the_reason_masked_for_an_anonymous_asker(issued: Issued) -> None:
    anonymous = verification_report(issued.registry, issued.files[CANCELLED])
    _assert_well_formed(anonymous)
    register = anonymous.check("register")
    assert (register.code, register.passed) == ("cancelled", False)
    assert register.sentence.startswith("该证书已注销，原因：")
    assert "王晓明" not in register.sentence and "王*明" in register.sentence
    platform = issued.registry.authenticate({"operator": "platform"})
    full = verification_report(issued.registry, issued.files[CANCELLED], principal=platform)
    assert full.check("register").sentence == f"该证书已注销，原因：{REASON}"


def test_restricted_is_in_force_but_says_the_unit_is_seized(issued: Issued) -> None:
    report = verification_report(issued.registry, issued.files[RESTRICTED])
    _assert_well_formed(report)
    register = report.check("register")
    assert (register.code, register.passed) == ("restricted", True)
    assert (
        "该不动产单元已被查封" in register.sentence and "成都市武侯区人民法院" in register.sentence
    )
    assert report.ok


def test_a_change_inside_the_signed_range_fails_integrity(issued: Issued) -> None:
    pdf = bytearray(issued.files[SUCCESSOR])
    at = pdf.index(b"/Producer") if b"/Producer" in pdf else 200
    pdf[at + 2] ^= 0x01
    report = verification_report(issued.registry, bytes(pdf))
    _assert_well_formed(report)
    assert report.verdict is VerdictCode.DIGEST_MISMATCH
    assert _shape(report)[0] == ("integrity", "changed_in_signed_range", False)
    assert report.check("integrity").sentence == "文件在盖章后被修改过"
    assert all(c.passed is None and c.code == "not_run" for c in report.checks[1:])


def test_bytes_appended_after_sealing_fail_integrity(issued: Issued) -> None:
    report = verification_report(issued.registry, issued.files[SUCCESSOR] + b"\n% added\n")
    _assert_well_formed(report)
    assert report.verdict is VerdictCode.MODIFIED_AFTER_SEALING
    assert _shape(report)[0] == ("integrity", "appended_after_sealing", False)


def test_a_seal_under_another_ca_fails_the_seal_check(issued: Issued) -> None:
    report = verification_report(issued.registry, issued.forged)
    _assert_well_formed(report)
    assert report.verdict is VerdictCode.UNTRUSTED_SIGNER
    assert _shape(report)[:3] == [
        ("integrity", "intact", True),
        ("seal", "untrusted_root", False),
        ("issuer", "not_run", None),
    ]
    assert report.check("seal").sentence == "印章不是由受信任的机构签发，文件可能是伪造的"
    assert "(signer: CN=成都市不动产登记中心" in report.check("seal").detail  # another CA's


def test_not_a_document_and_unsealed(issued: Issued, plain_pdf: bytes) -> None:
    junk = verification_report(issued.registry, b"hello, not a certificate")
    assert _shape(junk)[0] == ("integrity", "not_a_document", False)
    unsealed = verification_report(issued.registry, plain_pdf)
    assert unsealed.verdict is VerdictCode.UNSEALED
    assert _shape(unsealed)[0] == ("integrity", "no_seal", False)
    for report in (junk, unsealed):
        _assert_well_formed(report)


def test_ofd_genuine_and_with_a_file_added(issued: Issued) -> None:
    report = verification_report(issued.sm2, issued.ofd)
    _assert_well_formed(report)
    assert report.verdict is VerdictCode.VALID and report.check("face").passed is True
    out = io.BytesIO(issued.ofd)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("Doc_0/extra.xml", "<x/>")
    tampered = verification_report(issued.sm2, out.getvalue())
    _assert_well_formed(tampered)
    assert tampered.verdict is VerdictCode.MODIFIED_AFTER_SEALING
    assert _shape(tampered)[0] == ("integrity", "appended_after_sealing", False)


#: For each failing seal verdict: a detail as the pipeline words it and the check it fails.
SEAL_FAILURES = [
    (VerdictCode.TOO_COMPLEX, "verification refused, too complex: 9 objects", "integrity",
     "too_complex"),
    (VerdictCode.NOT_PDF, "the bytes are not a PDF", "integrity", "not_a_document"),
    (VerdictCode.UNSEALED, "the PDF holds no signature", "integrity", "no_seal"),
    (VerdictCode.MULTIPLE_SIGNATURES, "the file holds 2 signatures", "integrity",
     "extra_signature"),
    (VerdictCode.DIGEST_MISMATCH, "bytes inside the signed range were changed", "integrity",
     "changed_in_signed_range"),
    (VerdictCode.MODIFIED_AFTER_SEALING, "12 bytes were appended", "integrity",
     "appended_after_sealing"),
    (VerdictCode.SIGNATURE_INVALID, "the signature does not verify", "seal", "signature_invalid"),
    (VerdictCode.REVOKED, "the seal certificate was revoked", "seal", "seal_revoked"),
    (VerdictCode.UNTRUSTED_SIGNER, "does not chain to a configured trust root", "seal",
     "untrusted_root"),
    (VerdictCode.UNTRUSTED_SIGNER, "the signer is a certification authority, not a seal "
     "certificate", "seal", "signer_not_a_seal"),
    (VerdictCode.UNTRUSTED_SIGNER, "the document is issued by 'A' but sealed by 'B': another "
     "authority's seal", "issuer", "issuer_mismatch"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "detail", "check", "check_code"), SEAL_FAILURES)
def test_every_seal_failure_names_its_check(
    code: VerdictCode, detail: str, check: str, check_code: str
) -> None:
    report = report_from_verdict(Verdict(code=code, trusted=False, detail=detail))
    _assert_well_formed(report)
    keys = [key for key, _ in CHECKS]
    failed = keys.index(check)
    assert _shape(report)[failed] == (check, check_code, False)
    assert all(c.passed is True for c in report.checks[:failed])
    assert all(c.passed is None and c.code == "not_run" for c in report.checks[failed + 1 :])
    assert report.checks[failed].detail == detail
    assert report.summary == SUMMARIES[code] and not report.ok


def test_unknown_certificate_fails_the_register_check() -> None:
    verdict = Verdict(VerdictCode.UNKNOWN_CERTIFICATE, True, "not in the certificate register")
    report = report_from_verdict(verdict)
    _assert_well_formed(report)
    assert _shape(report)[3:] == [
        ("form", "form_conforms", True),
        ("register", "not_registered", False),
        ("face", "not_run", None),
    ]


def test_every_verdict_code_has_a_summary_and_a_report() -> None:
    assert set(SUMMARIES) == set(VerdictCode)
    covered = {code for code, *_ in SEAL_FAILURES} | {
        VerdictCode.UNKNOWN_CERTIFICATE,
        VerdictCode.VALID,
        VerdictCode.RESTRICTED,
        VerdictCode.SUPERSEDED,
        VerdictCode.CANCELLED,
        VerdictCode.NONCONFORMING,
    }
    assert covered == set(VerdictCode)


def test_a_nonconforming_seal_fails_the_form_check_and_lists_every_finding() -> None:
    form = (
        SealFormFinding("invisible_seal", "印章不可见：证书上看不到登记机构的印章", "no area"),
        SealFormFinding("signing_time_mismatch", "签章时间为 …，与签发时间 … 不一致", "late"),
    )
    verdict = Verdict(VerdictCode.NONCONFORMING, True, "not plainly valid: …; in force", form=form)
    report = report_from_verdict(verdict)
    _assert_well_formed(report)
    assert not report.ok and report.summary == SUMMARIES[VerdictCode.NONCONFORMING]
    assert _shape(report)[3:] == [
        ("form", "invisible_seal", False),
        ("register", "in_force", True),
        ("face", "matches_register", True),
    ]
    check = report.check("form")
    assert "印章不可见" in check.sentence and "签发时间" in check.sentence
    assert "invisible_seal: no area" in check.detail and "signing_time_mismatch" in check.detail


def test_the_report_is_json_ready(issued: Issued, tmp_path: Path) -> None:
    report = verification_report(issued.registry, issued.files[SUPERSEDED], name="a.pdf")
    wire = json.loads(json.dumps(report.as_dict(), ensure_ascii=False))
    assert wire["verdict"] == "superseded" and wire["name"] == "a.pdf"
    assert [c["code"] for c in wire["checks"]] == [c.code for c in report.checks]


# --------------------------------------------------------------------------- national codes


def _facts(issued: Issued, number: str) -> dict[str, str]:
    platform = issued.registry.authenticate({"operator": "platform"})
    cert = issued.registry.certificate(number, principal=platform)
    return {
        "zh": number,
        "qlr": cert.holders[0].name,
        "bdcdyh": cert.unit_numbers[0],
        "zl": cert.face_value("zl") or "",
    }


@pytest.mark.parametrize(
    ("number", "code", "verdict"),
    [
        (SUCCESSOR, 0, VerdictCode.VALID),
        (RESTRICTED, 2, VerdictCode.RESTRICTED),
        (SUPERSEDED, 3, VerdictCode.SUPERSEDED),
        (CANCELLED, 3, VerdictCode.CANCELLED),
    ],
)
def test_information_check_status_codes(
    issued: Issued, number: str, code: int, verdict: VerdictCode
) -> None:
    result = information_check(issued.registry, _facts(issued, number))
    assert (result.check, result.code, result.verdict) == ("information", code, verdict)
    assert result.meaning == INFORMATION_CODES[code] and result.number == number
    if verdict is VerdictCode.SUPERSEDED:
        assert SUCCESSOR in result.sentence
    if verdict is VerdictCode.CANCELLED:  # the reason, masked for an anonymous asker
        assert "王*明" in result.sentence and "王晓明" not in result.sentence


def test_information_check_half_and_full_width_are_the_same_value(issued: Issued) -> None:
    facts = _facts(issued, SUCCESSOR)
    facts["zh"] = facts["zh"].replace("(", "（").replace(")", "）")
    facts["zl"] = " " + facts["zl"].replace("1", "１") + " "
    assert information_check(issued.registry, facts).code == 0


def test_information_check_missing_fields_is_4_naming_them(issued: Issued) -> None:
    result = information_check(issued.registry, {"zl": "成都市"})
    assert (result.code, result.fields, result.verdict) == (4, ("zh", "qlr"), None)
    assert "证号（zh）" in result.sentence and "权利人（qlr）" in result.sentence
    blank = information_check(issued.registry, {"zh": SUCCESSOR, "qlr": "  "})
    assert (blank.code, blank.fields) == (4, ("qlr",))


def test_information_check_unknown_number_is_5(issued: Issued) -> None:
    facts = dict(_facts(issued, SUCCESSOR), zh="川(2024)成都市不动产权第0999999号")
    result = information_check(issued.registry, facts)
    assert (result.code, result.verdict) == (5, VerdictCode.UNKNOWN_CERTIFICATE)


def test_information_check_a_differing_value_is_6_without_the_registered_value(
    issued: Issued,
) -> None:
    facts = _facts(issued, SUCCESSOR)
    registered = facts["zl"]
    facts["zl"] = "成都市青羊区某某路1号"
    platform = issued.registry.authenticate({"operator": "platform"})
    result = information_check(issued.registry, facts, principal=platform)
    assert (result.code, result.fields) == (6, ("zl",))
    assert "坐落（zl）" in result.sentence
    assert registered not in result.sentence and registered not in result.detail
    name = dict(_facts(issued, SUCCESSOR), qlr="张三")
    wrong = information_check(issued.registry, name, principal=platform)
    assert (wrong.code, wrong.fields) == (6, ("qlr",))
    assert _facts(issued, SUCCESSOR)["qlr"] not in wrong.sentence + wrong.detail
    # anonymous: every mismatch is answered alike, naming no field
    anonymous = [information_check(issued.registry, f) for f in (facts, name)]
    assert {(r.code, r.fields, r.sentence, r.detail) for r in anonymous} == {
        (6, (), "信息与登记不一致", "the values given do not all match the register")
    }


def test_information_check_before_the_issue_time_is_1(issued: Issued) -> None:
    facts = _facts(issued, SUCCESSOR)
    platform = issued.registry.authenticate({"operator": "platform"})
    issued_at = issued.registry.certificate(SUCCESSOR, principal=platform).issued_at
    with Registry.open(issued.path, clock=lambda: issued_at - timedelta(days=1)) as early:
        result = information_check(early, facts)
    assert (result.code, result.meaning, result.verdict) == (1, "信息正确且未激活", None)


def test_information_check_bad_input_is_a_validation_error(issued: Issued) -> None:
    with pytest.raises(ValidationError) as caught:
        information_check(issued.registry, {"zh": 7, "colour": "red", "qlr": "x"})
    assert {p.field for p in caught.value.problems} == {"zh", "colour"}


@pytest.mark.parametrize(
    ("verdict", "code"),
    [(VerdictCode.VALID, 0), (VerdictCode.SUPERSEDED, 0), (VerdictCode.UNTRUSTED_SIGNER, 1),
     (VerdictCode.UNSEALED, 1), (VerdictCode.DIGEST_MISMATCH, 2),
     (VerdictCode.UNKNOWN_CERTIFICATE, 2), (VerdictCode.NOT_PDF, 2)],
)  # fmt: skip
def test_file_codes(verdict: VerdictCode, code: int) -> None:
    assert file_code(verdict) == code
    assert {file_code(v) for v in VerdictCode} == set(FILE_CODES)


def test_file_check_on_real_files(issued: Issued) -> None:
    genuine = file_check(issued.registry, issued.files[SUCCESSOR])
    assert (genuine.code, genuine.meaning, genuine.verdict) == (
        0,
        "文件验证通过",
        VerdictCode.VALID,
    )
    forged = file_check(issued.registry, issued.forged)
    assert (forged.code, forged.meaning) == (1, "文件签章校验失败")
    changed = file_check(issued.registry, issued.files[SUCCESSOR] + b"\n% added\n")
    assert (changed.code, changed.meaning) == (2, "文件校验失败")
    assert changed.sentence == "文件在盖章后被追加了内容"


def test_anonymous_information_checks_count_against_the_lookup_limit(issued: Issued) -> None:
    facts = _facts(issued, SUCCESSOR)
    for _ in range(30):  # [lookup] max_lookups: 30 by default
        assert information_check(issued.registry, facts, client="address:198.51.100.7").code == 0
    with pytest.raises(TooManyAttempts):
        information_check(issued.registry, facts, client="address:198.51.100.7")
    # the platform is not counted; another client has its own count
    platform = issued.registry.authenticate({"operator": "platform"})
    assert information_check(issued.registry, facts, platform).code == 0
    assert information_check(issued.registry, facts, client="address:198.51.100.8").code == 0
