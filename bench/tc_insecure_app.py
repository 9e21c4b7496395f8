"""BENCH ONLY: the Traffic Center with the security layer OFF, as the yardstick of bench/bench_tc.py.

This is not a mode of the product and must never become one: it lives in bench/, the gateway has no switch for it.
It composes what the real server composes, minus WS-Security:

- the same spyne TC application (``gateway.services.trafficcenter.application``);
- the same unit of work per message (``gateway.store.Database.unit_of_work``): the service's change and the answer
  in one transaction, rolled back when the service answers with a Fault;
- the same settings entry (``TcSettings``) in the WSGI environ;
- in place of ``SecurityMiddleware``: a stand-in that reads the body, parses it with the gateway's safe parser
  (``parse_untrusted``) and puts a VerifiedMessage-like object into ``environ["oso.verified"]``, whose caller OIN
  is taken on trust from the message's wsa:From (``…/anonymous?oin=<OIN>``), else a fixed OIN.

Left out, because they ARE the security layer: signature and certificate checks, revocation, freshness,
addressing and replay checks (no replay row is written), TLS binding, the XSD check of the Body, signing the
answer (it goes out unsigned, as spyne wrote it).

Run with gunicorn (bench/bench_tc.py does), with the worker settings of ``oso-gateway serve``::

    BENCH_DATABASE_URL=sqlite:///tmp/x.db gunicorn -w 2 -k gthread --threads 4 \
        --pythonpath bench 'tc_insecure_app:create_app()'
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import timedelta

from lxml import etree

from gateway.services.context import REPO as REPO_KEY, VERIFIED as ENVIRON_KEY
from gateway.services.trafficcenter import SETTINGS_KEY, TcSettings, application as trafficcenter_application
from gateway.store import Database
from gateway.wsse import ns, parse_untrusted

FIXED_OIN = "00000001000000000011"
CONTENT_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class TrustedCaller:
    """What the TC service reads of a VerifiedMessage (``oin``), plus what identifies the message."""

    oin: str
    body: etree._Element
    action: str | None
    message_id: str | None


class _Rollback(Exception):
    pass


def _caller_oin(header) -> str:
    address = header.findtext(f"{{{ns.WSA}}}From/{{{ns.WSA}}}Address") if header is not None else None
    if address and "?oin=" in address:
        return address.rsplit("?oin=", 1)[1]
    return FIXED_OIN


class InsecureTc:
    """WSGI: POST /tc → parse → one transaction around the spyne TC; GET /health."""

    def __init__(self, database: Database, settings: TcSettings, max_bytes: int = 32 * 1024 * 1024):
        self.database = database
        self.app = trafficcenter_application()
        self.settings = settings
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        path = (environ.get("PATH_INFO") or "/").rstrip("/")
        method = environ.get("REQUEST_METHOD")
        if path == "/health" and method == "GET":
            ok = self.database.health()
            return self._answer(start_response, "200 OK" if ok else "503 Service Unavailable",
                                json.dumps({"status": "ok" if ok else "degraded"}).encode(), "application/json")
        if path != "/tc" or method != "POST":
            return self._answer(start_response, "404 Not Found", b"not found\n", "text/plain")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read(self.max_bytes)
        root = parse_untrusted(data, max_bytes=self.max_bytes)
        header = root.find(f"{{{ns.SOAP11}}}Header")
        body = root.find(f"{{{ns.SOAP11}}}Body")
        caller = TrustedCaller(
            oin=_caller_oin(header), body=body[0],
            action=header.findtext(f"{{{ns.WSA}}}Action") if header is not None else None,
            message_id=header.findtext(f"{{{ns.WSA}}}MessageID") if header is not None else None)
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return lambda chunk: None

        try:
            with self.database.unit_of_work() as repo:
                environ[SETTINGS_KEY] = self.settings
                environ[ENVIRON_KEY] = caller
                environ[REPO_KEY] = repo
                environ["wsgi.input"] = io.BytesIO(data)
                environ["CONTENT_LENGTH"] = str(len(data))
                result = self.app(environ, capture)
                try:
                    answer = b"".join(result)
                finally:
                    getattr(result, "close", lambda: None)()
                if not captured.get("status", "200").startswith("200"):
                    raise _Rollback()
        except _Rollback:
            pass
        return self._answer(start_response, captured.get("status", "200 OK"), answer, CONTENT_TYPE)

    @staticmethod
    def _answer(start_response, status: str, data: bytes, content_type: str):
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
        return [data]


def create_app():
    """gunicorn's app factory. BENCH_DATABASE_URL names a migrated database with the parties registered."""
    database = Database(os.environ["BENCH_DATABASE_URL"])
    ttl = int(os.environ.get("BENCH_SESSIE_TTL_S", "3600"))
    return InsecureTc(database, TcSettings(sessie_ttl=timedelta(seconds=ttl)))
