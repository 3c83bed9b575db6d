"""Sealed OFD documents beside the PDFs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY = 200


def upgrade() -> None:
    op.create_table(
        "ofd_documents",
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("ofd", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number"],
            ["certificates.number"],
            name="fk_ofd_documents_number_certificates",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name="pk_ofd_documents"),
    )
    op.create_index("ix_ofd_documents_sha256", "ofd_documents", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_ofd_documents_sha256", table_name="ofd_documents")
    op.drop_table("ofd_documents")
