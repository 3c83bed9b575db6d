"""Force-majeure backlog rows (rule article 15): the part of :class:`~bdcert_plugins.storage_sql.store.SqlTransaction` that reads and
writes them."""

from __future__ import annotations

from sqlalchemy import Connection


class BacklogRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
