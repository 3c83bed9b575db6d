"""SQL storage plugin (``[storage] plugin = "sql"``): SQLite or PostgreSQL via SQLAlchemy Core.

Settings (the workspace's ``[storage]`` table):

``url``
    SQLAlchemy database URL; default ``sqlite:///bdcert.sqlite3``. A relative SQLite path is
    relative to the workspace. The environment variable ``BDCERT_DATABASE_URL`` overrides it.
    PostgreSQL: ``postgresql+psycopg://user:password@host:5432/dbname``.

Any other key is a :class:`~bdcert.errors.ConfigurationError`. The schema is migrated to the
newest revision (Alembic, shipped in ``migrations/``) whenever the store is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bdcert.hookspecs import hookimpl
from bdcert_plugins.storage_sql.store import SqlStorage, SqlTransaction

if TYPE_CHECKING:
    from bdcert.protocols import StorageFactory

__all__ = ["SqlStorage", "SqlTransaction", "bdcert_register_storage"]


@hookimpl
def bdcert_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register the ``sql`` storage back-end."""
    register("sql", SqlStorage.from_settings)
