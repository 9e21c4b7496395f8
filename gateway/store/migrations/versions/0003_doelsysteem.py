"""The reference target's records: koppelsleutels pushed to its notification endpoint, and feedback from sources.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)  # aware UTC (gateway.store.types.UtcDateTime)


def upgrade() -> None:
    op.create_table(
        "doel_notificatie",
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("afzender_oin", sa.String(20), nullable=False),
        sa.Column("bron_brin", sa.String(4), nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("doel_brin", sa.String(4), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("overdrachtsoort", sa.String(), nullable=False),
        sa.Column("ontvangen", TS, nullable=False),
        sa.Column("opgehaald", TS, nullable=True),
        sa.Column("sessie_id", sa.String(36), nullable=True),
        sa.Column("resultaat", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("koppelsleutel", name="pk_doel_notificatie"),
    )
    op.create_index("ix_doel_notificatie_ontvangen", "doel_notificatie", ["ontvangen"])
    op.create_table(
        "doel_terugkoppeling",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("afzender_oin", sa.String(20), nullable=False),
        sa.Column("bron_brin", sa.String(4), nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("sessie_id", sa.String(36), nullable=True),
        sa.Column("koppelsleutel", sa.String(36), nullable=True),
        sa.Column("tekst", sa.Text(), nullable=False),
        sa.Column("ontvangen", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_doel_terugkoppeling"),
    )
    op.create_index("ix_doel_terugkoppeling_sessie_id", "doel_terugkoppeling", ["sessie_id"])
    op.create_index("ix_doel_terugkoppeling_koppelsleutel", "doel_terugkoppeling", ["koppelsleutel"])


def downgrade() -> None:
    op.drop_index("ix_doel_terugkoppeling_koppelsleutel", table_name="doel_terugkoppeling")
    op.drop_index("ix_doel_terugkoppeling_sessie_id", table_name="doel_terugkoppeling")
    op.drop_table("doel_terugkoppeling")
    op.drop_index("ix_doel_notificatie_ontvangen", table_name="doel_notificatie")
    op.drop_table("doel_notificatie")
