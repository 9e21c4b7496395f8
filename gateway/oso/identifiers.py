"""Identifiers of the chain: BRIN, vestiging, OIN, routeringskenmerk, BSN and onderwijsnummer."""

from __future__ import annotations

import re

BRIN = re.compile(r"[0-9]{2}[A-Z]{2}")
VESTIGING = re.compile(r"[0-9]{2}")
OIN = re.compile(r"[0-9]{20}")
ROUTERINGSKENMERK = re.compile(r"[0-9A-Z]{20}")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


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
