"""``bdcert serve`` as a real process on loopback, for the TLS, worker and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(
    workspace: Path,
    *args: str,
    scheme: str = "http",
    client_options: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Run ``bdcert serve --workspace WORKSPACE --port P ARGS`` until the block ends.

    :param client_options: httpx options (``verify=``) for the readiness poll.
    :returns: (yields) the base URL, once ``/readyz`` answers 200.
    """
    from tests.support import REPO

    port = free_port()
    log = Path(workspace) / f"serve-{port}.log"
    paths = [str(REPO / p) for p in ("sdk", "plugins", "adapters", "conformance")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("BDCERT_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bdcert_adapters.cli", "serve", "--workspace", str(workspace),
             "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )  # fmt: skip
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"bdcert serve exited with {proc.returncode}:\n{log.read_text('utf-8')}"
                )
            try:
                if httpx.get(f"{base}/readyz", **(client_options or {})).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"bdcert serve did not start:\n{log.read_text('utf-8')}")
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
