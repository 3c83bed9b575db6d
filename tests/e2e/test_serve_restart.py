"""``bdcert serve`` killed (SIGKILL) in the middle of a streamed batch loses and repeats nothing:
after a restart, the whole batch sent again answers the entries processed before as
``replayed`` with their first numbers and issues the rest; every entry is issued exactly once and
the numbers run 1, 2, … per authority, year and kind (rule articles 7, 8, 9).

A real ``bdcert serve`` process (uvicorn) over a SQLite workspace whose operators use API tokens;
the client is httpx streaming the sample timeline as JSON Lines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bdcert.lifecycle import Registry
from tests.service.conftest import use_tokens
from tests.support import EXPECTED, REPO, TIMELINE, make_workspace, require_shared

require_shared(allow_module_level=True)
LINES = TIMELINE.read_text(encoding="utf-8").splitlines()
EXPECTED_RESULTS: list[dict[str, Any]] = json.loads(EXPECTED.read_text(encoding="utf-8"))
KILL_AFTER = 6  # results read before the server is killed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``python -m bdcert_adapters.cli serve`` on a free port, its log in a file."""

    def __init__(self, workspace: Path, log: Path) -> None:
        self.workspace = workspace
        self.log = log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        paths = [str(REPO / p) for p in ("sdk", "plugins", "adapters", "conformance")]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("BDCERT_DATABASE_URL", None)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "bdcert_adapters.cli", "serve",
                    "--workspace", str(workspace), "--port", str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        pytest.fail("bdcert serve did not become ready: " + log.read_text(errors="replace"))

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "ws"
    make_workspace(directory)  # SQLite in the workspace
    return directory, use_tokens(directory)


def _batch() -> Iterator[bytes]:
    for line in LINES:
        yield (line + "\n").encode("utf-8")


def _stream(server: Server, token: str, stop_after: int | None = None) -> list[dict[str, Any]]:
    """Send the whole timeline as one batch; read the results (at most ``stop_after``)."""
    results: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", server.url + "/api/v1/entries/batch", content=_batch(), headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.strip():
                results.append(json.loads(line))
            if stop_after is not None and len(results) >= stop_after:
                break
    return results


def test_a_killed_server_loses_and_repeats_nothing(
    workspace: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    directory, tokens = workspace
    log = tmp_path / "serve.log"

    first = Server(directory, log)
    try:
        before = _stream(first, tokens["platform"], stop_after=KILL_AFTER)
    finally:
        first.kill()  # SIGKILL: the entry being sealed now is cut off mid-transaction
    assert first.process.returncode == -signal.SIGKILL
    assert len(before) == KILL_AFTER
    assert [r["line"] for r in before] == list(range(1, KILL_AFTER + 1))

    second = Server(directory, log)
    try:
        after = _stream(second, tokens["platform"])
    finally:
        second.kill()

    # the whole batch answered, in order, each line as the timeline expects ...
    assert [r["line"] for r in after] == [e["line"] for e in EXPECTED_RESULTS]
    for got, want in zip(after, EXPECTED_RESULTS, strict=True):
        assert got["ywh"] == want["ywh"]
        if want["outcome"] in ("issued", "replayed"):
            # ... with exactly the expected numbers: contiguous per authority, year and kind
            assert got.get("numbers") == want["numbers"], (got, want)
        if want["outcome"] == "issued":
            processed_before = any(b["ywh"] == want["ywh"] for b in before)
            if processed_before:
                assert got["outcome"] == "replayed", got  # issued once, answered again
            else:
                assert got["outcome"] in ("issued", "replayed"), got  # replayed: the one cut off
        else:
            assert got["outcome"] == want["outcome"], (got, want)
    # the kill came mid-batch: the restarted server issued what the first never reached
    assert any(r["outcome"] == "issued" for r in after[KILL_AFTER + 1 :])
    for b in before:  # what the first server answered is what the register kept
        want = next(e for e in EXPECTED_RESULTS if e["line"] == b["line"])
        assert b["outcome"] == want["outcome"] and b.get("numbers") == want.get("numbers")

    # the register holds each expected certificate once, and nothing else
    expected_numbers = sorted(
        {n for e in EXPECTED_RESULTS if e["outcome"] == "issued" for n in e["numbers"]}
    )
    with Registry.open(directory) as registry, registry.storage.transaction() as tx:
        stored = tx.certificate_numbers(limit=1000)
        registrations = [tx.get_registration(e["ywh"]) for e in EXPECTED_RESULTS[:20]]
        assert tx.verify_audit_chain() == []
    assert sorted(stored) == expected_numbers
    assert all(r is not None for r in registrations)
