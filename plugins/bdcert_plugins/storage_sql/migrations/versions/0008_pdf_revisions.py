"""Renewed PDFs (PAdES B-LTA archive timestamp renewal) and the digests of every revision.

``pdf_revisions`` lists, per certificate, the SHA-256 of each PDF that replaced the stored one
(:meth:`bdcert.protocols.CertificateRecords.replace_pdf`), numbered 1, 2, … The filed original's
digest stays in ``certificates.pdf_sha256``, so a copy handed out at any time is still found by
its digest. Only a new table: no existing table is rebuilt, and no existing row changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY = 200


def upgrade() -> None:
    op.create_table(
        "pdf_revisions",
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_at", AwareDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number"],
            ["certificates.number"],
            name="fk_pdf_revisions_number_certificates",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", "revision", name="pk_pdf_revisions"),
    )
    op.create_index("ix_pdf_revisions_sha256", "pdf_revisions", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_pdf_revisions_sha256", table_name="pdf_revisions")
    op.drop_table("pdf_revisions")
