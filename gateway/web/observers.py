"""What every exchange leaves behind: a journal entry, metrics, one structured log line.

The security middleware calls each observer as ``observer(exchange, repo)``: for an answered message inside the
message's transaction (``repo`` given), so the journal entry commits with the message, before the answer leaves —
if the entry cannot be written, the message is refused (GW-INTERNAL) and nothing of it is kept; for a refused
message after the rollback (``repo`` None): the entry then goes in a short transaction of its own, best effort,
never breaking the refusal. The entry is built once per exchange and shared by the three observers.
"""

from __future__ import annotations

import logging
import time

from ..journal.entry import JournalEntry, entry_from_exchange, with_vendor
from ..store.journal import add_entry, vendor_name
from . import metrics

log = logging.getLogger("oso.gateway.journal")
exchange_log = logging.getLogger("oso.gateway.exchange")
_CACHE = "_journal_entry"


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


class JournalObserver:
    VENDOR_TTL_S = 60.0

    def __init__(self, database):
        self.database = database
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
        try:
            with self.database.unit_of_work() as own:
                add_entry(own, with_vendor(entry, self.vendor(own, entry.signer_oin)))
        except Exception:  # the refusal is answered all the same
            metrics.JOURNAL_FAILURES.labels(entry.service).inc()
            log.warning("the journal entry of a refused message could not be written", exc_info=True,
                        extra={"message_id": entry.message_id, "rule": entry.rule})


def metrics_observer(ex, repo) -> None:
    metrics.observe(entry_of(ex))


def log_observer(ex, repo) -> None:
    e = entry_of(ex)
    fields = {
        "message_id": e.message_id, "sessie_id": e.sessie_id, "service": e.service, "operation": e.operation,
        "verdict": e.verdict, "signer_oin": e.signer_oin, "latency_ms": e.latency_ms, "request_size": e.request_size,
    }
    if e.koppelsleutel:
        fields["koppelsleutel"] = e.koppelsleutel
    if e.verdict == "refused":
        fields.update(rule=e.rule, faultcode=e.faultcode, dk_code=e.dk_code)
    else:
        fields.update(resultaat=e.resultaat, response_message_id=e.response_message_id)
        if e.sessie_resultaat:
            fields["sessie_resultaat"] = e.sessie_resultaat
    exchange_log.info("%s.%s %s %s", e.service, e.operation or "?", e.verdict, e.outcome,
                      extra={k: v for k, v in fields.items() if v is not None})


def exchange_observers(database, *, journal: bool = True) -> tuple:
    """The observers every secured endpoint gets, the journal first (if it fails, the others do not report an
    answer that is then refused)."""
    return ((JournalObserver(database),) if journal else ()) + (metrics_observer, log_observer)
