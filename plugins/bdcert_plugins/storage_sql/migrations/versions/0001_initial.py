"""Initial tables: registrations, certificates and their side tables, counters, audit log.

Revision ID: 0001
Revises:
Create Date: 2024-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bdcert_plugins.storage_sql.schema import AwareDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

KEY = 200


def _number_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["certificates.number"],
        name=f"fk_{table}_{column}_certificates",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("ywh", sa.String(KEY), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("authority", sa.String(12), nullable=False),
        sa.Column("recorded_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ywh", name="pk_registrations"),
    )
    op.create_index("ix_registrations_authority", "registrations", ["authority"])

    op.create_table(
        "certificates",
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("licence_id", sa.String(KEY), nullable=False),
        sa.Column("ywh", sa.String(KEY), nullable=False),
        sa.Column("authority", sa.String(12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("holders", sa.Text(), nullable=False),
        sa.Column("unit_numbers", sa.Text(), nullable=False),
        sa.Column("face", sa.Text(), nullable=False),
        sa.Column("token", sa.String(KEY), nullable=False),
        sa.Column("verification_url", sa.Text(), nullable=False),
        sa.Column("issued_at", AwareDateTime(), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("status_ywh", sa.String(KEY), nullable=True),
        sa.PrimaryKeyConstraint("number", name="pk_certificates"),
        sa.UniqueConstraint("licence_id", name="uq_certificates_licence_id"),
        sa.UniqueConstraint("token", name="uq_certificates_token"),
        sa.ForeignKeyConstraint(
            ["ywh"],
            ["registrations.ywh"],
            name="fk_certificates_ywh_registrations",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index("ix_certificates_ywh", "certificates", ["ywh"])
    op.create_index("ix_certificates_pdf_sha256", "certificates", ["pdf_sha256"])

    op.create_table(
        "certificate_units",
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("unit_number", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("number", "position", name="pk_certificate_units"),
        _number_fk("number", "certificate_units"),
    )
    op.create_index("ix_certificate_units_unit_number", "certificate_units", ["unit_number"])

    op.create_table(
        "pdfs",
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_pdfs"),
        _number_fk("number", "pdfs"),
    )

    op.create_table(
        "supersessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("old_number", sa.String(KEY), nullable=False),
        sa.Column("new_number", sa.String(KEY), nullable=False),
        sa.Column("ywh", sa.String(KEY), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_supersessions"),
        sa.UniqueConstraint(
            "old_number", "new_number", name="uq_supersessions_old_number_new_number"
        ),
        _number_fk("old_number", "supersessions"),
    )
    op.create_index("ix_supersessions_old_number", "supersessions", ["old_number"])

    op.create_table(
        "restrictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("ywh", sa.String(KEY), nullable=False),
        sa.Column("authority", sa.Text(), nullable=False),
        sa.Column("document_number", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("recorded_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_restrictions"),
        _number_fk("number", "restrictions"),
    )
    op.create_index("ix_restrictions_number", "restrictions", ["number"])

    op.create_table(
        "paper_dispositions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(KEY), nullable=False),
        sa.Column("ywh", sa.String(KEY), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("recorded_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_paper_dispositions"),
    )
    op.create_index("ix_paper_dispositions_number", "paper_dispositions", ["number"])
    op.create_index("ix_paper_dispositions_ywh", "paper_dispositions", ["ywh"])

    op.create_table(
        "sequences",
        sa.Column("authority", sa.String(12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("authority", "year", "kind", name="pk_sequences"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", AwareDateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )


def downgrade() -> None:
    for table in (
        "audit_events",
        "sequences",
        "paper_dispositions",
        "restrictions",
        "supersessions",
        "pdfs",
        "certificate_units",
        "certificates",
        "registrations",
    ):
        op.drop_table(table)
