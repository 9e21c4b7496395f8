"""The journal and the operators in the store: writes inside a unit of work (``Repository``), the reads of
``trace`` and the dashboard, and the purge. Hands out ``JournalEntry`` values, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import String, delete, func, insert, or_, select, type_coerce

from ..journal.entry import JournalEntry
from ..oso import identifiers as ids
from ..oso.resultaat import SUCCESS
from .journal_models import JournalRow, OperatorRow

_COLUMNS = tuple(f.name for f in fields(JournalEntry))
_T = JournalRow.__table__
PURGE_BATCH = 5000


def _values(entry: JournalEntry) -> dict:
    return {name: getattr(entry, name) for name in _COLUMNS}


def _entry(row) -> JournalEntry:
    return JournalEntry(**{name: getattr(row, name) for name in _COLUMNS})


_INSERT = insert(_T)  # one statement, compiled once; each entry is its parameters


def add_entry(repo, entry: JournalEntry) -> None:
    """Write one entry in the repository's transaction (it commits or rolls back with the message)."""
    repo.session.connection().execute(_INSERT, _values(entry))


def vendor_name(repo, oin: str | None) -> str | None:
    if not oin:
        return None
    vendor = repo.vendor(oin)
    return vendor.naam if vendor is not None else None


def _rows(repo, *conditions, limit: int = 2000) -> list[JournalEntry]:
    stmt = select(JournalRow).where(*conditions).order_by(JournalRow.received_at, JournalRow.id).limit(limit)
    return [_entry(r) for r in repo.session.scalars(stmt)]


def transfer(repo, ident: str, *, limit: int = 2000) -> list[JournalEntry]:
    """The messages of the transfer that ``ident`` names: a sessieId, a koppelsleutel, or a wsa:MessageID (of a
    request or of an answer). A koppelsleutel's notification and the session opened with it are one transfer."""
    ident = ident.strip()
    if ids.is_uuid4(ident):
        found = _rows(repo, or_(JournalRow.sessie_id == ident, JournalRow.koppelsleutel == ident), limit=limit)
    else:  # the request's MessageID (indexed); else an answer's MessageID (read through: rare)
        found = _rows(repo, JournalRow.message_id == ident, limit=limit) or _rows(
            repo, or_(JournalRow.response_message_id == ident, JournalRow.relates_to == ident), limit=limit)
    for _ in range(2):  # follow sessieId <-> koppelsleutel links, two hops at most
        sessies = {e.sessie_id for e in found if e.sessie_id}
        keys = {e.koppelsleutel for e in found if e.koppelsleutel}
        if not sessies and not keys:
            break
        more = _rows(repo, or_(JournalRow.sessie_id.in_(sessies), JournalRow.koppelsleutel.in_(keys)), limit=limit)
        known = {(e.received_at, e.request_sha256) for e in found}
        extra = [e for e in more if (e.received_at, e.request_sha256) not in known]
        if not extra:
            break
        found = sorted(found + extra, key=lambda e: e.received_at)
    return found


@dataclass(frozen=True)
class SessionFilter:
    q: str = ""  # a sessieId, koppelsleutel or MessageID
    brin: str = ""
    vendor: str = ""  # a name (part of it) or an OIN
    result: str = ""  # a result code or a rule id

    def conditions(self) -> list:
        c = []
        if self.q:
            q = self.q.strip()
            c.append(or_(JournalRow.sessie_id == q, JournalRow.koppelsleutel == q, JournalRow.message_id == q,
                         JournalRow.response_message_id == q))
        if self.brin:
            # the JSON text of "element=BRIN" pairs (as text, not as the column's tuple type)
            brins = type_coerce(JournalRow.brins, String)
            c.append(brins.contains(f"={self.brin.strip().upper()}\"", autoescape=True))
        if self.vendor:
            v = self.vendor.strip()
            c.append(or_(JournalRow.signer_oin == v, func.lower(JournalRow.vendor).contains(v.lower(),
                                                                                             autoescape=True)))
        if self.result:
            r = self.result.strip()
            c.append(or_(JournalRow.resultaat == r, JournalRow.sessie_resultaat == r, JournalRow.rule == r))
        return c


def recent_sessions(repo, flt: SessionFilter = SessionFilter(), *, limit: int = 50) -> list[list[JournalEntry]]:
    """The most recently active sessions that match, newest first, each as its entries in time order."""
    matching = select(JournalRow.sessie_id).where(JournalRow.sessie_id.is_not(None), *flt.conditions())
    if flt.q and ids.is_uuid4(flt.q.strip()):  # a koppelsleutel: the sessions opened with it
        matching = select(JournalRow.sessie_id).where(
            JournalRow.sessie_id.is_not(None),
            or_(JournalRow.sessie_id == flt.q.strip(), JournalRow.koppelsleutel == flt.q.strip()),
            *SessionFilter(brin=flt.brin, vendor=flt.vendor, result=flt.result).conditions())
    last = func.max(JournalRow.received_at)
    stmt = (select(JournalRow.sessie_id, last)
            .where(JournalRow.sessie_id.in_(matching))
            .group_by(JournalRow.sessie_id).order_by(last.desc()).limit(limit))
    order = [sid for sid, _ in repo.session.execute(stmt)]
    if not order:
        return []
    by_session: dict[str, list[JournalEntry]] = {sid: [] for sid in order}
    for e in _rows(repo, JournalRow.sessie_id.in_(order), limit=limit * 50):
        by_session[e.sessie_id].append(e)
    return [by_session[sid] for sid in order]


def failures_since(repo, since: datetime, *, limit: int = 100_000) -> list[JournalEntry]:
    """Refused messages and answers with a result code that is not a success, since ``since``."""
    success = tuple(SUCCESS)
    stmt = (select(JournalRow).where(
        JournalRow.received_at >= since,
        or_(JournalRow.verdict == "refused",
            JournalRow.resultaat.not_in(success),
            JournalRow.sessie_resultaat.not_in(success)))
        .order_by(JournalRow.received_at).limit(limit))
    return [_entry(r) for r in repo.session.scalars(stmt)]


def recent_refusals(repo, *, limit: int = 20) -> list[JournalEntry]:
    stmt = (select(JournalRow).where(JournalRow.verdict == "refused")
            .order_by(JournalRow.received_at.desc(), JournalRow.id.desc()).limit(limit))
    return [_entry(r) for r in repo.session.scalars(stmt)]


def stats(repo) -> dict:
    count, oldest, newest = repo.session.execute(
        select(func.count(), func.min(JournalRow.received_at), func.max(JournalRow.received_at))).one()
    return {"entries": count, "oldest": oldest, "newest": newest}


def purge_journal(database, before: datetime, *, batch: int = PURGE_BATCH) -> int:
    """Remove the entries received before ``before``, in short transactions of ``batch`` rows; returns how many."""
    total = 0
    while True:
        with database.unit_of_work() as repo:
            doomed = select(_T.c.id).where(_T.c.received_at < before).order_by(_T.c.id).limit(batch)
            if repo.dialect == "postgresql":
                doomed = doomed.with_for_update(skip_locked=True)  # never wait for another worker's purge
            n = repo.session.execute(delete(_T).where(_T.c.id.in_(doomed))).rowcount
        total += n
        if n < batch:
            return total


# ---- operators ------------------------------------------------------------------------------------------------


def add_operator(repo, name: str, password_hash: str, now: datetime) -> bool:
    """Add an operator, or set a new password for one; True when the operator is new."""
    row = repo.session.get(OperatorRow, name)
    if row is None:
        repo.session.add(OperatorRow(name=name, password_hash=password_hash, created=now))
        repo.session.flush()
        return True
    row.password_hash = password_hash
    repo.session.flush()
    return False


def operator_hash(repo, name: str) -> str | None:
    row = repo.session.get(OperatorRow, name)
    return row.password_hash if row is not None else None


def operators(repo) -> list[tuple[str, datetime]]:
    return [(r.name, r.created) for r in repo.session.scalars(select(OperatorRow).order_by(OperatorRow.name))]


def remove_operator(repo, name: str) -> bool:
    return repo.session.execute(delete(OperatorRow).where(OperatorRow.name == name)).rowcount == 1
