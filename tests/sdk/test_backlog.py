"""Force majeure (rule article 15): when sealing is impossible, accepted entries wait in a durable
backlog and are issued later, in their order, with their delay and its reason on record."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from bdcert.errors import IdempotencyConflict, SealingError, ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ, Outcome, VerdictCode
from bdcert.protocols import SealRequest
from tests.support import run_cli

START = datetime(2025, 1, 6, 9, 0, tzinfo=CHINA_TZ)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class FlakySeal:
    """The workspace's seal provider, failing while ``down`` is set (an HSM or seal service
    outage); counts the calls that reached it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.down = False
        self.calls = 0

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        self.calls += 1
        if self.down:
            raise SealingError("the HSM does not answer (injected outage)")
        return self.inner.seal_pdf(pdf, request)  # type: ignore[no-any-return]

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        return self.inner.signer_certificate_pem(authority_code)  # type: ignore[no-any-return]


def _open(ws: Any, clock: Clock) -> tuple[Registry, FlakySeal]:
    registry = Registry.open(ws.path, clock=clock)
    seal = FlakySeal(registry.seal_provider)
    registry.seal_provider = seal
    return registry, seal


def _push(registry: Registry, raw: dict[str, Any]) -> dict[str, Any]:
    platform = registry.authenticate({"operator": "platform"})
    try:
        return registry.push(raw, principal=platform).to_wire()
    except ValidationError as exc:
        return {"ywh": raw.get("ywh"), "outcome": "rejected", "errors": exc.problems}


def test_an_outage_mid_batch_loses_nothing_and_keeps_the_numbers_in_order(
    workspace: Any, timeline: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    clock = Clock()
    registry, seal = _open(workspace, clock)
    outcomes = {}
    with registry:
        for line, raw in enumerate(timeline, 1):
            seal.down = 3 <= line <= 12  # sealing impossible for lines 3..12
            if line == 13:
                clock.advance(seconds=31)  # past the first retry: the next push drains first
            outcomes[line] = _push(registry, raw)
            clock.advance(seconds=1)
        platform = registry.authenticate({"operator": "platform"})
        report = registry.drain_backlog(principal=platform)  # 绵阳 and 西昌 had no later push
        assert (report.waiting, report.failures) == (0, ())
        with registry.storage.transaction() as tx:
            assert tx.verify_audit_chain() == []
            by_ywh = {}
            for row in expected:
                stored = tx.get_registration(row["ywh"])
                if stored is not None:
                    by_ywh[row["ywh"]] = list(stored.result.numbers)
        items = registry.backlog(principal=platform)
    for row in expected:
        line = row["line"]
        if 3 <= line <= 12:
            assert outcomes[line]["outcome"] == "backlogged", outcomes[line]
            assert "injected outage" in outcomes[line]["reason"]
        elif row["outcome"] in ("issued", "replayed"):
            assert outcomes[line]["outcome"] == row["outcome"], (line, outcomes[line])
        if row["outcome"] == "issued":
            # the same numbers as without the outage: the backlog kept the order
            assert by_ywh[row["ywh"]] == row["numbers"], line
    # lines 3..12 met the outage; line 13 came after it but queued behind them, then all drained
    assert [i.business_number for i in items] == [timeline[n - 1]["ywh"] for n in range(3, 14)]
    assert all(i.state == "issued" and i.delay is not None for i in items)
    assert all(i.delay > timedelta(0) for i in items if i.delay is not None)


def test_backoff_spares_the_seal_provider_then_doubles(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    clock = Clock()
    registry, seal = _open(workspace, clock)
    with registry:
        seal.down = True
        assert _push(registry, timeline[0])["outcome"] == "backlogged"
        assert seal.calls == 1
        assert _push(registry, timeline[1])["outcome"] == "backlogged"
        assert seal.calls == 1  # queued behind: the retry is not due yet
        clock.advance(seconds=30)
        assert _push(registry, timeline[2])["outcome"] == "backlogged"
        assert seal.calls == 2  # due: tried once, failed again
        platform = registry.authenticate({"operator": "platform"})
        (head, *rest) = registry.backlog(principal=platform, state="waiting")
        assert head.attempts == 2 and "injected outage" in head.last_error
        assert head.next_attempt_at == clock.now + timedelta(seconds=60)  # doubled
        assert len(rest) == 2
        seal.down = False
        clock.advance(seconds=60)
        result = registry.push(timeline[3], principal=platform)
        assert result.outcome is Outcome.ISSUED  # the backlog went first, then this entry
        numbers = [registry.backlog(principal=platform)[i].numbers for i in range(3)]
    assert numbers[0] == ("川(2024)成都市不动产权第0000001号",)
    assert result.numbers == ("川(2024)成都市不动产权第0000005号",)


def test_a_backlogged_entry_is_idempotent_and_its_ywh_is_taken(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    clock = Clock()
    registry, seal = _open(workspace, clock)
    with registry:
        seal.down = True
        platform = registry.authenticate({"operator": "platform"})
        first = registry.push(timeline[0], principal=platform)
        again = registry.push(timeline[0], principal=platform)
        assert first.outcome is again.outcome is Outcome.BACKLOGGED
        changed = dict(timeline[0], zl=timeline[0]["zl"] + "附1号")
        with pytest.raises(IdempotencyConflict) as caught:
            registry.push(changed, principal=platform)
        assert caught.value.fields[0] == "ywh"
        assert len(registry.backlog(principal=platform)) == 1
        seal.down = False
        report = registry.drain_backlog(principal=platform, force=True)
        assert (report.issued, report.waiting) == (1, 0)
        replay = registry.push(timeline[0], principal=platform)
    assert replay.outcome is Outcome.REPLAYED
    assert replay.numbers == ("川(2024)成都市不动产权第0000001号",)


def test_an_entry_whose_reference_fails_when_its_turn_comes_is_rejected_and_kept(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    clock = Clock()
    registry, seal = _open(workspace, clock)
    bad = dict(timeline[13], yzh=[{"zh": "川(2024)成都市不动产权第0000999号", "lx": "电子"}])
    with registry:
        platform = registry.authenticate({"operator": "platform"})
        seal.down = True
        assert registry.push(timeline[0], principal=platform).outcome is Outcome.BACKLOGGED
        # behind the backlog references are not checked yet: the entry is accepted
        assert registry.push(bad, principal=platform).outcome is Outcome.BACKLOGGED
        seal.down = False
        report = registry.drain_backlog(principal=platform, force=True)
        assert (report.issued, report.rejected, report.waiting) == (1, 1, 0)
        (kept,) = registry.backlog(principal=platform, state="rejected")
        auditor = registry.authenticate({"operator": "auditor"})
        rejections = registry.audit_log(principal=auditor, subject=bad["ywh"])
    assert kept.business_number == bad["ywh"]
    assert any("0000999" in p.message for p in kept.problems)
    assert [e.action for e in rejections][-1] == "reject"


def test_a_registrar_drains_only_its_own_authority(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    clock = Clock()
    registry, seal = _open(workspace, clock)
    with registry:
        platform = registry.authenticate({"operator": "platform"})
        seal.down = True
        registry.push(timeline[0], principal=platform)  # 成都
        registry.push(timeline[5], principal=platform)  # 绵阳
        seal.down = False
        chengdu = registry.authenticate({"operator": "registrar-510100"})
        report = registry.drain_backlog(principal=chengdu, force=True)
        assert report.issued == 1
        assert [i.authority_code for i in registry.backlog(principal=chengdu)] == ["510100"]
        waiting = registry.backlog(principal=platform, state="waiting")
    assert [i.authority_code for i in waiting] == ["510700"]


def test_command_line_lists_drains_and_reports_delays(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    clock = Clock()
    registry, seal = _open(workspace, clock)
    with registry:
        seal.down = True
        for raw in timeline[:2]:
            _push(registry, raw)
    listed = run_cli(workspace, "backlog", "list", "--json", "--operator", "platform")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["ywh"], r["state"]) for r in rows] == [
        (timeline[0]["ywh"], "waiting"),
        (timeline[1]["ywh"], "waiting"),
    ]
    drained = run_cli(workspace, "backlog", "drain", "--operator", "platform")
    assert drained.returncode == 0, drained.stderr + drained.stdout
    assert "issued 2" in drained.stdout
    report = run_cli(workspace, "report", "delays", "--json", "--operator", "platform")
    assert report.returncode == 0, report.stderr
    delays = [json.loads(line) for line in report.stdout.splitlines()]
    assert [d["numbers"] for d in delays] == [
        ["川(2024)成都市不动产权第0000001号"],
        ["川(2024)成都市不动产权第0000002号"],
    ]
    assert all("injected outage" in d["reason"] and d["delay_seconds"] > 0 for d in delays)
    table = run_cli(workspace, "report", "delays", "--operator", "platform")
    assert "injected outage" in table.stdout and timeline[0]["ywh"] in table.stdout
    denied = run_cli(workspace, "backlog", "drain", "--operator", "registrar-510700")
    assert denied.returncode == 0  # nothing of 绵阳 waits; 成都's backlog is not its business


def test_a_seizure_does_not_wait_behind_the_backlog(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """A court's 查封 needs no seal: during an outage it takes effect at once, and a certificate
    of the unit issued later from the backlog starts out restricted."""
    clock = Clock()
    registry, seal = _open(workspace, clock)
    seizure = next(e for e in timeline if e["ywh"] == "510100-2024-000116")  # unit of 000102
    with registry:
        platform = registry.authenticate({"operator": "platform"})
        assert registry.push(timeline[0], principal=platform).outcome is Outcome.ISSUED
        seal.down = True
        assert registry.push(timeline[1], principal=platform).outcome is Outcome.BACKLOGGED
        result = registry.push(seizure, principal=platform)
        assert result.outcome is Outcome.NONE  # applied now, not queued
        seal.down = False
        assert registry.drain_backlog(principal=platform, force=True).issued == 1
        (number,) = registry.backlog(principal=platform)[0].numbers
        verdict = registry.lookup(number=number, principal=platform)
    assert verdict.code is VerdictCode.RESTRICTED
