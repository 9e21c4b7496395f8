"""What a correctly signed message does: it verifies, and verification says exactly what was signed.

Requests (sign_request → verify), responses (sign_response → verify_response: RelatesTo and SignatureConfirmation),
the digest/signature variants of the profile, what exclusive c14n without comments tolerates, the clock, the
addressing checks (To, SOAPAction, From) and replay. Every message here is signed for real with the test PKI.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from gateway.pki import DEFAULT_GATEWAY_OIN
from gateway.wsse import (
    Credentials,
    MemoryReplayStore,
    Policy,
    TrustStore,
    ns,
    sign_envelope,
    sign_request,
    sign_response,
    verify,
    verify_response,
)
from gateway.wsse.errors import (
    AddressingError,
    AddressingHeaderRequired,
    DestinationUnreachable,
    FailedAuthentication,
    InvalidSecurity,
    MessageExpired,
    SecurityError,
    UnsupportedAlgorithm,
)
from tests.conftest import ENDPOINT, OTHER_OIN, VENDOR_OIN
from tests.wsse_helpers import (
    ACTION,
    PAYLOAD,
    PAYLOAD_NS,
    add_reference,
    assert_safe_message,
    c14n,
    envelope,
    fault_envelope,
    ms,
    one,
    q,
    reading,
    resign,
    signature_value,
    tree,
)

SECOND = timedelta(seconds=1)


@dataclass
class Parties:
    vendor: Credentials
    gateway: Credentials
    other: Credentials  # a trusted certificate with another OIN
    trust: TrustStore
    now: datetime

    def request(self, *, creds: Credentials | None = None, now: datetime | None = None, **kwargs) -> bytes:
        kwargs.setdefault("to", ENDPOINT)
        kwargs.setdefault("action", ACTION)
        payload = kwargs.pop("payload", PAYLOAD)
        return sign_request(envelope(payload), creds or self.vendor, now=now or self.now, **kwargs)

    def verify(self, data: bytes, **kwargs):
        kwargs.setdefault("policy", Policy(endpoint=ENDPOINT))
        kwargs.setdefault("replay", MemoryReplayStore())
        kwargs.setdefault("now", self.now)
        return verify(data, trust=self.trust, **kwargs)


@pytest.fixture(scope="module")
def parties(pki) -> Parties:
    vendor = pki.credentials("vendor")
    gateway = pki.credentials("gateway")
    other = pki.credentials("wsse-sv-other-oin", OTHER_OIN)
    return Parties(vendor, gateway, other, pki.trust(), ms(datetime.now(timezone.utc)))


def refused(error: type[SecurityError], rule: str, call, *args, **kwargs) -> SecurityError:
    with pytest.raises(SecurityError) as info:
        call(*args, **kwargs)
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    assert err.rule == rule, str(err)
    assert_safe_message(err)
    return err


# ------------------------------------------------------------------------------------------------ requests


def test_signed_request_verifies_and_says_what_was_signed(parties):
    data = parties.request(message_id="urn:uuid:7d0c1a59-7d52-4a33-9f4e-3b8c0c1d2e01")
    vm = parties.verify(data)

    assert vm.oin == VENDOR_OIN
    assert vm.certificate == parties.vendor.certificate
    assert vm.action == ACTION
    assert vm.message_id == "urn:uuid:7d0c1a59-7d52-4a33-9f4e-3b8c0c1d2e01"
    assert vm.to == ENDPOINT
    assert vm.from_address == f"{ns.WSA_ANONYMOUS}?oin={VENDOR_OIN}"
    assert vm.relates_to is None
    assert vm.confirmations == ()
    assert vm.created == parties.now
    assert vm.expires == parties.now + timedelta(seconds=300)
    assert vm.signature_value == signature_value(data)
    assert (vm.digest_algorithm, vm.signature_algorithm) == ("sha256", "sha256")
    assert not vm.is_fault

    # body is the Body's one child, in place in the verified envelope, with exactly the content signed
    assert vm.body.tag == q(PAYLOAD_NS, "aanvraag")
    assert vm.body.getparent().tag == q(ns.SOAP11, "Body")
    assert vm.body.getparent().getparent() is vm.envelope
    assert c14n(vm.body) == c14n(tree(PAYLOAD))
    assert vm.body.findtext(q(PAYLOAD_NS, "tekst")) == "hallo wereld"


def test_each_request_gets_its_own_message_id(parties):
    a, b = parties.verify(parties.request()), parties.verify(parties.request())
    assert a.message_id.startswith("urn:uuid:") and b.message_id.startswith("urn:uuid:")
    assert a.message_id != b.message_id


@pytest.mark.parametrize(
    "digest, signature",
    [("sha384", "sha384"), ("sha512", "sha512"), ("sha256", "sha512"), ("sha512", "sha256"), ("sha384", "sha256")],
)
def test_sha2_variants_verify(parties, digest, signature):
    data = parties.request(digest=digest, signature=signature)
    root = tree(data)
    assert {m.get("Algorithm") for m in root.iter(q(ns.DS, "DigestMethod"))} == {ns.DIGEST_URI[digest]}
    assert one(root, "//ds:SignatureMethod").get("Algorithm") == ns.SIGNATURE_URI[signature]
    vm = parties.verify(data)
    assert (vm.digest_algorithm, vm.signature_algorithm) == (digest, signature)
    assert vm.oin == VENDOR_OIN


def test_a_policy_may_narrow_the_algorithms(parties):
    policy = Policy(endpoint=ENDPOINT, digest_algorithms=frozenset({ns.DIGEST_URI["sha512"]}))
    assert parties.verify(parties.request(digest="sha512"), policy=policy).digest_algorithm == "sha512"
    refused(UnsupportedAlgorithm, "SIGN003", parties.verify, parties.request(digest="sha256"), policy=policy)


def test_a_policy_cannot_allow_sha1():
    with pytest.raises(ValueError):
        Policy(digest_algorithms=frozenset({"http://www.w3.org/2000/09/xmldsig#sha1"}))
    with pytest.raises(ValueError):
        Policy(signature_algorithms=frozenset({"http://www.w3.org/2000/09/xmldsig#rsa-sha1"}))


def test_a_request_without_from_is_bound_to_the_certificate(parties):
    signed = sign_envelope(envelope(), parties.vendor, to=ENDPOINT, action=ACTION, now=parties.now)
    vm = parties.verify(signed.to_bytes())
    assert vm.from_address is None
    assert vm.oin == VENDOR_OIN
    assert vm.message_id == signed.message_id
    assert vm.signature_value == signed.signature_value


# ------------------------------------------------------------------- what exclusive c14n without comments allows


def test_a_comment_inside_the_signed_body_still_verifies_and_reads_the_same(parties):
    data = parties.request().replace(b"hallo wereld", b"hallo<!-- inserted after signing --> wereld")
    assert b"<!-- inserted after signing -->" in data
    vm = parties.verify(data)
    assert c14n(vm.body) == c14n(tree(PAYLOAD))
    # the reader sees the text that was signed, not the part before the comment
    assert vm.body.findtext(q(PAYLOAD_NS, "tekst")) == "hallo wereld"
    assert reading(vm.body) == reading(tree(PAYLOAD))


def test_comments_anywhere_in_the_envelope_still_verify(parties):
    root = tree(parties.request())
    for element in list(root.iter()):
        if isinstance(element.tag, str):
            element.insert(0, etree.Comment(" c "))
            if element is not root:
                element.addnext(etree.Comment(" t "))
    # a comment splits the Action's text: urn:test:<!-- c -->oso:aanvraag
    action = one(root, "//wsa:Action")
    action.text, action[0].tail = "urn:test:", ACTION[len("urn:test:"):]
    data = etree.tostring(root)
    assert data.count(b"<!--") > 40
    vm = parties.verify(data)
    assert vm.action == ACTION
    assert reading(vm.body) == reading(tree(PAYLOAD))


def test_a_redundant_namespace_declaration_still_verifies(parties):
    data = parties.request().replace(
        b"<m:tekst>", b'<m:tekst xmlns:m="urn:test:oso:aanvraag" xmlns:unused="urn:test:unused">'
    )
    vm = parties.verify(data)
    assert c14n(vm.body) == c14n(tree(PAYLOAD))


def test_an_xml_declaration_and_byte_order_mark_are_fine(parties):
    data = parties.request()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    parties.verify(b"\xef\xbb\xbf" + data)
    parties.verify(data.split(b"?>", 1)[1])


# ---------------------------------------------------------------------------------------------------- clock


@pytest.mark.parametrize(
    "offset, ttl, outcome",
    [
        (timedelta(0), 300, "ok"),
        (timedelta(seconds=299), 300, "ok"),
        (-timedelta(seconds=59), 300, "ok"),  # Created 59 s ahead of us: within the 60 s skew
        (-timedelta(seconds=61), 300, "future"),
        (timedelta(seconds=359), 300, "ok"),  # Expires passed 59 s ago: within the skew
        (timedelta(seconds=361), 300, "stale"),
        (timedelta(seconds=359), None, "ok"),  # no Expires: max_age 300 + skew 60
        (timedelta(seconds=361), None, "stale"),
        (timedelta(seconds=89), 30, "ok"),  # a short Expires counts
        (timedelta(seconds=91), 30, "stale"),
        (timedelta(days=1), 86400 * 7, "stale"),  # a long Expires does not stretch max_age
    ],
)
def test_freshness_window(parties, offset, ttl, outcome):
    created = parties.now
    data = parties.request(now=created, ttl=None if ttl is None else timedelta(seconds=ttl))
    at = created + offset
    if outcome == "ok":
        vm = parties.verify(data, now=at)
        assert vm.created == created
        assert vm.expires == (None if ttl is None else created + timedelta(seconds=ttl))
    else:
        err = refused(MessageExpired, "WB002", parties.verify, data, now=at)
        assert ("future" in err.reason) == (outcome == "future")


def test_clock_skew_and_max_age_come_from_the_policy(parties):
    data = parties.request(ttl=None)
    strict = Policy(endpoint=ENDPOINT, clock_skew=timedelta(0), max_age=timedelta(seconds=10))
    parties.verify(data, policy=strict, now=parties.now + timedelta(seconds=10))
    refused(MessageExpired, "WB002", parties.verify, data, policy=strict, now=parties.now + timedelta(seconds=11))
    refused(MessageExpired, "WB002", parties.verify, data, policy=strict, now=parties.now - SECOND)


def test_expires_may_be_required(parties):
    policy = Policy(endpoint=ENDPOINT, require_expires=True)
    parties.verify(parties.request(), policy=policy)
    refused(InvalidSecurity, "WB002", parties.verify, parties.request(ttl=None), policy=policy)


def test_now_defaults_to_the_real_clock(parties):
    data = parties.request(now=datetime.now(timezone.utc))
    vm = verify(data, policy=Policy(endpoint=ENDPOINT), trust=parties.trust)
    assert vm.oin == VENDOR_OIN
    old = parties.request(now=datetime.now(timezone.utc) - timedelta(hours=1))
    refused(MessageExpired, "WB002", verify, old, policy=Policy(endpoint=ENDPOINT), trust=parties.trust)


def test_a_far_future_expires_neither_crashes_nor_pins_the_replay_store(parties):
    far = datetime(9999, 12, 31, 23, 59, 30, tzinfo=timezone.utc)
    data = parties.request(ttl=far - parties.now)
    store = MemoryReplayStore()
    vm = parties.verify(data, replay=store)
    assert vm.expires == ms(far)
    refused(InvalidSecurity, "GW-REPLAY", parties.verify, data, replay=store)
    # once Created is out of the window the message is refused as stale, so the store may (and does) forget it
    later = parties.now + timedelta(seconds=361)
    refused(MessageExpired, "WB002", parties.verify, data, replay=store, now=later)
    parties.verify(parties.request(now=later), replay=store, now=later)
    assert len(store) == 1


# ----------------------------------------------------------------------------------------------- addressing


def test_to_must_address_this_service(parties):
    parties.verify(parties.request(to=ENDPOINT + "/"))
    refused(DestinationUnreachable, "WSA-TO", parties.verify, parties.request(to="http://localhost:8080/other"))
    refused(DestinationUnreachable, "WSA-TO", parties.verify, parties.request(to="https://localhost:8080/tc"))
    # without an endpoint in the policy (the verify command) any To is taken
    vm = parties.verify(parties.request(to="http://elsewhere/x"), policy=Policy())
    assert vm.to == "http://elsewhere/x"


def test_the_receivers_oin_on_to(parties):
    policy = Policy(endpoint=ENDPOINT, own_oin=DEFAULT_GATEWAY_OIN)
    ours = f"{ENDPOINT}?oin={DEFAULT_GATEWAY_OIN}"
    assert parties.verify(parties.request(to=ours), policy=policy).to == ours
    assert parties.verify(parties.request(to=ENDPOINT), policy=policy).to == ENDPOINT
    for to in (
        f"{ENDPOINT}?oin={OTHER_OIN}",
        f"{ENDPOINT}?oin={OTHER_OIN}&oin={DEFAULT_GATEWAY_OIN}",
        f"{ENDPOINT}?oin={DEFAULT_GATEWAY_OIN}&oin={OTHER_OIN}",
        f"{ENDPOINT}?oin=",
    ):
        refused(DestinationUnreachable, "WSA-TO", parties.verify, parties.request(to=to), policy=policy)


def test_action_must_be_an_operation_of_the_service(parties):
    policy = Policy(endpoint=ENDPOINT, actions=frozenset({ACTION}))
    parties.verify(parties.request(), policy=policy)
    err = refused(AddressingError, "WSA-ACTION", parties.verify, parties.request(action="urn:test:other"),
                  policy=policy)
    assert err.faultcode == (ns.WSA, "ActionNotSupported")
    assert err.dk_code == "0006"


@pytest.mark.parametrize("soap_action", [None, "", '""', ACTION, f'"{ACTION}"', f' "{ACTION}" '])
def test_soapaction_empty_or_equal_to_wsa_action(parties, soap_action):
    assert parties.verify(parties.request(), soap_action=soap_action).action == ACTION


@pytest.mark.parametrize("soap_action", ["urn:test:other", '"urn:test:other"', '"', f"{ACTION}x", f"'{ACTION}'"])
def test_soapaction_mismatch_is_an_error(parties, soap_action):
    err = refused(AddressingError, "WS002", parties.verify, parties.request(), soap_action=soap_action)
    assert err.dk_code == "0003"


def test_from_must_carry_the_oin_of_the_signing_certificate(parties):
    # a trusted certificate, but of another party, claiming to be the vendor
    data = parties.request(creds=parties.other, from_oin=VENDOR_OIN)
    refused(FailedAuthentication, "PKI001", parties.verify, data)
    # the same party telling the truth is fine
    assert parties.verify(parties.request(creds=parties.other)).oin == OTHER_OIN


# --------------------------------------------------------------------------------------------------- replay


def test_a_message_is_accepted_once(parties):
    store = MemoryReplayStore()
    data = parties.request()
    parties.verify(data, replay=store)
    refused(InvalidSecurity, "GW-REPLAY", parties.verify, data, replay=store)
    # the same MessageID in a freshly signed message is a replay too
    again = parties.request(message_id=tree(data).findtext(f".//{q(ns.WSA, 'MessageID')}"))
    refused(InvalidSecurity, "GW-REPLAY", parties.verify, again, replay=store)
    # verification without a store does not remember
    parties.verify(data)
    parties.verify(data)


def test_a_refused_message_is_not_remembered(parties):
    store = MemoryReplayStore()
    data = parties.request()
    refused(AddressingError, "WS002", parties.verify, data, replay=store, soap_action="urn:test:wrong")
    refused(DestinationUnreachable, "WSA-TO", parties.verify, data, replay=store,
            policy=Policy(endpoint="http://localhost:8080/other"))
    refused(MessageExpired, "WB002", parties.verify, data, replay=store, now=parties.now - timedelta(minutes=5))
    assert len(store) == 0
    parties.verify(data, replay=store, soap_action=ACTION)
    assert len(store) == 1
    refused(InvalidSecurity, "GW-REPLAY", parties.verify, data, replay=store, soap_action=ACTION)


# ------------------------------------------------------------------------------------------------ responses


@dataclass
class Exchange:
    request: bytes
    message_id: str
    signature_value: str


@pytest.fixture
def exchange(parties) -> Exchange:
    data = parties.request()
    vm = parties.verify(data)
    return Exchange(data, vm.message_id, vm.signature_value)


def respond(parties, exchange, *, body: bytes | None = None, **kwargs) -> bytes:
    kwargs.setdefault("relates_to", exchange.message_id)
    kwargs.setdefault("confirmation", exchange.signature_value)
    kwargs.setdefault("action", ACTION + "Response")
    return sign_response(body or envelope(b'<m:antwoord xmlns:m="urn:test:oso:aanvraag">ok</m:antwoord>'),
                         parties.gateway, now=parties.now, **kwargs)


def check_response(parties, exchange, data, **kwargs):
    kwargs.setdefault("request_message_id", exchange.message_id)
    kwargs.setdefault("request_signature_value", exchange.signature_value)
    kwargs.setdefault("policy", Policy())
    kwargs.setdefault("now", parties.now)
    return verify_response(data, trust=parties.trust, **kwargs)


def test_a_signed_response_verifies(parties, exchange):
    data = respond(parties, exchange)
    root = tree(data)
    confirmation = one(root, "//wsse:Security/wsse11:SignatureConfirmation")
    assert confirmation.get("Value") == exchange.signature_value
    assert confirmation.get(q(ns.WSU, "Id"))
    vm = check_response(parties, exchange, data)
    assert vm.oin == DEFAULT_GATEWAY_OIN
    assert vm.relates_to == exchange.message_id
    assert vm.confirmations == (exchange.signature_value,)
    assert vm.action == ACTION + "Response"
    assert vm.to is None
    assert vm.body.tag == q(PAYLOAD_NS, "antwoord") and vm.body.text == "ok"
    assert vm.message_id != exchange.message_id
    assert not vm.is_fault


def test_a_response_is_accepted_once(parties, exchange):
    store = MemoryReplayStore()
    data = respond(parties, exchange)
    check_response(parties, exchange, data, replay=store)
    refused(InvalidSecurity, "GW-REPLAY", check_response, parties, exchange, data, replay=store)


def test_response_with_wrong_relates_to(parties, exchange):
    data = respond(parties, exchange, relates_to="urn:uuid:00000000-0000-0000-0000-000000000000")
    err = refused(AddressingError, "WSA-RELATESTO", check_response, parties, exchange, data)
    assert err.dk_code == "0008"


def test_response_without_relates_to(parties, exchange):
    data = respond(parties, exchange, relates_to=None)
    refused(AddressingHeaderRequired, "WSA-RELATESTO", check_response, parties, exchange, data)


def test_response_without_confirmation(parties, exchange):
    data = respond(parties, exchange, confirmation=None)
    refused(InvalidSecurity, "WB014", check_response, parties, exchange, data)


def test_response_confirming_another_signature(parties, exchange):
    other = signature_value(parties.request())
    refused(InvalidSecurity, "WB014", check_response, parties, exchange, respond(parties, exchange, confirmation=other))


def test_response_with_a_second_signed_confirmation(parties, exchange):
    root = tree(respond(parties, exchange))
    confirmation = one(root, "//wsse11:SignatureConfirmation")
    extra = copy.deepcopy(confirmation)
    extra.set("Value", signature_value(parties.request()))
    confirmation.addnext(extra)
    add_reference(root, extra, "SC-extra")
    resign(root, parties.gateway.private_key)
    refused(InvalidSecurity, "WB014", check_response, parties, exchange, etree.tostring(root))


def test_a_response_for_another_request_is_refused(parties, exchange):
    data = respond(parties, exchange)
    other = parties.verify(parties.request())
    refused(AddressingError, "WSA-RELATESTO", check_response, parties, exchange, data,
            request_message_id=other.message_id, request_signature_value=other.signature_value)
    refused(InvalidSecurity, "WB014", check_response, parties, exchange, data,
            request_signature_value=other.signature_value)


def test_a_signed_fault_without_relates_to_is_not_taken_as_our_answer(parties, exchange):
    """A Fault that names no request could be any captured Fault of that peer, swapped in for our answer."""
    data = sign_response(fault_envelope(), parties.gateway, relates_to=None, confirmation=None,
                         action=ns.WSA + "/fault", now=parties.now)
    with pytest.raises(AddressingHeaderRequired) as info:
        check_response(parties, exchange, data)
    assert info.value.rule == "WSA-RELATESTO"
    # judged on its own (servicedesk, tests) it is a valid signed Fault
    vm = check_response(parties, exchange, data, allow_unbound_fault=True)
    assert vm.is_fault and vm.relates_to is None and vm.confirmations == ()
    assert vm.body.findtext("faultstring") == "the request could not be read"

def test_a_signed_fault_with_relates_to_and_confirmation(parties, exchange):
    data = respond(parties, exchange, body=fault_envelope("nope"), action=ns.WSA + "/fault")
    vm = check_response(parties, exchange, data)
    assert vm.is_fault and vm.relates_to == exchange.message_id
    assert vm.confirmations == (exchange.signature_value,)


def test_a_signed_fault_must_still_match_when_it_relates(parties, exchange):
    wrong = respond(parties, exchange, body=fault_envelope(), relates_to="urn:uuid:someone-else", confirmation=None)
    refused(AddressingError, "WSA-RELATESTO", check_response, parties, exchange, wrong)
    bad_conf = respond(parties, exchange, body=fault_envelope(), confirmation="AAAA")  # relates, wrong confirmation
    refused(InvalidSecurity, "WB014", check_response, parties, exchange, bad_conf)
