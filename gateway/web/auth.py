"""The dashboard's accounts and sessions (sans-IO): scrypt password hashes, HMAC-signed session cookies and
login/logout form tokens.

A session cookie is ``base64url(json) "." base64url(HMAC-SHA256(key, "session|" json))``; the JSON holds the
operator's name, when it was issued and a fingerprint of the operator's password hash, so a new password (or a
removed account) ends every session of that operator. The key is a file of 32 random bytes that every worker
reads (``Config.dashboard_key``); a new key ends every session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SESSION_TTL_S = 8 * 3600
MIN_PASSWORD = 12


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


class Signer:
    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def fingerprint(self, password_hash: str) -> str:
        return self._mac("password", password_hash)[:16]

    def session_cookie(self, name: str, password_hash: str, now: float | None = None) -> str:
        payload = _b64(json.dumps({"u": name, "t": int(now or time.time()), "p": self.fingerprint(password_hash)},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def read_session(self, cookie: str | None, password_hash_of, now: float | None = None) -> Session | None:
        """The session a cookie carries, when its MAC, age and password fingerprint hold; else None."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            name, issued, fingerprint = str(data["u"]), int(data["t"]), str(data["p"])
        except (ValueError, KeyError, TypeError):
            return None
        now = now or time.time()
        if not (issued <= now + 60 and now - issued < SESSION_TTL_S):
            return None
        stored = password_hash_of(name)
        if stored is None or not hmac.compare_digest(fingerprint, self.fingerprint(stored)):
            return None
        return Session(name, issued)

    def form_token(self, purpose: str, bound_to: str) -> str:
        """A token for a form, bound to a value only this browser has (a cookie): a forged form lacks it."""
        return self._mac("form:" + purpose, bound_to)

    def check_form_token(self, purpose: str, bound_to: str | None, token: str | None) -> bool:
        return bool(bound_to and token) and hmac.compare_digest(token, self.form_token(purpose, bound_to))
