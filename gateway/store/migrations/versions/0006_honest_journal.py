"""An honest journal: what a message that did not verify claimed is kept apart from what ties a row to a transfer,
and refusals of unverified messages beyond a rate are counted in tallies instead of rows of their own.

``journal`` gains ``claimed_id`` (a sessieId or koppelsleutel named, not proven) and ``claimed_oin`` (the OIN of the
certificate an unverified message carried). Rows journalled before, for refused messages that did not verify, are
moved to that shape: their sessieId/koppelsleutel and signer OIN become claims, and their BRINs, routeringskenmerken
and vendor name are dropped — they tied those rows to sessions and vendors on an unverified word.
``journal_tally`` holds "N more refused from ADDR" (gateway.journal.limit).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)  # aware UTC (gateway.store.types.UtcDateTime)
JOURNAL_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("journal") as batch:
        batch.add_column(sa.Column("claimed_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("claimed_oin", sa.String(20), nullable=True))
    journal = sa.table("journal", sa.column("signer_verified", sa.Boolean()), sa.column("sessie_id"),
                       sa.column("koppelsleutel"), sa.column("signer_oin"), sa.column("vendor"), sa.column("brins"),
                       sa.column("routeringskenmerken"), sa.column("claimed_id"), sa.column("claimed_oin"))
    op.execute(journal.update().where(journal.c.signer_verified == sa.false()).values(
        claimed_id=sa.func.coalesce(journal.c.sessie_id, journal.c.koppelsleutel),
        claimed_oin=journal.c.signer_oin,
        sessie_id=None, koppelsleutel=None, signer_oin=None, vendor=None, brins="[]", routeringskenmerken="[]"))
    where = sa.text("claimed_id IS NOT NULL")
    op.create_index("ix_journal_claimed_id", "journal", ["claimed_id"], sqlite_where=where, postgresql_where=where)
    op.create_table(
        "journal_tally",
        sa.Column("id", JOURNAL_ID, autoincrement=True, nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),  # JSON array of "RULE=count"
        sa.Column("services", sa.Text(), nullable=False),  # JSON array of "service=count"
        sa.PrimaryKeyConstraint("id", name="pk_journal_tally"),
    )
    op.create_index("ix_journal_tally_last_at", "journal_tally", ["last_at"])


def downgrade() -> None:
    """Back to 0005: the tallies and the claims are dropped (the rows stay tied to nothing)."""
    op.drop_index("ix_journal_tally_last_at", table_name="journal_tally")
    op.drop_table("journal_tally")
    op.drop_index("ix_journal_claimed_id", table_name="journal")
    with op.batch_alter_table("journal") as batch:
        batch.drop_column("claimed_oin")
        batch.drop_column("claimed_id")
