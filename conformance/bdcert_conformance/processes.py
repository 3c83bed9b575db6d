"""bdcert's own processes for the kit's reference systems and bdcert's tests: the command line
in this process, tokens, free loopback ports, and ``bdcert serve`` as a real process.

Served processes import this checkout's source folders first (``sdk``, ``plugins``,
``adapters``, ``conformance``): the code served is the code under test.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["add_token", "bdcert_cli", "free_port", "serve", "source_path"]

#: The checkout this module is in (its source folders go first on served processes' path).
CHECKOUT = Path(__file__).resolve().parents[2]


def source_path() -> str:
    """``PYTHONPATH`` for a served process: this checkout's source folders, then the caller's."""
    paths = [
        str(CHECKOUT / p)
        for p in ("sdk", "plugins", "adapters", "conformance")
        if (CHECKOUT / p).is_dir()
    ]
    return os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])


def bdcert_cli(*args: str) -> str:
    """``bdcert ARGS`` in this process; its standard output.

    :raises RuntimeError: it exited non-zero.
    """
    from bdcert_adapters.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    if code != 0:
        raise RuntimeError(f"bdcert {' '.join(args)} exited with {code}")
    return out.getvalue()


def add_token(workspace: Path, name: str, role: str, authority: str | None = None) -> str:
    """``bdcert tokens add NAME --role ROLE [--authority CODE]`` in ``workspace``; the token."""
    args = ["tokens", "add", "--workspace", str(workspace), "--role", role]
    if authority:
        args += ["--authority", authority]
    return bdcert_cli(*args, name).strip().splitlines()[-1]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(
    workspace: Path,
    *args: str,
    scheme: str = "http",
    client_options: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """``bdcert serve --workspace WORKSPACE --port P ARGS`` on a free loopback port until the
    block ends (SIGINT to its process group, SIGKILL after 20 s).

    :param client_options: httpx options (``verify=``) for the readiness poll.
    :returns: (yields) the base URL, once ``/readyz`` answers 200.
    :raises RuntimeError: it exited, or did not answer within ``timeout`` seconds (its log in
        the message).
    """
    import httpx

    port = free_port()
    log = Path(workspace) / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": source_path(), "PYTHONUNBUFFERED": "1"}
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
                raise RuntimeError(
                    f"bdcert serve exited with {proc.returncode}:\n{log.read_text('utf-8')}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", **(client_options or {})).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"bdcert serve did not start:\n{log.read_text('utf-8')}")
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
