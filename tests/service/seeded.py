"""A served workspace with certificates already issued, made once per test module and copied for
each test (sealing is the slow part): the sharing, self-download and audit tests start from it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.config import Workspace
from bdcert.model import Principal
from tests.service.conftest import Served, copy_served
from tests.support import REPO, use_database

#: The bundled example timeline (the same entries as /work/shared's, with their attachments).
EXAMPLES = REPO / "adapters" / "bdcert_adapters" / "examples" / "sichuan-2024.jsonl"

#: 王晓明 (510100), 赵磊 and 孙丽 (510100, co-owners), 吴秀英 (510700).
ENTRIES = ("510100-2024-000101", "510100-2024-000103", "510700-2024-000201")


def entries(*ywh: str) -> list[dict[str, Any]]:
    """The example entries with these 业务号, first occurrence, in the order given."""
    found: dict[str, dict[str, Any]] = {}
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        found.setdefault(raw["ywh"], raw)
    return [found[k] for k in ywh]


@attrs.define
class Seeded:
    """A seeded workspace directory, its operators' tokens and the numbers issued per 业务号."""

    directory: Path
    tokens: dict[str, str]
    numbers: dict[str, tuple[str, ...]]


def seed(template: tuple[Path, dict[str, str]], directory: Path) -> Seeded:
    """Copy the served template to ``directory`` and push :data:`ENTRIES` through the Registry."""
    from bdcert.lifecycle import Registry

    ws, tokens = copy_served(template, directory)
    platform = Principal("platform", {"platform"})
    numbers = {}
    with Registry.open(ws) as registry:
        for raw in entries(*ENTRIES):
            result = registry.push(raw, principal=platform)
            assert result.numbers, result
            numbers[raw["ywh"]] = result.numbers
    return Seeded(directory, tokens, numbers)


@contextmanager
def serve(seeded: Seeded, target: Path) -> Iterator[Served]:
    """A test client over a fresh copy of the seeded workspace (database included)."""
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    shutil.copytree(seeded.directory, target)
    use_database(target, f"sqlite:///{target / 'bdcert.sqlite3'}")
    ws = Workspace.load(target)
    app = create_app(lambda: Registry.open(ws), ServiceSettings.from_settings(ws.table("service")))
    with TestClient(app) as client:
        yield Served(ws, seeded.tokens, client)


def seeded_fixtures(name: str) -> tuple[Any, Any]:
    """A test module's fixtures ``seeded`` (the seeded workspace, made once per module in a
    directory named ``name``) and ``served`` (a test client over a fresh copy of it, per test):
    ``seeded, served = seeded_fixtures("audit")``."""

    @pytest.fixture(scope="module")
    def seeded(
        served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
    ) -> Seeded:
        return seed(served_template, tmp_path_factory.mktemp(name) / "ws")

    @pytest.fixture
    def served(seeded: Seeded, tmp_path: Path) -> Iterator[Served]:
        with serve(seeded, tmp_path / "ws") as s:
            yield s

    return seeded, served


def fields_of(problem: dict[str, Any]) -> set[str]:
    """The fields a problem document names."""
    return {e["field"] for e in problem.get("errors", [])}


def audit_events(served: Served, **query: str) -> list[dict[str, Any]]:
    """The audit events matching ``query`` (up to 1000), read as the auditor."""
    r = served.client.get(
        "/api/v1/audit/events", params={**query, "limit": "1000"}, headers=served.auth("auditor")
    )
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events
