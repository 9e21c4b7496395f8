"""The initial schema: the register (vendor, school, aanleverpunt), sessions, notifications, feedback, replay ids.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)  # aware UTC (gateway.store.types.UtcDateTime)


def upgrade() -> None:
    op.create_table(
        "vendor",
        sa.Column("oin", sa.String(20), nullable=False),
        sa.Column("naam", sa.Text(), nullable=False),
        sa.Column("gekwalificeerd", sa.Boolean(), nullable=False),
        sa.Column("gekwalificeerd_sinds", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("oin", name="pk_vendor"),
    )
    op.create_table(
        "school",
        sa.Column("brin", sa.String(4), nullable=False),
        sa.Column("vestiging", sa.String(2), nullable=False),
        sa.Column("sector", sa.String(3), nullable=False),
        sa.Column("naam", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("brin", "vestiging", name="pk_school"),
        sa.CheckConstraint("sector IN ('PO', 'VO', 'SWV')", name="ck_school_sector"),
    )
    op.create_table(
        "aanleverpunt",
        sa.Column("routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("brin", sa.String(4), nullable=False),
        sa.Column("vestiging", sa.String(2), nullable=False),
        sa.Column("vendor_oin", sa.String(20), nullable=False),
        sa.Column("document_url", sa.Text(), nullable=False),
        sa.Column("notificatie_url", sa.Text(), nullable=True),
        sa.Column("actief", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("routeringskenmerk", name="pk_aanleverpunt"),
        sa.ForeignKeyConstraint(["brin", "vestiging"], ["school.brin", "school.vestiging"],
                                name="fk_aanleverpunt_brin_school"),
        sa.ForeignKeyConstraint(["vendor_oin"], ["vendor.oin"], name="fk_aanleverpunt_vendor_oin_vendor"),
    )
    op.create_index("ix_aanleverpunt_brin", "aanleverpunt", ["brin"])
    op.create_index("ix_aanleverpunt_vendor_oin", "aanleverpunt", ["vendor_oin"])

    op.create_table(
        "sessie",
        sa.Column("sessie_id", sa.String(36), nullable=False),
        sa.Column("doel_brin", sa.String(), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("doel_vendor_oin", sa.String(), nullable=False),
        sa.Column("bron_brin", sa.String(), nullable=False),
        sa.Column("overdrachtsoort", sa.String(), nullable=False),
        sa.Column("aanleverpunten", sa.Text(), nullable=False),  # JSON array of routeringskenmerken
        sa.Column("geopend", TS, nullable=False),
        sa.Column("verloopt", TS, nullable=False),
        sa.Column("zoeksleutel", sa.String(), nullable=True),
        sa.Column("pgnfrag", sa.String(), nullable=True),
        sa.Column("koppelsleutel", sa.String(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("controles", sa.Text(), nullable=False),  # JSON array of routeringskenmerken
        sa.Column("resultaat", sa.String(), nullable=True),
        sa.Column("afgemeld", TS, nullable=True),
        sa.Column("versie", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sessie_id", name="pk_sessie"),
        sa.CheckConstraint("status IN ('open', 'afgemeld', 'verlopen')", name="ck_sessie_status"),
    )
    op.create_index("ix_sessie_verloopt", "sessie", ["verloopt"])

    op.create_table(
        "notificatie",
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("bron_brin", sa.String(), nullable=False),
        sa.Column("doel_brin", sa.String(), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("overdrachtsoort", sa.String(), nullable=False),
        sa.Column("zoeksleutel", sa.String(), nullable=False),
        sa.Column("pgnfrag", sa.String(), nullable=False),
        sa.Column("aangemaakt", TS, nullable=False),
        sa.Column("verloopt", TS, nullable=False),
        sa.PrimaryKeyConstraint("koppelsleutel", name="pk_notificatie"),
    )
    op.create_table(
        "terugkoppeling",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("sessie_id", sa.String(), nullable=True),
        sa.Column("koppelsleutel", sa.String(), nullable=True),
        sa.Column("tekst", sa.Text(), nullable=False),
        sa.Column("ontvangen", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_terugkoppeling"),
    )
    op.create_index("ix_terugkoppeling_sessie_id", "terugkoppeling", ["sessie_id"])
    op.create_index("ix_terugkoppeling_koppelsleutel", "terugkoppeling", ["koppelsleutel"])

    op.create_table(
        "replay",
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("until", TS, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_replay"),
    )
    op.create_index("ix_replay_until", "replay", ["until"])


def downgrade() -> None:
    for index, table in [("ix_replay_until", "replay"), ("ix_terugkoppeling_koppelsleutel", "terugkoppeling"),
                         ("ix_terugkoppeling_sessie_id", "terugkoppeling"), ("ix_sessie_verloopt", "sessie"),
                         ("ix_aanleverpunt_vendor_oin", "aanleverpunt"), ("ix_aanleverpunt_brin", "aanleverpunt")]:
        op.drop_index(index, table_name=table)
    for table in ("replay", "terugkoppeling", "notificatie", "sessie", "aanleverpunt", "school", "vendor"):
        op.drop_table(table)
