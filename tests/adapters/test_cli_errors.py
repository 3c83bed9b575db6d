"""The command line answers a missing file or a closed pipe with a line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_workspace, run_cli


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
        "--name",
        "王晓明",
        "--json",
        "--workspace",
        str(ws.path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before anything was written
        stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr, stderr


def test_an_error_is_printed_as_plain_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Brackets, rich markup and terminal escapes in a message reach the user as written."""
    from bdcert.errors import MissingDependency
    from bdcert_adapters.cli import main, plugins

    message = "SM2 seals need gmssl: pip install 'bdcert[gm]' ([bold]not bold[/bold]) \x1b[2J"

    def fail(args: Any) -> int:
        raise MissingDependency(message)

    monkeypatch.setattr(plugins, "cmd_plugins", fail)
    assert main(["plugins"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "error: SM2 seals need gmssl: pip install 'bdcert[gm]' ([bold]not bold[/bold]) \\x1b[2J\n"
    )
    assert captured.out == ""


def test_table_cells_are_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from bdcert_adapters.cli.common import print_table

    print_table("[red]title[/]", ("party",), [("[b]bank[/b] 'bdcert[gm]'",)])
    out = capsys.readouterr().out
    assert "[red]title[/]" in out and "[b]bank[/b] 'bdcert[gm]'" in out


def test_init_force_says_what_it_replaced(
    tmp_path: Path, timeline: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``init --force`` wipes the old register: it says so on stderr, with the count."""
    from bdcert.lifecycle import Registry
    from bdcert_adapters.cli import main

    ws = tmp_path / "ws"
    assert main(["init", "--demo", "--workspace", str(ws)]) == 0
    with Registry.open(ws) as registry:
        registry.push(timeline[0], principal=registry.authenticate({"operator": "platform"}))
    capsys.readouterr()
    assert main(["init", "--demo", "--force", "--workspace", str(ws)]) == 0
    err = capsys.readouterr().err
    assert "replaced a workspace holding 1 certificate(s)" in err, err
    assert main(["init", "--demo", "--force", "--workspace", str(ws)]) == 0
    assert "holding 0 certificate(s)" in capsys.readouterr().err
