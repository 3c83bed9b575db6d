"""Two OS processes issuing for the same authority and year at the same time get distinct,
gap-free certificate numbers, on SQLite and on PostgreSQL (numbers are allocated in the same
transaction that files the certificate)."""

from __future__ import annotations

import copy
import multiprocessing
import re
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from bdcert.lifecycle import Registry

PER_PROCESS = 300


def _entries(template: dict[str, Any], worker: int) -> list[dict[str, Any]]:
    out = []
    for i in range(PER_PROCESS):
        raw = copy.deepcopy(template)
        n = worker * PER_PROCESS + i
        raw["ywh"] = f"510100-2024-C{n:06d}"
        raw["bdcdyh"] = [f"510104001001GB{n:05d}F00010001"]  # one unit each: no supersession
        raw.pop("ft", None)
        out.append(raw)
    return out


def _issue(workspace: str, template: dict[str, Any], worker: int, queue: Any, barrier: Any) -> None:
    try:
        with Registry.open(workspace) as registry:
            principal = registry.authenticate({"operator": "platform"})
            numbers = []
            # both workers start pushing together: opening takes the write lock briefly, and
            # SQLite's lock is not fair, so a late opener could otherwise wait out the whole batch
            barrier.wait(timeout=600)
            started = time.monotonic()
            for raw in _entries(template, worker):
                numbers.extend(registry.push(raw, principal=principal).numbers)
        queue.put((worker, numbers, None, (started, time.monotonic())))
    except BaseException:
        queue.put((worker, [], traceback.format_exc(), (0.0, 0.0)))


def _sequence(number: str) -> int:
    match = re.fullmatch(r"川\(2024\)成都市不动产权第(\d{7})号", number)
    assert match, number
    return int(match[1])


@pytest.mark.slow
def test_two_processes_issue_distinct_gap_free_numbers(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_issue, args=(str(workspace.path), timeline[0], w, queue, barrier))
        for w in range(2)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=1500) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for worker, _, error, _ in results:
        assert error is None, f"worker {worker}:\n{error}"
    numbers = [n for _, ns, _, _ in results for n in ns]
    assert len(numbers) == 2 * PER_PROCESS
    assert len(set(numbers)) == len(numbers)
    sequences = sorted(_sequence(n) for n in numbers)
    assert sequences == list(range(1, 2 * PER_PROCESS + 1))
    assert all(n.startswith("川(2024)成都市不动产权第") for n in numbers)
    # both processes really issued at the same time (SQLite's lock is not fair, so their numbers
    # need not interleave; their issuing periods must overlap)
    (start_a, end_a), (start_b, end_b) = (span for *_, span in results)
    assert start_a < end_b and start_b < end_a
    with Registry.open(workspace.path) as registry, registry.storage.transaction() as tx:
        assert tx.verify_audit_chain() == []
    assert Path(workspace.path).is_dir()
