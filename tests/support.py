"""What the test folders share: where the shared sample data and the test PostgreSQL are, the one
"skip, or fail under CI" rule, and helpers several test files use (a fresh database, a demo
workspace, the command line in-process, a tool or module that must be installed).

The pytest fixtures stay in ``tests/conftest.py``, which builds them from these helpers.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from bdcert.config import Workspace

REPO = Path(__file__).resolve().parents[1]
_shared_env = os.environ.get("BDCERT_SHARED_DIR")
SHARED = Path(_shared_env) if _shared_env else REPO.parent / "shared"
DATA = SHARED / "data"
TIMELINE = DATA / "registrations" / "sichuan-2024.jsonl"
EXPECTED = DATA / "registrations" / "sichuan-2024.expected.json"
AUTHORITIES = DATA / "authorities.json"
PG_URL = os.environ.get(
    "BDCERT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: Every test that touches storage runs on each of these (one code path, two databases).
DATABASES = ("sqlite", "postgresql")


def skip_or_fail(message: str, *, allow_module_level: bool = False) -> NoReturn:
    """Something a test needs is missing: fail under ``CI=true`` (where scripts/setup installs
    everything, so a missing piece is a broken setup), skip elsewhere (a laptop)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=allow_module_level)


def require_shared(*, allow_module_level: bool = False) -> None:
    """The shared sample data (``../shared`` or ``BDCERT_SHARED_DIR``) must be there; a module
    that reads it at import calls this first with ``allow_module_level=True``."""
    if not TIMELINE.is_file():
        skip_or_fail(
            f"shared sample data not found at {SHARED} (set BDCERT_SHARED_DIR)",
            allow_module_level=allow_module_level,
        )


def require_module(
    module: str, what: str, *, install: str = "pip install -e '.[test]'", module_level: bool = True
) -> None:
    """``module`` must import (called at module level by default: skips the whole file)."""
    try:
        __import__(module)
    except ImportError:
        skip_or_fail(f"{what} is not installed ({install})", allow_module_level=module_level)


def require_tool(name: str, install: str = "bash scripts/setup installs it") -> str:
    """The path of command-line tool ``name``, which must be installed."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed ({install})")
    return path


def require_openssl() -> str:
    """The ``openssl`` 3.x command."""
    openssl = shutil.which("openssl")
    version = (
        subprocess.run([openssl, "version"], capture_output=True, text=True).stdout
        if openssl
        else ""
    )
    if openssl is None or not version.startswith("OpenSSL 3"):
        skip_or_fail(f"the openssl 3.x command line is needed (found {version or 'none'!r})")
    return openssl


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a command-line tool, output captured as text, its exit code left to the test."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)


def pdfsig_trusting(root_cert: str | Path, pdf: bytes, directory: Path) -> str:
    """``pdfsig``'s report on ``pdf`` with ``root_cert`` trusted through a fresh NSS database
    in ``directory`` (poppler reads trust anchors only from NSS)."""
    require_tool("pdfsig")
    require_tool("certutil")
    nssdir = directory / "nss"
    nssdir.mkdir()
    assert run_tool("certutil", "-N", "-d", f"sql:{nssdir}", "--empty-password").returncode == 0
    added = run_tool(
        "certutil", "-A", "-d", f"sql:{nssdir}", "-n", "bdcert-demo-root", "-t", "CT,C,C",
        "-i", root_cert,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    path = directory / "sealed.pdf"
    path.write_bytes(pdf)
    out = run_tool("pdfsig", "-nssdir", f"sql:{nssdir}", path)
    assert out.returncode == 0, out.stderr
    return out.stdout


@contextmanager
def database_url(kind: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a SQLite file, or a PostgreSQL schema dropped after.

    PostgreSQL is ``BDCERT_TEST_POSTGRES_URL`` (default the local server); when it is not
    reachable the test fails under ``CI=true`` and skips elsewhere, saying what to start.
    """
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'bdcert.sqlite3'}"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_URL)
    schema = f"t_{secrets.token_hex(8)}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as exc:
        admin.dispose()
        skip_or_fail(
            f"PostgreSQL is not reachable at {PG_URL} ({exc.orig}): "
            "start PostgreSQL (or set BDCERT_TEST_POSTGRES_URL)"
        )
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def make_workspace(directory: Path, storage_url: str | None = None) -> Workspace:
    """A demo workspace (demo PKI) for the shared authorities, made by the command line.

    :param storage_url: the database to use instead of the workspace's own SQLite file.
    """
    from bdcert.config import Workspace
    from bdcert_adapters.cli import main

    require_shared()
    code = main(
        ["init", "--demo", "--workspace", str(directory), "--authorities", str(AUTHORITIES)]
    )
    assert code == 0
    if storage_url is not None:
        use_database(directory, storage_url)
    return Workspace.load(directory)


def use_database(directory: Path, storage_url: str) -> None:
    """Point the workspace at ``directory`` to ``storage_url`` (its ``[storage] url``)."""
    config = directory / "bdcert.toml"
    text = config.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^url = ".*"$', f'url = "{storage_url}"', text)
    assert count == 1
    config.write_text(text, encoding="utf-8")


def run_cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    """``bdcert ARGS --workspace WS`` in this process, output captured as text, returned as a
    finished process would be (an exception the command line lets escape fails the test, as a
    traceback would). tests/adapters/test_cli_smoke.py runs each command group in a process."""
    from bdcert_adapters.cli import main

    argv = [*args, "--workspace", str(ws.path)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: bad usage (2) or --help (0)
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(
        ["bdcert", *argv], code, stdout.getvalue(), stderr.getvalue()
    )


@contextmanager
def raw_database(ws: Workspace) -> Iterator[Any]:
    """The workspace's database as an attacker with write access opens it: a SQLAlchemy
    connection in one transaction, no bdcert in between."""
    from sqlalchemy import create_engine

    engine = create_engine(ws.table("storage")["url"])
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()
