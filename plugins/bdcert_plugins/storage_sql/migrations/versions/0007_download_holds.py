"""Self-download lockouts that count up and hold until a clerk unlocks (rule article 13).

``download_guards`` gains ``lockouts`` (lockouts since the last success or unlock) and ``held``
(locked until a clerk unlocks it, :meth:`bdcert.lifecycle.Registry.unlock_download`). Existing
rows start at 0 lockouts, not held.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("download_guards") as batch:
        batch.add_column(sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("download_guards") as batch:
        batch.drop_column("held")
        batch.drop_column("lockouts")
