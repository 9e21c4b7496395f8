"""Identifiers of the chain: BRIN, vestiging, OIN, routeringskenmerk, sessieId, koppelsleutel, BSN and
onderwijsnummer."""

from __future__ import annotations

import re
import uuid

BRIN = re.compile(r"[0-9]{2}[A-Z]{2}")
VESTIGING = re.compile(r"[0-9]{2}")
OIN = re.compile(r"[0-9]{20}")
ROUTERINGSKENMERK = re.compile(r"[0-9A-Z]{20}")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# the TC's koppelsleutel: an upper-case GUID, as in every public example
KOPPELSLEUTEL = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def is_brin(value: str) -> bool:
    return isinstance(value, str) and BRIN.fullmatch(value) is not None


def is_vestiging(value: str) -> bool:
    return isinstance(value, str) and VESTIGING.fullmatch(value) is not None


def is_oin(value: str) -> bool:
    return isinstance(value, str) and OIN.fullmatch(value) is not None


def is_routeringskenmerk(value: str) -> bool:
    return isinstance(value, str) and ROUTERINGSKENMERK.fullmatch(value) is not None


def is_uuid4(value: str) -> bool:
    return isinstance(value, str) and UUID4.fullmatch(value) is not None


def is_koppelsleutel(value: str) -> bool:
    return isinstance(value, str) and KOPPELSLEUTEL.fullmatch(value) is not None


def new_koppelsleutel() -> str:
    """A fresh koppelsleutel: a random GUID (version 4), upper case."""
    return str(uuid.uuid4()).upper()


def school_oin(brin: str) -> str:
    """A school's OIN as the OSR examples show it: ``00000007`` (the BRIN register) + ``000`` + BRIN + ``00000``
    (0000000700000AV00000 for 00AV; the pattern is inferred from the examples, oso-wire.md §3.7)."""
    if not is_brin(brin):
        raise ValueError(f"BRIN {brin!r} is malformed")
    return f"00000007000{brin}00000"


def _digits(value: str) -> list[int] | None:
    if not isinstance(value, str) or len(value) != 9 or not value.isascii() or not value.isdigit():
        return None
    return [int(c) for c in value]


def bsn_elfproef(value: str) -> bool:
    """(9·d1 + 8·d2 + … + 2·d8 − 1·d9) mod 11 = 0, for nine digits (not all zero)."""
    d = _digits(value)
    if d is None or not any(d):
        return False
    return (sum(w * x for w, x in zip(range(9, 1, -1), d[:8])) - d[8]) % 11 == 0


def onderwijsnummer_check(value: str) -> bool:
    """(9·d1 + … + 2·d8) mod 11 = d9 + 5, and it starts with 1."""
    d = _digits(value)
    if d is None or d[0] != 1:
        return False
    return sum(w * x for w, x in zip(range(9, 1, -1), d[:8])) % 11 == d[8] + 5
