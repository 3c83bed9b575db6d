"""A third-party plugin package, installed through its entry point, is used without any change
to bdcert: it is installed into a temporary directory and bdcert runs in a subprocess with that
directory on its path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import TIMELINE, make_workspace

PACKAGE = Path(__file__).parent / "third_party_plugin"


def test_an_installed_third_party_notifier_is_found_and_used(tmp_path: Path) -> None:
    site = tmp_path / "site"
    source = shutil.copytree(PACKAGE, tmp_path / "src")  # builds write next to the sources
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    ws = make_workspace(tmp_path / "ws")
    config = ws.path / "bdcert.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'plugins = ["log"]',
            'plugins = ["log", "jsonl"]\n\n[notifiers.jsonl]\npath = "events.jsonl"',
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }

    def bdcert(*args: str) -> Any:
        return subprocess.run(
            [sys.executable, "-m", "bdcert_adapters.cli", *args, "--workspace", str(ws.path)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )

    listing = bdcert("plugins").stdout
    assert "jsonl" in listing and "bdcert_example_plugin" in listing
    first = tmp_path / "first.jsonl"
    first.write_text(TIMELINE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    bdcert("issue", str(first), "--json")
    events = [json.loads(line) for line in (ws.path / "events.jsonl").read_text().splitlines()]
    assert events == [{"event": "issued", "number": "川(2024)成都市不动产权第0000001号"}]
    # without the package on the path, the same workspace names the missing plugin
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bdcert_adapters.cli",
            "issue",
            str(first),
            "--workspace",
            str(ws.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "unknown notifier plugin 'jsonl'" in proc.stderr
