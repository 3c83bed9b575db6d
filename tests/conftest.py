"""Shared fixtures: a fresh plugin manager, the shared sample data, and demo workspaces."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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


def make_workspace(directory: Path) -> Workspace:
    """A demo workspace (demo PKI, SQLite store) for the shared authorities, via the CLI."""
    from bdcert_adapters.cli import main

    _require_shared()
    code = main(
        ["init", "--demo", "--workspace", str(directory), "--authorities", str(AUTHORITIES)]
    )
    assert code == 0
    return Workspace.load(directory)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    yield make_workspace(tmp_path / "ws")
