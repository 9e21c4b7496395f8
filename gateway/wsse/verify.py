"""Verifying a signed message of the WUS profile: raw bytes in, a VerifiedMessage out, or one typed refusal.

The checks run in the order of wus-profile.md: size and safe parsing → structure → algorithms → digests and
signature → coverage by position → certificate → freshness → addressing → replay (recorded last, so a message
refused for any reason can be sent again once corrected). Nothing is parsed twice: one tree, one canonical form
per referenced element. The steps themselves are the named checks of ``gateway.wsse.checks``; this module composes
them, stopping at the first refusal (``gateway.wsse.diagnose`` runs them one by one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from lxml import etree

from . import checks, ns
from .checks import S_FAULT, Parts
from .errors import InvalidSecurity
from .policy import Policy
from .replay import ReplayStore
from .trust import TrustStore
from .xmlparse import parse_untrusted

__all__ = ["VerifiedMessage", "verify", "verify_response", "verify_response_without_request"]


@dataclass(frozen=True)
class VerifiedMessage:
    """What verification established. ``body`` is the Body's one child, the element a service may read."""

    envelope: etree._Element
    body: etree._Element
    certificate: x509.Certificate
    oin: str
    action: str
    message_id: str
    to: str | None
    relates_to: str | None
    from_address: str | None
    created: datetime
    expires: datetime | None
    signature_value: str
    confirmations: tuple[str, ...]
    digest_algorithm: str
    signature_algorithm: str

    @property
    def is_fault(self) -> bool:
        return self.body.tag == S_FAULT


@dataclass
class _Signed:
    certificate: x509.Certificate
    referenced: list[etree._Element]
    signature_value: str
    digest_algorithm: str
    signature_algorithm: str


def _signature(parts: Parts, ids: dict[str, etree._Element], policy: Policy) -> _Signed:
    si = checks.signed_info(parts.signature, policy)
    cert, public_key = checks.key_info(si.key_info, parts.bst)
    # References: algorithms first, for all of them, then the digests.
    checks.reference_count(parts, len(si.references))
    seen: set[str] = set()
    references = [checks.reference(ref, ids, policy, seen) for ref in si.references]
    for ref in references:
        checks.check_digest(ref)
    checks.check_signature_value(si, public_key)
    return _Signed(
        cert,
        [r.target for r in references],
        "".join((si.signature_value.text or "").split()),
        "/".join(sorted({r.digest_name for r in references})),
        ns.SIGNATURES[si.method],
    )


def _coverage(parts: Parts, referenced: list[etree._Element], *, response: bool) -> None:
    """The elements in their required places are the very elements the references point at (WB004)."""
    errors = checks.coverage_errors(parts, referenced)
    if errors:
        raise errors[0]


def _freshness(created: datetime, expires: datetime | None, now: datetime, policy: Policy) -> None:
    errors = checks.freshness_errors(created, expires, now, policy)
    if errors:
        raise errors[0]


def _verify(data: bytes, policy: Policy, trust: TrustStore, now: datetime | None, *, response: bool):
    # every bound of policy.limits holds before anything is canonicalised or digested (docs/limits.md)
    root = parse_untrusted(data, limits=policy.limits)
    parts = checks.structure(root)
    created, expires = checks.timestamp(parts.timestamp)
    ids = checks.element_ids(root)
    signed = _signature(parts, ids, policy)
    _coverage(parts, signed.referenced, response=response)

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    oin = trust.check(signed.certificate, now)

    _freshness(created, expires, now, policy)
    action = checks.action(parts, policy)
    message_id = checks.message_id(parts)
    from_ = checks.from_address(parts, oin)
    checks.reply_to(parts)
    skew = policy.clock_skew

    def until() -> datetime:
        # From this moment on the freshness checks above refuse the message, so the replay store may forget it.
        # The earlier of the two limits: a far-future Expires neither keeps entries forever nor overflows.
        latest = created + policy.max_age
        if expires is not None and expires < latest:
            latest = expires
        return latest + skew

    vm = VerifiedMessage(
        envelope=root,
        body=parts.payload,
        certificate=signed.certificate,
        oin=oin,
        action=action,
        message_id=message_id,
        to=checks.to(parts, response=response),
        relates_to=checks.relates_to(parts, required=False),
        from_address=from_,
        created=created,
        expires=expires,
        signature_value=signed.signature_value,
        confirmations=tuple(c.get("Value") for c in parts.confirmations),
        digest_algorithm=signed.digest_algorithm,
        signature_algorithm=signed.signature_algorithm,
    )
    return vm, now, until()


def _replay(replay: ReplayStore | None, vm: VerifiedMessage, until: datetime, now: datetime) -> None:
    if replay is not None and not replay.remember(vm.message_id, until, now):
        raise InvalidSecurity("GW-REPLAY", "this MessageID was accepted before: a replayed message")


def verify(
    data: bytes,
    *,
    policy: Policy,
    trust: TrustStore,
    replay: ReplayStore | None = None,
    soap_action: str | None = None,
    now: datetime | None = None,
) -> VerifiedMessage:
    """Verify a signed request. ``soap_action`` is the HTTP SOAPAction header as received (quotes and all)."""
    vm, now, until = _verify(data, policy, trust, now, response=False)
    checks.check_to(vm.to, policy)
    checks.check_soap_action(soap_action, vm.action)
    _replay(replay, vm, until, now)
    return vm


def verify_response(
    data: bytes,
    *,
    request_message_id: str,
    request_signature_value: str,
    policy: Policy,
    trust: TrustStore,
    replay: ReplayStore | None = None,
    now: datetime | None = None,
    allow_unbound_fault: bool = False,
) -> VerifiedMessage:
    """Verify a signed response to a request we sent: RelatesTo is our MessageID and a SignatureConfirmation
    carries our SignatureValue (WB014).

    A signed Fault must relate to our request too: one that names no request could be any Fault of that peer,
    captured and swapped in for the answer. Its SignatureConfirmation may be missing (the peer could not read our
    signature), but when present it must be ours. ``allow_unbound_fault`` is for judging a Fault on its own (the
    servicedesk, tests), never for a client waiting for its answer."""
    vm, now, until = _verify(data, policy, trust, now, response=True)
    checks.check_relates_to(vm.relates_to, request_message_id, is_fault=vm.is_fault,
                            allow_unbound_fault=allow_unbound_fault)
    checks.check_confirmation(vm.confirmations, request_signature_value, is_fault=vm.is_fault)
    _replay(replay, vm, until, now)
    return vm


def verify_response_without_request(
    data: bytes,
    *,
    policy: Policy,
    trust: TrustStore,
    now: datetime | None = None,
) -> VerifiedMessage:
    """Judge a signed response on its own, when the request it answers is not at hand (the ``verify`` and
    ``diagnose`` commands without ``--response-to``): everything ``verify_response`` checks, wsa:RelatesTo present
    and a SignatureConfirmation present (unless a Fault), EXCEPT that RelatesTo is the request's MessageID and the
    confirmation carries the request's SignatureValue. The caller must say those were not checked.

    Never for a client waiting for its answer: a response not bound to the request proves nothing about it. No
    replay store: a tool judging a file remembers nothing."""
    vm, _now, _until = _verify(data, policy, trust, now, response=True)
    if vm.relates_to is None:
        checks.check_relates_to(None, "", is_fault=vm.is_fault)
    checks.check_confirmation_present(vm.confirmations, is_fault=vm.is_fault)
    return vm
