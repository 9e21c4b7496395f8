"""The journal's retention inside ``serve``: each worker runs a purge at most once an hour, in a daemon thread.

Several workers purging is harmless (a purge removes what is older than the retention, in short batches; on
PostgreSQL a batch skips rows another worker's purge holds). The first run waits a random while, so workers
started together do not purge together. ``oso-gateway purge`` does the same on demand.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta, timezone

from ..store.journal import purge_journal

log = logging.getLogger("oso.gateway.housekeeping")
HOUR = 3600.0


def cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)) - timedelta(days=retention_days)


class Housekeeper:
    def __init__(self, database, retention_days: int, *, interval_s: float = HOUR, first_delay_s: float | None = None):
        self.database = database
        self.retention_days = retention_days
        self.interval_s = max(interval_s, 1.0)
        self.first_delay_s = random.uniform(5, min(300.0, self.interval_s)) if first_delay_s is None else first_delay_s
        self.last_run: datetime | None = None
        self.last_removed: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        removed = purge_journal(self.database, cutoff(self.retention_days))
        self.last_run, self.last_removed = datetime.now(timezone.utc), removed
        if removed:
            log.info("journal purge removed %d entries older than %d days", removed, self.retention_days,
                     extra={"removed": removed, "retention_days": self.retention_days})
        return removed

    def _loop(self) -> None:
        delay = self.first_delay_s
        while not self._stop.wait(delay):
            try:
                self.run_once()
            except Exception:  # try again next round; the gateway goes on
                log.exception("the journal purge failed")
            delay = self.interval_s

    def start(self) -> "Housekeeper":
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="oso-housekeeping", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
