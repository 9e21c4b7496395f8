"""What a receiver demands of a message: one frozen value, passed in, never read from globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from . import ns
from .xmlparse import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH


@dataclass(frozen=True)
class Policy:
    """The receiving side's settings for ``verify``.

    ``endpoint``: this service's address; a request's ``wsa:To`` must equal it (a ``?oin=`` query on it must then
    carry ``own_oin``). None accepts any To (the ``verify`` command, which knows no endpoint).
    ``actions``: when given, the wsa:Action values this endpoint serves.
    ``clock_skew``: how far the peer's clock may differ; ``max_age``: how old a Timestamp's Created may be
    (WSS4J's default time-to-live is 300 s).
    """

    endpoint: str | None = None
    own_oin: str | None = None
    actions: frozenset[str] | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    clock_skew: timedelta = timedelta(seconds=60)
    max_age: timedelta = timedelta(seconds=300)
    require_expires: bool = False
    digest_algorithms: frozenset[str] = field(default_factory=lambda: frozenset(ns.DIGESTS))
    signature_algorithms: frozenset[str] = field(default_factory=lambda: frozenset(ns.SIGNATURES))

    def __post_init__(self):
        if not set(self.digest_algorithms) <= set(ns.DIGESTS):
            raise ValueError("only SHA-2 digests may be allowed (SIGN003)")
        if not set(self.signature_algorithms) <= set(ns.SIGNATURES):
            raise ValueError("only RSA with SHA-2 may be allowed (SIGN004)")
