"""The interface plan's reference environment: two ``bdcert serve`` processes on loopback, a
city (the target) and the province, each with its own SQLite register, made from one demo
workspace (bdcert's bundled authorities, so the city's seals chain to the province's trust
list), with API tokens for the plan's roles.

Roles: ``clerk`` — a registrar of 510100 (成都) on the city; ``other_clerk`` — a registrar of
510700 (绵阳) on the city; ``province`` — a registrar of 510100 on the province (it may deposit
510100's certificates). A platform token of the city is kept for the broken implementation that
lets a clerk act on another authority.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx

from bdcert_conformance.kit.model import RunOptions

__all__ = ["ReferenceEnvironment", "reference_environment", "reference_run", "serve"]

#: The reference city's authority.
AUTHORITY = "510100"


@attrs.frozen
class ReferenceEnvironment:
    """The running reference: the city's and the province's base URLs, the tokens by role,
    the authority, and the directory holding both workspaces."""

    city: str
    province: str
    tokens: dict[str, str]
    authority: str
    directory: Path
    platform_token: str = ""


def _cli(*args: str) -> str:
    """``bdcert ARGS`` in this process; its standard output."""
    from bdcert_adapters.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    if code != 0:
        raise RuntimeError(f"bdcert {' '.join(args)} exited with {code}")
    return out.getvalue()


def _token(workspace: Path, name: str, role: str, authority: str | None = None) -> str:
    args = ["tokens", "add", "--workspace", str(workspace), "--role", role]
    if authority:
        args += ["--authority", authority]
    return _cli(*args, name).strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _python_path() -> str:
    """This checkout's source folders first (the served code is the code under test)."""
    root = Path(__file__).resolve().parents[3]
    paths = [
        str(root / p) for p in ("sdk", "plugins", "adapters", "conformance") if (root / p).is_dir()
    ]
    return os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])


@contextlib.contextmanager
def serve(workspace: Path, timeout: float = 60.0) -> Iterator[str]:
    """``bdcert serve --workspace WORKSPACE`` on a free loopback port until the block ends;
    yields the base URL once ``/readyz`` answers 200."""
    port = _free_port()
    log = workspace / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": _python_path(), "PYTHONUNBUFFERED": "1"}
    env.pop("BDCERT_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bdcert_adapters.cli",
                "serve",
                "--workspace",
                str(workspace),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bdcert serve exited with {proc.returncode}: see {log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"bdcert serve did not start in {timeout} s: see {log}")
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


def reference_environment(stack: contextlib.ExitStack, workdir: Path) -> ReferenceEnvironment:
    """Make the two workspaces under ``workdir`` and start both services (stopped by
    ``stack``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    city, province = workdir / "city", workdir / "province"
    _cli("init", "--demo", "--force", "--workspace", str(city))
    config = city / "bdcert.toml"  # the self-test runs 信息验证 more often than [lookup] allows
    config.write_text(config.read_text("utf-8") + "\n[lookup]\nmax_lookups = 100000\n", "utf-8")
    if province.exists():
        shutil.rmtree(province)
    shutil.copytree(city, province, ignore=shutil.ignore_patterns("bdcert.sqlite3*"))
    tokens = {
        "clerk": _token(city, f"clerk-{AUTHORITY}", "registrar", AUTHORITY),
        "other_clerk": _token(city, "clerk-510700", "registrar", "510700"),
        "province": _token(province, f"city-{AUTHORITY}", "registrar", AUTHORITY),
    }
    platform = _token(city, "platform-kit", "platform")
    city_url = stack.enter_context(serve(city))
    province_url = stack.enter_context(serve(province))
    return ReferenceEnvironment(city_url, province_url, tokens, AUTHORITY, workdir, platform)


def reference_run(env: ReferenceEnvironment, workdir: Path) -> RunOptions:
    """The options of a run against the reference (every check passes)."""
    return RunOptions(
        plan="interface",
        target=env.city,
        province=env.province,
        tokens=dict(env.tokens),
        settings={"authority": env.authority},
        system="bdcert reference city",
    )
