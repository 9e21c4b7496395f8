"""The reference school's notification endpoint's tables (migrations 0003, 0005): notifications (koppelsleutels) and
feedback it received; and what the endpoint's ownership checks read (``gateway.oso.doelsysteem``): the koppelsleutels
this gateway knows to be announced (issued by its Traffic Center, or received here) and the sessions in which this
target fetched a dossier (its own notifications it used; the sessions of this gateway's TC it closed).

``DoelsysteemStore(repo)`` reads and writes them inside the repository's transaction, so a notification, the
message's replay id and the answer commit together, like everything else in the store. It hands out the frozen
values of ``gateway.oso.doelsysteem``, never rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from ..oso.doelsysteem import FETCHED, Aankondiging, OntvangenNotificatie, OntvangenTerugkoppeling, Opgehaald
from .base import Base
from .types import UtcDateTime


class DoelNotificatieRow(Base):
    __tablename__ = "doel_notificatie"
    __table_args__ = (Index("ix_doel_notificatie_ontvangen", "ontvangen"),)

    koppelsleutel: Mapped[str] = mapped_column(String(36), primary_key=True)
    afzender_oin: Mapped[str] = mapped_column(String(20))
    bron_brin: Mapped[str] = mapped_column(String(4))
    bron_routeringskenmerk: Mapped[str] = mapped_column(String(20))
    doel_brin: Mapped[str] = mapped_column(String(4))
    doel_routeringskenmerk: Mapped[str] = mapped_column(String(20))
    doel: Mapped[str] = mapped_column(String(3))
    overdrachtsoort: Mapped[str] = mapped_column(String)
    ontvangen: Mapped[datetime] = mapped_column(UtcDateTime)
    opgehaald: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sessie_id: Mapped[str | None] = mapped_column(String(36))
    resultaat: Mapped[str | None] = mapped_column(String)


class DoelTerugkoppelingRow(Base):
    __tablename__ = "doel_terugkoppeling"
    __table_args__ = (Index("ix_doel_terugkoppeling_koppelsleutel", "koppelsleutel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    afzender_oin: Mapped[str] = mapped_column(String(20))
    bron_brin: Mapped[str] = mapped_column(String(4))
    bron_routeringskenmerk: Mapped[str] = mapped_column(String(20))
    doel_brin: Mapped[str] = mapped_column(String(4))
    doel_routeringskenmerk: Mapped[str] = mapped_column(String(20))
    koppelsleutel: Mapped[str] = mapped_column(String(36))
    tekst: Mapped[str] = mapped_column(Text)
    ontvangen: Mapped[datetime] = mapped_column(UtcDateTime)


_N_FIELDS = tuple(c.key for c in DoelNotificatieRow.__table__.columns)
_T_FIELDS = tuple(c.key for c in DoelTerugkoppelingRow.__table__.columns if c.key != "id")


def _notificatie(row: DoelNotificatieRow | None) -> OntvangenNotificatie | None:
    return None if row is None else OntvangenNotificatie(**{k: getattr(row, k) for k in _N_FIELDS})


class DoelsysteemStore:
    """The target's records, in the transaction of a ``Repository`` (``Database.unit_of_work``)."""

    def __init__(self, repo):
        self.session = repo.session

    def notificatie(self, koppelsleutel: str) -> OntvangenNotificatie | None:
        return _notificatie(self.session.get(DoelNotificatieRow, koppelsleutel))

    def notificaties(self, *, open_only: bool = False) -> list[OntvangenNotificatie]:
        stmt = select(DoelNotificatieRow).order_by(DoelNotificatieRow.ontvangen, DoelNotificatieRow.koppelsleutel)
        if open_only:
            stmt = stmt.where(DoelNotificatieRow.opgehaald.is_(None))
        return [_notificatie(r) for r in self.session.scalars(stmt)]

    def add_notificatie(self, n: OntvangenNotificatie) -> None:
        self.session.add(DoelNotificatieRow(**{k: getattr(n, k) for k in _N_FIELDS}))
        self.session.flush()

    def mark_opgehaald(self, koppelsleutel: str, *, when: datetime, sessie_id: str | None,
                       resultaat: str | None) -> bool:
        """Record that a transfer used the koppelsleutel (the latest attempt wins); False when it is unknown."""
        row = self.session.get(DoelNotificatieRow, koppelsleutel)
        if row is None:
            return False
        row.opgehaald, row.sessie_id, row.resultaat = when, sessie_id, resultaat
        self.session.flush()
        return True

    def add_terugkoppeling(self, t: OntvangenTerugkoppeling) -> int:
        row = DoelTerugkoppelingRow(**{k: getattr(t, k) for k in _T_FIELDS})
        self.session.add(row)
        self.session.flush()
        return row.id

    def terugkoppelingen(self, *, koppelsleutel: str | None = None) -> list[OntvangenTerugkoppeling]:
        stmt = select(DoelTerugkoppelingRow).order_by(DoelTerugkoppelingRow.id)
        if koppelsleutel is not None:
            stmt = stmt.where(DoelTerugkoppelingRow.koppelsleutel == koppelsleutel)
        return [OntvangenTerugkoppeling(**{k: getattr(r, k) for k in _T_FIELDS}) for r in self.session.scalars(stmt)]

    # ---- what the ownership checks read ----------------------------------------------------------------------------

    def uitgegeven(self, koppelsleutel: str) -> Aankondiging | None:
        """The koppelsleutel as the Traffic Center of this gateway (the same store) issued it, or None."""
        from .models import NotificatieRow

        n = self.session.get(NotificatieRow, koppelsleutel)
        if n is None:
            return None
        return Aankondiging(n.koppelsleutel, n.bron_brin, n.bron_routeringskenmerk, n.doel_brin,
                            n.doel_routeringskenmerk, n.doel, n.sessie_id)

    def aankondigingen(self, koppelsleutel: str) -> tuple[Aankondiging, ...]:
        """What this gateway knows of a koppelsleutel: as its TC issued it, and as an aanleverpunt here received it."""
        out = []
        issued = self.uitgegeven(koppelsleutel)
        if issued is not None:
            out.append(issued)
        received = self.notificatie(koppelsleutel)
        if received is not None:
            out.append(Aankondiging(received.koppelsleutel, received.bron_brin, received.bron_routeringskenmerk,
                                    received.doel_brin, received.doel_routeringskenmerk, received.doel))
        return tuple(out)

    def opgehaald(self, *, bron_routeringskenmerk: str, doel_routeringskenmerk: str, own_oin: str,
                  sessie_id: str | None = None, limit: int = 10) -> tuple[Opgehaald, ...]:
        """The sessions (``sessie_id`` only, when given; else up to ``limit`` of each kind) in which this target's
        aanleverpunt ``doel_routeringskenmerk`` fetched a dossier from the source aanleverpunt
        ``bron_routeringskenmerk``: notifications it used with that result, and the sessions of this gateway's TC
        opened by ``own_oin`` (this target's vendor) and closed with that result from that aanleverpunt."""
        from .models import SessieRow

        D = DoelNotificatieRow
        own = self.session.execute(
            select(D.sessie_id, D.bron_brin, D.bron_routeringskenmerk, D.doel_brin, D.doel_routeringskenmerk)
            .where(D.bron_routeringskenmerk == bron_routeringskenmerk,
                   D.doel_routeringskenmerk == doel_routeringskenmerk, D.sessie_id.is_not(None), D.resultaat == FETCHED)
            .where(*([D.sessie_id == sessie_id] if sessie_id is not None else []))
            .limit(limit))
        S = SessieRow
        tc = self.session.execute(
            select(S.sessie_id, S.bron_brin, S.resultaat_aanleverpunt, S.doel_brin, S.doel_routeringskenmerk)
            .where(S.resultaat_aanleverpunt == bron_routeringskenmerk,
                   S.doel_routeringskenmerk == doel_routeringskenmerk, S.doel_vendor_oin == own_oin,
                   S.resultaat == FETCHED)
            .where(*([S.sessie_id == sessie_id] if sessie_id is not None else []))
            .limit(limit))
        return tuple(Opgehaald(*row) for row in [*own, *tc])
