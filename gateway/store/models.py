"""The tables, as typed SQLAlchemy 2 declarative models. The schema itself is made by the Alembic migrations in
``migrations/versions/`` (written by hand); a test checks that they and these models agree."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import StrTuple, UtcDateTime

class VendorRow(Base):
    __tablename__ = "vendor"

    oin: Mapped[str] = mapped_column(String(20), primary_key=True)
    naam: Mapped[str] = mapped_column(Text)
    gekwalificeerd: Mapped[bool] = mapped_column(Boolean)
    gekwalificeerd_sinds: Mapped[date | None] = mapped_column(Date)


class SchoolRow(Base):
    __tablename__ = "school"
    __table_args__ = (CheckConstraint("sector IN ('PO', 'VO', 'SWV')", name="sector"),)

    brin: Mapped[str] = mapped_column(String(4), primary_key=True)
    vestiging: Mapped[str] = mapped_column(String(2), primary_key=True)
    sector: Mapped[str] = mapped_column(String(3))
    naam: Mapped[str] = mapped_column(Text)


class AanleverpuntRow(Base):
    __tablename__ = "aanleverpunt"
    __table_args__ = (
        ForeignKeyConstraint(["brin", "vestiging"], ["school.brin", "school.vestiging"],
                             name="fk_aanleverpunt_brin_school"),
        Index("ix_aanleverpunt_brin", "brin"),
        Index("ix_aanleverpunt_vendor_oin", "vendor_oin"),
    )

    routeringskenmerk: Mapped[str] = mapped_column(String(20), primary_key=True)
    brin: Mapped[str] = mapped_column(String(4))
    vestiging: Mapped[str] = mapped_column(String(2))
    vendor_oin: Mapped[str] = mapped_column(String(20), ForeignKey("vendor.oin"))
    document_url: Mapped[str] = mapped_column(Text)
    notificatie_url: Mapped[str | None] = mapped_column(Text)
    actief: Mapped[bool] = mapped_column(Boolean)


class SessieRow(Base):
    """A transfer session. No foreign keys into the register: a session is a record of what happened, and the
    register may change under it. ``versie`` guards against lost updates (optimistic concurrency)."""

    __tablename__ = "sessie"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'afgemeld', 'verlopen')", name="status"),
        Index("ix_sessie_verloopt", "verloopt"),
    )

    sessie_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    doel_brin: Mapped[str] = mapped_column(String)
    doel_routeringskenmerk: Mapped[str] = mapped_column(String)
    doel_vendor_oin: Mapped[str] = mapped_column(String)
    bron_brin: Mapped[str] = mapped_column(String)
    overdrachtsoort: Mapped[str] = mapped_column(String)
    aanleverpunten: Mapped[tuple[str, ...]] = mapped_column(StrTuple)
    geopend: Mapped[datetime] = mapped_column(UtcDateTime)
    verloopt: Mapped[datetime] = mapped_column(UtcDateTime)
    zoeksleutel: Mapped[str | None] = mapped_column(String)
    pgnfrag: Mapped[str | None] = mapped_column(String)
    koppelsleutel: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(16))
    controles: Mapped[tuple[str, ...]] = mapped_column(StrTuple)
    resultaat: Mapped[str | None] = mapped_column(String)
    afgemeld: Mapped[datetime | None] = mapped_column(UtcDateTime)
    versie: Mapped[int] = mapped_column(Integer)
    resultaat_aanleverpunt: Mapped[str | None] = mapped_column(String)


class NotificatieRow(Base):
    __tablename__ = "notificatie"
    __table_args__ = (CheckConstraint("doel IN ('OV', 'SWV')", name="doel"),)

    koppelsleutel: Mapped[str] = mapped_column(String(36), primary_key=True)
    bron_routeringskenmerk: Mapped[str] = mapped_column(String)
    bron_brin: Mapped[str] = mapped_column(String)
    doel_brin: Mapped[str] = mapped_column(String)
    doel_routeringskenmerk: Mapped[str] = mapped_column(String)
    overdrachtsoort: Mapped[str] = mapped_column(String)
    doel: Mapped[str] = mapped_column(String(3))
    aangemaakt: Mapped[datetime] = mapped_column(UtcDateTime)
    verloopt: Mapped[datetime] = mapped_column(UtcDateTime)
    sessie_id: Mapped[str | None] = mapped_column(String(36))
    aanvraagdatum: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TerugkoppelingRow(Base):
    __tablename__ = "terugkoppeling"
    __table_args__ = (Index("ix_terugkoppeling_koppelsleutel", "koppelsleutel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bron_routeringskenmerk: Mapped[str] = mapped_column(String)
    doel_routeringskenmerk: Mapped[str] = mapped_column(String)
    koppelsleutel: Mapped[str] = mapped_column(String(36))
    tekst: Mapped[str] = mapped_column(Text)
    ontvangen: Mapped[datetime] = mapped_column(UtcDateTime)


class ReplayRow(Base):
    """A MessageID accepted once, remembered until its message can no longer be fresh (GW-REPLAY)."""

    __tablename__ = "replay"
    __table_args__ = (Index("ix_replay_until", "until"),)

    message_id: Mapped[str] = mapped_column(String, primary_key=True)
    until: Mapped[datetime] = mapped_column(UtcDateTime)


# The reference source school's tables live in their own module, on this same metadata (migration 0002).
from . import school_models  # noqa: E402,F401
# The reference target's tables (notifications and feedback it received), same metadata (migration 0003).
from . import doelsysteem  # noqa: E402,F401
# The servicedesk's tables: the message journal and the dashboard's operators (migration 0004).
from . import journal_models  # noqa: E402,F401
