"""The servicedesk: the message journal (one row per exchange, never pupil data) and the dashboard's operators.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)  # aware UTC (gateway.store.types.UtcDateTime)
JOURNAL_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("id", JOURNAL_ID, autoincrement=True, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(256), nullable=True),
        sa.Column("relates_to", sa.String(256), nullable=True),
        sa.Column("response_message_id", sa.String(256), nullable=True),
        sa.Column("sessie_id", sa.String(36), nullable=True),
        sa.Column("koppelsleutel", sa.String(36), nullable=True),
        sa.Column("signer_oin", sa.String(20), nullable=True),
        sa.Column("signer_verified", sa.Boolean(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=True),
        sa.Column("brins", sa.Text(), nullable=False),  # JSON array of "element=BRIN"
        sa.Column("routeringskenmerken", sa.Text(), nullable=False),  # JSON array of "element=routeringskenmerk"
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("resultaat", sa.String(64), nullable=True),
        sa.Column("sessie_resultaat", sa.String(64), nullable=True),
        sa.Column("faultcode", sa.String(64), nullable=True),
        sa.Column("rule", sa.String(32), nullable=True),
        sa.Column("dk_code", sa.String(4), nullable=True),
        sa.Column("party", sa.String(8), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("request_size", sa.Integer(), nullable=False),
        sa.Column("response_size", sa.Integer(), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("response_sha256", sa.String(64), nullable=True),
        sa.Column("peer", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_journal"),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_journal_direction"),
        sa.CheckConstraint("verdict IN ('accepted', 'refused')", name="ck_journal_verdict"),
    )
    op.create_index("ix_journal_received_at", "journal", ["received_at"])
    op.create_index("ix_journal_message_id", "journal", ["message_id"])
    for column in ("sessie_id", "koppelsleutel"):  # partial: most messages of a kind carry none
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(f"ix_journal_{column}", "journal", [column], sqlite_where=where, postgresql_where=where)
    op.create_table(
        "operator",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_operator"),
    )


def downgrade() -> None:
    op.drop_table("operator")
    for column in ("koppelsleutel", "sessie_id", "message_id", "received_at"):
        op.drop_index(f"ix_journal_{column}", table_name="journal")
    op.drop_table("journal")
