"""Self-download by holders (rule article 13): the proof (name, ID number, paper number), the
identity provider's extra checks, the per-identity limit on failed attempts across processes, and
the audit log, which never holds a full ID number."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bdcert.errors import (
    ConfigurationError,
    IdentityError,
    PermissionDenied,
    TooManyAttempts,
    ValidationError,
)
from bdcert.holders import DownloadPolicy
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ, VerdictCode
from bdcert_plugins.storage_sql.schema import download_codes
from tests.support import raw_database, run_cli

WANG = ("王晓明", "510104198503120176")  # 川(2024)成都市不动产权第0000001号
FENG = ("冯志远", "510121198005230272")  # 0000004, issued after recovering a paper original
FENG_PAPER = "川(2019)成都市不动产权第0451234号"
ZHAO = ("赵磊", "510108199007070552")  # 0000002 (分别持证 with 孙丽's 0000003)
X_ID = "11010519491231002X"


class Clock:
    """A settable clock for the registry (China time)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 6, 1, 9, 0, tzinfo=CHINA_TZ)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(workspace: Any, timeline: list[dict[str, Any]], clock: Clock) -> Iterator[Registry]:
    x_holder = copy.deepcopy(timeline[7])  # 西昌, a unit of its own
    x_holder["ywh"] = "513401-2024-009001"
    x_holder["qlr"] = [{"mc": "郑小丽", "zjzl": "1", "zjh": X_ID.lower()}]
    with Registry.open(workspace.path, clock=clock) as r:
        platform = r.authenticate({"operator": "platform"})
        for raw in (timeline[0], timeline[2], timeline[16], x_holder):
            r.push(raw, principal=platform)
        yield r


def _events(registry: Registry, action: str = "download") -> list[Any]:
    auditor = registry.authenticate({"operator": "auditor"})
    return [e for e in registry.audit_log(principal=auditor) if e.action == action]


def _no_id_in_clear(registry: Registry, *numbers: str) -> None:
    auditor = registry.authenticate({"operator": "auditor"})
    text = json.dumps(
        [[e.actor, e.subject, dict(e.details)] for e in registry.audit_log(principal=auditor)],
        ensure_ascii=False,
    )
    for number in numbers:
        assert number not in text and number.lower() not in text


def test_a_holder_downloads_their_current_certificate(registry: Registry) -> None:
    (got,) = registry.self_download(*WANG)
    assert got.certificate.number == "川(2024)成都市不动产权第0000001号"
    assert got.certificate.holders[0].id_number == WANG[1]  # their own: in full
    assert registry.verify(got.pdf).code is VerdictCode.VALID
    assert got.ofd is None  # the workspace issues PDFs only
    (event,) = _events(registry)
    assert event.subject == "5101**********0176" and event.details["outcome"] == "ok"
    assert event.details["certificates"] == ["川(2024)成都市不动产权第0000001号"]
    assert event.details["name"] == "王*明"
    _no_id_in_clear(registry, WANG[1])


def test_a_certificates_audit_listing_has_its_downloads(registry: Registry, workspace: Any) -> None:
    """A download's subject is the masked ID number; ``details.certificates`` names the
    certificates: ``audit show --certificate`` (and ``audit_log(subject=)``) lists it too."""
    number = "川(2024)成都市不动产权第0000001号"
    registry.self_download(*WANG)
    auditor = registry.authenticate({"operator": "auditor"})
    about = registry.audit_log(principal=auditor, subject=number)
    assert [e.action for e in about if e.action == "download"] == ["download"]
    assert any(e.action == "issue" or e.subject == number for e in about)
    done = run_cli(
        workspace, "audit", "show", "--certificate", number, "--operator", "auditor", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert '"download"' in done.stdout


def test_wrong_name_or_wrong_id_fails_without_saying_which(registry: Registry) -> None:
    with pytest.raises(IdentityError) as wrong_name:
        registry.self_download("王小明", WANG[1])
    with pytest.raises(IdentityError) as wrong_id:
        registry.self_download(WANG[0], "510104198503120177")
    assert str(wrong_name.value) == str(wrong_id.value)
    assert not isinstance(wrong_name.value, TooManyAttempts)
    with pytest.raises(IdentityError):  # 赵磊 holds 0000002, 孙丽 0000003: names do not mix
        registry.self_download("孙丽", ZHAO[1])
    events = _events(registry)
    assert [e.details["outcome"] for e in events] == ["failed"] * 3
    assert {e.details["reason"] for e in events} == {"no_match"}
    _no_id_in_clear(registry, WANG[1], "510104198503120177", ZHAO[1])


def test_each_holder_of_separate_certificates_gets_only_their_own(registry: Registry) -> None:
    (got,) = registry.self_download(*ZHAO)
    assert got.certificate.number == "川(2024)成都市不动产权第0000002号"
    assert [h.name for h in got.certificate.holders] == ["赵磊"]


def test_blank_input_is_a_validation_error_naming_every_field(registry: Registry) -> None:
    with pytest.raises(ValidationError) as caught:
        registry.self_download(" ", "", paper_number="  ")
    assert caught.value.fields == ("name", "id_number", "paper_number")
    assert _events(registry) == []  # not an attempt


def test_a_lower_case_x_is_the_same_person(registry: Registry) -> None:
    (got,) = registry.self_download("郑小丽", X_ID.lower())
    assert got.certificate.holders[0].id_number == X_ID
    (again,) = registry.self_download("郑小丽", X_ID)
    assert again.certificate.number == got.certificate.number
    _no_id_in_clear(registry, X_ID)


def test_the_paper_number_is_required_where_a_paper_original_was_recorded(
    registry: Registry,
) -> None:
    with pytest.raises(IdentityError):
        registry.self_download(*FENG)
    with pytest.raises(IdentityError):
        registry.self_download(*FENG, paper_number="川(2019)成都市不动产权第0451235号")
    (got,) = registry.self_download(*FENG, paper_number="川（2019）成都市不动产权第0451234号")
    assert got.certificate.business_number == "510100-2024-000113"
    (same,) = registry.self_download(*FENG, paper_number=FENG_PAPER)
    assert same.certificate.number == got.certificate.number
    with pytest.raises(IdentityError):  # 王晓明 never held paper: a paper number matches nothing
        registry.self_download(*WANG, paper_number=FENG_PAPER)
    reasons = [e.details.get("reason", e.details["outcome"]) for e in _events(registry)]
    assert reasons == [
        "paper_number_missing",
        "paper_number_mismatch",
        "ok",
        "ok",
        "paper_number_mismatch",
    ]


def test_a_paper_number_opens_only_its_own_registrations_certificates(
    registry: Registry, timeline: list[dict[str, Any]]
) -> None:
    """陈建国 co-owns a flat with 冯志远 (paper 0777777 recovered) and so knows 冯志远's name, ID
    number and that paper number: they open the shared certificate and 冯志远's certificates that
    need no paper, never 冯志远's sole certificate recovered from paper 0451234."""
    platform = registry.authenticate({"operator": "platform"})
    shared_paper = "川(2019)成都市不动产权第0777777号"
    shared = copy.deepcopy(timeline[16])
    shared.update(
        ywh="510100-2024-009113",
        bdcdyh=["510106004001GB00210F00040699"],
        gyfs="1",
        czfs="共同持证",
        qlr=[
            {"mc": FENG[0], "zjzl": "1", "zjh": FENG[1]},
            {"mc": "陈建国", "zjzl": "1", "zjh": "510106196211050317"},
        ],
        fj="共有人：冯志远、陈建国（共同共有）",
        yzh=[{"zh": shared_paper, "lx": "纸质", "cl": "收回"}],
    )
    no_paper = copy.deepcopy(timeline[0])
    no_paper.update(
        ywh="510100-2024-009101",
        bdcdyh=["510104001001GB00001F00019901"],
        qlr=[{"mc": FENG[0], "zjzl": "1", "zjh": FENG[1]}],
    )
    for raw in (shared, no_paper):
        registry.push(raw, principal=platform)

    def registrations(paper: str | None) -> set[str]:
        return {i.certificate.business_number for i in registry.self_download(*FENG, paper)}

    assert registrations(shared_paper) == {"510100-2024-009113", "510100-2024-009101"}
    assert registrations(FENG_PAPER) == {"510100-2024-000113", "510100-2024-009101"}
    assert registrations(None) == {"510100-2024-009101"}  # only what needs no paper
    with pytest.raises(IdentityError):  # a paper number of nobody's registration still fails
        registry.self_download(*FENG, paper_number="川(2019)成都市不动产权第0999999号")


def test_superseded_certificates_are_not_downloaded(
    registry: Registry, timeline: list[dict[str, Any]]
) -> None:
    platform = registry.authenticate({"operator": "platform"})
    registry.push(timeline[13], principal=platform)  # 李红 buys: 0000001 superseded
    with pytest.raises(IdentityError):
        registry.self_download(*WANG)
    (got,) = registry.self_download("李红", "510107198709210248")
    assert got.certificate.number == "川(2024)成都市不动产权第0000005号"


def test_five_failures_lock_the_identity_across_processes_until_the_lockout_ends(
    registry: Registry, workspace: Any, clock: Clock
) -> None:
    with Registry.open(workspace.path, clock=clock) as other:  # another process's registry
        for attempt in range(4):
            r = registry if attempt % 2 else other
            with pytest.raises(IdentityError) as caught:
                r.self_download("王小明", WANG[1])
            assert not isinstance(caught.value, TooManyAttempts)
            clock.now += timedelta(minutes=1)
        with pytest.raises(TooManyAttempts) as locked:  # the fifth failure locks
            other.self_download("王大明", WANG[1])
        assert locked.value.locked_until == clock.now + timedelta(minutes=30)
        with pytest.raises(TooManyAttempts):  # the right proof is not even looked at now
            registry.self_download(*WANG)
        clock.now += timedelta(minutes=29)
        with pytest.raises(TooManyAttempts):
            other.self_download(*WANG)
    other_person = registry.self_download(*ZHAO)  # a lock is per identity
    assert other_person
    clock.now += timedelta(minutes=1, seconds=1)
    (got,) = registry.self_download(*WANG)
    assert got.certificate.number == "川(2024)成都市不动产权第0000001号"
    outcomes = [(e.subject, e.details["outcome"]) for e in _events(registry)]
    masked = "5101**********0176"
    assert outcomes == [(masked, "failed")] * 5 + [(masked, "locked")] * 2 + [
        ("5101**********0552", "ok"),
        (masked, "ok"),
    ]
    (lockout,) = _events(registry, "download_lockout")
    assert lockout.subject == masked and lockout.details["failures"] == 5
    _no_id_in_clear(registry, WANG[1], ZHAO[1])


def test_failures_outside_the_window_do_not_count(registry: Registry, clock: Clock) -> None:
    for _ in range(4):
        with pytest.raises(IdentityError):
            registry.self_download("王小明", WANG[1])
    clock.now += timedelta(minutes=16)
    for _ in range(4):  # the first four have left the 15-minute window
        with pytest.raises(IdentityError) as caught:
            registry.self_download("王小明", WANG[1])
        assert not isinstance(caught.value, TooManyAttempts)
    assert registry.self_download(*WANG)
    for _ in range(4):  # a success starts the count afresh
        with pytest.raises(IdentityError) as caught:
            registry.self_download("王小明", WANG[1])
        assert not isinstance(caught.value, TooManyAttempts)
    with pytest.raises(TooManyAttempts):
        registry.self_download("王小明", WANG[1])


def test_the_limit_is_configured_in_the_workspace(
    workspace: Any, timeline: list[dict[str, Any]], clock: Clock
) -> None:
    config = workspace.path / "bdcert.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + "\n[self_download]\nmax_failures = 2\nwindow_minutes = 5\nlockout_minutes = 60\n",
        encoding="utf-8",
    )
    with Registry.open(workspace.path, clock=clock) as r:
        assert r.download_policy == DownloadPolicy(2, timedelta(minutes=5), timedelta(hours=1))
        assert r.download_policy.max_name_failures == 10  # the default
        r.push(timeline[0], principal=r.authenticate({"operator": "platform"}))
        with pytest.raises(IdentityError):
            r.self_download("王小明", WANG[1])
        with pytest.raises(TooManyAttempts) as caught:
            r.self_download("王小明", WANG[1])
        assert caught.value.locked_until == clock.now + timedelta(hours=1)
    with pytest.raises(ConfigurationError) as bad:
        DownloadPolicy.from_settings(
            {"max_failures": 0, "window_minutes": "5", "lockout": 1, "max_name_failures": 1.5}
        )
    for key in ("max_failures", "window_minutes", "lockout", "max_name_failures"):
        assert f"self_download.{key}" in str(bad.value)
    assert DownloadPolicy.from_settings({"max_name_failures": 3}).max_name_failures == 3


def test_failures_for_one_name_lock_it_whatever_the_id_number(
    registry: Registry, workspace: Any, clock: Clock
) -> None:
    """Guessing the ID number of a known name: ten failures (``max_name_failures``) lock the
    name, across processes; the holder's own success does not reset the count, the window does."""
    guesses = [f"5101041985031201{i:02d}" for i in range(10)]  # none is 王晓明's
    with Registry.open(workspace.path, clock=clock) as other:
        for attempt, guess in enumerate(guesses[:9]):
            r = registry if attempt % 2 else other
            with pytest.raises(IdentityError) as caught:
                r.self_download(f" 王晓明{' ' * (attempt % 3)}", guess)  # blanks are one name
            assert not isinstance(caught.value, TooManyAttempts), attempt
        assert registry.self_download(*WANG)  # still open: and a success clears nothing
        with pytest.raises(TooManyAttempts) as locked:  # the tenth failure locks the name
            other.self_download(WANG[0], guesses[9])
        assert "this name" in str(locked.value)
        assert locked.value.locked_until == clock.now + timedelta(minutes=30)
        with pytest.raises(TooManyAttempts):  # the right proof is refused too
            registry.self_download(*WANG)
    assert registry.self_download(*ZHAO)  # other names are not locked
    clock.now += timedelta(minutes=30, seconds=1)
    assert registry.self_download(*WANG)
    (lockout,) = _events(registry, "download_lockout")
    assert lockout.details["guard"] == "name" and lockout.details["failures"] == 10
    locked_events = [e for e in _events(registry) if e.details["outcome"] == "locked"]
    assert [e.details["guard"] for e in locked_events] == ["name"]
    _no_id_in_clear(registry, WANG[1], *guesses)


class FaceCheck:
    """An identity provider with an extra holder check (a stand-in for a biometric service)."""

    name = "face-check"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def authenticate(self, credentials: Mapping[str, str]) -> Any:
        return self.inner.authenticate(credentials)

    def verify_holder(self, name: str, id_number: str, evidence: Mapping[str, str]) -> None:
        self.calls.append((name, id_number, dict(evidence)))
        if evidence.get("face") != "match":
            raise IdentityError("the face does not match the ID photo")


def test_the_identity_provider_can_add_checks(registry: Registry) -> None:
    check = FaceCheck(registry.identity)
    registry.identity = check
    with pytest.raises(IdentityError):
        registry.self_download(*WANG, evidence={"face": "mismatch"})
    with pytest.raises(IdentityError):  # a wrong name never reaches the provider
        registry.self_download("王小明", WANG[1], evidence={"face": "match"})
    (got,) = registry.self_download(*WANG, evidence={"face": "match"})
    assert got.certificate.number == "川(2024)成都市不动产权第0000001号"
    assert check.calls == [
        ("王晓明", WANG[1], {"face": "mismatch"}),
        ("王晓明", WANG[1], {"face": "match"}),
    ]
    reasons = [e.details.get("reason", "ok") for e in _events(registry)]
    assert reasons == ["identity_check", "no_match", "ok"]


def test_download_command(registry: Registry, workspace: Any, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    ok = run_cli(
        workspace,
        "download",
        "--name",
        WANG[0],
        "--id-number",
        WANG[1],
        "--out",
        str(out),
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    (record,) = [json.loads(line) for line in ok.stdout.splitlines()]
    assert record["number"] == "川(2024)成都市不动产权第0000001号"
    (pdf,) = out.glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and record["files"] == [str(pdf)]
    refused = run_cli(
        workspace, "download", "--name", "王小明", "--id-number", WANG[1], "--out", str(out)
    )
    assert refused.returncode == 1 and "not identify" in refused.stderr
    assert WANG[1] not in refused.stderr + refused.stdout


# ----------------------------------------------------------------------------- issue 9


def test_every_documented_setting_is_accepted_in_bdcert_toml(workspace: Any, clock: Clock) -> None:
    """``max_name_failures`` was documented but refused by the workspace's schema."""
    config = workspace.path / "bdcert.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + "\n[self_download]\nmax_name_failures = 4\nmax_source_failures = 7\nmax_lockouts = 2\n",
        encoding="utf-8",
    )
    with Registry.open(workspace.path, clock=clock) as r:
        policy = r.download_policy
    assert (policy.max_name_failures, policy.max_source_failures, policy.max_lockouts) == (4, 7, 2)
    with pytest.raises(ConfigurationError) as bad:
        DownloadPolicy.from_settings({"max_source_failures": 0, "max_lockouts": True})
    assert "max_source_failures" in str(bad.value) and "max_lockouts" in str(bad.value)


def test_a_source_is_locked_whatever_names_and_numbers_it_tries(
    registry: Registry, workspace: Any, clock: Clock
) -> None:
    """One source trying many people: its own guard locks it (``max_source_failures``), the
    third lockout holds it across processes until a clerk unlocks it; other sources go on."""
    registry.download_policy = DownloadPolicy(max_source_failures=4, max_lockouts=2)
    source = "203.0.113.50"
    for lockout in (1, 2):
        for attempt in range(4):
            with pytest.raises(IdentityError) as caught:
                registry.self_download(
                    f"某{lockout}{attempt}人", f"5101041985031{attempt}{lockout}17", source=source
                )
            assert isinstance(caught.value, TooManyAttempts) is (attempt == 3)
        if lockout == 1:
            assert caught.value.locked_until == clock.now + timedelta(minutes=30)
            clock.now += timedelta(minutes=31)
    assert caught.value.locked_until is None  # the second lockout holds
    with Registry.open(workspace.path, clock=clock) as other:  # another process, a day later
        clock.now += timedelta(days=1)
        with pytest.raises(TooManyAttempts):
            other.self_download(*WANG, source=source)
        assert other.self_download(*WANG, source="203.0.113.51")  # another source is let in
        clerk = other.authenticate({"operator": "registrar-510100"})
        assert other.unlock_download(source=source, reason="误锁", principal=clerk) == {
            "source": "held"
        }
        assert other.self_download(*WANG, source=source)
    locks = _events(registry, "download_lockout")
    assert [(e.details["guard"], e.details["held"]) for e in locks] == [
        ("source", False),
        ("source", True),
    ]


def test_a_success_clears_the_identitys_lockouts_but_not_the_names(
    registry: Registry, clock: Clock
) -> None:
    registry.download_policy = DownloadPolicy(max_failures=2, max_name_failures=3, max_lockouts=2)
    for _ in range(2):  # two lockouts of the ID number would hold it: a success in between
        for _ in range(2):
            with pytest.raises(IdentityError):
                registry.self_download("王大明", WANG[1])
        clock.now += timedelta(minutes=31)
        assert registry.self_download(*WANG)
    # the name's guard: 3 failures lock it, 3 more hold it, the right proof waits for a clerk
    for round_ in range(2):
        for i in range(3):
            with pytest.raises(IdentityError):
                registry.self_download(WANG[0], f"51010419850312{round_}{i}00")
        clock.now += timedelta(minutes=31)
    with pytest.raises(TooManyAttempts) as held:
        registry.self_download(*WANG)
    assert held.value.locked_until is None


def test_unlocking_needs_a_clerk_a_reason_and_something_to_unlock(registry: Registry) -> None:
    clerk = registry.authenticate({"operator": "registrar-510100"})
    with pytest.raises(ValidationError) as caught:
        registry.unlock_download(reason=" ", principal=clerk)
    assert set(caught.value.fields) == {"id_number", "reason"}
    with pytest.raises(ValidationError) as caught:
        registry.unlock_download(name="", source=" ", reason="x", principal=clerk)
    assert set(caught.value.fields) == {"name", "source"}
    for operator in ("auditor", "bank-shuchuan", "holder-wang"):
        with pytest.raises(PermissionDenied):
            registry.unlock_download(
                id_number=WANG[1],
                reason="x",
                principal=registry.authenticate({"operator": operator}),
            )
    assert registry.unlock_download(id_number=WANG[1], reason="核验", principal=clerk) == {
        "id_number": "clear"
    }
    (record,) = _events(registry, "download_unlock")
    assert record.subject == "5101**********0176"
    _no_id_in_clear(registry, WANG[1])


def test_unlock_command(registry: Registry, workspace: Any, clock: Clock) -> None:
    for _ in range(5):
        with pytest.raises(IdentityError):
            registry.self_download("王小明", WANG[1])
    # the command line runs on the real clock, long after the pinned one: the hold is what lasts
    registry.download_policy = DownloadPolicy(max_lockouts=1)
    for _ in range(5):
        with pytest.raises(IdentityError):
            registry.self_download("王二明", ZHAO[1])
    refused = run_cli(
        workspace, "unlock", "--id-number", ZHAO[1], "--reason", "柜台核验", "--operator", "auditor"
    )
    assert refused.returncode == 2 and "may not" in refused.stderr
    ok = run_cli(
        workspace,
        "unlock",
        "--id-number",
        ZHAO[1],
        "--reason",
        "柜台核验",
        "--operator",
        "registrar-510100",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"unlocked": {"id_number": "held"}}
    assert registry.self_download(*ZHAO)
    bad = run_cli(workspace, "unlock", "--reason", "x", "--operator", "registrar-510100")
    assert bad.returncode == 2 and "id_number" in bad.stderr and "Traceback" not in bad.stderr


def test_long_names_and_passport_numbers_are_masked_in_records_and_warnings(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """Names over six characters and 9-character passport numbers were written in clear (or
    with 8 of 9 characters) to download records and lockout warnings."""
    name, passport = "阿卜杜拉·艾买提", "E12345678"
    with caplog.at_level(logging.WARNING, logger="bdcert.holders"):
        for _ in range(5):
            with pytest.raises(IdentityError):
                registry.self_download(name, passport)
    assert caplog.records, "the lockout is logged"
    auditor = registry.authenticate({"operator": "auditor"})
    records = json.dumps(
        [[e.actor, e.subject, dict(e.details)] for e in registry.audit_log(principal=auditor)],
        ensure_ascii=False,
    )
    shown = records + caplog.text
    assert name not in shown and passport not in shown and "E1234" not in shown
    assert "阿******提" in records and "E******78" in records


def test_a_second_factor_recorded_by_the_pushing_authority_is_required(
    registry: Registry, workspace: Any
) -> None:
    """赵磊's registration gets a code: his certificate downloads only with it, a wrong code
    fails (and counts), other holders need none; only the pushing authority records one; the
    register keeps a salted scrypt hash, never the code."""
    chengdu = registry.authenticate({"operator": "registrar-510100"})
    mianyang = registry.authenticate({"operator": "registrar-510700"})
    ywh = "510100-2024-000103"  # 赵磊 and 孙丽, 分别持证
    with pytest.raises(PermissionDenied):
        registry.record_download_code(ywh, ZHAO[1], principal=mianyang)
    with pytest.raises(ValidationError) as caught:
        registry.record_download_code(ywh, WANG[1], principal=chengdu)  # not a 权利人 of it
    assert caught.value.fields == ("id_number",)
    code = registry.record_download_code(ywh, ZHAO[1], principal=chengdu)
    assert len(code) == 8 and code.isdigit()
    with pytest.raises(IdentityError):
        registry.self_download(*ZHAO)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    with pytest.raises(IdentityError):
        registry.self_download(*ZHAO, code=wrong)
    (got,) = registry.self_download(*ZHAO, code=f" {code} ")
    assert got.certificate.number == "川(2024)成都市不动产权第0000002号"
    assert registry.self_download(*WANG)  # no code recorded for him: none needed
    newer = registry.record_download_code(ywh, ZHAO[1], principal=chengdu)  # replaces
    if newer != code:
        with pytest.raises(IdentityError):
            registry.self_download(*ZHAO, code=code)
    assert registry.self_download(*ZHAO, code=newer)
    reasons = [e.details.get("reason", "ok") for e in _events(registry)]
    assert reasons[:4] == ["code_missing", "code_mismatch", "ok", "ok"]
    (record, _) = _events(registry, "download_code")
    assert record.subject == ywh and record.details["id_number"] == "5101**********0552"
    with raw_database(workspace) as conn:
        stored = [row.code_hash for row in conn.execute(select(download_codes))]
    assert len(stored) == 1 and stored[0].startswith("scrypt$") and newer not in stored[0]
    _no_id_in_clear(registry, ZHAO[1])


def test_download_code_command(registry: Registry, workspace: Any, tmp_path: Path) -> None:
    made = run_cli(
        workspace,
        "download-code",
        "--ywh",
        "510100-2024-000101",
        "--id-number",
        WANG[1],
        "--operator",
        "registrar-510100",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    code = json.loads(made.stdout)["code"]
    common = ["download", "--name", WANG[0], "--id-number", WANG[1], "--out", str(tmp_path)]
    assert run_cli(workspace, *common).returncode == 1
    ok = run_cli(workspace, *common, "--code", code)
    assert ok.returncode == 0, ok.stderr


def test_a_download_code_refusal_tells_an_outsider_nothing(registry: Registry) -> None:
    """Whoever may not record a code (a holder, a bank, another authority's registrar) gets one
    answer whatever the ID number and whether the registration exists: the register is not an
    oracle for "is this person a 权利人 of that registration". The pushing authority's registrar
    still hears which is wrong; for an unknown registration, only its own prefix's registrar."""
    ywh = "510100-2024-000103"  # 赵磊 and 孙丽
    outsiders = ("holder-wang", "bank-shuchuan", "registrar-510700")
    asks = [
        (ywh, ZHAO[1]),  # a 权利人
        (ywh, WANG[1]),  # not one
        ("510100-2024-999999", ZHAO[1]),  # no such registration
        ("XX-2024-999999", ZHAO[1]),  # unknown, and naming no authority
    ]
    for operator in outsiders:
        principal = registry.authenticate({"operator": operator})
        answers = set()
        for business_number, id_number in asks:
            with pytest.raises(PermissionDenied) as denied:
                registry.record_download_code(business_number, id_number, principal=principal)
            answers.add(str(denied.value).replace(business_number, "<ywh>"))
        assert len(answers) == 1, (operator, answers)
    chengdu = registry.authenticate({"operator": "registrar-510100"})
    with pytest.raises(ValidationError) as caught:
        registry.record_download_code("510100-2024-999999", ZHAO[1], principal=chengdu)
    assert caught.value.fields == ("business_number",)
    with pytest.raises(PermissionDenied):
        registry.record_download_code("XX-2024-999999", ZHAO[1], principal=chengdu)
    platform = registry.authenticate({"operator": "platform"})
    with pytest.raises(ValidationError):
        registry.record_download_code("XX-2024-999999", ZHAO[1], principal=platform)
    assert not _events(registry, "download_code")
    assert len(_events(registry, "deny")) == len(outsiders) * len(asks) + 1
