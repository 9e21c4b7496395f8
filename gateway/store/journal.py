"""The journal and the operators in the store: writes inside a unit of work (``Repository``), the reads of
``trace`` and the dashboard, and the purge. Hands out ``JournalEntry`` values, never ORM rows.

A transfer's story is told from verified rows only (``signer_verified``): a row of a message that did not verify
holds no sessieId or koppelsleutel (what it claimed is ``claimed_id``), and the reads below never follow a claim
into a transfer. Those rows, and the tallies of the refusals that were only counted, are read apart
(``unverified_refusals``, ``unverified_by_peer``, ``unverified_per_day``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

from sqlalchemy import String, delete, func, insert, or_, select, type_coerce

from ..journal.entry import JournalEntry
from ..journal.limit import Tally
from ..oso import identifiers as ids
from ..oso.resultaat import SUCCESS
from .journal_models import JournalRow, OperatorRow, RefusalTallyRow

_COLUMNS = tuple(f.name for f in fields(JournalEntry))
_T = JournalRow.__table__
_TALLY = RefusalTallyRow.__table__
PURGE_BATCH = 5000
# Rows of refused messages that did not verify, and tallies, are kept this long at most (the journal's retention
# when that is shorter): they tell of no transfer, and a flood of them must not grow the journal for months.
UNVERIFIED_RETENTION_DAYS = 14
VERIFIED = JournalRow.signer_verified.is_(True)
UNVERIFIED = JournalRow.signer_verified.is_(False)


def _values(entry: JournalEntry) -> dict:
    return {name: getattr(entry, name) for name in _COLUMNS}


def _entry(row) -> JournalEntry:
    return JournalEntry(**{name: getattr(row, name) for name in _COLUMNS})


_INSERT = insert(_T)  # one statement, compiled once; each entry is its parameters


def add_entry(repo, entry: JournalEntry) -> None:
    """Write one entry in the repository's transaction (it commits or rolls back with the message)."""
    repo.session.connection().execute(_INSERT, _values(entry))


_INSERT_TALLY = insert(_TALLY)


def add_tally(repo, tally: Tally) -> None:
    """Write one tally ("N more refused from ADDR") in the repository's transaction."""
    repo.session.connection().execute(_INSERT_TALLY, {
        "first_at": tally.first_at, "last_at": tally.last_at, "peer": tally.peer[:64], "refused": tally.refused,
        "rules": tally.rules, "services": tally.services})


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
    request or of an answer). A koppelsleutel's notification and the session opened with it are one transfer.

    Only verified rows make a transfer, and only their sessieIds and koppelsleutels are followed. A MessageID that
    no verified row carries gives the rows of the refused, unverified message(s) with that MessageID, on their own
    (they are tied to nothing else)."""
    ident = ident.strip()
    if ids.is_uuid4(ident):
        found = _rows(repo, VERIFIED, or_(JournalRow.sessie_id == ident, JournalRow.koppelsleutel == ident),
                      limit=limit)
    else:  # the request's MessageID (indexed); else an answer's MessageID (read through: rare)
        found = _rows(repo, VERIFIED, JournalRow.message_id == ident, limit=limit) or _rows(
            repo, VERIFIED, or_(JournalRow.response_message_id == ident, JournalRow.relates_to == ident), limit=limit)
        if not found:
            return _rows(repo, UNVERIFIED, JournalRow.message_id == ident, limit=limit)
    for _ in range(2):  # follow sessieId <-> koppelsleutel links, two hops at most
        sessies = {e.sessie_id for e in found if e.sessie_id}
        keys = {e.koppelsleutel for e in found if e.koppelsleutel}
        if not sessies and not keys:
            break
        more = _rows(repo, VERIFIED, or_(JournalRow.sessie_id.in_(sessies), JournalRow.koppelsleutel.in_(keys)),
                     limit=limit)
        known = {(e.received_at, e.request_sha256) for e in found}
        extra = [e for e in more if (e.received_at, e.request_sha256) not in known]
        if not extra:
            break
        found = sorted(found + extra, key=lambda e: e.received_at)
    return found


def unverified_refusals(repo, ident: str, *, limit: int = 50) -> list[JournalEntry]:
    """Rows that merely named ``ident`` — a refused message that did not verify claiming that sessieId or
    koppelsleutel or carrying that MessageID, or a request answered SessieOnbekend — newest first. They are never part
    of the transfer's timeline."""
    ident = ident.strip()
    if not ident:
        return []
    cond = JournalRow.claimed_id == ident if ids.is_uuid4(ident) else (UNVERIFIED & (JournalRow.message_id == ident))
    stmt = select(JournalRow).where(cond).order_by(JournalRow.received_at.desc(), JournalRow.id.desc()).limit(limit)
    return [_entry(r) for r in repo.session.scalars(stmt)]


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
    matching = select(JournalRow.sessie_id).where(JournalRow.sessie_id.is_not(None), VERIFIED, *flt.conditions())
    if flt.q and ids.is_uuid4(flt.q.strip()):  # a koppelsleutel: the sessions opened with it
        matching = select(JournalRow.sessie_id).where(
            JournalRow.sessie_id.is_not(None), VERIFIED,
            or_(JournalRow.sessie_id == flt.q.strip(), JournalRow.koppelsleutel == flt.q.strip()),
            *SessionFilter(brin=flt.brin, vendor=flt.vendor, result=flt.result).conditions())
    last = func.max(JournalRow.received_at)
    stmt = (select(JournalRow.sessie_id, last)
            .where(JournalRow.sessie_id.in_(matching), VERIFIED)
            .group_by(JournalRow.sessie_id).order_by(last.desc()).limit(limit))
    order = [sid for sid, _ in repo.session.execute(stmt)]
    if not order:
        return []
    by_session: dict[str, list[JournalEntry]] = {sid: [] for sid in order}
    for e in _rows(repo, VERIFIED, JournalRow.sessie_id.in_(order), limit=limit * 50):
        by_session[e.sessie_id].append(e)
    return [by_session[sid] for sid in order]


def failures_since(repo, since: datetime, *, limit: int = 100_000, verified: bool | None = True) -> list[JournalEntry]:
    """Refused messages and answers with a result code that is not a success, since ``since``: of verified senders
    (the default; ``verified`` None: all rows, False: only those that did not verify)."""
    success = tuple(SUCCESS)
    stmt = (select(JournalRow).where(
        JournalRow.received_at >= since, *_verified(verified),
        or_(JournalRow.verdict == "refused",
            JournalRow.resultaat.not_in(success),
            JournalRow.sessie_resultaat.not_in(success)))
        .order_by(JournalRow.received_at).limit(limit))
    return [_entry(r) for r in repo.session.scalars(stmt)]


def _verified(verified: bool | None) -> tuple:
    return () if verified is None else ((VERIFIED,) if verified else (UNVERIFIED,))


def recent_refusals(repo, *, limit: int = 20, verified: bool | None = None) -> list[JournalEntry]:
    """The latest refusals, newest first: all (``verified`` None), of verified senders only (True) or of messages
    that did not verify (False)."""
    stmt = (select(JournalRow).where(JournalRow.verdict == "refused", *_verified(verified))
            .order_by(JournalRow.received_at.desc(), JournalRow.id.desc()).limit(limit))
    return [_entry(r) for r in repo.session.scalars(stmt)]


@dataclass(frozen=True)
class PeerRefusals:
    """Refusals of unverified messages from one source address since some time."""

    peer: str
    journalled: int  # rows of their own
    counted: int  # only counted, in tallies
    last: datetime
    rules: tuple[tuple[str, int], ...]  # (rule, count), the most frequent first
    claimed_oins: tuple[str, ...]  # what the certificates they carried said (unverified)

    @property
    def total(self) -> int:
        return self.journalled + self.counted


def unverified_by_peer(repo, since: datetime, *, limit: int = 10) -> list[PeerRefusals]:
    """Refusals of messages that did not verify since ``since``, per source address (IPv6 tallies count by /64),
    the most refused first: rows and tallies together."""
    acc: dict[str, dict] = {}

    def slot(peer: str | None) -> dict:
        return acc.setdefault(peer or "unknown address", {"journalled": 0, "counted": 0, "last": None,
                                                          "rules": Counter(), "oins": set()})

    rows = repo.session.execute(
        select(JournalRow.peer, JournalRow.rule, func.count(), func.max(JournalRow.received_at))
        .where(JournalRow.received_at >= since, UNVERIFIED, JournalRow.verdict == "refused")
        .group_by(JournalRow.peer, JournalRow.rule))
    for peer, rule, n, last in rows:
        a = slot(peer)
        a["journalled"] += n
        a["rules"][rule or "?"] += n
        last = _aware(last)
        a["last"] = last if a["last"] is None or last > a["last"] else a["last"]
    for peer, oin in repo.session.execute(
            select(JournalRow.peer, JournalRow.claimed_oin).distinct()
            .where(JournalRow.received_at >= since, UNVERIFIED, JournalRow.claimed_oin.is_not(None)).limit(500)):
        slot(peer)["oins"].add(oin)
    for t in repo.session.scalars(select(RefusalTallyRow).where(RefusalTallyRow.last_at >= since)
                                  .order_by(RefusalTallyRow.refused.desc()).limit(5000)):
        a = slot(t.peer)
        a["counted"] += t.refused
        for pair in t.rules:
            rule, _, n = pair.rpartition("=")
            a["rules"][rule or "?"] += int(n) if n.isdigit() else 0
        a["last"] = t.last_at if a["last"] is None or t.last_at > a["last"] else a["last"]
    ranked = sorted(acc.items(), key=lambda kv: kv[1]["journalled"] + kv[1]["counted"], reverse=True)[:limit]
    return [PeerRefusals(peer, a["journalled"], a["counted"], a["last"], tuple(a["rules"].most_common(5)),
                         tuple(sorted(a["oins"]))[:3]) for peer, a in ranked]


def unverified_per_day(repo, days: list, *, until: datetime | None = None) -> list[tuple[object, int, int]]:
    """For each day (a ``date``, UTC): (day, refusals of unverified messages journalled, only counted in tallies)."""
    out = []
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        end = start + timedelta(days=1)
        journalled = repo.session.execute(select(func.count()).select_from(JournalRow).where(
            JournalRow.received_at >= start, JournalRow.received_at < end, UNVERIFIED,
            JournalRow.verdict == "refused")).scalar() or 0
        counted = repo.session.execute(select(func.coalesce(func.sum(RefusalTallyRow.refused), 0)).where(
            RefusalTallyRow.last_at >= start, RefusalTallyRow.last_at < end)).scalar() or 0
        out.append((day, int(journalled), int(counted)))
    return out


def _aware(when: datetime | None) -> datetime | None:
    """An aggregate over a UtcDateTime column comes back without the column's type on SQLite."""
    if when is None:
        return None
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def stats(repo) -> dict:
    count, oldest, newest = repo.session.execute(
        select(func.count(), func.min(JournalRow.received_at), func.max(JournalRow.received_at))).one()
    unverified = repo.session.execute(select(func.count()).select_from(JournalRow).where(UNVERIFIED)).scalar()
    tallies, counted = repo.session.execute(
        select(func.count(), func.coalesce(func.sum(RefusalTallyRow.refused), 0))).one()
    return {"entries": count, "oldest": _aware(oldest), "newest": _aware(newest), "unverified": unverified,
            "tallies": tallies, "counted": int(counted)}


def purge_journal(database, before: datetime, *, batch: int = PURGE_BATCH, now: datetime | None = None) -> int:
    """Remove the entries received before ``before``, and those of unverified refusals and the tallies older than
    ``UNVERIFIED_RETENTION_DAYS`` (when that is later), in short transactions of ``batch`` rows; returns how many
    journal entries (and tallies) were removed."""
    unverified_before = max(before, (now or datetime.now(timezone.utc)) - timedelta(days=UNVERIFIED_RETENTION_DAYS))
    total = _purge(database, _T, _T.c.received_at < before, batch)
    if unverified_before > before:
        total += _purge(database, _T, (_T.c.received_at < unverified_before) & (_T.c.signer_verified.is_(False)),
                        batch)
    return total + _purge(database, _TALLY, _TALLY.c.last_at < unverified_before, batch)


def _purge(database, table, condition, batch: int) -> int:
    total = 0
    while True:
        with database.unit_of_work() as repo:
            doomed = select(table.c.id).where(condition).order_by(table.c.id).limit(batch)
            if repo.dialect == "postgresql":
                doomed = doomed.with_for_update(skip_locked=True)  # never wait for another worker's purge
            n = repo.session.execute(delete(table).where(table.c.id.in_(doomed))).rowcount
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
