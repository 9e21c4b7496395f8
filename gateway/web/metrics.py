"""Prometheus metrics of the exchanges, and the ``/metrics`` endpoint.

Labels carry only bounded vocabularies: services, the operations of our WSDLs (anything else counts as ``other``),
outcomes, SOAP fault codes, rule ids and result codes — never an OIN, a BRIN, an id or a value from a message.

Under gunicorn every worker is a process of its own: ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder
before the workers start (prometheus_client reads it when first imported), each worker writes its samples there,
and ``/metrics`` adds them up (``MultiProcessCollector``). Without it (tests, a single process) the default
registry is served.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

from .. import contracts
from ..journal.entry import JournalEntry
from ..oso.resultaat import CODES
from ..wsse.errors import RULES

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

MESSAGES = Counter("oso_gateway_messages", "SOAP exchanges handled, by service, operation and outcome "
                   "(accepted, refused)", ["service", "operation", "outcome"])
RESULTS = Counter("oso_gateway_results", "Answers by the result code they carried", ["service", "operation",
                                                                                     "resultaat"])
LATENCY = Histogram("oso_gateway_message_duration_seconds", "Time from the request's arrival to its signed answer",
                    ["service", "operation"],
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))
REFUSALS = Counter("oso_gateway_security_refusals", "Refused messages by SOAP fault code and rule id",
                   ["service", "faultcode", "rule"])
SESSIONS_OPENED = Counter("oso_gateway_sessions_opened", "Transfer sessions the Traffic Center opened", ["service"])
SESSIONS_CLOSED = Counter("oso_gateway_sessions_closed", "Transfer sessions closed by afmelding, by session result",
                          ["resultaat"])
# Every metric has labels, so its values are made on first use, in the worker (see use_multiprocess).
JOURNAL_FAILURES = Counter("oso_gateway_journal_write_failures", "Journal entries of refused messages that could "
                           "not be written (an accepted message is refused instead when its entry fails); service "
                           "\"tally\": tallies of counted refusals that could not be written", ["service"])
UNVERIFIED_COUNTED = Counter("oso_gateway_unverified_refusals_counted", "Refusals of messages that did not verify, "
                             "beyond the per-address rate: counted in a tally row, not journalled one by one",
                             ["service"])


@lru_cache(maxsize=1)
def known_operations() -> frozenset[str]:
    """The operations the contract declares (the WSDLs in wsdl/)."""
    return frozenset(op.name for s in contracts.services().values() for op in s.operations)


def _label(value: str | None, allowed) -> str:
    return value if value is not None and value in allowed else "other"


def observe(entry: JournalEntry) -> None:
    service = entry.service or "other"
    operation = _label(entry.operation, known_operations())
    MESSAGES.labels(service, operation, entry.verdict).inc()
    LATENCY.labels(service, operation).observe(entry.latency_ms / 1000)
    if entry.verdict == "refused":
        REFUSALS.labels(service, entry.faultcode or "other", _label(entry.rule, RULES)).inc()
        return
    if entry.resultaat:
        RESULTS.labels(service, operation, _label(entry.resultaat, CODES)).inc()
    if operation == "overdracht" and entry.resultaat == "Geslaagd" and entry.sessie_id:
        SESSIONS_OPENED.labels(service).inc()
    if operation == "afmelding" and entry.sessie_resultaat:
        SESSIONS_CLOSED.labels(_label(entry.sessie_resultaat, CODES)).inc()


def use_multiprocess(folder: str) -> None:
    """Before the workers start (serve): their samples go to files in ``folder``, which is emptied. Values made
    from now on are file-backed, also when prometheus_client was imported before (it reads the variable once)."""
    from prometheus_client import values

    os.makedirs(folder, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = folder
    values.ValueClass = values.get_value_class()


def exposition() -> bytes:
    """The metrics in Prometheus' text format: of all workers when running under serve."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_app(environ, start_response):
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Content-Type", "text/plain; charset=utf-8"), ("Allow", "GET")])
        return [b"GET only\n"]
    data = exposition()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(data))),
                              ("Cache-Control", "no-store")])
    return [data]


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges are dropped (its counters stay counted)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
