"""Shared fixtures: a fresh plugin manager, the shared sample data, and demo workspaces."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
import pytest

from bdcert.config import Workspace
from bdcert.plugins import make_plugin_manager

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


def _require_shared() -> None:
    if not TIMELINE.is_file():
        message = f"shared sample data not found at {SHARED} (set BDCERT_SHARED_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh plugin manager with every installed plugin."""
    return make_plugin_manager()


@pytest.fixture(scope="session")
def timeline() -> list[dict[str, Any]]:
    _require_shared()
    return [json.loads(line) for line in TIMELINE.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="session")
def expected() -> list[dict[str, Any]]:
    _require_shared()
    return json.loads(EXPECTED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


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
        message = f"PostgreSQL is not reachable at {PG_URL} ({exc.orig})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(f"{message}: start PostgreSQL (or set BDCERT_TEST_POSTGRES_URL)")
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
    from bdcert_adapters.cli import main

    _require_shared()
    code = main(
        ["init", "--demo", "--workspace", str(directory), "--authorities", str(AUTHORITIES)]
    )
    assert code == 0
    if storage_url is not None:
        config = directory / "bdcert.toml"
        text = config.read_text(encoding="utf-8")
        text, count = re.subn(r'(?m)^url = ".*"$', f'url = "{storage_url}"', text)
        assert count == 1
        config.write_text(text, encoding="utf-8")
    return Workspace.load(directory)


@pytest.fixture(params=DATABASES)
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A demo workspace, once on SQLite and once on PostgreSQL."""
    with database_url(request.param, tmp_path) as url:
        yield make_workspace(tmp_path / "ws", url)


@pytest.fixture(scope="session")
def plain_pdf() -> bytes:
    """A one-page A4 PDF with a line of text, unsealed."""
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.add_page()
    doc.set_font("helvetica", size=16)
    doc.cell(text="Real-estate registration e-certificate (test)")
    return bytes(doc.output())


@pytest.fixture(scope="session")
def seal_png() -> bytes:
    """A seal picture for tests: a red filled disc on a transparent square (PNG)."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((20, 20, 220, 220), fill=(220, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


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
