"""What a receiver demands of a message: one frozen value, passed in, never read from globals."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from . import ns
from .xmlparse import DEFAULT_LIMITS, Limits

__all__ = ["DOSSIER_MESSAGE_MAX_BYTES", "Limits", "Policy"]

# A message that carries a dossier (a documentResponse): a dossier of up to 128 MiB, attachments included (the
# gateway's own DossierPolicy.max_bytes), and the envelope around it.
DOSSIER_MESSAGE_MAX_BYTES = 129 * 1024 * 1024


@dataclass(frozen=True)
class Policy:
    """The receiving side's settings for ``verify``.

    ``endpoint``: this service's address; a request's ``wsa:To`` must equal it (a ``?oin=`` query on it must then
    carry ``own_oin``). None accepts any To (the ``verify`` command, which knows no endpoint).
    ``actions``: when given, the wsa:Action values this endpoint serves.
    ``limits``: the bounds a message must keep to be parsed at all (``gateway.wsse.xmlparse.Limits``, docs/limits.md);
    ``max_bytes`` and ``max_depth`` are two of them: given here, they override the limits' own, and afterwards they
    always equal ``limits.max_bytes`` and ``limits.max_depth``. To swap the limits of an existing policy use
    ``with_limits`` (``dataclasses.replace(policy, limits=…)`` keeps the old max_bytes and max_depth).
    ``clock_skew``: how far the peer's clock may differ; ``max_age``: how old a Timestamp's Created may be
    (WSS4J's default time-to-live is 300 s).
    """

    endpoint: str | None = None
    own_oin: str | None = None
    actions: frozenset[str] | None = None
    max_bytes: int | None = None
    max_depth: int | None = None
    clock_skew: timedelta = timedelta(seconds=60)
    max_age: timedelta = timedelta(seconds=300)
    require_expires: bool = False
    digest_algorithms: frozenset[str] = field(default_factory=lambda: frozenset(ns.DIGESTS))
    signature_algorithms: frozenset[str] = field(default_factory=lambda: frozenset(ns.SIGNATURES))
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self):
        if not set(self.digest_algorithms) <= set(ns.DIGESTS):
            raise ValueError("only SHA-2 digests may be allowed (SIGN003)")
        if not set(self.signature_algorithms) <= set(ns.SIGNATURES):
            raise ValueError("only RSA with SHA-2 may be allowed (SIGN004)")
        limits = self.limits
        if not isinstance(limits, Limits):
            raise TypeError("limits must be a gateway.wsse.xmlparse.Limits")
        if self.max_bytes is not None and self.max_bytes != limits.max_bytes:
            limits = replace(limits, max_bytes=self.max_bytes)
        if self.max_depth is not None and self.max_depth != limits.max_depth:
            limits = replace(limits, max_depth=self.max_depth)
        object.__setattr__(self, "limits", limits)
        object.__setattr__(self, "max_bytes", limits.max_bytes)
        object.__setattr__(self, "max_depth", limits.max_depth)

    def with_limits(self, limits: Limits) -> Policy:
        """This policy with other limits (their max_bytes and max_depth included)."""
        return replace(self, limits=limits, max_bytes=limits.max_bytes, max_depth=limits.max_depth)

    def carrying_dossier(self) -> Policy:
        """This policy for a message that carries a dossier (the client reading a documentResponse): text nodes
        larger than 10 MB allowed (a dossier's base64 attachments), and room for a dossier of 128 MiB."""
        limits = self.limits
        return self.with_limits(replace(limits, huge_text=True,
                                        max_bytes=max(limits.max_bytes, DOSSIER_MESSAGE_MAX_BYTES)))
