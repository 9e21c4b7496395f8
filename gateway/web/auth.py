"""The dashboard's accounts and sessions: scrypt password hashes, HMAC-signed session cookies, single-use form
tokens, and the login protection every worker process shares through the database.

A session cookie is ``base64url(json) "." base64url(HMAC-SHA256(key, "session|" json))``; the JSON holds the
operator's name, when it was issued, a fingerprint of the operator's password hash (so a new password, or a removed
account, ends every session of that operator) and a random session id. The session id is also kept server-side
(``AuthStore``, table ``dashboard_auth``, only its SHA-256): logout removes it, so the cookie, replayed after logout,
is refused. The key is a file of 32 random bytes that every worker reads (``Config.dashboard_key``); a new key ends
every session.

A form token is ``EXPIRES "." HMAC(key, "form:PURPOSE|" BOUND "|" EXPIRES)``, bound to a value only the browser has (a
cookie): the login form's to a random cookie of its own (15 minutes), the logout form's to the session cookie. A token
is good once: ``AuthStore.use_token`` records it, in the database, and a second use is refused.

Failed logins are counted per operator name and per client address (an IPv6 address by its /64), in the database,
so all worker processes see them (``Throttle``): ``ACCOUNT_FAILURES`` failures of one name, or ``ADDRESS_FAILURES``
from one address, within ``FAILURE_WINDOW_S``, lock that name or address for ``LOCKOUT_S``. A locked login is
answered at once (429, no password is checked); nothing waits or sleeps. The counters are keyed by an HMAC of the
name or address, so a name typed (perhaps a password in the wrong field) is never stored.

``Signer`` and the password functions are sans-IO; ``AuthStore`` reads and writes inside a unit of work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, select

from ..store.journal_models import DashboardAuthRow

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SESSION_TTL_S = 8 * 3600
MIN_PASSWORD = 12
LOGIN_TOKEN_TTL_S = 15 * 60  # a login form is good for 15 minutes, once
LOGOUT_TOKEN_TTL_S = SESSION_TTL_S  # a page's logout form, as long as the session, once
ACCOUNT_FAILURES = 5  # failed logins of one operator name ...
ADDRESS_FAILURES = 20  # ... or from one client address ...
FAILURE_WINDOW_S = 15 * 60  # ... within 15 minutes ...
LOCKOUT_S = 15 * 60  # ... lock that name or address for 15 minutes
PURGE_BATCH = 500


class AuthError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise AuthError("an operator name is 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password has at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; with no stored hash it spends the same time and says no."""
    try:
        kind, n, r, p, salt, digest = (stored or "").split("$")
        if kind != "scrypt":
            raise ValueError
        n, r, p, salt, digest = int(n), int(r), int(p), _unb64(salt), _unb64(digest)
    except ValueError:
        n, r, p, salt, digest = SCRYPT_N, SCRYPT_R, SCRYPT_P, b"\0" * 16, b""
    actual = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024,
                            dklen=32)
    return bool(digest) and hmac.compare_digest(actual, digest)


def load_or_make_key(path: str | Path) -> bytes:
    """The session key in ``path``, made (32 random bytes, mode 0600) when the file does not exist."""
    p = Path(path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    key = bytes.fromhex(p.read_text().strip())
    if len(key) < 32:
        raise AuthError(f"the dashboard key in {p} is shorter than 32 bytes")
    return key


@dataclass(frozen=True)
class Session:
    name: str
    issued: int
    sid: str = ""  # the random session id, kept server-side while the session lasts


class Signer:
    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def fingerprint(self, password_hash: str) -> str:
        return self._mac("password", password_hash)[:16]

    def key_id(self, purpose: str, value: str) -> str:
        """A stable, keyed name for ``value`` (hex): what the database keeps instead of a name or address."""
        return hmac.new(self._key, f"id:{purpose}|{value}".encode(), hashlib.sha256).hexdigest()

    def session_cookie(self, name: str, password_hash: str, now: float | None = None, sid: str | None = None) -> str:
        """A session cookie for ``name``; ``sid`` is its server-side session id (a new random one when None)."""
        payload = _b64(json.dumps({"u": name, "t": int(now or time.time()), "p": self.fingerprint(password_hash),
                                   "s": sid if sid is not None else new_session_id()},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def read_session(self, cookie: str | None, password_hash_of, now: float | None = None) -> Session | None:
        """The session a cookie carries, when its MAC, age and password fingerprint hold; else None. Whether the
        session is still open server-side (not logged out) is ``AuthStore.session_open``'s to say."""
        if not cookie or not cookie.isascii() or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            name, issued, fingerprint = str(data["u"]), int(data["t"]), str(data["p"])
            sid = str(data.get("s") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        now = now or time.time()
        if not (issued <= now + 60 and now - issued < SESSION_TTL_S):
            return None
        stored = password_hash_of(name)
        if stored is None or not hmac.compare_digest(fingerprint, self.fingerprint(stored)):
            return None
        return Session(name, issued, sid)

    def form_token(self, purpose: str, bound_to: str, now: float | None = None,
                   ttl_s: int = LOGIN_TOKEN_TTL_S) -> str:
        """A token for a form, bound to a value only this browser has (a cookie): a forged form lacks it. It expires
        after ``ttl_s``; ``AuthStore.use_token`` makes it good once."""
        expires = int(now or time.time()) + ttl_s
        return f"{expires}.{self._mac('form:' + purpose, f'{bound_to}|{expires}')}"

    def check_form_token(self, purpose: str, bound_to: str | None, token: str | None,
                         now: float | None = None) -> bool:
        """Whether ``token`` is this purpose's token for ``bound_to`` and has not expired (not whether it was used)."""
        expires = token_expires(token)
        if not bound_to or expires is None or expires <= (now or time.time()):
            return False
        return hmac.compare_digest(token, f"{expires}.{self._mac('form:' + purpose, f'{bound_to}|{expires}')}")


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def token_expires(token: str | None) -> int | None:
    """When a form token expires (epoch seconds), or None when it is not shaped like one."""
    if not token or not token.isascii() or token.count(".") != 1 or len(token) > 128:
        return None
    expires, _ = token.split(".")
    return int(expires) if expires.isdigit() and len(expires) <= 12 else None


def client_address(remote_addr: str | None) -> str:
    """The address failed logins are counted for: the IPv4 address, an IPv6 address's /64 (one host has many)."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return (remote_addr or "unknown")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


# ---- the server-side state: sessions, used tokens, failed logins ---------------------------------------------------

@dataclass(frozen=True)
class Throttle:
    """How many failed logins lock a name or an address, within which window, for how long."""

    account_failures: int = ACCOUNT_FAILURES
    address_failures: int = ADDRESS_FAILURES
    window_s: int = FAILURE_WINDOW_S
    lockout_s: int = LOCKOUT_S

    def limit(self, kind: str) -> int:
        return self.account_failures if kind == "account" else self.address_failures


def _digest(kind: str, secret: str) -> str:
    return hashlib.sha256(f"{kind}|{secret}".encode()).hexdigest()


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


class AuthStore:
    """The dashboard's server-side login state in a unit of work's transaction (``Database.unit_of_work``):
    ``AuthStore(repo)``. One table, ``dashboard_auth``, shared by every worker process."""

    def __init__(self, repo):
        self.session = repo.session
        self.dialect = repo.dialect

    def _insert_new(self, **values) -> bool:
        """INSERT … ON CONFLICT DO NOTHING; True when the row is new (as ``Repository.remember``)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = (dialect_insert(DashboardAuthRow.__table__).values(**values).on_conflict_do_nothing()
                .execution_options(preserve_rowcount=True))
        return self.session.execute(stmt).rowcount == 1

    def purge(self, now: datetime, *, limit: int = PURGE_BATCH) -> int:
        """Remove up to ``limit`` rows whose time is past."""
        t = DashboardAuthRow.__table__
        batch = select(t.c.key).where(t.c.expires < now).order_by(t.c.expires).limit(limit)
        if self.dialect == "postgresql":
            batch = batch.with_for_update(skip_locked=True)
        return self.session.execute(delete(t).where(t.c.key.in_(batch))).rowcount

    # -- form tokens --

    def use_token(self, token: str, now: datetime) -> bool:
        """Record a (checked) form token as used; False when it was used before."""
        expires = token_expires(token)
        if expires is None:
            return False
        return self._insert_new(key=_digest("token", token), kind="token", operator=None, failures=0, since=now,
                                locked_until=None, expires=max(_at(expires), now))

    # -- sessions --

    def open_session(self, sid: str, operator: str, now: datetime) -> None:
        self.session.add(DashboardAuthRow(key=_digest("session", sid), kind="session", operator=operator, failures=0,
                                          since=now, locked_until=None,
                                          expires=now + timedelta(seconds=SESSION_TTL_S)))
        self.session.flush()

    def session_open(self, sid: str, operator: str, now: datetime) -> bool:
        """Whether the session ``sid`` of ``operator`` is open (not logged out, not past its time)."""
        if not sid:
            return False
        row = self.session.get(DashboardAuthRow, _digest("session", sid))
        return row is not None and row.kind == "session" and row.operator == operator and row.expires > now

    def end_session(self, sid: str) -> bool:
        t = DashboardAuthRow.__table__
        return self.session.execute(delete(t).where(t.c.key == _digest("session", sid),
                                                    t.c.kind == "session")).rowcount == 1

    # -- failed logins --

    def locked_until(self, keys: list[tuple[str, str]], now: datetime) -> datetime | None:
        """The latest time until which one of ``keys`` ((kind, key id) of the name and of the address) is locked, or
        None when none is locked now."""
        t = DashboardAuthRow.__table__
        found = self.session.execute(select(t.c.locked_until).where(
            t.c.key.in_([key for _, key in keys]), t.c.locked_until.is_not(None), t.c.locked_until > now)).scalars()
        return max(found, default=None)

    def failed(self, kind: str, key: str, now: datetime, throttle: Throttle) -> datetime | None:
        """Count a failed login for ``key`` (kind ``account`` or ``address``); returns until when it is now locked
        (None: not locked). The row is locked while counting (PostgreSQL: FOR UPDATE; SQLite: the write
        transaction), so concurrent failures in several workers are all counted."""
        window = timedelta(seconds=throttle.window_s)
        self._insert_new(key=key, kind=kind, operator=None, failures=0, since=now, locked_until=None,
                         expires=now + window)
        stmt = select(DashboardAuthRow).where(DashboardAuthRow.key == key).execution_options(populate_existing=True)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = self.session.scalars(stmt).one()
        if row.since <= now - window or (row.locked_until is not None and row.locked_until <= now):
            row.failures, row.since, row.locked_until = 0, now, None  # a new window
        row.failures += 1
        if row.locked_until is None and row.failures >= throttle.limit(kind):
            row.locked_until = now + timedelta(seconds=throttle.lockout_s)
        row.expires = max(row.since + window, row.locked_until or row.since)
        self.session.flush()
        return row.locked_until

    def clear(self, key: str) -> None:
        """Forget the failed logins of ``key`` (an operator who logged in)."""
        t = DashboardAuthRow.__table__
        self.session.execute(delete(t).where(t.c.key == key, t.c.kind.in_(("account", "address"))))
