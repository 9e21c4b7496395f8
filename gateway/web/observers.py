"""What every exchange leaves behind: a journal entry, metrics, one structured log line.

The security middleware calls each observer as ``observer(exchange, repo)``: for an answered message inside the
message's transaction (``repo`` given), so the journal entry commits with the message, before the answer leaves —
if the entry cannot be written, the message is refused (GW-INTERNAL) and nothing of it is kept; for a refused
message after the rollback (``repo`` None): the entry then goes in a short transaction of its own, best effort,
never breaking the refusal. The entry is built once per exchange and shared by the three observers.

**Unverified refusals are limited** (gateway/journal/limit.py): a message that did not verify gets a journal row
and an exchange log line of its own only within a per-address (and overall) rate; beyond it the refusal is counted,
and each address's count becomes one tally row and one log line when the minute ends. The metrics count every
refusal. A refusal whose row cannot be written (the database is down) is logged in full instead — the entry's
fields, which never hold pupil data — with ``journal: "unwritten"``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from dataclasses import asdict

from ..journal.entry import JournalEntry, entry_from_exchange, with_vendor
from ..journal.limit import RefusalLimiter, Tally
from ..store.journal import add_entry, add_tally, vendor_name
from . import metrics

log = logging.getLogger("oso.gateway.journal")
exchange_log = logging.getLogger("oso.gateway.exchange")
_CACHE = "_journal_entry"
_ADMITTED = "_journal_admitted"


def entry_of(ex) -> JournalEntry:
    """The exchange's entry, built once for its final state (a message refused after it was answered — its entry
    could not be written — is built again as the refusal)."""
    state = (ex.status, id(ex.error), len(ex.response))
    cached = ex.__dict__.get(_CACHE)
    if cached is not None and cached[0] == state:
        return cached[1]
    entry = entry_from_exchange(ex)
    ex.__dict__[_CACHE] = (state, entry)
    return entry


def _error_text(exc: BaseException) -> str:
    """An exception as one short line (its first line: a store error's statement parameters are hidden anyway)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300]


def log_unwritten(entry: JournalEntry, exc: BaseException) -> None:
    """A journal entry that could not be written, as a structured log line: the same fields (never pupil data)."""
    fields = {k: v for k, v in asdict(entry).items() if v not in (None, (), "")}
    fields["received_at"] = entry.received_at.isoformat()
    log.warning("journal unavailable: %s.%s %s %s was not journalled; logged here instead", entry.service,
                entry.operation or "?", entry.verdict, entry.outcome,
                extra={**fields, "journal": "unwritten", "error": _error_text(exc)})


def log_tally(tally: Tally, *, unwritten: BaseException | None = None) -> None:
    fields = {"peer": tally.peer, "refused": tally.refused, "first_at": tally.first_at.isoformat(),
              "last_at": tally.last_at.isoformat(), "rules": list(tally.rules), "services": list(tally.services),
              "verdict": "refused", "signer_verified": False}
    if unwritten is None:
        exchange_log.info("%s (messages that did not verify, counted, not journalled one by one)", tally.text,
                          extra=fields)
    else:
        log.warning("journal unavailable: the tally '%s' was not written; logged here instead", tally.text,
                    extra={**fields, "journal": "unwritten", "error": _error_text(unwritten)})


_GATES: "weakref.WeakSet[RefusalGate]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for gate in list(_GATES):
        try:
            gate.flush(everything=True)
        except Exception:  # the process is ending: nothing more to do
            pass


class RefusalGate:
    """Per worker process: which refusals of unverified messages get a row (and a log line) of their own, and the
    tallies of the rest, written (and logged) when their minute ends — by the next exchange, or by a daemon thread
    that runs while counts are pending — and at exit."""

    def __init__(self, database=None, limiter: RefusalLimiter | None = None):
        self.database = database
        self.limiter = limiter or RefusalLimiter()
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        _GATES.add(self)

    def journalled(self, ex, entry: JournalEntry) -> bool:
        """Whether this exchange gets its own row and log line: always for a verified sender; within the limits for
        a refusal of a message that did not verify (decided once per exchange)."""
        if entry.verdict != "refused" or entry.signer_verified:
            return True
        admitted = ex.__dict__.get(_ADMITTED)
        if admitted is None:
            admitted = ex.__dict__[_ADMITTED] = self.limiter.admit(
                entry.peer, rule=entry.rule, service=entry.service, at=entry.received_at)
            if not admitted:
                metrics.UNVERIFIED_COUNTED.labels(entry.service).inc()
                self._ensure_flusher()
        return admitted

    def flush(self, *, everything: bool = False) -> list[Tally]:
        """Write (and log) the tallies of the windows that ended (``everything``: the current one's too)."""
        tallies = self.limiter.drain() if everything else self.limiter.due()
        if not tallies:
            return []
        try:
            if self.database is None:
                raise RuntimeError("the journal is off")
            with self.database.unit_of_work() as repo:
                for t in tallies:
                    add_tally(repo, t)
        except Exception as exc:
            if self.database is not None:
                metrics.JOURNAL_FAILURES.labels("tally").inc()
            for t in tallies:
                log_tally(t, unwritten=exc if self.database is not None else None)
            return tallies
        for t in tallies:
            log_tally(t)
        return tallies

    def _ensure_flusher(self) -> None:
        with self._lock:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="oso-refusal-tally", daemon=True)
                self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            time.sleep(max(self.limiter.window_end_in, 0.0) + 0.5)
            try:
                self.flush()
            except Exception:  # never let the thread die with counts pending; they stay for the next round
                log.exception("writing the refusal tallies failed")
            with self._lock:
                if not self.limiter.pending:
                    self._flusher = None
                    return


class JournalObserver:
    VENDOR_TTL_S = 60.0

    def __init__(self, database, gate: RefusalGate | None = None):
        self.database = database
        self.gate = gate or RefusalGate(database)
        self._vendors: dict[str, tuple[float, str | None]] = {}  # OIN -> (when read, name)

    def vendor(self, repo, oin: str | None) -> str | None:
        """The signer's name as the register has it, remembered for a minute: an entry should not cost every
        message a register lookup (a renamed vendor shows its new name within the minute)."""
        if not oin:
            return None
        now = time.monotonic()
        hit = self._vendors.get(oin)
        if hit is None or now - hit[0] >= self.VENDOR_TTL_S:
            if len(self._vendors) > 10_000:
                self._vendors.clear()
            hit = self._vendors[oin] = (now, vendor_name(repo, oin))
        return hit[1]

    def __call__(self, ex, repo) -> None:
        entry = entry_of(ex)
        if repo is not None:
            add_entry(repo, with_vendor(entry, self.vendor(repo, entry.signer_oin)))
            return
        if self.gate.journalled(ex, entry):
            try:
                with self.database.unit_of_work() as own:
                    add_entry(own, with_vendor(entry, self.vendor(own, entry.signer_oin)))
            except Exception as exc:  # the refusal is answered all the same, and logged in full
                metrics.JOURNAL_FAILURES.labels(entry.service).inc()
                log_unwritten(entry, exc)
        try:
            self.gate.flush()
        except Exception:
            log.exception("writing the refusal tallies failed")


def metrics_observer(ex, repo) -> None:
    metrics.observe(entry_of(ex))


class LogObserver:
    """One structured line per exchange (``oso.gateway.exchange``): refusals of unverified messages within the same
    limits as their journal rows."""

    def __init__(self, gate: RefusalGate):
        self.gate = gate

    def __call__(self, ex, repo) -> None:
        e = entry_of(ex)
        if not self.gate.journalled(ex, e):
            return
        fields = {
            "message_id": e.message_id, "sessie_id": e.sessie_id, "service": e.service, "operation": e.operation,
            "verdict": e.verdict, "signer_oin": e.signer_oin, "latency_ms": e.latency_ms,
            "request_size": e.request_size,
        }
        if e.koppelsleutel:
            fields["koppelsleutel"] = e.koppelsleutel
        if e.verdict == "refused":
            fields.update(rule=e.rule, faultcode=e.faultcode, dk_code=e.dk_code, signer_verified=e.signer_verified)
            if not e.signer_verified:  # what it claimed, named so; and where it came from
                fields.update(claimed_id=e.claimed_id, claimed_oin=e.claimed_oin, peer=e.peer)
        else:
            fields.update(resultaat=e.resultaat, response_message_id=e.response_message_id)
            if e.sessie_resultaat:
                fields["sessie_resultaat"] = e.sessie_resultaat
            if e.claimed_id:
                fields["claimed_id"] = e.claimed_id
        exchange_log.info("%s.%s %s %s", e.service, e.operation or "?", e.verdict, e.outcome,
                          extra={k: v for k, v in fields.items() if v is not None})


def exchange_observers(database, *, journal: bool = True) -> tuple:
    """The observers every secured endpoint gets, the journal first (if it fails, the others do not report an
    answer that is then refused). One refusal gate for the worker: the journal and the log agree on which refusals
    of unverified messages are told one by one."""
    gate = RefusalGate(database if journal else None)
    return ((JournalObserver(database, gate),) if journal else ()) + (metrics_observer, LogObserver(gate))
