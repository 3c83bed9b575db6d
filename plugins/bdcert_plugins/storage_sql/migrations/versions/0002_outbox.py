"""Outbox of undelivered certificate events (the notifiers' re-delivery queue).

Revision ID: 0002
Revises: 0001
Create Date: 2024-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KEY = 200


def upgrade() -> None:
    op.create_table(
        "undelivered_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notifier", sa.String(64), nullable=False),
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("first_failed_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_undelivered_events"),
    )
    op.create_index("ix_undelivered_events_notifier", "undelivered_events", ["notifier"])


def downgrade() -> None:
    op.drop_index("ix_undelivered_events_notifier", table_name="undelivered_events")
    op.drop_table("undelivered_events")
