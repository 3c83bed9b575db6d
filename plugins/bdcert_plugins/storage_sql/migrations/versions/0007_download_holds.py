"""Self-download lockouts that count up and hold until a clerk unlocks, and second factors
(rule article 13).

``download_guards`` gains ``lockouts`` (lockouts since the last success or unlock) and ``held``
(locked until a clerk unlocks it, :meth:`bdcert.lifecycle.Registry.unlock_download`). Existing
rows start at 0 lockouts, not held. ``download_codes`` holds the second factors the pushing
authority records (:meth:`bdcert.lifecycle.Registry.record_download_code`), hashed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, never a batch copy: on SQLite a batch recreates download_guards, and
    # dropping the old table cascades to download_failures (their failures would be lost)
    op.add_column(
        "download_guards",
        sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "download_guards",
        sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "download_codes",
        sa.Column("ywh", sa.String(200), nullable=False),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("recorded_at", AwareDateTime(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ywh", "identity", name="pk_download_codes"),
    )


def downgrade() -> None:
    op.drop_table("download_codes")
    op.drop_column("download_guards", "held")  # SQLite 3.35+ drops a column in place
    op.drop_column("download_guards", "lockouts")
