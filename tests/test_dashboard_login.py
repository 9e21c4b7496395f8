"""The dashboard's login protection: failed logins counted per operator name and per client address in the database
(so every worker process sees them), a lockout after too many (answered at once, no password checked, nothing
sleeps), single-use form tokens, and sessions kept server-side so that logout ends them (a cookie replayed after
logout is refused). Two gateway apps on one database stand for two gunicorn workers: they share nothing else."""

from __future__ import annotations

import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select, update

from gateway.commands import main
from gateway.config import Config
from gateway.store import Database
from gateway.store.journal import operator_hash
from gateway.store.journal_models import DashboardAuthRow
from gateway.web import dashboard as dashboard_module
from gateway.web.app import GatewayApp
from gateway.web.auth import (ACCOUNT_FAILURES, ADDRESS_FAILURES, FAILURE_WINDOW_S, LOCKOUT_S, AuthStore, Signer,
                              Throttle, client_address, load_or_make_key, token_expires)

from .conftest import free_port
from .harness import serve, stop

PASSWORD = "correct horse battery staple"


class Worker:
    """One gateway app (its own Database object, engine and Signer) on the shared database file, on its own port."""

    def __init__(self, pki, url: str, key: str):
        gw = pki.gateway
        self.port = free_port()
        config = Config(port=self.port, cert=str(gw.cert_path), key=str(gw.key_path), ca=str(pki.ca),
                        crl=str(pki.crl), database_url=url, dashboard_key=key)
        self.database = Database(url)
        self.app = GatewayApp(config, database=self.database)
        self.server = serve(self.app, self.port)
        self.base = f"http://127.0.0.1:{self.port}/dashboard"

    def stop(self):
        stop(self.server)
        self.database.dispose()


@pytest.fixture
def workers(pki, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    db = Database(url)
    db.migrate()
    for name in ("ops", "ops2"):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert main(["operator", "add", name, "--password-stdin", "--database", url]) == 0
    db.dispose()
    running = [Worker(pki, url, str(tmp_path / "dashboard.key")) for _ in range(2)]
    yield running
    for w in running:
        w.stop()


def form(s: requests.Session, base: str) -> str:
    page = s.get(base + "/login", timeout=10)
    assert page.status_code == 200
    return re.search(r'name="token" value="([^"]+)"', page.text).group(1)


def post_login(s: requests.Session, base: str, token: str, name="ops", password=PASSWORD) -> requests.Response:
    return s.post(base + "/login", data={"token": token, "name": name, "password": password, "next": "/dashboard/"},
                  allow_redirects=False, timeout=30)


def attempt(base: str, name="ops", password=PASSWORD) -> requests.Response:
    """A whole login from a new browser: the form, then its POST."""
    s = requests.Session()
    return post_login(s, base, form(s, base), name, password)


def session_cookie(r: requests.Response) -> str | None:
    m = re.search(r"oso_dashboard=([^;]+);", r.headers.get("Set-Cookie", ""))
    return m.group(1) if m and m.group(1) else None


def rows(database) -> list[DashboardAuthRow]:
    with database.unit_of_work(readonly=True) as repo:
        return list(repo.session.scalars(select(DashboardAuthRow)))


def test_the_numbers_are_the_documented_ones():
    from pathlib import Path

    assert (ACCOUNT_FAILURES, ADDRESS_FAILURES, FAILURE_WINDOW_S, LOCKOUT_S) == (5, 20, 900, 900)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "servicedesk.md").read_text(encoding="utf-8")
    assert "5 failed logins" in doc and "20 failed logins" in doc and "15 minutes" in doc


def test_a_form_token_is_good_once(workers):
    a, b = workers
    s = requests.Session()
    token = form(s, a.base)
    nonce = s.cookies.get("oso_dashboard_login")
    assert post_login(s, a.base, token, password="not the password").status_code == 401
    replay = requests.Session()  # the same cookie and token again, now with the right password: refused
    replay.cookies.set("oso_dashboard_login", nonce, path="/dashboard")
    again = post_login(replay, a.base, token)
    assert again.status_code == 403 and "used already" in again.text and session_cookie(again) is None
    s = requests.Session()
    token = form(s, a.base)
    ok = post_login(s, a.base, token)
    assert ok.status_code == 303 and session_cookie(ok)
    again = post_login(s, b.base, token)  # the same POST once more, in the other worker
    assert again.status_code == 403 and session_cookie(again) is None


def test_a_login_form_replayed_in_another_worker_is_refused(workers):
    """The browser's login cookie and token, used in worker A, then sent again (as an attacker who captured the
    POST would) to worker B: B refuses it, as the use is recorded in the database."""
    a, b = workers
    s = requests.Session()
    token = form(s, a.base)
    nonce = s.cookies.get("oso_dashboard_login")
    assert post_login(s, a.base, token).status_code == 303
    replay = requests.Session()
    replay.cookies.set("oso_dashboard_login", nonce, path="/dashboard")
    r = post_login(replay, b.base, token)
    assert r.status_code == 403 and session_cookie(r) is None
    # an expired token is refused even before it was used (its expiry is part of its MAC)
    signer = Signer(load_or_make_key(a.app.config.dashboard_key))
    assert token_expires(token) - time.time() <= 15 * 60 + 5
    old = signer.form_token("login", nonce, now=time.time() - 16 * 60)
    assert not signer.check_form_token("login", nonce, old)
    forged = str(token_expires(token) + 3600) + "." + token.split(".")[1]  # a later expiry under the same MAC
    assert not signer.check_form_token("login", nonce, forged)


def test_five_failures_lock_the_account_in_every_worker_without_checking_the_password(workers, monkeypatch):
    a, b = workers
    checked = []
    real = dashboard_module.verify_password
    monkeypatch.setattr(dashboard_module, "verify_password", lambda p, h: checked.append(1) or real(p, h))
    for i in range(ACCOUNT_FAILURES):  # alternately in the two workers
        r = attempt((a, b)[i % 2].base, password=f"guess {i}")
        assert r.status_code == 401 and "not right" in r.text
    assert len(checked) == ACCOUNT_FAILURES
    for w in (a, b):
        r = attempt(w.base)  # the right password now: still locked
        assert r.status_code == 429 and "locked" in r.text and session_cookie(r) is None
        assert 0 < int(r.headers["Retry-After"]) <= LOCKOUT_S
    assert len(checked) == ACCOUNT_FAILURES  # a locked login checks no password
    # answered at once: no sleep, no scrypt (a 0.5 s sleep per try would take 10 s here)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: attempt((a, b)[i % 2].base, password="x" * 12).status_code, range(20)))
    assert codes == [429] * 20 and time.perf_counter() - t0 < 8
    # another operator, from the same address, is not locked by ops's failures
    assert attempt(b.base, name="ops2").status_code == 303
    # the name typed is not stored: only keyed digests
    for row in rows(a.database):
        assert "ops" not in row.key and row.operator in (None, "ops2")
    # when the lockout has passed, ops logs in again (its failures are forgotten)
    with a.database.unit_of_work() as repo:
        past = datetime.now(timezone.utc) - timedelta(seconds=1)
        repo.session.execute(update(DashboardAuthRow).where(DashboardAuthRow.kind == "account")
                             .values(locked_until=past, since=past - timedelta(seconds=FAILURE_WINDOW_S)))
    assert attempt(a.base).status_code == 303
    assert not [r for r in rows(a.database) if r.kind == "account" and r.failures]


def test_failures_from_one_address_lock_that_address_for_every_name(workers):
    a, b = workers
    for w in workers:
        w.app.dashboard.throttle = Throttle(address_failures=6)  # 20 by default; fewer scrypt runs in this test
    typed = [f"nobody{i}-Tr0ub4dor&3" for i in range(6)]  # one failure each: no name reaches its own limit
    for i, name in enumerate(typed):
        assert attempt((a, b)[i % 2].base, name=name, password="a wrong password").status_code == 401
    r = attempt(a.base, name="ops2")  # a real operator, the right password, from the locked address
    assert r.status_code == 429 and session_cookie(r) is None
    address = [r for r in rows(a.database) if r.kind == "address"]
    assert len(address) == 1 and address[0].failures == 6 and address[0].locked_until is not None
    text = " ".join(f"{r.key} {r.operator}" for r in rows(a.database))
    assert not any(name in text or "Tr0ub4dor" in text for name in typed)


def test_logout_ends_the_session_server_side_in_every_worker(workers):
    a, b = workers
    s = requests.Session()
    r = post_login(s, a.base, form(s, a.base))
    cookie = session_cookie(r)
    assert r.status_code == 303 and cookie
    for w in workers:  # the cookie is good in both workers
        assert requests.get(w.base + "/register", cookies={"oso_dashboard": cookie}, allow_redirects=False,
                            timeout=10).status_code == 200
    page = s.get(b.base + "/register", timeout=10)
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    out = s.post(b.base + "/logout", data={"token": token}, allow_redirects=False, timeout=10)
    assert out.status_code == 303 and out.headers["Location"] == "/dashboard/login"
    for w in workers:  # replayed after logout: refused everywhere
        r = requests.get(w.base + "/register", cookies={"oso_dashboard": cookie}, allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"].startswith("/dashboard/login")
    assert not [r for r in rows(a.database) if r.kind == "session"]
    # a cookie signed with the dashboard key but naming no open session (e.g. made before this version) is refused
    signer = Signer(load_or_make_key(a.app.config.dashboard_key))
    with a.database.unit_of_work(readonly=True) as repo:
        stored = operator_hash(repo, "ops")
    forged = signer.session_cookie("ops", stored)
    assert signer.read_session(forged, lambda n: stored) is not None  # valid MAC, fingerprint and age
    assert requests.get(a.base + "/register", cookies={"oso_dashboard": forged}, allow_redirects=False,
                        timeout=10).status_code == 303


def test_in_chromium_a_locked_login_and_a_logout_that_ends_the_session(workers):
    """A real browser (Debian's chromium over the DevTools protocol; a missing one fails the test): five wrong
    passwords, then the right one is refused with the lockout message; once the lockout has passed, the operator
    logs in, logs out, and the session cookie the browser had is refused when sent again."""
    from .cdp import Chromium, chromium_path

    assert chromium_path(), "Debian's chromium is needed (make system-deps installs it)"
    a, _ = workers
    browser = Chromium()
    try:
        browser.goto(a.base + "/login")
        for i in range(ACCOUNT_FAILURES + 1):  # each answer is a new form with a new token
            browser.fill("#name", "ops")
            browser.fill("#password", PASSWORD if i == ACCOUNT_FAILURES else f"wrong password {i}")
            browser.click("form.login button[type=submit]")
        assert "/dashboard/login" in browser.url
        assert "Too many failed logins" in browser.js("document.querySelector('p.error').innerText")
        with a.database.unit_of_work() as repo:  # 15 minutes later
            past = datetime.now(timezone.utc) - timedelta(seconds=1)
            repo.session.execute(update(DashboardAuthRow).where(DashboardAuthRow.locked_until.is_not(None))
                                 .values(locked_until=past, since=past - timedelta(seconds=FAILURE_WINDOW_S)))
        browser.fill("#name", "ops")
        browser.fill("#password", PASSWORD)
        browser.click("form.login button[type=submit]")
        assert browser.url.startswith(a.base + "/"), browser.text
        cookies = browser.call("Network.getCookies", session=True, urls=[a.base + "/"])["cookies"]
        [cookie] = [c["value"] for c in cookies if c["name"] == "oso_dashboard"]
        assert requests.get(a.base + "/register", cookies={"oso_dashboard": cookie}, allow_redirects=False,
                            timeout=10).status_code == 200
        browser.click("form.logout button")
        assert "/dashboard/login" in browser.url
        assert requests.get(a.base + "/register", cookies={"oso_dashboard": cookie}, allow_redirects=False,
                            timeout=10).status_code == 303
    finally:
        browser.close()


# ---- the store, on SQLite and PostgreSQL ----------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_auth_store_counts_locks_and_expires(database):
    t = Throttle(account_failures=3, address_failures=5, window_s=60, lockout_s=120)
    now = _now()
    with database.unit_of_work() as repo:
        store = AuthStore(repo)
        assert [store.failed("account", "k1", now, t) for _ in range(2)] == [None, None]
        until = store.failed("account", "k1", now, t)
        assert until == now + timedelta(seconds=120)
        assert store.locked_until([("account", "k1"), ("address", "k2")], now) == until
        assert store.locked_until([("account", "k1")], now + timedelta(seconds=121)) is None
        # failures spread over more than the window do not add up
        assert store.failed("address", "k2", now, t) is None
        assert store.failed("address", "k2", now + timedelta(seconds=61), t) is None
        row = repo.session.get(DashboardAuthRow, "k2")
        assert row.failures == 1
        # a token is good once; a session is open until it is ended
        token = f"{int(now.timestamp()) + 60}.mac"
        assert store.use_token(token, now) and not store.use_token(token, now)
        store.open_session("sid-1", "ops", now)
        assert store.session_open("sid-1", "ops", now) and not store.session_open("sid-1", "other", now)
        assert not store.session_open("sid-2", "ops", now) and not store.session_open("", "ops", now)
        assert store.end_session("sid-1") and not store.session_open("sid-1", "ops", now)
        # expired rows go
        assert store.purge(now + timedelta(days=1)) >= 2
        assert repo.session.get(DashboardAuthRow, "k1") is None


def test_concurrent_failures_are_all_counted(database):
    """Eight threads, each with its own connection and transaction, count one failure each for one name."""
    t = Throttle(account_failures=100)
    now = _now()
    barrier = threading.Barrier(8)

    def fail(_):
        barrier.wait(timeout=30)
        with database.unit_of_work() as repo:
            return AuthStore(repo).failed("account", "same", now, t)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fail, range(8)))
    with database.unit_of_work(readonly=True) as repo:
        assert repo.session.get(DashboardAuthRow, "same").failures == 8


def test_client_addresses():
    assert client_address("192.0.2.7") == "192.0.2.7"
    assert client_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_address("2001:db8:1:2:3:4:5:6") == client_address("2001:db8:1:2:ff::1") == "2001:db8:1:2::/64"
    assert client_address(None) == "unknown"
