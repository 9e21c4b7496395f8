"""OSO'22 on the wire: the afmelding names the aanleverpunt of the best result; notifications carry their doel (OV or
SWV) and, for OV, the earlier session; feedback goes by koppelsleutel from an SWV system to a school's LAS.

The notifications and feedback kept so far belong to the project's own namespace (a koppelsleutel was a lower-case
UUID, feedback could name a session, notifications kept the pupil's zoeksleutel): none of them can be used on the
OSO'22 wire, so their four tables are made anew. A notification was valid for 14 days at most.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _notificatie() -> None:
    op.create_table(
        "notificatie",
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("bron_brin", sa.String(), nullable=False),
        sa.Column("doel_brin", sa.String(), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("overdrachtsoort", sa.String(), nullable=False),
        sa.Column("doel", sa.String(3), nullable=False),
        sa.Column("aangemaakt", TS, nullable=False),
        sa.Column("verloopt", TS, nullable=False),
        sa.Column("sessie_id", sa.String(36), nullable=True),
        sa.Column("aanvraagdatum", TS, nullable=True),
        sa.PrimaryKeyConstraint("koppelsleutel", name="pk_notificatie"),
        sa.CheckConstraint("doel IN ('OV', 'SWV')", name="ck_notificatie_doel"),
    )
    op.create_table(
        "terugkoppeling",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(), nullable=False),
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("tekst", sa.Text(), nullable=False),
        sa.Column("ontvangen", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_terugkoppeling"),
    )
    op.create_index("ix_terugkoppeling_koppelsleutel", "terugkoppeling", ["koppelsleutel"])


def _doel() -> None:
    op.create_table(
        "doel_notificatie",
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("afzender_oin", sa.String(20), nullable=False),
        sa.Column("bron_brin", sa.String(4), nullable=False),
        sa.Column("bron_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("doel_brin", sa.String(4), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("doel", sa.String(3), nullable=False),
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
        sa.Column("doel_brin", sa.String(4), nullable=False),
        sa.Column("doel_routeringskenmerk", sa.String(20), nullable=False),
        sa.Column("koppelsleutel", sa.String(36), nullable=False),
        sa.Column("tekst", sa.Text(), nullable=False),
        sa.Column("ontvangen", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_doel_terugkoppeling"),
    )
    op.create_index("ix_doel_terugkoppeling_koppelsleutel", "doel_terugkoppeling", ["koppelsleutel"])


def upgrade() -> None:
    with op.batch_alter_table("sessie") as batch:
        batch.add_column(sa.Column("resultaat_aanleverpunt", sa.String(), nullable=True))
    op.drop_index("ix_terugkoppeling_koppelsleutel", table_name="terugkoppeling")
    op.drop_index("ix_terugkoppeling_sessie_id", table_name="terugkoppeling")
    op.drop_table("terugkoppeling")
    op.drop_table("notificatie")
    op.drop_index("ix_doel_terugkoppeling_koppelsleutel", table_name="doel_terugkoppeling")
    op.drop_index("ix_doel_terugkoppeling_sessie_id", table_name="doel_terugkoppeling")
    op.drop_table("doel_terugkoppeling")
    op.drop_index("ix_doel_notificatie_ontvangen", table_name="doel_notificatie")
    op.drop_table("doel_notificatie")
    _notificatie()
    _doel()


def downgrade() -> None:
    """Back to 0004: the four tables in their old shape, empty (their rows cannot be told in the old form)."""
    op.drop_index("ix_doel_terugkoppeling_koppelsleutel", table_name="doel_terugkoppeling")
    op.drop_table("doel_terugkoppeling")
    op.drop_index("ix_doel_notificatie_ontvangen", table_name="doel_notificatie")
    op.drop_table("doel_notificatie")
    op.drop_index("ix_terugkoppeling_koppelsleutel", table_name="terugkoppeling")
    op.drop_table("terugkoppeling")
    op.drop_table("notificatie")
    with op.batch_alter_table("sessie") as batch:
        batch.drop_column("resultaat_aanleverpunt")
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
