"""Sharing agreements and holders' download attempts (rule articles 13, 16): the part of :class:`~bdcert_plugins.storage_sql.store.SqlTransaction` that reads and
writes them."""

from __future__ import annotations

from sqlalchemy import Connection


class SharingRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
