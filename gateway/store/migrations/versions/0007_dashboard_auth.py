"""The dashboard's server-side login state: sessions (removed at logout), used form tokens (each is used once) and
failed logins per operator name and per client address (the lockout), shared by every worker process.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)  # aware UTC (gateway.store.types.UtcDateTime)


def upgrade() -> None:
    op.create_table(
        "dashboard_auth",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("operator", sa.String(64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("expires", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_dashboard_auth"),
        sa.CheckConstraint("kind IN ('session', 'token', 'account', 'address')", name="ck_dashboard_auth_kind"),
    )
    op.create_index("ix_dashboard_auth_expires", "dashboard_auth", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_auth_expires", table_name="dashboard_auth")
    op.drop_table("dashboard_auth")
