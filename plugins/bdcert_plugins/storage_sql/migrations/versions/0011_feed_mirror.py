"""The change feed and a city's mirror (rule article 12): an index on ``audit_events`` (action,
id) so the feed reads lifecycle events after a cursor without scanning reads and lookups, and
the ``mirror_state`` table (per feed source, the cursor of the last event applied). Only a new
index and a new table: no existing row changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KEY = 200


def upgrade() -> None:
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"])
    op.create_table(
        "mirror_state",
        sa.Column("source", sa.String(KEY), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("updated_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_mirror_state"),
    )


def downgrade() -> None:
    op.drop_table("mirror_state")
    op.drop_index("ix_audit_events_action_id", table_name="audit_events")
