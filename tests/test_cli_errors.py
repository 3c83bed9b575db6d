"""The command line answers a missing file or a closed pipe with a line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_workspace, run_cli


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_workspace(tmp_path_factory.mktemp("cli") / "ws")


@pytest.mark.parametrize(
    "args",
    [
        ("issue", "missing.jsonl"),
        ("reconcile", "missing.jsonl", "--operator", "auditor"),
        ("audit", "verify", "--checkpoint", "missing.pdf", "--operator", "auditor"),
    ],
)
def test_a_missing_file_is_named(ws: Any, args: tuple[str, ...]) -> None:
    result = run_cli(ws, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "missing." in result.stderr, result.stderr


def test_a_reader_that_goes_away_stops_the_output_quietly(ws: Any, tmp_path: Path) -> None:
    """``bdcert issue … --json | head -1``: the rest of the output has nowhere to go."""
    command = [
        sys.executable,
        "-m",
        "bdcert_adapters.cli",
        "lookup",
        "--number",
        "川(2024)成都市不动产权第0000001号",
        "--json",
        "--workspace",
        str(ws.path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before anything was written
        stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr, stderr
