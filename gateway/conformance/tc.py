"""The suite's own Traffic Center: the gateway app on a local port, its own SQLite in the run's folder, a register
with the vendor and the suite's parties, and an observer on its SecuredEndpoint that sees every message.

The observer runs inside each message's handling (for an answered message: inside its transaction, before the answer
leaves), so "the TC saw a sessiecontrole before the source answered" can be judged by time. A fault injector can
make the TC answer chosen requests with a signed Fault, as a TC that is down answers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from lxml import etree

from .. import contracts
from ..config import Config
from ..oso import trafficcenter as rules
from ..oso.register import Aanleverpunt, School, Vendor
from ..oso.trafficcenter import Leerling
from ..wsse.errors import ServerSecurityError
from .serving import Recorder, Running, TlsSettings, bind, request_body, rewrite_answer

_NESTED = frozenset({contracts.q("zoeksleutelPgnfrag")})  # read as if its children stood in the Body element


@dataclass
class TcObservation:
    """One message the suite's TC received, and what it did with it."""

    t: float  # time.perf_counter() when the TC judged it (before its answer left)
    at: datetime
    service: str
    operation: str | None  # the Body's element (sessiecontroleRequest, …), when it could be read
    signer_oin: str | None
    message_id: str | None
    fields: dict[str, str]
    resultaat: str | None  # what the TC answered
    error: str | None  # a refusal: "RULE: reason"
    request: bytes
    response: bytes
    verified: bool = False  # the message passed verification (a refusal after it, e.g. an injected Fault, too)
    from_oin: str | None = None  # the OIN in wsa:From (read from the bytes, also of a refused message)
    answer_fields: dict[str, str] = field(default_factory=dict)
    body: etree._Element | None = field(default=None, repr=False)  # the request's Body child, when readable


def body_fields(body: etree._Element | None) -> dict[str, str]:
    """The leaf elements of a Body element by local name (the zoeksleutelPgnfrag's two as well)."""
    if body is None:
        return {}
    out = {}
    for child in body:
        if not isinstance(child.tag, str):
            continue
        for el in (child if child.tag in _NESTED else (child,)):
            if isinstance(el.tag, str) and len(el) == 0:
                out[etree.QName(el).localname] = (el.text or "").strip()
    return out


def _read(data: bytes) -> tuple[etree._Element | None, str | None]:
    """The Body's child and the OIN in wsa:From of a message, as far as they can be read (never trusted)."""
    from urllib.parse import parse_qs, urlsplit

    from ..wsse.xmlparse import parse_untrusted

    try:
        root = parse_untrusted(data)
    except Exception:  # unreadable: nothing to show
        return None, None
    body = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    child = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    address = root.findtext("{http://schemas.xmlsoap.org/soap/envelope/}Header/{http://www.w3.org/2005/08/addressing}"
                            "From/{http://www.w3.org/2005/08/addressing}Address")
    oin = None
    if address:
        try:
            oin = (parse_qs(urlsplit(address.strip()).query).get("oin") or [None])[0]
        except ValueError:
            oin = None
    return child, oin


class FaultInjector:
    """Inside the TC's security middleware, in front of the service: a request the predicate picks is answered with
    a signed Server Fault (Digikoppeling 0051, not available), as a TC that is down would answer."""

    def __init__(self, app, predicate: Callable[[etree._Element], bool]):
        self.app = app
        self.predicate = predicate
        self.count = 0

    def __call__(self, environ, start_response):
        vm = environ.get("oso.verified")
        if vm is not None and self.predicate(vm.body):
            self.count += 1
            raise ServerSecurityError("GW-INTERNAL", "the Traffic Center is not available at the moment "
                                      "(a fault the conformance suite injected)", dk_code="0051")
        return self.app(environ, start_response)


class ForgedAnswers:
    """In front of the TC (outside its security middleware): the answer to a sessiecontrole for one of ``sessies``
    leaves with its resultaat overwritten by ``Geslaagd`` after it was signed, as an attacker on the line would
    change it. Its digest no longer matches: a source that verifies the TC's answer does not believe it."""

    def __init__(self, app):
        self.app = app
        self.sessies: set[str] = set()
        self.count = 0

    def __call__(self, environ, start_response):
        if not self.sessies or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        data = request_body(environ)
        if b"sessiecontroleRequest" not in data or not any(s.encode() in data for s in self.sessies):
            return self.app(environ, start_response)
        return rewrite_answer(self.app, environ, start_response, self._forge)

    def _forge(self, body: bytes) -> bytes:
        import re

        forged, n = re.subn(rb"(<(?:[A-Za-z_][\w.-]*:)?resultaat>)[^<]*(</)", rb"\1Geslaagd\2", body, count=1)
        self.count += n
        return forged


@dataclass
class SuiteTc:
    """A running Traffic Center of the suite's own."""

    workdir: Path
    cert: str
    key: str
    ca: str  # whom it trusts: the vendor's trust anchors (and the suite's own)
    crl: str | None
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    tls: TlsSettings | None = None
    settings: dict = field(default_factory=dict)  # further gateway settings (Config fields) for the app
    observations: list[TcObservation] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self.running: Running | None = None
        self.recorder: Recorder | None = None
        self.database = None
        self.app = None

    @property
    def base_url(self) -> str:
        return (self.public_url or self.running.url).rstrip("/")

    @property
    def url(self) -> str:
        return self.base_url + "/tc"

    def start(self, *, mount: Callable[[object, Config], None] | None = None) -> "SuiteTc":
        """Bind, build the gateway app for the bound address, and serve. ``mount(app, config)`` may add services
        (the target role's test school) before serving."""
        from ..store import Database
        from ..web.app import GatewayApp

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.running = bind(self.host, self.port, tls=self.tls)
        db_path = self.workdir / "tc.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        self.database = Database(f"sqlite:///{db_path}")
        self.database.migrate()
        settings = dict(host=self.host, port=self.running.port, public_url=self.base_url, cert=self.cert,
                        key=self.key, ca=self.ca, crl=self.crl or "", database_url=self.database.url,
                        tls_cert=self.tls.cert if self.tls else "", tls_key=self.tls.key if self.tls else "",
                        tls_client_ca=self.tls.client_ca if self.tls else "",
                        # files the gateway's other rooms would otherwise look for in the working directory
                        zoeksleutel_key=str(self.workdir / "zoeksleutel.key"),
                        dashboard_key=str(self.workdir / "dashboard.key"))
        settings.update(self.settings)
        known = {f.name for f in fields(Config)}
        config = Config(**{k: v for k, v in settings.items() if k in known})
        self.config = config
        self.app = GatewayApp(config, database=self.database)
        self.observe("/tc")
        if mount is not None:
            mount(self.app, config)
        self.forger = ForgedAnswers(self.app)
        self.recorder = Recorder(self.forger, "suite")
        self.running.start(self.recorder)
        return self

    def observe(self, path: str) -> None:
        """Add the suite's observer to the SecuredEndpoint of the service at ``path``."""
        middleware = self.app.services[path][0]
        ep = middleware.endpoint
        middleware.endpoint = replace(ep, observers=tuple(ep.observers) + (self._observer,))

    def inject_faults(self, predicate: Callable[[etree._Element], bool], path: str = "/tc") -> FaultInjector:
        middleware = self.app.services[path][0]
        injector = FaultInjector(middleware.app, predicate)
        middleware.app = injector
        return injector

    def _observer(self, ex, repo) -> None:
        vm = ex.verified
        raw_body, from_oin = _read(ex.request)
        body = vm.body if vm is not None else raw_body
        answer_body = None
        if ex.answer is not None:
            b = ex.answer.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
            answer_body = next((c for c in b if isinstance(c.tag, str)), None) if b is not None else None
        resultaat = None
        if answer_body is not None:
            el = answer_body.find(f"{{{etree.QName(answer_body).namespace}}}resultaat")
            resultaat = (el.text or "").strip() if el is not None else None
        obs = TcObservation(
            t=time.perf_counter(), at=datetime.now(timezone.utc), service=ex.service,
            operation=etree.QName(body).localname if body is not None else None,
            signer_oin=vm.oin if vm is not None else None,
            message_id=vm.message_id if vm is not None else None,
            fields=body_fields(body), resultaat=resultaat,
            error=f"{ex.error.rule}: {ex.error.reason}" if ex.error is not None else None,
            request=ex.request, response=ex.response, verified=vm is not None, from_oin=from_oin,
            answer_fields=body_fields(answer_body), body=body)
        with self._lock:
            self.observations.append(obs)

    def snapshot(self) -> list[TcObservation]:
        with self._lock:
            return list(self.observations)

    def seen(self, operation: str | None = None, service: str | None = None) -> list[TcObservation]:
        with self._lock:
            return [o for o in self.observations if (operation is None or o.operation == operation)
                    and (service is None or o.service == service)]

    # ---- the register and sessions, straight in the TC's store
    def register(self, *, vendors: list[Vendor] = (), schools: list[School] = (),
                 aanleverpunten: list[Aanleverpunt] = ()) -> None:
        with self.database.unit_of_work() as repo:
            for v in vendors:
                if repo.vendor(v.oin) is None:
                    repo.add_vendor(v)
            for s in schools:
                if repo.school(s.brin, s.vestiging) is None:
                    repo.add_school(s)
            for a in aanleverpunten:
                if repo.aanleverpunt(a.routeringskenmerk) is None:
                    repo.add_aanleverpunt(a)
                else:
                    repo.update_aanleverpunt(a)

    def open_session(self, doel_oin: str, *, doel_brin: str, doel_routeringskenmerk: str, bron_brin: str,
                     overdrachtsoort: str, zoeksleutel: str, pgnfrag: str) -> str:
        """Open a session as the TC's rules do for a target's overdrachtRequest (no message needed: the suite is
        that target); returns the sessieId."""
        now = datetime.now(timezone.utc)
        with self.database.unit_of_work() as repo:
            outcome = rules.overdracht(
                repo, doel_oin, bron_brin=bron_brin, bron_routeringskenmerk=None, doel_brin=doel_brin,
                doel_routeringskenmerk=doel_routeringskenmerk, leerling=Leerling(zoeksleutel, pgnfrag),
                overdrachtsoort=overdrachtsoort, notificatie=None, now=now, sessie_ttl=timedelta(hours=1))
            if outcome.sessie is None:
                raise RuntimeError(f"the suite's TC could not open a session: {outcome.resultaat}")
            repo.add_sessie(outcome.sessie)
        return outcome.sessie.sessie_id

    def close_session(self, sessie_id: str, doel_oin: str, *, bron_routeringskenmerk: str,
                      resultaat: str = "OverdrachtGeslaagd") -> None:
        """Close a session with afmelding as the TC's rules do for the target that opened it (the suite)."""
        now = datetime.now(timezone.utc)
        with self.database.unit_of_work() as repo:
            sessie = repo.sessie(sessie_id, for_update=True)
            outcome = rules.afmelding(doel_oin, sessie, bron_brin=sessie.bron_brin,
                                      bron_routeringskenmerk=bron_routeringskenmerk, doel_brin=sessie.doel_brin,
                                      doel_routeringskenmerk=sessie.doel_routeringskenmerk, resultaat=resultaat,
                                      now=now)
            if outcome.sessie is None:
                raise RuntimeError(f"the suite's TC could not close the session: {outcome.resultaat}")
            repo.save_sessie(outcome.sessie)

    def sessie(self, sessie_id: str):
        with self.database.unit_of_work(readonly=True) as repo:
            return repo.sessie(sessie_id)

    def sessies(self):
        with self.database.unit_of_work(readonly=True) as repo:
            return repo.sessies()

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
        if self.database is not None:
            self.database.dispose()
