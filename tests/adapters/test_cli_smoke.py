"""One command of each command group of ``bdcert`` in its own process, as a user runs it.

Everything else about the command line is tested in-process (``tests.support.run_cli`` calls
``main``); these check what only a process shows: the console entry point, imports at start-up,
and that stderr carries no traceback and no third-party deprecation warning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bdcert.config import Workspace
from tests.support import AUTHORITIES, make_workspace, require_shared, run_cli

CHENGDU_1 = "川(2024)成都市不动产权第0000001号"  # timeline line 1
WANG = ("王晓明", "510104198503120176")  # its holder


def bdcert(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bdcert ARGS --workspace WS`` in a new process; stderr must be clean."""
    result = subprocess.run(
        [sys.executable, "-m", "bdcert_adapters.cli", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "DeprecationWarning" not in result.stderr, result.stderr
    return result


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory, timeline: list[dict[str, Any]]) -> Workspace:
    """A demo workspace (made in-process) with timeline line 1 issued by a ``bdcert`` process,
    its PDF in ``out/``."""
    root = tmp_path_factory.mktemp("smoke")
    ws = make_workspace(root / "ws")
    entries = root / "entries.jsonl"
    entries.write_text(json.dumps(timeline[0], ensure_ascii=False) + "\n", encoding="utf-8")
    result = bdcert(ws.path, "issue", str(entries), "--json", "--out", str(root / "out"))
    assert result.returncode == 0, result.stderr
    [record] = json_lines(result)
    assert record["outcome"] == "issued" and record["numbers"] == [CHENGDU_1], record
    return ws


def test_init(tmp_path: Path) -> None:
    require_shared()
    result = bdcert(tmp_path / "ws", "init", "--demo", "--authorities", str(AUTHORITIES))
    assert result.returncode == 0, result.stderr
    assert "workspace ready" in result.stdout
    assert (tmp_path / "ws" / "bdcert.toml").is_file()


def test_help_lists_every_command_and_the_exit_codes(tmp_path: Path) -> None:
    result = bdcert(tmp_path, "--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert {
        *("init", "issue", "verify", "show", "status", "lookup", "notify", "reconcile"),
        *("backlog", "report", "audit", "agreements", "share", "download", "seals", "plugins"),
    } <= listed
    assert "exit codes:" in result.stdout and "2 for bad usage or configuration" in result.stdout


def test_verify(issued: Workspace) -> None:
    pdf = issued.path.parent / "out" / f"{CHENGDU_1}.pdf"
    result = bdcert(issued.path, "verify", str(pdf), "--json")
    assert result.returncode == 0, result.stderr
    assert json_lines(result)[0]["verdict"] == "valid"


def test_notify(issued: Workspace) -> None:
    result = bdcert(issued.path, "notify", "--redeliver")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("delivered: 0")


def test_reconcile(issued: Workspace, timeline: list[dict[str, Any]]) -> None:
    book = issued.path.parent / "book.jsonl"
    book.write_text(json.dumps(timeline[0], ensure_ascii=False) + "\n", encoding="utf-8")
    result = bdcert(issued.path, "reconcile", str(book), "--json", "--operator", "auditor")
    assert result.returncode == 0, result.stderr
    assert [f["finding"] for f in json_lines(result)] in (["issued"], ["late"])


def test_backlog(issued: Workspace) -> None:
    result = bdcert(issued.path, "backlog", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the backlog is empty\n"


def test_audit(issued: Workspace) -> None:
    result = bdcert(issued.path, "audit", "verify", "--operator", "auditor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit log intact" in result.stdout


def test_sharing(issued: Workspace) -> None:
    result = bdcert(issued.path, "agreements", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_download(issued: Workspace, tmp_path: Path) -> None:
    name, number = WANG
    args = ("download", "--name", name, "--id-number", number, "--out", str(tmp_path), "--json")
    result = bdcert(issued.path, *args)
    assert result.returncode == 0, result.stderr
    assert json_lines(result)[0]["number"] == CHENGDU_1
    assert (tmp_path / f"{CHENGDU_1}.pdf").is_file()


def test_seals(issued: Workspace) -> None:
    result = bdcert(issued.path, "seals")
    assert result.returncode == 0, result.stderr
    assert "no seals in this workspace" in result.stdout


def test_plugins(tmp_path: Path) -> None:
    result = bdcert(tmp_path / "none", "plugins")
    assert result.returncode == 0, result.stderr
    assert "storage_sql: bdcert_plugins.storage_sql" in result.stdout


def test_in_process_and_in_a_process_print_the_same_json(issued: Workspace) -> None:
    args = ("show", CHENGDU_1, "--json")
    assert run_cli(issued, *args).stdout == bdcert(issued.path, *args).stdout
