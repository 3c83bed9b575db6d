"""Sharing agreements, holders' download attempts (rule articles 13, 16).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEY = 200
HEX64 = 64


def upgrade() -> None:
    op.create_table(
        "sharing_agreements",
        sa.Column("id", sa.String(KEY), nullable=False),
        sa.Column("party", sa.String(KEY), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("authorities", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("valid_from", AwareDateTime(), nullable=False),
        sa.Column("valid_to", AwareDateTime(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("created_at", AwareDateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("revoked_at", AwareDateTime(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_agreements"),
    )
    op.create_index("ix_sharing_agreements_party", "sharing_agreements", ["party"])
    op.create_table(
        "download_guards",
        sa.Column("identity", sa.String(HEX64), nullable=False),
        sa.Column("locked_until", AwareDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("identity", name="pk_download_guards"),
    )
    op.create_table(
        "download_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(HEX64), nullable=False),
        sa.Column("at", AwareDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity"],
            ["download_guards.identity"],
            name="fk_download_failures_identity_download_guards",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_download_failures"),
    )
    op.create_index("ix_download_failures_identity", "download_failures", ["identity"])


def downgrade() -> None:
    op.drop_index("ix_download_failures_identity", table_name="download_failures")
    op.drop_table("download_failures")
    op.drop_table("download_guards")
    op.drop_index("ix_sharing_agreements_party", table_name="sharing_agreements")
    op.drop_table("sharing_agreements")
