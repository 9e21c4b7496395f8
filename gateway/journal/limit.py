"""How many refusals of unverified messages get a journal row of their own (sans-IO: counts in, decisions out).

Anyone who can reach the gateway's port can send a message that does not verify, as fast as the gateway answers.
Each such refusal is answered (a signed Fault), counted in the metrics, and journalled — but only so many per source
address: at most ``per_address`` rows per address per window (``window_s``, a minute), and at most ``total`` rows per
window from all addresses together. Beyond that a refusal is only counted, per address, and when the window ends the
counts become one **tally** per address ("N more refused from ADDR between T1 and T2, by rule"), at most
``max_tallies`` of them per window (the busiest addresses; the rest are added up under ``OTHER``). Messages that
verified are never limited here: a real exchange always gets its row.

So per worker process and per window, unverified refusals leave at most ``total + max_tallies + 1`` rows, and one
address at most ``per_address + 1``. An IPv6 address counts by its /64 (one host usually holds a whole /64); every
address beyond ``max_addresses`` in one window counts as ``OTHER``. The limiter lives in one process: under ``serve``
each worker keeps its own, so the bounds are per worker.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

OTHER = "other addresses"
UNKNOWN = "unknown address"


def address_key(peer: str | None) -> str:
    """The source a refusal is counted against: the IPv4 address, the /64 of an IPv6 address."""
    if not peer:
        return UNKNOWN
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Tally:
    """Refusals of unverified messages from one source that were counted, not journalled one by one."""

    peer: str  # an address_key, or OTHER
    first_at: datetime
    last_at: datetime
    refused: int
    rules: tuple[str, ...]  # "RULE=count", the most frequent first
    services: tuple[str, ...]  # "service=count"

    @property
    def text(self) -> str:
        return f"{self.refused} more refused from {self.peer}"


@dataclass
class _Count:
    first_at: datetime
    last_at: datetime
    refused: int = 0
    rules: Counter = field(default_factory=Counter)
    services: Counter = field(default_factory=Counter)

    def add(self, at: datetime, rule: str | None, service: str | None, n: int = 1) -> None:
        self.first_at, self.last_at = min(self.first_at, at), max(self.last_at, at)
        self.refused += n
        self.rules[rule or "?"] += n
        self.services[service or "?"] += n

    def merge(self, other: "_Count") -> None:
        self.first_at, self.last_at = min(self.first_at, other.first_at), max(self.last_at, other.last_at)
        self.refused += other.refused
        self.rules.update(other.rules)
        self.services.update(other.services)

    def tally(self, peer: str) -> Tally:
        return Tally(peer, self.first_at, self.last_at, self.refused,
                     tuple(f"{k}={n}" for k, n in self.rules.most_common(16)),
                     tuple(f"{k}={n}" for k, n in self.services.most_common(8)))


class RefusalLimiter:
    """Decides, per refusal of an unverified message, whether it gets a row of its own (thread-safe)."""

    def __init__(self, *, per_address: int = 10, total: int = 100, window_s: float = 60.0,
                 max_addresses: int = 4096, max_tallies: int = 20, clock=time.monotonic):
        if per_address < 0 or total < 0 or window_s <= 0 or max_tallies < 0 or max_addresses < 1:
            raise ValueError("limits are 0 or more, the window longer than 0")
        self.per_address, self.total, self.window_s = per_address, total, window_s
        self.max_addresses, self.max_tallies = max_addresses, max_tallies
        self._clock = clock
        self._lock = threading.Lock()
        self._window = self._window_of(clock())
        self._rows: Counter = Counter()  # rows granted in this window, per address
        self._granted = 0
        self._counted: dict[str, _Count] = {}  # refusals only counted in this window, per address
        self._closed: list[Tally] = []  # tallies of windows that ended, not yet taken

    def _window_of(self, now: float) -> int:
        return int(now // self.window_s)

    @property
    def window_end_in(self) -> float:
        """Seconds until the current window ends."""
        return (self._window + 1) * self.window_s - self._clock()

    @property
    def pending(self) -> bool:
        """Whether counts wait to be taken (this window's, or closed windows')."""
        with self._lock:
            return bool(self._counted or self._closed)

    def admit(self, peer: str | None, *, rule: str | None = None, service: str | None = None,
              at: datetime | None = None) -> bool:
        """True: journal this refusal in a row of its own; False: it was counted for a tally."""
        at = at or datetime.now(timezone.utc)
        key = address_key(peer)
        with self._lock:
            self._roll(self._clock())
            if self._granted < self.total and self._rows[key] < self.per_address:
                self._rows[key] += 1
                self._granted += 1
                return True
            if key not in self._counted and len(self._counted) >= self.max_addresses:
                key = OTHER
            count = self._counted.get(key)
            if count is None:
                count = self._counted[key] = _Count(at, at)
            count.add(at, rule, service)
            return False

    def due(self) -> list[Tally]:
        """The tallies of the windows that have ended (each handed out once)."""
        with self._lock:
            self._roll(self._clock())
            taken, self._closed = self._closed, []
            return taken

    def drain(self) -> list[Tally]:
        """Every tally, the current window's too (at exit, or when a test wants them now); the window's row budget
        stays spent."""
        with self._lock:
            self._close()
            taken, self._closed = self._closed, []
            return taken

    def _roll(self, now: float) -> None:
        window = self._window_of(now)
        if window != self._window:
            self._close()
            self._window = window
            self._rows = Counter()
            self._granted = 0

    def _close(self) -> None:
        """End the current window's counts: one tally per address, the busiest ``max_tallies``, the rest as one."""
        if self._counted:
            ranked = sorted(self._counted.items(), key=lambda kv: kv[1].refused, reverse=True)
            keep = [(k, c) for k, c in ranked if k != OTHER][:self.max_tallies]
            kept = {k for k, _ in keep}
            rest = [c for k, c in ranked if k not in kept]
            self._closed.extend(c.tally(k) for k, c in keep)
            if rest:
                merged = _Count(rest[0].first_at, rest[0].last_at)
                for c in rest:
                    merged.merge(c)
                self._closed.append(merged.tally(OTHER))
        self._counted = {}
