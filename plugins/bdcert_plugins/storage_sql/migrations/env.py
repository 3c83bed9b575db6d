"""Alembic environment: migrates the connection handed over in ``config.attributes``.

:class:`~bdcert_plugins.storage_sql.store.SqlStorage` passes a connection that is already inside
a transaction (and, on PostgreSQL, holds an advisory lock), so concurrent openers take turns.
Used from :func:`~bdcert_plugins.storage_sql.store.alembic_config` without a connection, it opens
``sqlalchemy.url`` with the store's engine settings; offline (``--sql``) mode prints the DDL.
"""

from __future__ import annotations

from alembic import context

from bdcert_plugins.storage_sql.schema import metadata
from bdcert_plugins.storage_sql.store import make_engine

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    if not url:
        raise RuntimeError("alembic: no connection and no sqlalchemy.url to migrate")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run()
