"""Golden files of the command line's JSON output for the bundled example timeline.

The layered-SDK change (issue 8) must not change what ``bdcert … --json`` prints. Each command of
:data:`SCRIPT` runs in-process against one workspace, on SQLite and on PostgreSQL; its stdout
and exit code are compared with ``tests/adapters/golden/cli.json`` after :func:`normalize`
replaces what differs between runs (times, keys, hashes, tokens). ``BDCERT_UPDATE_GOLDEN=1`` rewrites the file.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from bdcert_adapters.cli import main
from tests.support import DATABASES, database_url, use_database

GOLDEN = Path(__file__).parent / "golden" / "cli.json"
EXAMPLES = Path(str(resources.files("bdcert_adapters") / "examples"))
FIRST = "川(2024)成都市不动产权第0000001号"
HOLDER = ["--name", "赵磊", "--id-number", "510108199007070552"]

#: (label, argv); ``{out}`` is a directory of the test's, ``{pdfs}`` every PDF written there.
SCRIPT: list[tuple[str, list[str]]] = [
    ("issue", ["issue", str(EXAMPLES / "sichuan-2024.jsonl"), "--json", "--out", "{out}"]),
    ("replay", ["issue", str(EXAMPLES / "sichuan-2024.jsonl"), "--json"]),
    ("verify", ["verify", "{pdfs}", "--json"]),
    ("show", ["show", FIRST, "--json"]),
    ("status", ["status", FIRST, "--json"]),
    ("lookup", ["lookup", "--number", FIRST, "--name", "王晓明", "--json"]),
    ("lookup-platform", ["lookup", "--number", FIRST, "--json", "--operator", "platform"]),
    ("backlog", ["backlog", "list", "--json"]),
    ("drain", ["backlog", "drain", "--json"]),
    ("delays", ["report", "delays", "--json"]),
    (
        "reconcile",
        ["reconcile", str(EXAMPLES / "sichuan-2024.jsonl"), "--json", "--operator", "auditor"],
    ),
    (
        "agreement-add",
        [
            "agreements",
            "add",
            "--id",
            "SA-golden",
            "--party",
            "bank-shuchuan",
            "--purpose",
            "抵押贷款审查",
            "--authority",
            "510100",
            "--field",
            "number",
            "--field",
            "status",
            "--field",
            "restrictions",
            "--field",
            "zl",
            "--valid-from",
            "2026-01-01",
            "--valid-to",
            "2030-12-31",
            "--signed-on",
            "2025-12-20",
            "--json",
        ],
    ),
    ("agreements", ["agreements", "list", "--json"]),
    ("share", ["share", FIRST, "--operator", "bank-shuchuan", "--json"]),
    ("share-refused", ["share", FIRST, "--operator", "holder-wang", "--json"]),
    ("revoke", ["agreements", "revoke", "SA-golden", "--reason", "贷款结清", "--json"]),
    ("download", ["download", *HOLDER, "--out", "{out}/mine", "--json"]),
    (
        "download-refused",
        [
            "download",
            "--name",
            "王晓明",
            "--id-number",
            "510104198503120177",
            "--out",
            "{out}/no",
            "--json",
        ],
    ),
    ("audit-show", ["audit", "show", "--certificate", FIRST, "--json", "--operator", "auditor"]),
    ("audit-verify", ["audit", "verify", "--json", "--operator", "auditor"]),
]

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")
_HEX = re.compile(r"\b[0-9a-f]{16,}\b")
_TOKEN_URL = re.compile(r"(/v/)[A-Za-z0-9_-]+")


def normalize(value: Any, key: str = "") -> Any:
    """What stays the same between runs: times, hex digests, tokens and paths replaced."""
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, key) for v in value]
    if isinstance(value, str):
        if key in {"token", "qr_token", "file", "path"}:
            return f"<{key}>"
        if key == "qfsj":  # the issue date (签发时间): today
            return "<date>"
        text = _TIME.sub("<time>", value)
        text = _HEX.sub("<hex>", text)
        return _TOKEN_URL.sub(r"\1<token>", text)
    if isinstance(value, float) and key.endswith(("seconds", "hours", "delay")):
        return "<duration>"
    return value


def _line(text: str, out: Path) -> Any:
    """A JSON line, normalized; a line of text (a command without JSON output) as text."""
    text = text.replace(str(out), "<out>")
    try:
        return normalize(json.loads(text))
    except json.JSONDecodeError:
        return normalize(text)


#: The national-cryptography workspace: PDF and OFD issued, then both verified.
SCRIPT_SM2: list[tuple[str, list[str]]] = [
    (
        "issue",
        [
            "issue", str(EXAMPLES / "sichuan-2024.jsonl"), "--json", "--format", "both",
            "--out", "{out}",
        ],
    ),
    ("verify", ["verify", "{docs}", "--json"]),
]  # fmt: skip

#: Placeholders of a script: every file of a kind written to ``{out}``, sorted by name.
_FILES = {"{pdfs}": "*.pdf", "{docs}": "*.*"}


def run_script(
    script: list[tuple[str, list[str]]],
    workspace: Path,
    out: Path,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """Each command's exit code and normalized stdout, by label."""
    results: dict[str, Any] = {}
    for label, argv in script:
        args: list[str] = []
        for a in argv:
            if a in _FILES:
                args += sorted(str(p) for p in out.glob(_FILES[a]))
            else:
                args.append(a.replace("{out}", str(out)))
        code = main([*args, "--workspace", str(workspace)])
        captured = capsys.readouterr()
        results[label] = {
            "exit": code,
            "stdout": [_line(x, out) for x in captured.out.splitlines()],
        }
    return results


def check_golden(got: dict[str, Any], golden: Path, *, update: bool) -> None:
    """Compare with the golden file, command by command (``update``: rewrite it first)."""
    if update and os.environ.get("BDCERT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    want = json.loads(golden.read_text(encoding="utf-8"))
    for label in got:
        assert got[label] == want[label], f"bdcert {label} ({golden.name}): JSON output changed"


@pytest.mark.parametrize("db", DATABASES)
def test_cli_json_output_matches_golden(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with database_url(db, tmp_path) as url:
        ws = tmp_path / "ws"
        assert main(["init", "--demo", "--workspace", str(ws)]) == 0
        use_database(ws, url)
        capsys.readouterr()
        got = run_script(SCRIPT, ws, tmp_path / "out", capsys)
    check_golden(got, GOLDEN, update=db == "sqlite")


def test_cli_json_output_matches_golden_sm2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The national-cryptography workspace: PDF and OFD issued, both verified."""
    pytest.importorskip("tongsuopy")
    ws = tmp_path / "ws"
    assert main(["init", "--demo", "--algorithm", "sm2", "--workspace", str(ws)]) == 0
    capsys.readouterr()
    got = run_script(SCRIPT_SM2, ws, tmp_path / "out", capsys)
    check_golden(got, GOLDEN.with_name("cli-sm2.json"), update=True)
