"""A served workspace where the whole sample timeline was pushed, for the tests that only read:
each such module binds ``issued = ISSUED_FIXTURE`` (module scope: made once per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bdcert.lifecycle import Registry
from bdcert_adapters.entry_lines import issue_line
from tests.service.conftest import Served, copy_served
from tests.support import TIMELINE

__all__ = ["ISSUED_FIXTURE", "serve_timeline"]


def serve_timeline(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A served workspace where the whole sample timeline was pushed."""
    from litestar.testing import TestClient

    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path_factory.mktemp("certs") / "ws")
    with Registry.open(ws) as registry:
        platform = registry.authenticate({"token": tokens["platform"]})
        for text in TIMELINE.read_text(encoding="utf-8").splitlines():
            issue_line(registry, platform, text)
    app = create_app(lambda: Registry.open(ws), ServiceSettings())
    with TestClient(app) as client:
        yield Served(ws, tokens, client)


ISSUED_FIXTURE = pytest.fixture(scope="module", name="issued")(serve_timeline)
