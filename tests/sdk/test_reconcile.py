"""Completeness (rule article 9): the registry book against what was issued."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from bdcert.errors import PermissionDenied
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ


def _sealed_at_six_pm() -> datetime:
    return datetime(2024, 3, 5, 18, 0, tzinfo=CHINA_TZ)  # line 1 was recorded at 10:21 that day


def test_reconcile_finds_missing_late_and_different(workspace: Any, timeline: list[Any]) -> None:
    with Registry.open(workspace.path, clock=_sealed_at_six_pm) as registry:
        registry.push(timeline[0], principal=registry.authenticate({"operator": "platform"}))
    book = [timeline[0], timeline[1], dict(copy.deepcopy(timeline[0]), zl="改过的坐落")]
    with Registry.open(workspace.path) as registry:
        auditor = registry.authenticate({"operator": "auditor"})
        findings = registry.reconcile(book, principal=auditor, late_after=timedelta(hours=8))
        assert [f.finding for f in findings] == ["issued", "missing", "different"]
        assert findings[0].delay == timedelta(hours=7, minutes=39)
        strict = registry.reconcile(book[:1], principal=auditor, late_after=timedelta(hours=1))
        assert strict[0].finding == "late" and strict[0].authority_code == "510100"
        clerk = registry.authenticate({"operator": "registrar-510100"})
        with pytest.raises(PermissionDenied):
            registry.reconcile(book, principal=clerk)
    book_file = workspace.path / "book.jsonl"
    book_file.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in book) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bdcert_adapters.cli",
            "reconcile",
            str(book_file),
            "--json",
            "--late-after",
            "8",
            "--operator",
            "auditor",
            "--workspace",
            str(workspace.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # something was never issued
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["finding"] for r in rows] == ["issued", "missing", "different"]
    assert rows[0]["delay_hours"] == 7.65
