"""Force-majeure backlog: accepted entries waiting for a dependency (rule article 15); seizures
recorded against units, so a unit's first certificate starts out restricted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY = 200


def upgrade() -> None:
    op.create_table(
        "backlog",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ywh", sa.String(KEY), nullable=False),
        sa.Column("authority", sa.String(KEY), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", AwareDateTime(), nullable=False),
        sa.Column("accepted_at", AwareDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", AwareDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done_at", AwareDateTime(), nullable=True),
        sa.Column("numbers", sa.Text(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backlog"),
    )
    op.create_index("ix_backlog_ywh", "backlog", ["ywh"])
    op.create_index("ix_backlog_authority_state", "backlog", ["authority", "state", "id"])
    op.create_index(
        "uq_backlog_waiting_ywh",
        "backlog",
        ["ywh"],
        unique=True,
        sqlite_where=sa.text("state = 'waiting'"),
        postgresql_where=sa.text("state = 'waiting'"),
    )
    op.create_table(
        "unit_restrictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit", sa.String(KEY), nullable=False),
        sa.Column("ywh", sa.String(KEY), nullable=False),
        sa.Column("authority", sa.Text(), nullable=False),
        sa.Column("document_number", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("recorded_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unit_restrictions"),
    )
    op.create_index("ix_unit_restrictions_unit", "unit_restrictions", ["unit"])


def downgrade() -> None:
    op.drop_index("ix_unit_restrictions_unit", table_name="unit_restrictions")
    op.drop_table("unit_restrictions")
    op.drop_index("uq_backlog_waiting_ywh", table_name="backlog")
    op.drop_index("ix_backlog_authority_state", table_name="backlog")
    op.drop_index("ix_backlog_ywh", table_name="backlog")
    op.drop_table("backlog")
