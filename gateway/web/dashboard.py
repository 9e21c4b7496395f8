"""The servicedesk's dashboard under ``/dashboard``: read-only, server-rendered HTML (Jinja2), login required.

Pages: recent sessions with search (sessieId / koppelsleutel / MessageID, BRIN, vendor, result), a transfer's
timeline with its cause and the party that must act, failures per vendor and per rule over time (SVG charts with
the same numbers as tables), the register with each vendor's qualification, and the gateway's health.

Nothing can be changed through it: every page reads in a read-only transaction; the only POSTs are login and
logout. Sessions are HMAC-signed cookies (HttpOnly, SameSite=Strict, Secure when the gateway speaks TLS, Path
/dashboard) whose session id is also kept server-side and removed at logout; the login and logout forms carry a
single-use token bound to a cookie of the browser's own, and a cross-site POST is refused outright. Failed logins
are counted per operator name and per client address in the database (every worker sees them) and lock that name or
address for a while (``gateway.web.auth``: 5 failures of a name or 20 from an address in 15 minutes lock it for 15
minutes); a locked login is answered at once, without checking the password, and nothing sleeps. Responses forbid
framing, scripts and caching (Content-Security-Policy, no-store).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .. import __version__
from ..journal.advice import explain
from ..journal.timeline import assess, result_text, signer_text, step
from ..store.journal import SessionFilter, failures_since, operator_hash, recent_refusals, recent_sessions, stats
from ..store.journal import UNVERIFIED_RETENTION_DAYS, transfer, unverified_by_peer, unverified_per_day
from ..store.journal import unverified_refusals
from . import charts
from .auth import (LOGIN_TOKEN_TTL_S, LOGOUT_TOKEN_TTL_S, SESSION_TTL_S, AuthStore, Session, Signer, Throttle,
                   client_address, load_or_make_key, new_session_id, verify_password)

log = logging.getLogger("oso.gateway.dashboard")

PREFIX = "/dashboard"
HERE = Path(__file__).resolve().parent
SESSION_COOKIE, LOGIN_COOKIE = "oso_dashboard", "oso_dashboard_login"
MAX_FORM = 4096
STATUSES = ("failed", "succeeded", "open")
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
]


@dataclass
class Request:
    environ: dict

    @property
    def method(self) -> str:
        return self.environ.get("REQUEST_METHOD", "GET")

    @property
    def path(self) -> str:
        return self.environ.get("PATH_INFO") or "/"

    def query(self, name: str, default: str = "") -> str:
        values = parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True).get(name)
        return values[0].strip()[:200] if values else default

    def cookie(self, name: str) -> str | None:
        try:
            jar = SimpleCookie(self.environ.get("HTTP_COOKIE", ""))
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None else None

    def form(self) -> dict[str, str]:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_FORM or "application/x-www-form-urlencoded" not in self.environ.get("CONTENT_TYPE", ""):
            return {}
        data = self.environ["wsgi.input"].read(length).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(data, keep_blank_values=True).items()}

    def cross_site(self) -> bool:
        """A browser's word that the request comes from another site (Sec-Fetch-Site), or an Origin that is not
        this host."""
        if self.environ.get("HTTP_SEC_FETCH_SITE") in ("cross-site", "same-site"):
            return True
        origin = self.environ.get("HTTP_ORIGIN")
        if origin and origin != "null":
            host = self.environ.get("HTTP_HOST", "")
            return origin.split("://", 1)[-1] != host
        return False


def _local_next(value: str) -> str:
    """Where to go after logging in: a dashboard page of ours, never another site."""
    if value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value and "\n" not in value:
        return value
    return PREFIX + "/"


class Dashboard:
    def __init__(self, config, database, *, housekeeper=None):
        self.config = config
        self.database = database
        self.housekeeper = housekeeper
        self.trust = None  # the worker's TrustStore (GatewayApp sets it): its CRLs on the health page
        self.secure = bool(config.tls_cert)
        self._signer: Signer | None = None
        self.throttle = Throttle()  # failed logins that lock a name or an address (gateway.web.auth)
        self.env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                               autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(prefix=PREFIX, version=__version__, quote=quote)
        self.env.filters.update(when=_when, step=step, signer=signer_text, outcome=result_text,
                                rule_text=lambda r: explain(r)[0] if r else "")

    @property
    def signer(self) -> Signer:
        if self._signer is None:  # read on first use: serve makes the key before the workers start
            self._signer = Signer(load_or_make_key(self.config.dashboard_key))
        return self._signer

    # ---- WSGI -----------------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        req = Request(environ)
        sub = req.path[len(PREFIX):] or "/"
        try:
            if sub == "/style.css":
                return self._file(start_response, HERE / "templates" / "style.css", "text/css; charset=utf-8")
            if sub == "/login":
                return self._login(req, start_response)
            if req.method not in ("GET", "HEAD") and sub != "/logout":
                return self._page(start_response, "error.html", status="405 Method Not Allowed",
                                  message="This dashboard only shows; nothing can be changed through it.")
            session = self._session(req)
            if session is None:
                target = req.path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
                return self._redirect(start_response, f"{PREFIX}/login?{urlencode({'next': target})}")
            if sub == "/logout":
                return self._logout(req, start_response, session)
            view = {"/": self._sessions, "/trace": self._trace, "/failures": self._failures,
                    "/register": self._register, "/health": self._health}.get(sub.rstrip("/") or "/")
            if view is None:
                return self._page(start_response, "error.html", status="404 Not Found", operator=session.name,
                                  message="There is no such page.")
            return view(req, start_response, session.name)
        except Exception:  # never a traceback to the browser
            log.exception("a dashboard page failed")
            return self._page(start_response, "error.html", status="500 Internal Server Error",
                              message="This page could not be shown; the gateway's log says why.")

    # ---- responses ------------------------------------------------------------------------------------------------

    def _cookie(self, name: str, value: str, max_age: int) -> tuple[str, str]:
        secure = "; Secure" if self.secure else ""
        return ("Set-Cookie", f"{name}={value}; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")

    def _page(self, start_response, template: str, *, status: str = "200 OK", headers=(), **context):
        data = self.env.get_template(template).render(**context).encode("utf-8")
        start_response(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data))),
                                *SECURITY_HEADERS, *headers])
        return [data]

    def _redirect(self, start_response, location: str, headers=()):
        start_response("303 See Other", [("Location", location), ("Content-Length", "0"), *SECURITY_HEADERS,
                                          *headers])
        return [b""]

    def _file(self, start_response, path: Path, content_type: str):
        data = path.read_bytes()
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data))),
                                  ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "max-age=3600")])
        return [data]

    # ---- login / logout ----------------------------------------------------------------------------------------

    def _session(self, req: Request) -> Session | None:
        """The session of this request: a cookie whose MAC, age and password fingerprint hold, and whose session id
        is open server-side (not logged out)."""
        cookie = req.cookie(SESSION_COOKIE)
        if not cookie:
            return None
        now = time.time()
        with self.database.unit_of_work(readonly=True) as repo:
            session = self.signer.read_session(cookie, lambda name: operator_hash(repo, name), now=now)
            if session is None or not AuthStore(repo).session_open(session.sid, session.name, _utc(now)):
                return None
        return session

    def _login(self, req: Request, start_response):
        if req.method == "POST":
            return self._login_post(req, start_response)
        if req.method not in ("GET", "HEAD"):
            return self._page(start_response, "error.html", status="405 Method Not Allowed", message="GET or POST")
        return self._login_form(start_response, next_=_local_next(req.query("next")))

    def _login_form(self, start_response, *, next_: str, error: str | None = None, status: str = "200 OK",
                    headers=()):
        nonce = os.urandom(18).hex()
        return self._page(start_response, "login.html", status=status, next=next_, error=error,
                          token=self.signer.form_token("login", nonce, ttl_s=LOGIN_TOKEN_TTL_S),
                          headers=[self._cookie(LOGIN_COOKIE, nonce, LOGIN_TOKEN_TTL_S), *headers])

    def _throttle_keys(self, req: Request, name: str) -> list[tuple[str, str]]:
        return [("account", self.signer.key_id("account", name)),
                ("address", self.signer.key_id("address", client_address(req.environ.get("REMOTE_ADDR"))))]

    def _login_post(self, req: Request, start_response):
        """Check the form token (and use it up), refuse a locked name or address at once, then the password. The
        password is checked outside any transaction (scrypt takes a while); a failure is counted afterwards."""
        form = req.form()
        next_ = _local_next(form.get("next", ""))
        token = form.get("token") or ""
        now = time.time()
        if req.cross_site() or not self.signer.check_form_token("login", req.cookie(LOGIN_COOKIE), token, now=now):
            return self._login_form(start_response, next_=next_, status="403 Forbidden",
                                    error="The form had expired or did not come from this page: please log in again.")
        name, password = form.get("name", "")[:64], form.get("password", "")[:1024]
        keys = self._throttle_keys(req, name)
        with self.database.unit_of_work() as repo:
            store = AuthStore(repo)
            store.purge(_utc(now))
            fresh = store.use_token(token, _utc(now))
            locked = store.locked_until(keys, _utc(now)) if fresh else None
            stored = operator_hash(repo, name) if fresh and locked is None and name else None
        if not fresh:
            return self._login_form(start_response, next_=next_, status="403 Forbidden",
                                    error="That form was used already: please log in again.")
        if locked is not None:
            log.warning("dashboard login refused: locked after failed logins")
            wait = max(1, int(locked.timestamp() - now))
            return self._login_form(start_response, next_=next_, status="429 Too Many Requests",
                                    headers=[("Retry-After", str(wait))],
                                    error=f"Too many failed logins: logging in is locked for {-(-wait // 60)} more "
                                          "minute(s). Try again later.")
        if not verify_password(password, stored):
            with self.database.unit_of_work() as repo:
                store = AuthStore(repo)
                until = [store.failed(kind, key, _utc(now), self.throttle) for kind, key in keys]
            log.info("dashboard login failed", extra={"operator": name if stored else None})
            if any(until):
                log.warning("dashboard login locked after failed logins",
                            extra={"operator": name if stored else None,
                                   "locked": sorted(kind for (kind, _), u in zip(keys, until) if u)})
            return self._login_form(start_response, next_=next_, status="401 Unauthorized",
                                    error="The name or the password is not right.")
        sid = new_session_id()
        with self.database.unit_of_work() as repo:
            store = AuthStore(repo)
            store.clear(keys[0][1])  # the name's failures; the address's run out by themselves
            store.open_session(sid, name, _utc(now))
        log.info("dashboard login", extra={"operator": name})
        cookie = self.signer.session_cookie(name, stored, now=now, sid=sid)
        return self._redirect(start_response, next_, headers=[
            self._cookie(SESSION_COOKIE, cookie, SESSION_TTL_S), self._cookie(LOGIN_COOKIE, "", 0)])

    def _logout(self, req: Request, start_response, session: Session):
        """End the session server-side (a replayed cookie is refused from now on) and in the browser."""
        if req.method != "POST":
            return self._page(start_response, "error.html", status="405 Method Not Allowed", message="POST to log out")
        token = req.form().get("token") or ""
        now = time.time()
        if req.cross_site() or not self.signer.check_form_token("logout", req.cookie(SESSION_COOKIE), token,
                                                                  now=now):
            return self._page(start_response, "error.html", status="403 Forbidden",
                              message="That logout did not come from this dashboard.")
        with self.database.unit_of_work() as repo:
            store = AuthStore(repo)
            store.purge(_utc(now))
            store.use_token(token, _utc(now))  # used once; the session it is bound to ends here anyway
            store.end_session(session.sid)
        log.info("dashboard logout", extra={"operator": session.name})
        return self._redirect(start_response, f"{PREFIX}/login", headers=[self._cookie(SESSION_COOKIE, "", 0)])

    def _common(self, req: Request, operator: str, **context) -> dict:
        return dict(operator=operator, logout_token=self.signer.form_token("logout", req.cookie(SESSION_COOKIE),
                                                                           ttl_s=LOGOUT_TOKEN_TTL_S),
                    **context)

    # ---- pages ----------------------------------------------------------------------------------------------------

    def _sessions(self, req: Request, start_response, operator: str):
        q, brin, vendor, result = (req.query(n) for n in ("q", "brin", "vendor", "result"))
        status_filter = result if result in STATUSES else ""
        flt = SessionFilter(q=q, brin=brin, vendor=vendor, result="" if status_filter else result)
        searched = any((q, brin, vendor, result))
        with self.database.unit_of_work(readonly=True) as repo:
            groups = recent_sessions(repo, flt, limit=200 if status_filter else 50)
            # refusals of verified senders, and apart from them those of messages that did not verify, by address:
            # a flood of junk can neither pose as a vendor's failure nor push real rows off this page
            refusals = [] if searched else recent_refusals(repo, limit=10, verified=True)
            unverified = [] if searched else unverified_by_peer(
                repo, datetime.now(timezone.utc) - timedelta(hours=24), limit=10)
        rows = []
        for entries in groups:
            a = assess(entries)
            if status_filter and a.status != status_filter:
                continue
            first = entries[0]
            rows.append(dict(
                sessie_id=first.sessie_id, last=entries[-1].received_at, status=a.status, headline=a.headline,
                actor=a.actor, messages=len(entries),
                doel=next((b for e in entries if (b := e.brin("doelBrin"))), ""),
                bron=next((b for e in entries if (b := e.brin("bronBrin"))), ""),
                vendors=sorted({e.vendor or e.signer_oin for e in entries if e.signer_oin}),
            ))
        return self._page(start_response, "sessions.html", **self._common(
            req, operator, rows=rows[:50], refusals=refusals, unverified=unverified,
            search=dict(q=q, brin=brin, vendor=vendor, result=result), searched=searched))

    def _trace(self, req: Request, start_response, operator: str):
        ident = req.query("id")
        with self.database.unit_of_work(readonly=True) as repo:
            entries = transfer(repo, ident) if ident else []
            shown = {(e.received_at, e.request_sha256) for e in entries}
            claimed = [e for e in (unverified_refusals(repo, ident) if ident else [])
                       if (e.received_at, e.request_sha256) not in shown]
        a = assess(entries)
        status = "200 OK" if entries or claimed or not ident else "404 Not Found"
        return self._page(start_response, "trace.html", status=status, **self._common(
            req, operator, ident=ident, entries=entries, assessment=a, claimed=claimed,
            sessies=sorted({e.sessie_id for e in entries if e.sessie_id})))

    def _failures(self, req: Request, start_response, operator: str):
        try:
            days = min(max(int(req.query("days", "14")), 1), 90)
        except ValueError:
            days = 14
        now = datetime.now(timezone.utc)
        since = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), timezone.utc)
        with self.database.unit_of_work(readonly=True) as repo:
            failures = failures_since(repo, since, verified=True)
            unverified = unverified_per_day(repo, [now.date() - timedelta(days=i) for i in range(days)])
        by_vendor = charts.stack_by_day(
            failures, title=f"Failures per vendor, last {days} days", when=lambda e: e.received_at,
            key=lambda e: e.vendor or (f"unregistered {e.signer_oin}" if e.signer_oin else "unknown sender"),
            days=days, today=now.date())
        by_rule = charts.stack_by_day(
            failures, title=f"Failures per rule or result code, last {days} days", when=lambda e: e.received_at,
            key=lambda e: e.outcome, days=days, today=now.date())
        return self._page(start_response, "failures.html", **self._common(
            req, operator, days=days, total=len(failures), unverified=[u for u in unverified if u[1] or u[2]],
            unverified_total=sum(u[1] + u[2] for u in unverified), unverified_days=UNVERIFIED_RETENTION_DAYS,
            charts=[
                dict(id="by-vendor", chart=by_vendor, svg=charts.svg(by_vendor, chart_id="by-vendor"),
                     legend=charts.legend(by_vendor), rows=charts.table_rows(by_vendor), what="Vendor"),
                dict(id="by-rule", chart=by_rule, svg=charts.svg(by_rule, chart_id="by-rule"),
                     legend=charts.legend(by_rule), rows=charts.table_rows(by_rule), what="Rule or result"),
            ]))

    def _register(self, req: Request, start_response, operator: str):
        with self.database.unit_of_work(readonly=True) as repo:
            vendors, schools, points = repo.list_vendors(), repo.list_schools(), repo.list_aanleverpunten()
        names = {(s.brin, s.vestiging): s.naam for s in schools}
        per_vendor = {v.oin: [p for p in points if p.vendor_oin == v.oin] for v in vendors}
        return self._page(start_response, "register.html", **self._common(
            req, operator, vendors=vendors, per_vendor=per_vendor, points=points, names=names,
            schools=len(schools)))

    def _health(self, req: Request, start_response, operator: str):
        db_ok = self.database.health()
        revision, journal = None, None
        if db_ok:
            revision = self.database.revision()
            with self.database.unit_of_work(readonly=True) as repo:
                journal = stats(repo)
        hk = self.housekeeper
        trust = self.trust
        crl = trust.crl_status() if trust is not None else None
        return self._page(start_response, "health.html", **self._common(
            req, operator, db_ok=db_ok, backend=self.database.backend, revision=revision, journal=journal,
            crl=crl, crl_interval=trust.reload_interval if trust is not None else None,
            unverified_days=UNVERIFIED_RETENTION_DAYS,
            retention=self.config.journal_retention_days, journal_on=bool(self.config.journal),
            last_purge=hk.last_run if hk else None, last_removed=hk.last_removed if hk else None,
            pid=os.getpid(), multiproc=bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")),
            services=sorted(getattr(self, "services", ()))))


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
