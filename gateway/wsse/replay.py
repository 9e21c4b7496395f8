"""Replay stores: a MessageID is accepted once (GW-REPLAY).

The interface is one verb, ``remember(key, until, now) -> bool``: True when the key is new (and now remembered
until ``until``), False when it was seen before. An entry may be forgotten after ``until``: by then the message's
Timestamp is outside the freshness window and is refused for that reason. The Traffic Center keeps its store in
the database (a unique MessageID), so a message replayed to another process is refused too.
"""

from __future__ import annotations

import heapq
import threading
from datetime import datetime
from typing import Protocol


class ReplayStore(Protocol):
    def remember(self, key: str, until: datetime, now: datetime) -> bool: ...


class MemoryReplayStore:
    """An in-process replay store, bounded by time: entries past their ``until`` are dropped as new ones come."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()

    def remember(self, key: str, until: datetime, now: datetime) -> bool:
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, old = heapq.heappop(self._expiry)
                if old in self._seen and self._seen[old] < now:
                    del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = until
            heapq.heappush(self._expiry, (until, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)
