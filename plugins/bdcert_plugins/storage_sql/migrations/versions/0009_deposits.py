"""Deposited certificates (归集, rule article 7 paragraph 2): which certificates of the library a
city with its own system sealed and deposited. Only a new table: no existing row changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

KEY = 200


def upgrade() -> None:
    op.create_table(
        "deposits",
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("authority", sa.String(12), nullable=False),
        sa.Column("deposited_at", AwareDateTime(), nullable=False),
        sa.Column("deposited_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number"],
            ["certificates.number"],
            name="fk_deposits_number_certificates",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name="pk_deposits"),
    )
    op.create_index("ix_deposits_authority", "deposits", ["authority"])


def downgrade() -> None:
    op.drop_index("ix_deposits_authority", table_name="deposits")
    op.drop_table("deposits")
