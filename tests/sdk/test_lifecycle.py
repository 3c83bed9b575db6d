"""Issuing rules through the Registry: access control, atomicity, idempotency, lifecycle effects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bdcert.errors import (
    IdempotencyConflict,
    NotFound,
    PermissionDenied,
    SealingError,
    ValidationError,
)
from bdcert.lifecycle import Registry, intake
from bdcert.model import Outcome, Principal


@pytest.fixture
def registry(workspace: Any) -> Any:
    with Registry.open(workspace.path) as r:
        yield r


@pytest.fixture
def platform(registry: Any) -> Principal:
    return registry.authenticate({"operator": "platform"})  # type: ignore[no-any-return]


def _count(registry: Any, what: str) -> int:
    with registry.storage.transaction() as tx:
        return len([e for e in tx.audit_events() if e.action == what])


def test_registrar_issues_only_for_own_authority(registry: Any, timeline: list[Any]) -> None:
    mianyang = registry.authenticate({"operator": "registrar-510700"})
    with pytest.raises(PermissionDenied, match="510100"):
        registry.push(timeline[0], principal=mianyang)
    auditor = registry.authenticate({"operator": "auditor"})
    with pytest.raises(PermissionDenied):
        registry.push(timeline[5], principal=auditor)
    result = registry.push(timeline[5], principal=mianyang)
    assert result.numbers == ("川(2024)绵阳市不动产权第0000001号",)


def test_rejected_entry_stores_nothing_and_consumes_no_number(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    bad = copy.deepcopy(timeline[0])
    bad["qlr"][0]["zjh"] = "510104198503120170"
    with pytest.raises(ValidationError) as info:
        registry.push(bad, principal=platform)
    assert info.value.fields == ("qlr[0].zjh",)
    with registry.storage.transaction() as tx:
        assert tx.get_registration(bad["ywh"]) is None
    result = registry.push(timeline[0], principal=platform)
    assert result.numbers == ("川(2024)成都市不动产权第0000001号",)


def test_sealing_failure_rolls_back_everything(
    registry: Any, platform: Principal, timeline: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(pdf: bytes, request: Any) -> bytes:
        raise SealingError("the HSM is unplugged")

    monkeypatch.setattr(registry.seal_provider, "seal_pdf", broken)
    waiting = registry.push(timeline[0], principal=platform)
    assert waiting.outcome is Outcome.BACKLOGGED and "HSM is unplugged" in waiting.reason
    monkeypatch.undo()
    with registry.storage.transaction() as tx:  # the failed attempt left nothing behind
        assert tx.get_registration(timeline[0]["ywh"]) is None
        with pytest.raises(NotFound):
            tx.get_certificate("川(2024)成都市不动产权第0000001号")
    assert _count(registry, "issue") == 0
    report = registry.drain_backlog(principal=platform, force=True)
    assert (report.issued, report.waiting) == (1, 0)
    assert registry.push(timeline[0], principal=platform).numbers == (
        "川(2024)成都市不动产权第0000001号",  # its number was not consumed by the failure
    )


def test_replay_returns_the_same_certificate_and_conflict_is_refused(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    first = registry.push(timeline[9], principal=platform)
    again = registry.push(copy.deepcopy(timeline[9]), principal=platform)
    assert again.outcome is Outcome.REPLAYED
    assert again.numbers == first.numbers
    assert again.certificates[0].pdf == first.certificates[0].pdf
    changed = dict(timeline[9], zl="另一个坐落")
    with pytest.raises(IdempotencyConflict) as info:
        registry.push(changed, principal=platform)
    assert info.value.fields[0] == "ywh"
    assert _count(registry, "issue") == 1


def test_yzh_must_name_a_certificate_in_force(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    with pytest.raises(ValidationError) as info:
        registry.push(timeline[13], principal=platform)  # names 0000001, not issued yet
    assert info.value.fields == ("yzh[0].zh",)
    registry.push(timeline[0], principal=platform)
    registry.push(timeline[13], principal=platform)
    again = dict(copy.deepcopy(timeline[13]), ywh="510100-2024-009999")
    with pytest.raises(ValidationError, match="already superseded"):
        registry.push(again, principal=platform)


def test_separate_holding_gives_one_certificate_per_holder(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    result = registry.push(timeline[2], principal=platform)
    assert len(result.certificates) == 2
    assert [c.certificate.face_value("qlr") for c in result.certificates] == ["赵磊", "孙丽"]
    ids = {c.certificate.licence_id for c in result.certificates}
    assert len(ids) == 2


def test_certificate_year_is_china_time(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    raw = dict(
        copy.deepcopy(timeline[0]), ywh="510100-2024-NEWYEAR", dbsj="2024-12-31T16:30:00+00:00"
    )  # 2025-01-01 00:30 in China
    result = registry.push(raw, principal=platform)
    assert result.numbers == ("川(2025)成都市不动产权第0000001号",)
    assert result.certificates[0].certificate.face_value("fzrq") == "2025年01月01日"


def test_a_unit_never_has_two_property_certificates_in_force(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    registry.push(timeline[0], principal=platform)
    second = dict(copy.deepcopy(timeline[0]), ywh="510100-2024-DOUBLE")
    second["qlr"] = [{"mc": "李红", "zjzl": "1", "zjh": "510107198709210248"}]
    with pytest.raises(ValidationError) as info:
        registry.push(second, principal=platform)
    assert info.value.fields == ("yzh",)
    assert "川(2024)成都市不动产权第0000001号" in str(info.value)
    # a proof on the same unit is fine: it proves a right over the property, not ownership
    assert registry.push(timeline[8], principal=platform).outcome is Outcome.ISSUED


def test_unit_outside_the_authoritys_area(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    raw = dict(copy.deepcopy(timeline[0]), djjg="510700", ywh="510700-2024-000101")
    with pytest.raises(ValidationError) as info:
        registry.push(raw, principal=platform)
    assert info.value.fields == ("bdcdyh",)
    assert "outside the area" in str(info.value)


def test_unknown_authority_reports_every_problem_not_a_permission_error(
    registry: Any, timeline: list[Any]
) -> None:
    clerk = registry.authenticate({"operator": "registrar-510100"})
    raw = dict(copy.deepcopy(timeline[0]), djjg="510199", qllx="77")
    with pytest.raises(ValidationError) as info:
        registry.push(raw, principal=clerk)
    assert {"djjg", "qllx"} <= set(info.value.fields)


def test_undrawable_character_rejects_the_entry_naming_the_field(
    registry: Any, platform: Principal, timeline: list[Any]
) -> None:
    raw = copy.deepcopy(timeline[0])
    raw["zl"] += "\U000f0001"  # supplementary private use: no configured font has it
    with pytest.raises(ValidationError) as info:
        registry.push(raw, principal=platform)
    assert info.value.fields == ("zl",)
    assert "U+F0001" in str(info.value)
    assert registry.push(timeline[0], principal=platform).numbers == (
        "川(2024)成都市不动产权第0000001号",
    )


def test_verify_takes_bytes_and_authenticate_takes_a_mapping(registry: Any) -> None:
    from bdcert.errors import IdentityError

    with pytest.raises(TypeError, match="bytes"):
        registry.verify(None)
    with pytest.raises(IdentityError):
        registry.authenticate("platform")


def test_undelivered_events_are_kept_and_redelivered(workspace: Any, timeline: list[Any]) -> None:
    from bdcert.errors import NotificationError
    from bdcert.hookspecs import hookimpl
    from bdcert.plugins import Hooks

    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.down = True
            self.delivered: list[Any] = []

        def notify(self, event: Any) -> None:
            if self.down:
                raise NotificationError("receiver is down")
            self.delivered.append(event)

    flaky = Flaky()

    class Plugin:
        @hookimpl
        def bdcert_register_notifiers(self, register: Any) -> None:
            register("flaky", lambda settings, ws: flaky)

    config = workspace.path / "bdcert.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('plugins = ["log"]', 'plugins = ["flaky"]'),
        encoding="utf-8",
    )
    hooks = Hooks()
    hooks.pm.register(Plugin())
    with Registry.open(workspace.path, hooks=hooks) as registry:
        platform = registry.authenticate({"operator": "platform"})
        result = registry.push(timeline[0], principal=platform)
        assert result.outcome is Outcome.ISSUED  # the failed notification did not undo it
        with registry.storage.transaction() as tx:
            (kept,) = tx.undelivered("flaky")
        assert kept.event.number == result.numbers[0] and "receiver is down" in kept.last_error
        assert registry.redeliver(principal=platform) == (0, 1)
        with pytest.raises(PermissionDenied):
            registry.redeliver(principal=registry.authenticate({"operator": "auditor"}))
        flaky.down = False
        assert registry.redeliver(principal=platform) == (1, 0)
        assert [e.number for e in flaky.delivered] == [result.numbers[0]]
        with registry.storage.transaction() as tx:
            assert tx.undelivered() == []


def test_events_are_in_the_outbox_before_commit_so_a_crash_loses_none(
    workspace: Any, timeline: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the commit, before any notifier ran: the events are already in
    the outbox (written in the issuing transaction) and ``redeliver`` sends them."""
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        # "crash": intake publishes nothing after the commit
        monkeypatch.setattr(intake, "publish", lambda services, events, staged: None)
        result = registry.push(timeline[0], principal=platform)
        with registry.storage.transaction() as tx:
            (pending,) = tx.undelivered()
        assert (pending.notifier, pending.attempts) == ("log", 0)
        assert pending.event.kind == "issued" and pending.event.number == result.numbers[0]
        assert registry.redeliver(principal=platform) == (1, 0)
        with registry.storage.transaction() as tx:
            assert tx.undelivered() == []
        monkeypatch.undo()
        registry.push(timeline[1], principal=platform)  # delivered at once: nothing stays
        with registry.storage.transaction() as tx:
            assert tx.undelivered() == []
