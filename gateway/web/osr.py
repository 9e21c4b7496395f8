"""An OSR-style endpoint lookup, read-only, served from the gateway's register.

Since 2022 OSO participants find each other's endpoints in the Onderwijs Service Register with one REST call per
service-version namespace (oso-wire.md §5.3):

    GET /osr/api/v2/endpoints?service_version_namespace=NS&routing_id=RK        (the response: 0 or 1 endpoint)
    GET /osr/api/v2/endpoints?service_version_namespace=NS&school_oin=OIN       (every endpoint of the school)

It answers a JSON array of endpoints: ``url``, ``routing_id``, ``school_oin``, ``service_version_namespace``,
``start_date``, ``end_date`` (ISO dates; the register keeps no validity dates, so they are null), ``attributes``
("LAS"), and under ``gateway`` what only this gateway adds: the aanleverpunt's notification endpoint and the OIN of
the vendor registered for it. Only active aanleverpunten are answered, and only for the namespace the gateway speaks
(``gateway.contracts.OSO_NS``); another namespace gets an empty list. docs/osr.md says which parts follow the public
record and which are inferred. A vendor's code that resolves endpoints can point at this in test.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from urllib.parse import parse_qs

from .. import contracts
from ..oso import identifiers as ids

log = logging.getLogger("oso.gateway.osr")


def _answer(start_response, status: str, payload) -> list[bytes]:
    data = (json.dumps(payload, ensure_ascii=False) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


def _error(start_response, status: str, text: str) -> list[bytes]:
    return _answer(start_response, status, {"error": text})


def brin_of_school_oin(oin: str) -> str | None:
    """The BRIN in a school OIN of the form 00000007 000 BRIN 00000 (oso-wire.md §3.7), or None."""
    if len(oin) != 20 or not oin.startswith("00000007000") or not oin.endswith("00000"):
        return None
    brin = oin[11:15]
    return brin if ids.is_brin(brin) else None


def endpoint_json(ap) -> dict:
    """One register aanleverpunt as the lookup answers it."""
    return {
        "url": ap.document_url,
        "routing_id": ap.routeringskenmerk,
        "school_oin": ids.school_oin(ap.brin),
        "service_version_namespace": contracts.OSO_NS,
        "start_date": None,
        "end_date": None,
        "attributes": "LAS",
        "gateway": {"notificatie_url": ap.notificatie_url, "leverancier_oin": ap.vendor_oin, "brin": ap.brin},
    }


class OsrLookup:
    """The WSGI app behind ``PATH``."""

    PATH = "/osr/api/v2/endpoints"

    def __init__(self, database):
        self.database = database

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") != self.PATH:
            return _error(start_response, "404 Not Found", "not found")
        if environ.get("REQUEST_METHOD") != "GET":
            return _error(start_response, "405 Method Not Allowed", "this register is read-only: GET")
        try:
            query = parse_qs(environ.get("QUERY_STRING", ""), strict_parsing=False, max_num_fields=16)
        except ValueError:
            return _error(start_response, "400 Bad Request", "the query string cannot be read")
        one = {k: v[0] for k, v in query.items() if len(v) == 1}
        if any(len(v) != 1 for v in query.values()):
            return _error(start_response, "400 Bad Request", "give each parameter once")
        namespace = one.get("service_version_namespace")
        routing_id, school_oin = one.get("routing_id"), one.get("school_oin")
        if not namespace:
            return _error(start_response, "400 Bad Request", "service_version_namespace is required")
        if (routing_id is None) == (school_oin is None):
            return _error(start_response, "400 Bad Request", "give routing_id or school_oin (one of the two)")
        if "reference_date" in one:
            try:
                date.fromisoformat(one["reference_date"])
            except ValueError:
                return _error(start_response, "400 Bad Request", "reference_date is a date: YYYY-MM-DD")
        if routing_id is not None and not ids.is_routeringskenmerk(routing_id):
            return _error(start_response, "400 Bad Request", "routing_id is 20 digits or capitals")
        brin = None
        if school_oin is not None:
            brin = brin_of_school_oin(school_oin)
            if brin is None:
                return _error(start_response, "400 Bad Request", "school_oin is a school's OIN: 00000007000 + "
                              "BRIN + 00000")
        if namespace != contracts.OSO_NS:
            return _answer(start_response, "200 OK", [])
        try:
            with self.database.unit_of_work(readonly=True) as repo:
                if routing_id is not None:
                    ap = repo.aanleverpunt(routing_id)
                    found = [ap] if ap is not None else []
                else:
                    found = repo.aanleverpunten(brin)
        except Exception:  # the register could not be read: say so, never a traceback
            log.exception("the OSR lookup could not read the register")
            return _error(start_response, "503 Service Unavailable", "the register cannot be read now")
        return _answer(start_response, "200 OK", [endpoint_json(ap) for ap in found if ap.actief])
