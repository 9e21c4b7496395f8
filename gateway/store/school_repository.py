"""The reference source school's store: its prepared dossiers, its release log, its koppelsleutels.

Bound to the SQLAlchemy session of one unit of work (``SchoolRepository.of(repo)`` inside
``Database.unit_of_work()``), so a change commits or rolls back with everything else of that transaction. It hands
out and takes the domain's frozen values (``gateway.school.uitlevering``), never ORM rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, undefer

from ..school.uitlevering import DossierRecord, Uitlevering
from .errors import UnknownEntry
from .school_models import SchoolDossierRow, SchoolKoppelingRow, SchoolUitleveringRow

_FIELDS = ("brin", "pgn", "pgn_kind", "overdrachtsoort", "overstap", "verzameldatum", "klaargezet", "inzage",
           "toestemming", "geweigerd", "bijgewerkt")
_LOG_FIELDS = tuple(c.key for c in SchoolUitleveringRow.__table__.columns if c.key != "id")


def _record(row: SchoolDossierRow, *, with_dossier: bool = True) -> DossierRecord:
    return DossierRecord(dossier=bytes(row.dossier) if with_dossier else b"",
                         **{name: getattr(row, name) for name in _FIELDS})


class SchoolRepository:
    def __init__(self, session: Session):
        self.session = session

    @classmethod
    def of(cls, repo) -> "SchoolRepository":
        """The school's repository in the transaction of a ``gateway.store.Repository``."""
        return cls(repo.session)

    # ---- dossiers ----------------------------------------------------------------------------------------------

    def dossier(self, brin: str, pgn: str) -> DossierRecord | None:
        row = self.session.scalars(select(SchoolDossierRow).options(undefer(SchoolDossierRow.dossier))
                                   .where(SchoolDossierRow.brin == brin, SchoolDossierRow.pgn == pgn)
                                   .execution_options(populate_existing=True)).first()
        return None if row is None else _record(row)

    def brins_of(self, pgn: str) -> list[str]:
        """The schools (BRINs) that hold a dossier for this PGN."""
        return list(self.session.scalars(select(SchoolDossierRow.brin).where(SchoolDossierRow.pgn == pgn)
                                         .order_by(SchoolDossierRow.brin)))

    def pupils(self, brin: str) -> list[tuple[str, str]]:
        """(pgn, pgn) of every pupil of the school with a dossier: the pairs ``gateway.oso.zoeksleutel.zoek`` takes.
        No dossier is read."""
        return [(p, p) for p in self.session.scalars(select(SchoolDossierRow.pgn)
                                                      .where(SchoolDossierRow.brin == brin)
                                                      .order_by(SchoolDossierRow.pgn))]

    def overzicht(self, brin: str | None = None) -> list[tuple[DossierRecord, int]]:
        """Every dossier (without its bytes, ``dossier`` is empty) with its size, by BRIN and PGN."""
        stmt = (select(SchoolDossierRow, func.length(SchoolDossierRow.dossier))
                .options(defer(SchoolDossierRow.dossier))
                .order_by(SchoolDossierRow.brin, SchoolDossierRow.pgn))
        if brin is not None:
            stmt = stmt.where(SchoolDossierRow.brin == brin)
        return [(_record(row, with_dossier=False), size or 0) for row, size in self.session.execute(stmt)]

    def put_dossier(self, record: DossierRecord) -> None:
        """Store a pupil's dossier, replacing what the school held for that pupil (``bijgewerkt`` default: now)."""
        row = self.session.get(SchoolDossierRow, (record.brin, record.pgn))
        values = {name: getattr(record, name) for name in _FIELDS}
        values["bijgewerkt"] = record.bijgewerkt or datetime.now(timezone.utc)
        if row is None:
            self.session.add(SchoolDossierRow(dossier=record.dossier, **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.dossier = record.dossier
        self.session.flush()

    def update(self, brin: str, pgn: str, **changes) -> DossierRecord:
        """Change fields of a stored dossier (``dossier`` included); returns it as stored now."""
        current = self.dossier(brin, pgn)
        if current is None:
            raise UnknownEntry(f"school {brin} has no dossier for that pupil")
        changed = replace(current, **changes)
        self.put_dossier(changed)
        return changed

    # ---- the release log ----------------------------------------------------------------------------------------

    def add_uitlevering(self, u: Uitlevering) -> int:
        row = SchoolUitleveringRow(**{name: getattr(u, name) for name in _LOG_FIELDS})
        self.session.add(row)
        self.session.flush()
        return row.id

    def uitleveringen(self, *, sessie_id: str | None = None, limit: int | None = None) -> list[Uitlevering]:
        """The log, newest last (with ``limit``: the newest so many)."""
        stmt = select(SchoolUitleveringRow).order_by(SchoolUitleveringRow.id.desc())
        if sessie_id is not None:
            stmt = stmt.where(SchoolUitleveringRow.sessie_id == sessie_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = list(self.session.scalars(stmt))
        return [Uitlevering(id=r.id, **{name: getattr(r, name) for name in _LOG_FIELDS}) for r in reversed(rows)]

    def uitgeleverd(self, *, sessie_id: str, aanvrager_oin: str, bron_routeringskenmerk: str,
                    resultaat: str) -> Uitlevering | None:
        """The last entry in which this requester was given ``resultaat`` (a release) in this session by this
        aanleverpunt, or None."""
        stmt = (select(SchoolUitleveringRow)
                .where(SchoolUitleveringRow.sessie_id == sessie_id, SchoolUitleveringRow.aanvrager_oin == aanvrager_oin,
                       SchoolUitleveringRow.bron_routeringskenmerk == bron_routeringskenmerk,
                       SchoolUitleveringRow.resultaat == resultaat, SchoolUitleveringRow.sha256.is_not(None))
                .order_by(SchoolUitleveringRow.id.desc()).limit(1))
        row = self.session.scalars(stmt).first()
        return None if row is None else Uitlevering(id=row.id, **{name: getattr(row, name) for name in _LOG_FIELDS})

    # ---- koppelsleutels (SWV flow) ---------------------------------------------------------------------------

    def koppel(self, koppelsleutel: str, *, brin: str, pgn: str, now: datetime) -> None:
        """Remember which pupil a koppelsleutel the TC issued to this school stands for."""
        self.session.merge(SchoolKoppelingRow(koppelsleutel=koppelsleutel, brin=brin, pgn=pgn, aangemaakt=now))
        self.session.flush()

    def koppeling(self, koppelsleutel: str) -> tuple[str, str] | None:
        """(brin, pgn) of the pupil the koppelsleutel stands for, or None."""
        row = self.session.get(SchoolKoppelingRow, koppelsleutel)
        return None if row is None else (row.brin, row.pgn)
