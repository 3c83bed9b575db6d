"""Signed checkpoints of the audit log (rule article 17).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HEX64 = 64


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("event_hash", sa.String(HEX64), nullable=False),
        sa.Column("made_at", AwareDateTime(), nullable=False),
        sa.Column("made_by", sa.Text(), nullable=False),
        sa.Column("authority", sa.String(12), nullable=False),
        sa.Column("prev_sha256", sa.String(HEX64), nullable=False),
        sa.Column("pdf_sha256", sa.String(HEX64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_audit_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.execute(
        "DELETE FROM sequences WHERE authority = '' AND year = 0 AND kind = 'audit_checkpoint'"
    )
