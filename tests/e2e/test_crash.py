"""A process killed (SIGKILL) in the middle of a batch, or of draining the backlog, loses and
repeats nothing: after a restart every entry is issued exactly once and the certificate numbers
run 1, 2, … with none skipped or reused (rule articles 9 and 15)."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bdcert.lifecycle import Registry
from bdcert.model import CertificateStatus, VerdictCode

WORKER = Path(__file__).with_name("crash_worker.py")
COUNT = 24


def _batch(tmp_path: Path, template: dict[str, Any]) -> tuple[Path, list[str]]:
    """COUNT first registrations of one authority, one unit each (no supersession)."""
    path = tmp_path / "batch.jsonl"
    lines, ywhs = [], []
    for i in range(COUNT):
        raw = copy.deepcopy(template)
        raw["ywh"] = f"510100-2024-K{i:05d}"
        raw["bdcdyh"] = [f"510104001001GB{i:05d}F00010001"]
        raw.pop("ft", None)
        lines.append(json.dumps(raw, ensure_ascii=False))
        ywhs.append(raw["ywh"])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, ywhs


def _worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _kill_after_lines(proc: subprocess.Popen[str], lines: int) -> list[str]:
    assert proc.stdout is not None
    seen = []
    while len(seen) < lines:
        line = proc.stdout.readline()
        assert line, (
            f"worker ended early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
        )
        seen.append(line)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    return seen


def _sequence(number: str) -> int:
    match = re.fullmatch(r"川\(2024\)成都市不动产权第(\d{7})号", number)
    assert match, number
    return int(match[1])


def _check_exactly_once(ws: Any, ywhs: list[str]) -> None:
    """Every entry issued once, numbers 1..COUNT in entry order, the register and audit sound."""
    with Registry.open(ws.path) as registry:
        with registry.storage.transaction() as tx:
            numbers = []
            for ywh in ywhs:
                stored = tx.get_registration(ywh)
                assert stored is not None, f"{ywh} was lost"
                (number,) = stored.result.numbers
                numbers.append(number)
            assert tx.verify_audit_chain() == []
            pdfs = [tx.get_pdf(n) for n in numbers]
            certs = [tx.get_certificate(n) for n in numbers]
        assert [_sequence(n) for n in numbers] == list(range(1, COUNT + 1))
        assert all(c.status is CertificateStatus.VALID for c in certs)
        for pdf in pdfs[:: COUNT // 4]:  # a sample: each sealed file verifies against the register
            assert registry.verify(pdf).code is VerdictCode.VALID
    engine = create_engine(ws.table("storage")["url"])
    try:
        with engine.connect() as conn:
            certificates = conn.execute(text("SELECT count(*) FROM certificates")).scalar_one()
            counter = conn.execute(
                text("SELECT last_value FROM sequences WHERE authority = '510100'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert certificates == COUNT  # nothing issued twice
    assert counter == COUNT  # no number consumed by the killed transaction


@pytest.mark.slow
def test_killed_mid_batch_then_pushed_again(
    workspace: Any, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    batch, ywhs = _batch(tmp_path, timeline[0])
    first = _worker("push", str(workspace.path), str(batch))
    done = _kill_after_lines(first, COUNT // 2)
    assert all(line.split()[1] == "issued" for line in done)
    # the authority's system did not get the rest acknowledged: it pushes the whole batch again
    again = _worker("push", str(workspace.path), str(batch))
    out, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    outcomes = [line.split()[1] for line in out.splitlines()]
    assert outcomes[: len(done)] == ["replayed"] * len(done)
    assert set(outcomes[len(done) :]) <= {"replayed", "issued"}  # the one being killed may be in
    _check_exactly_once(workspace, ywhs)


def _issued_from_backlog(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM backlog WHERE state = 'issued'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_killed_while_draining_the_backlog_then_drained_again(
    workspace: Any, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    batch, ywhs = _batch(tmp_path, timeline[0])
    outage = _worker("push", str(workspace.path), str(batch), "--seal-down")
    out, err = outage.communicate(timeout=900)
    assert outage.returncode == 0, err
    assert [line.split()[1] for line in out.splitlines()] == ["backlogged"] * COUNT
    drain = _worker("drain", str(workspace.path))
    url = workspace.table("storage")["url"]
    deadline = time.monotonic() + 600
    while _issued_from_backlog(url) < COUNT // 3:
        assert drain.poll() is None, "the drain finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(drain.pid, signal.SIGKILL)
    assert drain.wait(timeout=60) == -signal.SIGKILL
    assert COUNT // 3 <= _issued_from_backlog(url) < COUNT
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        report = registry.drain_backlog(principal=platform, force=True)
        assert (report.rejected, report.waiting, report.failures) == (0, 0, ())
        items = registry.backlog(principal=platform)
    assert [i.business_number for i in items] == ywhs
    assert all(i.state == "issued" for i in items)
    _check_exactly_once(workspace, ywhs)
