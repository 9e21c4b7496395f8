"""The repository: everything the gateway reads and writes, inside ONE transaction (see ``Database.unit_of_work``).

It implements the Traffic Center's ``RegisterView`` and the replay store's ``remember``, so the register lookups, the
session change, the notification and the message's replay id of one request commit (or roll back) together.
It hands out and takes the domain's frozen values, never ORM rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ..oso.register import Aanleverpunt, School, Vendor
from ..oso.sessie import Sessie, Status
from ..oso.trafficcenter import Notificatie, Terugkoppeling
from .errors import ConcurrentUpdate, DuplicateEntry, UnknownEntry
from .models import AanleverpuntRow, NotificatieRow, ReplayRow, SchoolRow, SessieRow, TerugkoppelingRow, VendorRow

# A MessageID longer than this is kept as its SHA-256 (an index entry has a size limit on PostgreSQL).
MAX_REPLAY_KEY = 255
# How many expired replay ids one housekeeping round removes at most (it runs every so many remember() calls).
PURGE_BATCH = 256

_SESSIE_FIELDS = tuple(c.key for c in SessieRow.__table__.columns if c.key not in ("sessie_id", "versie"))
_NOTIFICATIE_FIELDS = tuple(c.key for c in NotificatieRow.__table__.columns)
_TERUGKOPPELING_FIELDS = tuple(c.key for c in TerugkoppelingRow.__table__.columns if c.key != "id")


def replay_key(key: str) -> str:
    if len(key) <= MAX_REPLAY_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _vendor(row: VendorRow | None) -> Vendor | None:
    if row is None:
        return None
    return Vendor(row.oin, row.naam, row.gekwalificeerd, row.gekwalificeerd_sinds)


def _school(row: SchoolRow) -> School:
    return School(row.brin, row.vestiging, row.sector, row.naam)


def _aanleverpunt(row: AanleverpuntRow | None) -> Aanleverpunt | None:
    if row is None:
        return None
    return Aanleverpunt(row.routeringskenmerk, row.brin, row.vestiging, row.vendor_oin, row.document_url,
                        row.notificatie_url, row.actief)


def _sessie(row: SessieRow) -> Sessie:
    values = {name: getattr(row, name) for name in _SESSIE_FIELDS}
    values["status"] = Status(row.status)
    return Sessie(sessie_id=row.sessie_id, versie=row.versie, **values)


def _sessie_values(s: Sessie) -> dict:
    values = {name: getattr(s, name) for name in _SESSIE_FIELDS}
    values["status"] = Status(s.status).value
    values["aanleverpunten"] = tuple(s.aanleverpunten)
    values["controles"] = tuple(s.controles)
    return values


class Repository:
    """Bound to one SQLAlchemy session in one transaction; not shared between threads."""

    def __init__(self, session: Session, *, housekeeping: Callable[[], bool] | None = None):
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self._housekeeping = housekeeping or (lambda: False)
        self._lists: dict[tuple[str, str], list] = {}  # register lookups by BRIN, for this transaction

    # ---- the register, as the Traffic Center's rules read it (RegisterView) -------------------------------------

    def vendor(self, oin: str) -> Vendor | None:
        return _vendor(self.session.get(VendorRow, oin))

    def school(self, brin: str, vestiging: str) -> School | None:
        row = self.session.get(SchoolRow, (brin, vestiging))
        return None if row is None else _school(row)

    def schools(self, brin: str) -> list[School]:
        key = ("schools", brin)
        if key not in self._lists:
            rows = self.session.scalars(select(SchoolRow).where(SchoolRow.brin == brin)
                                        .order_by(SchoolRow.vestiging))
            self._lists[key] = [_school(r) for r in rows]
        return list(self._lists[key])

    def aanleverpunt(self, routeringskenmerk: str) -> Aanleverpunt | None:
        return _aanleverpunt(self.session.get(AanleverpuntRow, routeringskenmerk))

    def aanleverpunten(self, brin: str) -> list[Aanleverpunt]:
        """All of the school's aanleverpunten, active or not, by routeringskenmerk."""
        key = ("aanleverpunten", brin)
        if key not in self._lists:
            rows = self.session.scalars(select(AanleverpuntRow).where(AanleverpuntRow.brin == brin)
                                        .order_by(AanleverpuntRow.routeringskenmerk))
            self._lists[key] = [_aanleverpunt(r) for r in rows]
        return list(self._lists[key])

    # ---- the register: the whole of it, and changes --------------------------------------------------------------

    def list_vendors(self) -> list[Vendor]:
        return [_vendor(r) for r in self.session.scalars(select(VendorRow).order_by(VendorRow.oin))]

    def list_schools(self) -> list[School]:
        rows = self.session.scalars(select(SchoolRow).order_by(SchoolRow.brin, SchoolRow.vestiging))
        return [_school(r) for r in rows]

    def list_aanleverpunten(self) -> list[Aanleverpunt]:
        rows = self.session.scalars(select(AanleverpuntRow).order_by(AanleverpuntRow.routeringskenmerk))
        return [_aanleverpunt(r) for r in rows]

    def add_vendor(self, v: Vendor) -> None:
        if self.session.get(VendorRow, v.oin) is not None:
            raise DuplicateEntry(f"vendor {v.oin} is already registered")
        self.session.add(VendorRow(oin=v.oin, naam=v.naam, gekwalificeerd=v.gekwalificeerd,
                                   gekwalificeerd_sinds=v.gekwalificeerd_sinds))
        self._written()

    def update_vendor(self, v: Vendor) -> None:
        row = self._vendor_row(v.oin)
        row.naam, row.gekwalificeerd, row.gekwalificeerd_sinds = v.naam, v.gekwalificeerd, v.gekwalificeerd_sinds
        self._written()

    def unqualify_vendor(self, oin: str) -> Vendor:
        """The vendor may no longer exchange dossiers (it stays in the register, with its aanleverpunten)."""
        row = self._vendor_row(oin)
        row.gekwalificeerd, row.gekwalificeerd_sinds = False, None
        self._written()
        return _vendor(row)

    def add_school(self, s: School) -> None:
        if self.session.get(SchoolRow, (s.brin, s.vestiging)) is not None:
            raise DuplicateEntry(f"school {s.brin} vestiging {s.vestiging} is already registered")
        self.session.add(SchoolRow(brin=s.brin, vestiging=s.vestiging, sector=s.sector.value, naam=s.naam))
        self._written()

    def update_school(self, s: School) -> None:
        row = self.session.get(SchoolRow, (s.brin, s.vestiging))
        if row is None:
            raise UnknownEntry(f"school {s.brin} vestiging {s.vestiging} is not registered")
        row.sector, row.naam = s.sector.value, s.naam
        self._written()

    def add_aanleverpunt(self, a: Aanleverpunt) -> None:
        if self.session.get(AanleverpuntRow, a.routeringskenmerk) is not None:
            raise DuplicateEntry(f"aanleverpunt {a.routeringskenmerk} is already registered")
        self._check_references(a)
        self.session.add(AanleverpuntRow(**self._aanleverpunt_values(a)))
        self._written()

    def update_aanleverpunt(self, a: Aanleverpunt) -> None:
        row = self._aanleverpunt_row(a.routeringskenmerk)
        self._check_references(a)
        for name, value in self._aanleverpunt_values(a).items():
            setattr(row, name, value)
        self._written()

    def deactivate_aanleverpunt(self, routeringskenmerk: str) -> Aanleverpunt:
        row = self._aanleverpunt_row(routeringskenmerk)
        row.actief = False
        self._written()
        return _aanleverpunt(row)

    # ---- sessions ------------------------------------------------------------------------------------------------

    def sessie(self, sessie_id: str, *, for_update: bool = False) -> Sessie | None:
        """The session as stored. ``for_update`` locks its row until the transaction ends (PostgreSQL: SELECT …
        FOR UPDATE; SQLite's write transaction already excludes other writers)."""
        stmt = select(SessieRow).where(SessieRow.sessie_id == sessie_id).execution_options(populate_existing=True)
        if for_update and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = self.session.scalars(stmt).first()
        return None if row is None else _sessie(row)

    def sessies(self, *, status: Status | None = None) -> list[Sessie]:
        stmt = select(SessieRow).order_by(SessieRow.geopend, SessieRow.sessie_id)
        if status is not None:
            stmt = stmt.where(SessieRow.status == Status(status).value)
        return [_sessie(r) for r in self.session.scalars(stmt.execution_options(populate_existing=True))]

    def add_sessie(self, s: Sessie) -> Sessie:
        self.session.execute(insert(SessieRow).values(sessie_id=s.sessie_id, versie=s.versie, **_sessie_values(s)))
        return s

    def save_sessie(self, s: Sessie) -> Sessie:
        """Store a changed session read at version ``s.versie``; returns it at its new version.

        Raises ConcurrentUpdate when another transaction changed it meanwhile (or it is gone): nothing is written.
        """
        stmt = (update(SessieRow)
                .where(SessieRow.sessie_id == s.sessie_id, SessieRow.versie == s.versie)
                .values(versie=s.versie + 1, **_sessie_values(s))
                .execution_options(synchronize_session=False))
        if self.session.execute(stmt).rowcount != 1:
            raise ConcurrentUpdate(s.sessie_id, s.versie)
        return replace(s, versie=s.versie + 1)

    # ---- notifications and feedback ------------------------------------------------------------------------------

    def notificatie(self, koppelsleutel: str) -> Notificatie | None:
        row = self.session.get(NotificatieRow, koppelsleutel)
        return None if row is None else Notificatie(**{k: getattr(row, k) for k in _NOTIFICATIE_FIELDS})

    def add_notificatie(self, n: Notificatie) -> None:
        self.session.add(NotificatieRow(**{k: getattr(n, k) for k in _NOTIFICATIE_FIELDS}))
        self.session.flush()

    def add_terugkoppeling(self, t: Terugkoppeling) -> int:
        row = TerugkoppelingRow(**{k: getattr(t, k) for k in _TERUGKOPPELING_FIELDS})
        self.session.add(row)
        self.session.flush()
        return row.id

    def terugkoppelingen(self, *, koppelsleutel: str | None = None) -> list[Terugkoppeling]:
        stmt = select(TerugkoppelingRow).order_by(TerugkoppelingRow.id)
        if koppelsleutel is not None:
            stmt = stmt.where(TerugkoppelingRow.koppelsleutel == koppelsleutel)
        return [Terugkoppeling(**{k: getattr(r, k) for k in _TERUGKOPPELING_FIELDS})
                for r in self.session.scalars(stmt)]

    # ---- the replay store (GW-REPLAY), in this transaction --------------------------------------------------------

    def remember(self, key: str, until: datetime, now: datetime) -> bool:
        """True when ``key`` is new (it is then remembered until ``until``), False when it was seen before.

        The insert joins this transaction: a rollback forgets the key again. A concurrent transaction inserting
        the same key waits for this one and then gets False (PostgreSQL; SQLite serialises writers). A key whose
        entry has expired counts as new, as in the memory store.
        """
        k = replay_key(key)
        if self._housekeeping():
            self._purge(now, limit=PURGE_BATCH)
        for _ in range(2):  # the second round only when a purge removed the old entry between our two statements
            if self._insert_new(k, until):
                return True
            revived = self.session.execute(
                update(ReplayRow.__table__)
                .where(ReplayRow.message_id == k, ReplayRow.until < now)
                .values(until=until))
            if revived.rowcount == 1:
                return True
        return False

    def purge_expired(self, now: datetime) -> int:
        """Forget every replay id whose time is past; returns how many."""
        return self._purge(now, limit=None)

    # ---- helpers -------------------------------------------------------------------------------------------------

    def _insert_new(self, key: str, until: datetime) -> bool:
        """INSERT … ON CONFLICT DO NOTHING: a key that is there already inserts no row and raises no error, so the
        transaction stays usable (PostgreSQL would otherwise abort it; a SAVEPOINT would cost two more round trips
        and an error in the server's log for every replay)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = (dialect_insert(ReplayRow.__table__).values(message_id=key, until=until).on_conflict_do_nothing()
                .execution_options(preserve_rowcount=True))  # an INSERT's rowcount is kept only when asked
        return self.session.execute(stmt).rowcount == 1

    def _purge(self, now: datetime, *, limit: int | None) -> int:
        table = ReplayRow.__table__
        if limit is None:
            return self.session.execute(delete(table).where(table.c.until < now)).rowcount
        batch = select(table.c.message_id).where(table.c.until < now).order_by(table.c.until).limit(limit)
        if self.dialect == "postgresql":
            batch = batch.with_for_update(skip_locked=True)  # never wait for (or deadlock with) another purge
        return self.session.execute(delete(table).where(table.c.message_id.in_(batch))).rowcount

    def _written(self) -> None:
        self.session.flush()
        self._lists.clear()

    def _vendor_row(self, oin: str) -> VendorRow:
        row = self.session.get(VendorRow, oin)
        if row is None:
            raise UnknownEntry(f"no vendor with OIN {oin} is registered")
        return row

    def _aanleverpunt_row(self, routeringskenmerk: str) -> AanleverpuntRow:
        row = self.session.get(AanleverpuntRow, routeringskenmerk)
        if row is None:
            raise UnknownEntry(f"no aanleverpunt with routeringskenmerk {routeringskenmerk} is registered")
        return row

    def _check_references(self, a: Aanleverpunt) -> None:
        if self.session.get(SchoolRow, (a.brin, a.vestiging)) is None:
            raise UnknownEntry(f"school {a.brin} vestiging {a.vestiging} is not registered")
        if self.session.get(VendorRow, a.vendor_oin) is None:
            raise UnknownEntry(f"vendor {a.vendor_oin} is not registered")

    @staticmethod
    def _aanleverpunt_values(a: Aanleverpunt) -> dict:
        return dict(routeringskenmerk=a.routeringskenmerk, brin=a.brin, vestiging=a.vestiging,
                    vendor_oin=a.vendor_oin, document_url=a.document_url, notificatie_url=a.notificatie_url,
                    actief=a.actief)
