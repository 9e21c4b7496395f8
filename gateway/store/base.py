"""The one declarative ``Base`` of every table (the register's and sessions' in ``models.py``, the reference school's,
the reference target's and the journal's in their own modules): one metadata, so one Alembic history and one
model-to-schema comparison cover them all. The table modules import it from here, and ``models.py`` imports them."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so a later migration can name what it alters (PostgreSQL and SQLite batch mode alike).
NAMING = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
