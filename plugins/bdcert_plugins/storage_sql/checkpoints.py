"""Signed audit-log checkpoints (rule article 17): the part of :class:`~bdcert_plugins.storage_sql.store.SqlTransaction` that reads and
writes them."""

from __future__ import annotations

from sqlalchemy import Connection


class CheckpointRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
