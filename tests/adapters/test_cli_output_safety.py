"""Output safety (issue 9): no stored or echoed text is read as rich markup or terminal control.

One workspace holds certificates whose names, location, business number and cancellation
reason carry markup (``[bold]``, ``[/]``, ``[link=…]``), terminal controls (ESC sequences, BEL,
C1 ``CSI``), a bidi override and a line break followed by a forged ``VALID`` line; a file name
and an agreement carry the same. Every text command is run on it: none may crash (a crash's
exit code is never one that means a verdict), none may send a control character to the
terminal, none may print a line of its own from the hostile text, and the text is shown, with
its controls made visible.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdcert.config import Workspace
from tests.support import make_workspace, run_cli

#: Markup, controls, a bidi override and a forged line, in one string.
HOSTILE = "[bold red]伪[/][link=https://x.example]造[/link]\x1b[2J\x1b]0;pwn\x07\x9b31m\u202e\nVALID forged"
#: As much of it as a register can hold in a name, an address or a reason (validation refuses
#: control characters and line breaks there).
FACE = "[bold red]伪[/][link=https://x.example]造[/link]"
#: What must never reach the terminal raw.
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
CANCELLED = "川(2024)成都市不动产证明第0000001号"


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, timeline: list[dict[str, Any]]
) -> Iterator[tuple[Workspace, Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("output-safety")
    ws = make_workspace(root / "ws")
    by_ywh = {e["ywh"]: copy.deepcopy(e) for e in timeline}
    first = by_ywh["510100-2024-000101"]
    first["ywh"] = "510100-2024-[/]000101[bold]"
    first["qlr"][0]["mc"] = "王晓明" + FACE
    first["zl"] = first["zl"] + FACE
    proof = by_ywh["510100-2024-000106"]
    cancel = by_ywh["510100-2024-000115"]
    cancel["zxyy"] = FACE
    bad = {**by_ywh["510100-2024-000102"], "djjg": HOSTILE}
    lines = [json.dumps(e, ensure_ascii=False) for e in (first, proof, cancel, bad)]
    lines.append(HOSTILE.replace("\n", " "))  # not JSON at all
    entries = root / "entries.jsonl"
    entries.write_text("\n".join(lines) + "\n", encoding="utf-8")
    issue = run_cli(ws, "issue", str(entries), "--out", str(root / "out"))
    assert issue.returncode == 0, issue.stderr
    (pdf,) = (root / "out").glob("*不动产权第0000001号.pdf")
    named = root / f"x{HOSTILE.replace('/', '|')}.pdf"
    named.write_bytes(pdf.read_bytes())
    changed = root / f"y{HOSTILE.replace('/', '|')}.pdf"
    changed.write_bytes(pdf.read_bytes() + b"\n% appended\n")
    book = root / "book.jsonl"
    book.write_text(json.dumps({**first, "ywh": "510100-" + HOSTILE}, ensure_ascii=False) + "\n")
    numbers = {"number": "川(2024)成都市不动产权第0000001号", "cancelled": CANCELLED}
    paths = {"named": str(named), "changed": str(changed), "book": str(book), "issue": issue}
    yield ws, root, {**numbers, **{k: v for k, v in paths.items() if isinstance(v, str)}}


def _safe(done: subprocess.CompletedProcess[str], *, verdict_codes: set[int]) -> str:
    """The output of a finished command, checked: exit code allowed, no raw control, no line
    forged by the hostile text."""
    assert done.returncode in verdict_codes, (done.returncode, done.stdout, done.stderr)
    out = done.stdout + done.stderr
    assert not RAW_CONTROLS.search(out), repr(out)
    for line in out.splitlines():  # (a line break inside a table cell stays inside its box)
        assert not line.startswith("VALID forged"), repr(out)
    return out


def test_every_text_command_shows_hostile_text_as_text(
    hostile: tuple[Workspace, Path, dict[str, str]], tmp_path: Path
) -> None:
    ws, root, names = hostile
    number, cancelled = names["number"], names["cancelled"]
    runs = {
        "issue summary": (
            run_cli(ws, "issue", str(root / "entries.jsonl")),
            {0},
        ),
        "show": (run_cli(ws, "show", number), {0}),
        "status": (run_cli(ws, "status", cancelled), {0}),
        "lookup": (run_cli(ws, "lookup", "--number", number, "--operator", "platform"), {0}),
        "lookup cancelled": (
            run_cli(ws, "lookup", "--number", cancelled, "--name", "蜀川银行股份有限公司成都分行"),
            {1},
        ),
        "verify": (run_cli(ws, "verify", names["named"]), {0}),
        "verify changed": (run_cli(ws, "verify", names["changed"]), {2}),
        "verify json": (run_cli(ws, "verify", names["named"], "--json"), {0}),
        "reconcile": (run_cli(ws, "reconcile", names["book"]), {0, 1}),
        "audit show": (run_cli(ws, "audit", "show", "--operator", "auditor"), {0}),
        "audit verify": (run_cli(ws, "audit", "verify", "--operator", "auditor"), {0}),
        "backlog list": (run_cli(ws, "backlog", "list"), {0}),
        "agreements add": (
            run_cli(
                ws,
                "agreements",
                "add",
                "--id",
                "SA-1",
                "--party",
                "bank-shuchuan",
                "--purpose",
                HOSTILE,
                "--authority",
                "510100",
                "--field",
                "zl",
                "--field",
                "qlr",
                "--valid-from",
                "2024-01-01",
                "--valid-to",
                "2099-12-31",
                "--signed-on",
                "2024-01-01",
            ),
            {0},
        ),
        "agreements list": (run_cli(ws, "agreements", "list"), {0}),
        "share": (run_cli(ws, "share", number, "--operator", "bank-shuchuan"), {0}),
        "agreements revoke": (
            run_cli(ws, "agreements", "revoke", "SA-1", "--reason", HOSTILE),
            {0},
        ),
        "unknown certificate": (run_cli(ws, "show", HOSTILE), {2}),
    }
    shown = {name: _safe(done, verdict_codes=codes) for name, (done, codes) in runs.items()}
    # the hostile text is shown, its markup as brackets and its controls made visible
    for name in ("show", "lookup", "share"):
        assert "[bold red]伪[/]" in shown[name], (name, shown[name])
    assert "\\x1b[2J" in shown["issue summary"]  # the rejected djjg, echoed in its reason
    assert FACE in shown["status"]
    for name in ("agreements revoke", "verify", "verify changed"):
        assert "\\x1b[2J" in shown[name] and "\\nVALID forged" in shown[name], (name, shown[name])
    assert (
        "\\u202e" in shown["verify json"]
        or "\\u202e" in shown["verify json"].encode("unicode_escape").decode()
    ), shown["verify json"]
    assert "[/]000101[bold]" in shown["issue summary"]
    assert "not JSON" in shown["issue summary"]


def test_a_crash_never_exits_with_a_verdict_code(
    hostile: tuple[Workspace, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while verifying must not read as "genuine but superseded" (verify's exit 1)."""
    from bdcert.lifecycle import Registry

    ws, _, names = hostile

    def broken(self: Any, data: bytes, **_: Any) -> Any:
        raise RuntimeError("[bold]boom[/]\x1b[2J")

    monkeypatch.setattr(Registry, "verify", broken)
    done = run_cli(ws, "verify", names["named"])
    assert done.returncode == 70, (done.returncode, done.stderr)
    assert "internal error" in done.stderr and "[bold]boom[/]\\x1b[2J" in done.stderr


def test_a_verdict_detail_naming_a_hostile_ofd_entry_prints_one_line(
    hostile: tuple[Workspace, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: a newline in an OFD entry name (named in the verdict's detail: 'file(s) no signed
    Reference covers were added: …') printed a forged ``VALID`` line."""
    from bdcert.lifecycle import Registry
    from bdcert.model import Verdict, VerdictCode

    ws, _, names = hostile
    detail = "1 file(s) no signed Reference covers were added: x\nVALID forged.xml"

    def modified(self: Any, data: bytes, **_: Any) -> Verdict:
        return Verdict(code=VerdictCode.MODIFIED_AFTER_SEALING, trusted=False, detail=detail)

    monkeypatch.setattr(Registry, "verify", modified)
    done = run_cli(ws, "verify", names["named"])
    out = _safe(done, verdict_codes={2})
    assert len(out.splitlines()) == 1 and "x\\nVALID forged.xml" in out


def test_a_logged_warning_is_one_plain_line() -> None:
    """A seal service's error message in the 'goes to the backlog' warning, or a traceback,
    cannot reach the terminal raw or start a line of its own."""
    import logging
    import sys

    from bdcert_adapters.cli import PlainLogFormatter

    try:
        raise RuntimeError("HSM says \x1b[2J\nVALID forged")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "bdcert", logging.WARNING, __file__, 1, "entry %s: %s", ("A-1", HOSTILE), exc_info
    )
    text = PlainLogFormatter().format(record)
    assert not RAW_CONTROLS.search(text)
    lines = text.splitlines()
    assert lines[0].startswith("warning: entry A-1: ") and "\\nVALID forged" in lines[0]
    assert all(line.startswith("  | ") for line in lines[1:]) and len(lines) > 2
