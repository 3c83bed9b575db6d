"""The conformance kit's storage contract, run against the built-in SQL storage (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdcert_conformance.storage import StorageContract
from tests.support import DATABASES, database_url


class TestSqlStorage(StorageContract):
    @pytest.fixture(params=DATABASES)
    def storage(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
        from bdcert_plugins.storage_sql import SqlStorage

        with database_url(request.param, tmp_path) as url:
            store = SqlStorage(url)
            yield store
            store.close()
