"""The reference source school: its prepared dossiers, its release log, the koppelsleutels of its notifications.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)  # aware UTC (gateway.store.types.UtcDateTime)


def upgrade() -> None:
    op.create_table(
        "school_dossier",
        sa.Column("brin", sa.String(4), nullable=False),
        sa.Column("pgn", sa.String(9), nullable=False),
        sa.Column("pgn_kind", sa.String(3), nullable=False),
        sa.Column("overdrachtsoort", sa.String(32), nullable=False),
        sa.Column("overstap", sa.String(16), nullable=True),
        sa.Column("dossier", sa.LargeBinary(), nullable=False),
        sa.Column("verzameldatum", sa.Date(), nullable=False),
        sa.Column("klaargezet", sa.Boolean(), nullable=False),
        sa.Column("inzage", sa.Date(), nullable=True),
        sa.Column("toestemming", sa.Date(), nullable=True),
        sa.Column("geweigerd", sa.Boolean(), nullable=False),
        sa.Column("bijgewerkt", TS, nullable=False),
        sa.PrimaryKeyConstraint("brin", "pgn", name="pk_school_dossier"),
        sa.CheckConstraint("pgn_kind IN ('BSN', 'ONR')", name="ck_school_dossier_pgn_kind"),
    )
    op.create_table(
        "school_uitlevering",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tijdstip", TS, nullable=False),
        sa.Column("sessie_id", sa.String(36), nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("bron_brin", sa.String(4), nullable=False),
        sa.Column("doel_brin", sa.String(4), nullable=False),
        sa.Column("overdrachtsoort", sa.String(32), nullable=False),
        sa.Column("aanvrager_oin", sa.String(20), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("sessiecontrole", sa.String(64), nullable=False),
        sa.Column("resultaat", sa.String(64), nullable=False),
        sa.Column("reden", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("grootte", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_school_uitlevering"),
    )
    op.create_index("ix_school_uitlevering_sessie_id", "school_uitlevering", ["sessie_id"])
    op.create_index("ix_school_uitlevering_tijdstip", "school_uitlevering", ["tijdstip"])
    op.create_table(
        "school_koppeling",
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("brin", sa.String(4), nullable=False),
        sa.Column("pgn", sa.String(9), nullable=False),
        sa.Column("aangemaakt", TS, nullable=False),
        sa.PrimaryKeyConstraint("koppelsleutel", name="pk_school_koppeling"),
    )


def downgrade() -> None:
    op.drop_table("school_koppeling")
    op.drop_index("ix_school_uitlevering_tijdstip", table_name="school_uitlevering")
    op.drop_index("ix_school_uitlevering_sessie_id", table_name="school_uitlevering")
    op.drop_table("school_uitlevering")
    op.drop_table("school_dossier")
