"""Endpoint resolution the way OSO'22 participants do it: an Onderwijs Service Register lookup per routeringskenmerk
and service-version namespace (``GET …/api/v2/endpoints?service_version_namespace=…&routing_id=…``).

The reference parties ask the gateway's own lookup (``gateway.web.osr``) unless ``osr_url`` names another register.
Answers are kept for ``ttl`` seconds per routeringskenmerk (the register changes rarely; a transfer asks once per
aanleverpunt), at most ``max_entries`` of them (a flood of made-up routeringskenmerken cannot grow the cache without
end: the expired go first, then the oldest). A routing id that is not a routeringskenmerk is never asked about. A
lookup that fails or finds nothing gives None: the caller then uses the address the TC named, and says so.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .. import contracts
from ..oso import identifiers as ids

log = logging.getLogger("oso.gateway.client")


@dataclass(frozen=True)
class OsrEndpoint:
    routing_id: str
    url: str
    notificatie_url: str | None = None  # gateway extension
    leverancier_oin: str | None = None  # gateway extension


class OsrClient:
    def __init__(self, base_url: str, *, session=None, timeout: float = 10.0, ttl: float = 300.0,
                 max_entries: int = 10_000):
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout = timeout
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, OsrEndpoint | None]] = {}
        self._lock = threading.Lock()

    def endpoint(self, routing_id: str) -> OsrEndpoint | None:
        """The register's endpoint of an aanleverpunt for the contract's namespace, or None."""
        if not ids.is_routeringskenmerk(routing_id):
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(routing_id)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        found = self._ask(routing_id)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._make_room(now)
            self._cache[routing_id] = (now, found)
        return found

    def _make_room(self, now: float) -> None:
        """Drop the expired answers; when that is not enough, the oldest quarter (the lock is held)."""
        self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.ttl}
        if len(self._cache) >= self.max_entries:
            keep = sorted(self._cache.items(), key=lambda kv: kv[1][0])[self.max_entries // 4:]
            self._cache = dict(keep)

    def _ask(self, routing_id: str) -> OsrEndpoint | None:
        import requests

        session = self.session or requests
        try:
            r = session.get(f"{self.base_url}/api/v2/endpoints", timeout=self.timeout,
                            params={"service_version_namespace": contracts.OSO_NS, "routing_id": routing_id})
            if r.status_code != 200:
                log.warning("OSR lookup of %s: HTTP %s", routing_id, r.status_code)
                return None
            rows = r.json()
        except (requests.exceptions.RequestException, ValueError) as exc:
            log.warning("OSR lookup of %s failed: %s", routing_id, type(exc).__name__)
            return None
        for row in rows if isinstance(rows, list) else ():
            if not isinstance(row, dict) or row.get("routing_id") != routing_id:
                continue
            url = row.get("url")
            if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
                continue
            extra = row.get("gateway") if isinstance(row.get("gateway"), dict) else {}
            oin = extra.get("leverancier_oin")
            notificatie = extra.get("notificatie_url")
            return OsrEndpoint(routing_id, url, notificatie if isinstance(notificatie, str) else None,
                               oin if isinstance(oin, str) and ids.is_oin(oin) else None)
        return None
