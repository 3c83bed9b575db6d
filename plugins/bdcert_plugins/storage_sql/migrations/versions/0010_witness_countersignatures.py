"""Witness countersignatures of audit checkpoints: a city's sealed statement that it saw a
provincial checkpoint (its number, last event id and hash). Only a new table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HEX64 = 64


def upgrade() -> None:
    op.create_table(
        "witness_countersignatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(12), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("event_hash", sa.String(HEX64), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(HEX64), nullable=False),
        sa.Column("received_at", AwareDateTime(), nullable=False),
        sa.Column("pdf_sha256", sa.String(HEX64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_witness_countersignatures"),
        sa.UniqueConstraint(
            "number",
            "witness",
            "pdf_sha256",
            name="uq_witness_countersignatures_number_witness_pdf_sha256",
        ),
    )
    op.create_index(
        "ix_witness_countersignatures_number", "witness_countersignatures", ["number"]
    )


def downgrade() -> None:
    op.drop_index("ix_witness_countersignatures_number", table_name="witness_countersignatures")
    op.drop_table("witness_countersignatures")
