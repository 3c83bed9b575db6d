"""The conformance kit's storage contract, run against the built-in SQL storage (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdcert_conformance.storage import StorageContract


class TestSqliteStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Any]:
        from bdcert_plugins.storage_sql import SqlStorage

        store = SqlStorage(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        yield store
        store.close()
