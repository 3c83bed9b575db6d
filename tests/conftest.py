"""Shared fixtures: a fresh plugin manager, the shared sample data, and demo workspaces.

Constants and helpers live in :mod:`tests.support`; tests import them from there. They are
re-exported here so an older ``from tests.support import X`` keeps working.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from bdcert.config import Workspace
from bdcert.plugins import make_plugin_manager
from tests.support import (
    AUTHORITIES,
    DATA,
    DATABASES,
    EXPECTED,
    PG_URL,
    REPO,
    SHARED,
    TIMELINE,
    database_url,
    make_workspace,
    raw_database,
    require_shared,
    run_cli,
    skip_or_fail,
)

__all__ = [
    "AUTHORITIES",
    "DATA",
    "DATABASES",
    "EXPECTED",
    "PG_URL",
    "REPO",
    "SHARED",
    "TIMELINE",
    "database_url",
    "make_workspace",
    "raw_database",
    "require_shared",
    "run_cli",
    "skip_or_fail",
]


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh plugin manager with every installed plugin."""
    return make_plugin_manager()


@pytest.fixture(scope="session")
def timeline() -> list[dict[str, Any]]:
    require_shared()
    return [json.loads(line) for line in TIMELINE.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="session")
def expected() -> list[dict[str, Any]]:
    require_shared()
    return json.loads(EXPECTED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


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
