"""The zoeksleutel and pgnfrag: how a pupil is named in the chain without the PGN ever travelling in clear.

**Project choice** (the chain's algorithm is not public; docs/zoeksleutel.md explains the reasoning):

    mac         = HMAC-SHA256( K, "oso-zoeksleutel/v1" 0x00 bron_brin 0x00 doel_brin 0x00 pgn )
    zoeksleutel = base64( 0x01 || len(kid) || kid || mac )                     (standard base64, with padding)
    pgnfrag     = four digits: int( HMAC-SHA256( K, "oso-pgnfrag/v1" 0x00 bron_brin 0x00 doel_brin 0x00 pgn )[:4] )
                  mod 10000, zero-padded

``K`` is a chain key (32 random bytes) that the qualified vendors hold and that never travels in a message; ``kid``
names it, so keys can be rotated (a source keeps the previous key during a changeover). Without ``K`` a captured
request tells nothing about the PGN: the 10^9 candidate BSNs cannot be tried. The BRINs of both schools are in both
MACs, so the same pupil has unrelated values in transfers between different schools.

The pgnfrag is a short check value from the same inputs: it holds no digit of the PGN and, without ``K``, reveals
nothing of it; with ``K`` it reveals nothing the zoeksleutel does not. It still names a pupil between two schools
(like the zoeksleutel), so it is pupil data: never journalled, logged or shown.

A source matches a zoeksleutel by computing it for each of its pupils (one HMAC per pupil: ~1 µs) and comparing in
constant time; the pgnfrag must match too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TypeVar

from . import identifiers as ids

VERSION = 1
_LABEL = b"oso-zoeksleutel/v1"
_FRAG_LABEL = b"oso-pgnfrag/v1"
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
PGN_KINDS = ("BSN", "ONR")

T = TypeVar("T")


class ZoeksleutelError(ValueError):
    pass


@dataclass(frozen=True)
class ChainKey:
    kid: str
    secret: bytes = field(repr=False)

    def __post_init__(self):
        if not _KID.fullmatch(self.kid):
            raise ZoeksleutelError("a key id is 1-32 letters, digits, '-' or '_'")
        if len(self.secret) < 32:
            raise ZoeksleutelError("a chain key is at least 32 bytes")

    @classmethod
    def generate(cls, kid: str) -> "ChainKey":
        return cls(kid, secrets.token_bytes(32))

    def to_text(self) -> str:
        """One line, ``kid:base64``, as kept in a key file (mode 0600)."""
        return f"{self.kid}:{base64.b64encode(self.secret).decode()}\n"

    @classmethod
    def from_text(cls, text: str) -> "ChainKey":
        try:
            kid, b64 = text.strip().split(":", 1)
            return cls(kid, base64.b64decode(b64, validate=True))
        except (ValueError, TypeError) as exc:
            raise ZoeksleutelError(f"not a chain key (kid:base64): {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "ChainKey":
        return cls.from_text(Path(path).read_text(encoding="ascii"))


def pgn_kind(pgn: str) -> str:
    """BSN when it passes the elfproef, else ONR when it passes the onderwijsnummer check (test numbers that pass
    neither are taken as BSN)."""
    if ids.bsn_elfproef(pgn):
        return "BSN"
    if ids.onderwijsnummer_check(pgn):
        return "ONR"
    if len(pgn) == 9 and pgn.isdigit():
        return "BSN"
    raise ZoeksleutelError("a PGN is nine digits")


def _mac(key: ChainKey, label: bytes, bron_brin: str, doel_brin: str, pgn: str) -> bytes:
    msg = b"\x00".join((label, bron_brin.encode(), doel_brin.encode(), pgn.encode()))
    return hmac.new(key.secret, msg, hashlib.sha256).digest()


def _frag(key: ChainKey, bron_brin: str, doel_brin: str, pgn: str) -> str:
    return f"{int.from_bytes(_mac(key, _FRAG_LABEL, bron_brin, doel_brin, pgn)[:4], 'big') % 10000:04d}"


def maak(key: ChainKey, *, pgn: str, bron_brin: str, doel_brin: str) -> tuple[str, str]:
    """The (zoeksleutel, pgnfrag) a target sends for a pupil it asks ``bron_brin`` for."""
    if not (len(pgn) == 9 and pgn.isdigit()):
        raise ZoeksleutelError("a PGN is nine digits")
    kid = key.kid.encode()
    raw = bytes((VERSION, len(kid))) + kid + _mac(key, _LABEL, bron_brin, doel_brin, pgn)
    return base64.b64encode(raw).decode(), _frag(key, bron_brin, doel_brin, pgn)


def _parse(zoeksleutel: str) -> tuple[str, bytes] | None:
    """(kid, mac) of a zoeksleutel of this scheme, or None."""
    try:
        raw = base64.b64decode(zoeksleutel, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) < 2 or raw[0] != VERSION or len(raw) != 2 + raw[1] + 32:
        return None
    kid = raw[2:2 + raw[1]].decode("ascii", "replace")
    return (kid, raw[2 + raw[1]:]) if _KID.fullmatch(kid) else None


def zoek(keys: Iterable[ChainKey], zoeksleutel: str, pgnfrag: str, *, bron_brin: str, doel_brin: str,
         pupils: Iterable[tuple[str, T]]) -> T | None:
    """The pupil (the ``T`` paired with its PGN) that ``zoeksleutel`` and ``pgnfrag`` name, or None.

    ``pupils`` are (pgn, pupil) pairs of the source; ``keys`` the chain keys the source holds (current and previous).
    """
    parsed = _parse(zoeksleutel)
    if parsed is None:
        return None
    kid, mac = parsed
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        return None
    found = None
    for pgn, pupil in pupils:
        if not (len(pgn) == 9 and pgn.isdigit()):
            continue
        if hmac.compare_digest(_mac(key, _LABEL, bron_brin, doel_brin, pgn), mac) and \
                hmac.compare_digest(_frag(key, bron_brin, doel_brin, pgn), pgnfrag):
            found = pupil  # no early exit: the time taken does not tell where the pupil stands
    return found
