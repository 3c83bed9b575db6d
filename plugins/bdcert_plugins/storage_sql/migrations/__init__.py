"""Alembic migrations of the SQL store; shipped inside the package, no ``alembic.ini`` needed.

:class:`~bdcert_plugins.storage_sql.store.SqlStorage` runs ``upgrade head`` when it opens a
database. To write a new revision after changing :mod:`bdcert_plugins.storage_sql.schema`::

    from alembic import command
    from bdcert_plugins.storage_sql.store import alembic_config

    command.revision(alembic_config("sqlite:///dev.sqlite3"), "what changed", autogenerate=True)

then edit the generated file in ``versions/`` (name it ``NNNN_what_changed.py``).
"""
