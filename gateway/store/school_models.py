"""The reference source school's tables (migration 0002): its prepared dossiers, its release log, and the
koppelsleutels of the notifications it made. On the same metadata as the Traffic Center's tables
(``gateway.store.base.Base``), so one migration history and one model-to-schema comparison cover both."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import UtcDateTime


class SchoolDossierRow(Base):
    """A pupil's dossier as the school prepared it. The PGN is here (the school's own record), and nowhere else in
    the school's tables but the koppelsleutels."""

    __tablename__ = "school_dossier"
    __table_args__ = (CheckConstraint("pgn_kind IN ('BSN', 'ONR')", name="pgn_kind"),)

    brin: Mapped[str] = mapped_column(String(4), primary_key=True)
    pgn: Mapped[str] = mapped_column(String(9), primary_key=True)
    pgn_kind: Mapped[str] = mapped_column(String(3))
    overdrachtsoort: Mapped[str] = mapped_column(String(32))
    overstap: Mapped[str | None] = mapped_column(String(16))
    # deferred: matching a zoeksleutel reads every pupil of a school, and needs none of their dossiers
    dossier: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    verzameldatum: Mapped[date] = mapped_column(Date)
    klaargezet: Mapped[bool] = mapped_column(Boolean)
    inzage: Mapped[date | None] = mapped_column(Date)
    toestemming: Mapped[date | None] = mapped_column(Date)
    geweigerd: Mapped[bool] = mapped_column(Boolean)
    bijgewerkt: Mapped[datetime] = mapped_column(UtcDateTime)


class SchoolUitleveringRow(Base):
    """One documentRequest and what the school answered: never the PGN, never the dossier (its SHA-256)."""

    __tablename__ = "school_uitlevering"
    __table_args__ = (
        Index("ix_school_uitlevering_sessie_id", "sessie_id"),
        Index("ix_school_uitlevering_tijdstip", "tijdstip"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tijdstip: Mapped[datetime] = mapped_column(UtcDateTime)
    sessie_id: Mapped[str] = mapped_column(String(36))
    bron_routeringskenmerk: Mapped[str] = mapped_column(String(20))
    bron_brin: Mapped[str] = mapped_column(String(4))
    doel_brin: Mapped[str] = mapped_column(String(4))
    overdrachtsoort: Mapped[str] = mapped_column(String(32))
    aanvrager_oin: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(Text)
    sessiecontrole: Mapped[str] = mapped_column(String(64))
    resultaat: Mapped[str] = mapped_column(String(64))
    reden: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    grootte: Mapped[int | None] = mapped_column(Integer)


class SchoolKoppelingRow(Base):
    """A notification the school made (SWV flow): which pupil a koppelsleutel stands for."""

    __tablename__ = "school_koppeling"

    koppelsleutel: Mapped[str] = mapped_column(String(36), primary_key=True)
    brin: Mapped[str] = mapped_column(String(4))
    pgn: Mapped[str] = mapped_column(String(9))
    aangemaakt: Mapped[datetime] = mapped_column(UtcDateTime)
