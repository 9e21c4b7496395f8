"""The attack catalogue: hostile messages, each built from a valid signed one, each refused for the right reason.

Every case is a named function that takes a freshly signed request (real keys from the test PKI), parses it with
lxml, mutates it as an attacker would (recomputing digests, and re-signing with a key the attacker holds, wherever
that makes the one intended defect the only one) and serialises it. The case declares the refusal it expects: the
exact error class from gateway.wsse.errors and the rule id. For every case the refusal text must leak nothing, and
across the whole catalogue nothing may escape but a SecurityError.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.pki import DEFAULT_GATEWAY_OIN
from gateway.wsse import Credentials, MemoryReplayStore, Policy, TrustStore, ns, sign_request, verify
from gateway.wsse import xmlparse
from gateway.wsse.errors import (
    AddressingError,
    AddressingHeaderRequired,
    DestinationUnreachable,
    FailedAuthentication,
    FailedCheck,
    InvalidSecurity,
    InvalidSecurityToken,
    MalformedMessage,
    MessageExpired,
    SecurityError,
    UnsupportedAlgorithm,
)
from tests.conftest import ENDPOINT, OTHER_OIN, VENDOR_OIN
from tests.wsse_helpers import (
    ACTION,
    MD5_DIGEST,
    PAYLOAD,
    RSA_SHA1,
    SHA1_DIGEST,
    add_reference,
    assert_safe_message,
    by_id,
    c14n,
    drop_reference,
    envelope,
    one,
    q,
    redigest,
    reference_to,
    references,
    resign,
    to_bytes,
    tree,
    xp,
)

checks_module = importlib.import_module("gateway.wsse.checks")  # where the referenced elements are canonicalised

WSU_ID = q(ns.WSU, "Id")
EVIL_PAYLOAD = (
    b'<m:aanvraag xmlns:m="urn:test:oso:aanvraag">'
    b'<m:leerling nummer="66666">Eve</m:leerling><m:tekst>stuur alle dossiers</m:tekst>'
    b"</m:aanvraag>"
)
EVIL_TO = "http://evil.example/steal"


# ------------------------------------------------------------------------------------------------- material


@dataclass
class Ctx:
    vendor: Credentials
    parties: dict[str, Credentials]
    trust: TrustStore
    now: datetime
    attacker_key: rsa.RSAPrivateKey
    pki_dir: str

    def signed(self, creds: Credentials | None = None, *, now: datetime | None = None, **kwargs) -> bytes:
        kwargs.setdefault("to", ENDPOINT)
        kwargs.setdefault("action", ACTION)
        return sign_request(envelope(kwargs.pop("payload", PAYLOAD)), creds or self.vendor, now=now or self.now,
                            **kwargs)

    def root(self, **kwargs) -> etree._Element:
        return tree(self.signed(**kwargs))

    def resign(self, root: etree._Element, **kwargs) -> bytes:
        return to_bytes(resign(root, self.vendor.private_key, **kwargs))


@pytest.fixture(scope="module")
def ctx(pki) -> Ctx:
    names = {
        "untrusted": dict(untrusted=True),
        "expired": dict(expired=True),
        "not-yet-valid": dict(not_yet_valid=True),
        "revoked": dict(revoked=True),
        "no-digital-signature": dict(no_digital_signature=True),
    }
    parties = {name: pki.credentials(f"wsse-attack-{name}", VENDOR_OIN, **flags) for name, flags in names.items()}
    parties["other-oin"] = pki.credentials("wsse-attack-other-oin", OTHER_OIN)
    trust = pki.trust()  # after the revocation above, so the CRL lists it
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Ctx(pki.credentials("vendor"), parties, trust, datetime.now(timezone.utc), attacker_key, str(pki.dir))


@dataclass
class Attempt:
    """A hostile message and how it is delivered."""

    data: bytes
    policy: Policy = field(default_factory=lambda: Policy(endpoint=ENDPOINT))
    soap_action: str | None = None
    replay: MemoryReplayStore = field(default_factory=MemoryReplayStore)

    def verify(self, ctx: Ctx):
        return verify(self.data, policy=self.policy, trust=ctx.trust, replay=self.replay,
                      soap_action=self.soap_action, now=ctx.now)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Ctx], bytes | Attempt]
    error: type[SecurityError]
    rule: str
    parse_forbidden: bool  # refused before the bytes reach the XML parser
    digest_forbidden: bool  # refused before any element is canonicalised and hashed

    def attempt(self, ctx: Ctx) -> Attempt:
        made = self.build(ctx)
        return made if isinstance(made, Attempt) else Attempt(made)


CASES: list[Case] = []


def attack(error: type[SecurityError], rule: str, *, parse_forbidden: bool = False, digest_forbidden: bool = False):
    def register(fn: Callable[[Ctx], bytes | Attempt]):
        CASES.append(Case(fn.__name__, fn, error, rule, parse_forbidden, digest_forbidden))
        return fn
    return register


# ------------------------------------------------------------------------------------------ mutation helpers


def body(root):
    return one(root, "/soap:Envelope/soap:Body")


def header(root):
    return one(root, "/soap:Envelope/soap:Header")


def security(root):
    return one(root, "/soap:Envelope/soap:Header/wsse:Security")


def signature(root):
    return one(root, "//wsse:Security/ds:Signature")


def timestamp(root):
    return one(root, "//wsse:Security/wsu:Timestamp")


def wsa(root, name):
    return one(root, f"/soap:Envelope/soap:Header/wsa:{name}")


def evil_body(ident: str | None = None) -> etree._Element:
    new = etree.Element(q(ns.SOAP11, "Body"))
    if ident:
        new.set(WSU_ID, ident)
    new.append(tree(EVIL_PAYLOAD))
    return new


def swap_body(root, replacement) -> etree._Element:
    """Put ``replacement`` where the signed Body stands; return the (detached) signed Body."""
    signed = body(root)
    signed.addprevious(replacement)
    root.remove(signed)
    return signed


def wrapper(tag: str = "Wrapper") -> etree._Element:
    return etree.Element(q("urn:test:evil", tag), nsmap={"x": "urn:test:evil"})


def fresh_timestamp(now: datetime, ident: str | None = None) -> etree._Element:
    ts = etree.Element(q(ns.WSU, "Timestamp"))
    if ident:
        ts.set(WSU_ID, ident)
    etree.SubElement(ts, q(ns.WSU, "Created")).text = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    etree.SubElement(ts, q(ns.WSU, "Expires")).text = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return ts


def anonymous_reply_to() -> etree._Element:
    reply_to = etree.Element(q(ns.WSA, "ReplyTo"))
    etree.SubElement(reply_to, q(ns.WSA, "Address")).text = ns.WSA_ANONYMOUS
    return reply_to


def certificate(key, *, oin: str = VENDOR_OIN, digital_signature: bool = True) -> x509.Certificate:
    """A self-signed certificate the attacker makes for a key the attacker holds, claiming ``oin``."""
    now = datetime.now(timezone.utc)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vendor TEST ONLY"),
        x509.NameAttribute(NameOID.COMMON_NAME, "vendor"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, oin),
    ])
    usage = x509.KeyUsage(digital_signature, False, not digital_signature, False, False, False, False, False, False)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def with_token(ctx: Ctx, token: bytes, key=None) -> bytes:
    """The vendor's signed request with another BinarySecurityToken, re-signed with ``key`` (when given)."""
    root = ctx.root()
    one(root, "//wsse:BinarySecurityToken").text = base64.b64encode(token).decode()
    return to_bytes(resign(root, key)) if key is not None else to_bytes(root)


# ============================================================================ signature wrapping (XSW)


@attack(MalformedMessage, "WS007")
def xsw_body_moved_into_header_as_a_block(ctx):
    root = ctx.root()
    header(root).append(swap_body(root, evil_body()))
    return to_bytes(root)


@attack(MalformedMessage, "WS007")
def xsw_body_moved_into_new_wrapper_header(ctx):
    root = ctx.root()
    box = wrapper()
    box.append(swap_body(root, evil_body()))
    header(root).append(box)
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def xsw_body_moved_into_wsse_security(ctx):
    root = ctx.root()
    security(root).append(swap_body(root, evil_body()))
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_body_hidden_inside_the_unsigned_payload(ctx):
    # digests and SignatureValue all verify: only coverage by position catches this one
    root = ctx.root()
    evil = evil_body()
    hidden = etree.SubElement(evil[0], q("urn:test:oso:aanvraag", "bijlage"))
    hidden.append(swap_body(root, evil))
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_body_hidden_inside_an_unsigned_reply_to(ctx):
    root = ctx.root()
    reply_to = anonymous_reply_to()
    reply_to.append(swap_body(root, evil_body()))
    header(root).append(reply_to)
    return to_bytes(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def xsw_signed_body_after_an_unsigned_body(ctx):
    root = ctx.root()
    signed = swap_body(root, evil_body())
    root.append(signed)
    return to_bytes(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def xsw_signed_body_moved_under_a_second_body(ctx):
    root = ctx.root()
    evil = evil_body()
    evil.append(swap_body(root, evil))
    return to_bytes(root)


@attack(InvalidSecurity, "GW-ID")
def xsw_duplicate_id_unsigned_body_takes_the_signed_id(ctx):
    root = ctx.root()
    signed_id = body(root).get(WSU_ID)
    evil = evil_body(signed_id)
    etree.SubElement(evil[0], q("urn:test:oso:aanvraag", "bijlage")).append(swap_body(root, evil))
    return to_bytes(root)


@attack(InvalidSecurity, "GW-ID")
def xsw_duplicate_id_as_xml_id(ctx):
    root = ctx.root()
    body(root)[0][0].set("{http://www.w3.org/XML/1998/namespace}id", body(root).get(WSU_ID))
    return to_bytes(root)


@attack(InvalidSecurity, "GW-ID")
def xsw_duplicate_id_as_plain_id_attribute(ctx):
    root = ctx.root()
    wsa(root, "From").set("Id", timestamp(root).get(WSU_ID))
    return ctx.resign(root)


@attack(MalformedMessage, "WS007")
def xsw_timestamp_moved_into_wrapper_header(ctx):
    root = ctx.root()
    signed = timestamp(root)
    signed.addprevious(fresh_timestamp(ctx.now + timedelta(hours=2)))
    box = wrapper()
    box.append(signed)
    header(root).append(box)
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_timestamp_hidden_in_unsigned_reply_to(ctx):
    root = ctx.root()
    signed = timestamp(root)
    signed.addprevious(fresh_timestamp(ctx.now + timedelta(hours=2), "TS-fresh"))
    reply_to = anonymous_reply_to()
    reply_to.append(signed)
    header(root).append(reply_to)
    return to_bytes(root)


@attack(InvalidSecurity, "GW-ID")
def xsw_timestamp_fresh_copy_with_the_signed_id(ctx):
    root = ctx.root()
    signed = timestamp(root)
    signed.addprevious(fresh_timestamp(ctx.now + timedelta(hours=2), signed.get(WSU_ID)))
    reply_to = anonymous_reply_to()
    reply_to.append(signed)
    header(root).append(reply_to)
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def xsw_timestamp_hidden_in_key_info(ctx):
    root = ctx.root()
    signed = timestamp(root)
    signed.addprevious(fresh_timestamp(ctx.now + timedelta(hours=2)))
    one(root, "//ds:KeyInfo").append(signed)
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def xsw_timestamp_hidden_in_signature_value(ctx):
    root = ctx.root()
    signed = timestamp(root)
    signed.addprevious(fresh_timestamp(ctx.now + timedelta(hours=2)))
    one(root, "//ds:SignatureValue").append(signed)
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def xsw_timestamp_hidden_in_token_reference(ctx):
    root = ctx.root()
    signed = timestamp(root)
    signed.addprevious(fresh_timestamp(ctx.now + timedelta(hours=2)))
    one(root, "//wsse:SecurityTokenReference/wsse:Reference").append(signed)
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_to_replaced_signed_to_hidden_inside(ctx):
    root = ctx.root()
    signed = wsa(root, "To")
    evil = etree.Element(q(ns.WSA, "To"))
    evil.text = EVIL_TO
    signed.addprevious(evil)
    evil.append(signed)
    return to_bytes(root)


@attack(MalformedMessage, "WS007")
def xsw_to_moved_into_wrapper_header(ctx):
    root = ctx.root()
    signed = wsa(root, "To")
    evil = etree.Element(q(ns.WSA, "To"))
    evil.text = EVIL_TO
    signed.addprevious(evil)
    box = wrapper()
    box.append(signed)
    header(root).append(box)
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def xsw_action_moved_into_wsse_security(ctx):
    root = ctx.root()
    signed = wsa(root, "Action")
    evil = etree.Element(q(ns.WSA, "Action"))
    evil.text = "urn:test:oso:verwijder"
    signed.addprevious(evil)
    security(root).append(signed)
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_message_id_replaced_by_an_unsigned_one(ctx):
    # a new MessageID would slip past the replay store
    root = ctx.root()
    signed = wsa(root, "MessageID")
    evil = etree.Element(q(ns.WSA, "MessageID"))
    evil.text = "urn:uuid:11111111-2222-3333-4444-555555555555"
    signed.addprevious(evil)
    header(root).remove(signed)
    return to_bytes(root)


@attack(AddressingError, "WSA-MESSAGEID")
def xsw_message_id_second_unsigned_copy(ctx):
    root = ctx.root()
    evil = etree.Element(q(ns.WSA, "MessageID"))
    evil.text = "urn:uuid:11111111-2222-3333-4444-555555555555"
    header(root).insert(1, evil)
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_from_replaced_signed_from_hidden_inside(ctx):
    root = ctx.root()
    signed = wsa(root, "From")
    evil = etree.Element(q(ns.WSA, "From"))
    etree.SubElement(evil, q(ns.WSA, "Address")).text = f"{ns.WSA_ANONYMOUS}?oin={OTHER_OIN}"
    signed.addprevious(evil)
    evil.append(signed)
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def xsw_second_signature(ctx):
    root = ctx.root()
    signature(root).addnext(copy.deepcopy(signature(root)))
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def xsw_second_security_header(ctx):
    root = ctx.root()
    other = tree(ctx.signed(payload=EVIL_PAYLOAD))
    header(root).append(security(other))
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def xsw_reference_to_an_element_not_in_the_envelope(ctx):
    root = ctx.root()
    reference_to(root, body(root)).set("URI", "#Body-elsewhere")
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004")
def xsw_reference_xpointer_uri(ctx):
    root = ctx.root()
    ident = body(root).get(WSU_ID)
    reference_to(root, body(root)).set("URI", f"#xpointer(id('{ident}'))")
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004")
def xsw_reference_empty_uri(ctx):
    root = ctx.root()
    reference_to(root, body(root)).set("URI", "")
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004")
def xsw_reference_missing_uri(ctx):
    root = ctx.root()
    del reference_to(root, body(root)).attrib["URI"]
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004")
def xsw_reference_external_uri(ctx):
    root = ctx.root()
    reference_to(root, body(root)).set("URI", "http://127.0.0.1:1/body.xml")
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004")
def xsw_two_references_to_one_element(ctx):
    root = ctx.root()
    ref = reference_to(root, body(root))
    ref.addnext(copy.deepcopy(ref))
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004")
def xsw_reference_to_an_element_the_profile_does_not_sign(ctx):
    root = ctx.root()
    add_reference(root, one(root, "//ds:KeyInfo"), "KI-1")
    return ctx.resign(root)


@attack(InvalidSecurity, "WB004", digest_forbidden=True)
def references_to_many_nested_elements(ctx):
    # each reference makes the verifier canonicalise and hash its target: nested targets multiply the work
    root = ctx.root()
    parent = body(root)[0]
    nested = []
    for i in range(60):
        parent = etree.SubElement(parent, q("urn:test:oso:aanvraag", "n"))
        parent.text = "x" * 1000
        nested.append(parent)
    for i, element in enumerate(nested):
        add_reference(root, element, f"n-{i}")
    return ctx.resign(root)


@attack(FailedCheck, "WB013")
def xsw_payload_replaced_digest_recomputed_not_resigned(ctx):
    root = ctx.root()
    signed = body(root)
    signed.remove(signed[0])
    signed.append(tree(EVIL_PAYLOAD))
    redigest(root, only=[reference_to(root, signed)])
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def xsw_text_changed_next_to_a_comment(ctx):
    return ctx.signed().replace(b"hallo wereld", b"hallo<!-- x -->wereld")


@attack(FailedCheck, "WB013")
def xsw_text_changed_inside_a_comment_split(ctx):
    return ctx.signed().replace(b"Jan Jansen", b"Jan<!-- x -->Janssen")


@attack(FailedCheck, "WB013")
def xsw_cdata_changes_text(ctx):
    return ctx.signed().replace(b"hallo wereld", b"hallo <![CDATA[wereld!]]>")


@attack(FailedCheck, "WB013")
def xsw_processing_instruction_in_signed_payload(ctx):
    return ctx.signed().replace(b"hallo wereld", b"hallo<?evil x?> wereld")


# ============================================================================ signature and references


@attack(InvalidSecurity, "WB003")
def signature_stripped(ctx):
    root = ctx.root()
    security(root).remove(signature(root))
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def security_header_stripped(ctx):
    root = ctx.root()
    header(root).remove(security(root))
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def soap_header_stripped(ctx):
    root = ctx.root()
    root.remove(header(root))
    return to_bytes(root)


@attack(InvalidSecurity, "WB004")
def reference_missing_for_body(ctx):
    root = ctx.root()
    return to_bytes(drop_reference(root, body(root), ctx.vendor.private_key))


@attack(InvalidSecurity, "WB004")
def reference_missing_for_timestamp(ctx):
    root = ctx.root()
    return to_bytes(drop_reference(root, timestamp(root), ctx.vendor.private_key))


def _drop_wsa_reference(name):
    def build(ctx):
        root = ctx.root()
        return to_bytes(drop_reference(root, wsa(root, name), ctx.vendor.private_key))
    build.__name__ = f"reference_missing_for_wsa_{name.lower()}"
    return build


for _name in ("To", "Action", "MessageID", "From"):
    attack(InvalidSecurity, "WB004")(_drop_wsa_reference(_name))


@attack(InvalidSecurity, "WB004")
def unsigned_extra_wsa_header(ctx):
    root = ctx.root()
    header(root).append(anonymous_reply_to())
    return to_bytes(root)


@attack(UnsupportedAlgorithm, "SIGN003")
def sha1_digest(ctx):
    root = ctx.root()
    for method in xp(root, "//ds:DigestMethod"):
        method.set("Algorithm", SHA1_DIGEST)
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "SIGN003")
def md5_digest(ctx):
    root = ctx.root()
    for method in xp(root, "//ds:DigestMethod"):
        method.set("Algorithm", MD5_DIGEST)
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "SIGN003")
def sha1_digest_on_one_reference(ctx):
    root = ctx.root()
    one(reference_to(root, body(root)), "ds:DigestMethod").set("Algorithm", SHA1_DIGEST)
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "SIGN004")
def rsa_sha1_signature(ctx):
    root = ctx.root()
    one(root, "//ds:SignatureMethod").set("Algorithm", RSA_SHA1)
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "SIGN004")
def hmac_signature_method(ctx):
    root = ctx.root()
    method = one(root, "//ds:SignatureMethod")
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    etree.SubElement(method, q(ns.DS, "HMACOutputLength")).text = "8"
    return to_bytes(root)


@attack(InvalidSecurity, "SIGN004")
def hmac_output_length_on_rsa(ctx):
    root = ctx.root()
    etree.SubElement(one(root, "//ds:SignatureMethod"), q(ns.DS, "HMACOutputLength")).text = "8"
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "WB007")
def c14n_with_comments_for_signed_info(ctx):
    root = ctx.root()
    one(root, "//ds:SignedInfo/ds:CanonicalizationMethod").set("Algorithm", ns.EXC_C14N_WITH_COMMENTS)
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "WB007")
def inclusive_c14n_transform(ctx):
    root = ctx.root()
    one(reference_to(root, body(root)), "ds:Transforms/ds:Transform").set(
        "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "WB007")
def extra_enveloped_signature_transform(ctx):
    root = ctx.root()
    transforms = one(reference_to(root, body(root)), "ds:Transforms")
    transforms.insert(0, etree.Element(q(ns.DS, "Transform"),
                                       Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"))
    return ctx.resign(root)


@attack(UnsupportedAlgorithm, "WB007")
def xpath_transform(ctx):
    root = ctx.root()
    transform = one(reference_to(root, body(root)), "ds:Transforms/ds:Transform")
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
    etree.SubElement(transform, q(ns.DS, "XPath")).text = "not(ancestor-or-self::*)"
    return ctx.resign(root)


@attack(InvalidSecurity, "WB003")
def enveloping_signature_with_object(ctx):
    root = ctx.root()
    obj = etree.SubElement(signature(root), q(ns.DS, "Object"), Id="obj-1")
    obj.append(tree(EVIL_PAYLOAD))
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def manifest_in_an_object(ctx):
    root = ctx.root()
    obj = etree.SubElement(signature(root), q(ns.DS, "Object"))
    manifest = etree.SubElement(obj, q(ns.DS, "Manifest"), Id="mf-1")
    manifest.append(copy.deepcopy(reference_to(root, body(root))))
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def body_text_tampered(ctx):
    return ctx.signed().replace(b"Jan Jansen", b"Eve Jansen")


@attack(FailedCheck, "WB013")
def body_attribute_tampered(ctx):
    return ctx.signed().replace(b'nummer="12345"', b'nummer="12346"')


@attack(FailedCheck, "WB013")
def body_whitespace_added(ctx):
    return ctx.signed().replace(b"<m:tekst>", b"\n<m:tekst>")


@attack(FailedCheck, "WB013")
def body_prefix_rebound(ctx):
    root = ctx.root()
    signed = body(root)
    payload = signed[0]
    rebuilt = tree(etree.tostring(payload).replace(b"m:", b"n:").replace(b"xmlns:m=", b"xmlns:n="))
    signed.replace(payload, rebuilt)
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def wsa_to_tampered(ctx):
    root = ctx.root()
    wsa(root, "To").text = EVIL_TO
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def wsa_action_tampered(ctx):
    root = ctx.root()
    wsa(root, "Action").text = "urn:test:oso:verwijder"
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def wsa_message_id_tampered(ctx):
    root = ctx.root()
    wsa(root, "MessageID").text = "urn:uuid:11111111-2222-3333-4444-555555555555"
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def timestamp_created_tampered(ctx):
    root = ctx.root()
    one(root, "//wsu:Timestamp/wsu:Created").text = (ctx.now + timedelta(seconds=30)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def signature_value_tampered(ctx):
    root = ctx.root()
    value = one(root, "//ds:SignatureValue")
    raw = bytearray(base64.b64decode(value.text))
    raw[-1] ^= 1
    value.text = base64.b64encode(bytes(raw)).decode()
    return to_bytes(root)


@attack(InvalidSecurity, "WB013")
def signature_value_not_base64(ctx):
    root = ctx.root()
    one(root, "//ds:SignatureValue").text = "not base64 !"
    return to_bytes(root)


@attack(FailedCheck, "WB013")
def resigned_by_another_key_with_the_vendor_certificate(ctx):
    root = ctx.root()
    return to_bytes(resign(root, ctx.attacker_key))


# ============================================================================ the certificate


@attack(FailedAuthentication, "PKI002")
def untrusted_certificate(ctx):
    return ctx.signed(ctx.parties["untrusted"])


@attack(FailedAuthentication, "PKI002")
def expired_certificate(ctx):
    return ctx.signed(ctx.parties["expired"])


@attack(FailedAuthentication, "PKI002")
def not_yet_valid_certificate(ctx):
    return ctx.signed(ctx.parties["not-yet-valid"])


@attack(FailedAuthentication, "PKI002")
def revoked_certificate(ctx):
    return ctx.signed(ctx.parties["revoked"])


@attack(FailedAuthentication, "GW-KEYUSAGE")
def certificate_without_digital_signature(ctx):
    return ctx.signed(ctx.parties["no-digital-signature"])


@attack(FailedAuthentication, "PKI002")
def self_signed_certificate_claiming_the_vendor_oin(ctx):
    return with_token(ctx, der(certificate(ctx.attacker_key)), ctx.attacker_key)


@attack(FailedAuthentication, "PKI001")
def from_oin_differs_from_certificate_oin(ctx):
    return ctx.signed(ctx.parties["other-oin"], from_oin=VENDOR_OIN)


@attack(FailedCheck, "WB013")
def token_swapped_for_another_trusted_certificate(ctx):
    # the vendor's signature, with the other party's certificate in the token
    return with_token(ctx, ctx.parties["other-oin"].der)


@attack(InvalidSecurityToken, "WB009")
def certificate_with_duplicate_extensions(ctx):
    good = der(certificate(ctx.attacker_key))
    ski, key_usage = bytes.fromhex("0603551d0e"), bytes.fromhex("0603551d0f")
    assert good.count(ski) == 1 and good.count(key_usage) == 1
    return with_token(ctx, good.replace(ski, key_usage), ctx.attacker_key)


@attack(UnsupportedAlgorithm, "SIGN004")
def certificate_with_an_unknown_key_algorithm(ctx):
    rsa_oid = bytes.fromhex("2a864886f70d010101")
    assert ctx.vendor.der.count(rsa_oid) == 1
    return with_token(ctx, ctx.vendor.der.replace(rsa_oid, bytes.fromhex("2a864886f70d01017f")))


@attack(UnsupportedAlgorithm, "SIGN004")
def certificate_with_an_ec_key(ctx):
    key = ec.generate_private_key(ec.SECP256R1())
    return with_token(ctx, der(certificate(key)))


@attack(UnsupportedAlgorithm, "SIGN004")
def certificate_with_a_1024_bit_key(ctx):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return with_token(ctx, der(certificate(key)), key)


@attack(InvalidSecurityToken, "WB009")
def token_is_not_a_certificate(ctx):
    return with_token(ctx, b"\x30\x03\x02\x01\x01")


@attack(InvalidSecurityToken, "WB009")
def token_is_not_base64(ctx):
    root = ctx.root()
    one(root, "//wsse:BinarySecurityToken").text = "%%% not base64 %%%"
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB009")
def token_with_another_value_type(ctx):
    root = ctx.root()
    one(root, "//wsse:BinarySecurityToken").set(
        "ValueType", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7")
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB009")
def token_with_another_encoding_type(ctx):
    root = ctx.root()
    one(root, "//wsse:BinarySecurityToken").set("EncodingType", "urn:test:hex")
    return to_bytes(root)


@attack(InvalidSecurity, "WB009")
def token_after_the_signature(ctx):
    root = ctx.root()
    signature(root).addnext(one(root, "//wsse:BinarySecurityToken"))
    return to_bytes(root)


@attack(InvalidSecurity, "WB009")
def two_tokens(ctx):
    root = ctx.root()
    token = one(root, "//wsse:BinarySecurityToken")
    extra = copy.deepcopy(token)
    extra.set(WSU_ID, "X509-second")
    extra.text = base64.b64encode(ctx.parties["other-oin"].der).decode()
    token.addprevious(extra)
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def key_info_with_x509_data(ctx):
    root = ctx.root()
    key_info = one(root, "//ds:KeyInfo")
    key_info.remove(key_info[0])
    data = etree.SubElement(key_info, q(ns.DS, "X509Data"))
    etree.SubElement(data, q(ns.DS, "X509Certificate")).text = ctx.vendor.bst_value
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def key_info_with_two_children(ctx):
    root = ctx.root()
    key_info = one(root, "//ds:KeyInfo")
    etree.SubElement(key_info, q(ns.DS, "KeyName")).text = "vendor"
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def token_reference_points_at_another_element(ctx):
    root = ctx.root()
    one(root, "//wsse:SecurityTokenReference/wsse:Reference").set("URI", "#" + body(root).get(WSU_ID))
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def token_reference_by_key_identifier(ctx):
    root = ctx.root()
    reference = one(root, "//wsse:SecurityTokenReference/wsse:Reference")
    key_id = etree.Element(q(ns.WSSE, "KeyIdentifier"), ValueType=ns.X509V3, EncodingType=ns.BASE64_ENCODING)
    key_id.text = ctx.vendor.bst_value
    reference.getparent().replace(reference, key_id)
    return to_bytes(root)


@attack(InvalidSecurityToken, "WB010")
def token_reference_without_value_type(ctx):
    root = ctx.root()
    del one(root, "//wsse:SecurityTokenReference/wsse:Reference").attrib["ValueType"]
    return to_bytes(root)


# ============================================================================ time, replay, addressing


@attack(MessageExpired, "WB002")
def stale_timestamp(ctx):
    return ctx.signed(now=ctx.now - timedelta(minutes=10))


@attack(MessageExpired, "WB002")
def future_timestamp(ctx):
    return ctx.signed(now=ctx.now + timedelta(minutes=10))


@attack(InvalidSecurity, "WB002")
def timestamp_not_in_utc(ctx):
    root = ctx.root()
    created = one(root, "//wsu:Timestamp/wsu:Created")
    created.text = created.text.replace("Z", "+00:00")
    return ctx.resign(root)


@attack(InvalidSecurity, "WB002")
def timestamp_expires_before_created(ctx):
    root = ctx.root()
    created, expires = timestamp(root)
    created.text, expires.text = expires.text, created.text
    return ctx.resign(root)


@attack(InvalidSecurity, "WB002")
def timestamp_second_sixty(ctx):
    root = ctx.root()
    created = one(root, "//wsu:Timestamp/wsu:Created")
    created.text = created.text[:17] + "60" + created.text[19:]
    return ctx.resign(root)


@attack(InvalidSecurity, "WB002")
def timestamp_with_two_created(ctx):
    root = ctx.root()
    created = one(root, "//wsu:Timestamp/wsu:Created")
    created.addnext(copy.deepcopy(created))
    return ctx.resign(root)


@attack(InvalidSecurity, "WB002")
def two_timestamps(ctx):
    root = ctx.root()
    timestamp(root).addnext(fresh_timestamp(ctx.now))
    return to_bytes(root)


@attack(InvalidSecurity, "WB002")
def timestamp_missing(ctx):
    root = ctx.root()
    stamp = timestamp(root)
    reference_to(root, stamp).getparent().remove(reference_to(root, stamp))
    security(root).remove(stamp)
    return ctx.resign(root)


@attack(InvalidSecurity, "GW-REPLAY")
def replayed_message_id(ctx):
    data = ctx.signed()
    attempt = Attempt(data)
    attempt.verify(ctx)  # the first delivery is accepted
    return attempt


@attack(AddressingError, "WS002")
def soap_action_differs_from_wsa_action(ctx):
    return Attempt(ctx.signed(), soap_action='"urn:test:oso:verwijder"')


@attack(DestinationUnreachable, "WSA-TO")
def to_addresses_another_service(ctx):
    return ctx.signed(to=EVIL_TO)


@attack(DestinationUnreachable, "WSA-TO")
def to_carries_a_second_oin(ctx):
    to = f"{ENDPOINT}?oin={DEFAULT_GATEWAY_OIN}&oin={OTHER_OIN}"
    return Attempt(ctx.signed(to=to), policy=Policy(endpoint=ENDPOINT, own_oin=DEFAULT_GATEWAY_OIN))


@attack(AddressingHeaderRequired, "WSA-TO")
def to_missing(ctx):
    root = ctx.root()
    to = wsa(root, "To")
    reference_to(root, to).getparent().remove(reference_to(root, to))
    header(root).remove(to)
    return ctx.resign(root)


@attack(AddressingHeaderRequired, "WSA-ACTION")
def action_missing(ctx):
    root = ctx.root()
    action = wsa(root, "Action")
    reference_to(root, action).getparent().remove(reference_to(root, action))
    header(root).remove(action)
    return ctx.resign(root)


@attack(AddressingError, "WSA-MESSAGEID")
def message_id_not_a_uri(ctx):
    root = ctx.root()
    wsa(root, "MessageID").text = "just some words"
    return ctx.resign(root)


@attack(AddressingError, "WSA-FROM")
def from_not_a_url(ctx):
    root = ctx.root()
    one(root, "//wsa:From/wsa:Address").text = f"http://[::1?oin={VENDOR_OIN}"
    return ctx.resign(root)


@attack(AddressingError, "WSA-FROM")
def from_with_two_oins(ctx):
    root = ctx.root()
    one(root, "//wsa:From/wsa:Address").text = f"{ns.WSA_ANONYMOUS}?oin={VENDOR_OIN}&oin={OTHER_OIN}"
    return ctx.resign(root)


@attack(AddressingError, "WSA-REPLYTO")
def reply_to_elsewhere(ctx):
    root = ctx.root()
    reply_to = anonymous_reply_to()
    reply_to[0].text = EVIL_TO
    header(root).append(reply_to)
    add_reference(root, reply_to, "ReplyTo-1")
    return ctx.resign(root)


# ============================================================================ XML, size, encoding


def with_doctype(ctx, doctype: bytes, *, entity_in_body: bytes | None = None) -> bytes:
    data = ctx.signed()
    decl, rest = data.split(b"?>", 1)
    if entity_in_body is not None:
        rest = rest.replace(b"hallo wereld", entity_in_body)
    return decl + b"?>\n" + doctype + b"\n" + rest


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def xxe_external_entity_file(ctx):
    return with_doctype(ctx, b'<!DOCTYPE soapenv:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                        entity_in_body=b"&xxe;")


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def xxe_parameter_entity(ctx):
    return with_doctype(ctx, b'<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>')


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def billion_laughs(ctx):
    lol = [b'<!ENTITY lol0 "lol">']
    for i in range(1, 10):
        lol.append(b"<!ENTITY lol%d \"%s\">" % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10))))
    return with_doctype(ctx, b"<!DOCTYPE soapenv:Envelope [" + b"".join(lol) + b"]>", entity_in_body=b"&lol9;")


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def quadratic_blowup(ctx):
    big = b"A" * 100_000
    return with_doctype(ctx, b'<!DOCTYPE soapenv:Envelope [<!ENTITY a "' + big + b'">]>',
                        entity_in_body=b"&a;" * 5000)


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def external_dtd_file(ctx):
    return with_doctype(ctx, b'<!DOCTYPE soapenv:Envelope SYSTEM "file:///etc/passwd">')


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def external_dtd_http(ctx):
    return with_doctype(ctx, b'<!DOCTYPE soapenv:Envelope SYSTEM "http://127.0.0.1:1/x.dtd">')


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def doctype_after_a_prolog_comment_and_bom(ctx):
    data = with_doctype(ctx, b'<!-- hello --><?pi x?>\n<!DOCTYPE soapenv:Envelope SYSTEM "file:///etc/passwd">')
    return b"\xef\xbb\xbf" + data


@attack(MalformedMessage, "R1008", parse_forbidden=True)
def doctype_without_xml_declaration(ctx):
    rest = ctx.signed().split(b"?>", 1)[1]
    return b'<!DOCTYPE soapenv:Envelope [<!ENTITY x "y">]>' + rest


@attack(MalformedMessage, "GW-SIZE", parse_forbidden=True)
def message_over_the_size_limit(ctx):
    data = ctx.signed()
    return Attempt(data, policy=Policy(endpoint=ENDPOINT, max_bytes=len(data) - 1))


@attack(MalformedMessage, "GW-XML")
def nested_too_deep(ctx):
    deep = b"<m:d>" * 120 + b"x" + b"</m:d>" * 120
    return ctx.signed().replace(b"hallo wereld", deep)


@attack(MalformedMessage, "GW-XML")
def not_well_formed(ctx):
    return ctx.signed()[:-20]


@attack(MalformedMessage, "GW-XML")
def undeclared_prefix_followed_by_a_namespace_warning(ctx):
    # lxml lets a namespace error through when a warning (here: a relative namespace URI) comes after it,
    # leaving a tag "x:Sessie" in no namespace
    data = ctx.signed().replace(b"</soapenv:Header>", b"<x:Sessie>admin</x:Sessie></soapenv:Header>")
    return data.replace(b"<m:tekst>", b'<m:tekst xmlns="relative">')


@attack(MalformedMessage, "GW-XML")
def empty_prefix_binding_followed_by_a_namespace_warning(ctx):
    data = ctx.signed().replace(b'xmlns:wsse="' + ns.WSSE.encode() + b'"', b'xmlns:wsse=""')
    return data.replace(b"<m:tekst>", b'<m:tekst xmlns="relative">')


@attack(MalformedMessage, "GW-XML")
def undefined_entity_reference(ctx):
    return ctx.signed().replace(b"hallo wereld", b"&xxe;")


@attack(MalformedMessage, "GW-XML")
def empty_message(ctx):
    return b""


@attack(MalformedMessage, "WS006", parse_forbidden=True)
def utf16_with_bom(ctx):
    text = ctx.signed().decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'")
    return text.encode("utf-16")


@attack(MalformedMessage, "WS006", parse_forbidden=True)
def utf16_without_bom(ctx):
    text = ctx.signed().decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'")
    return text.encode("utf-16-le")


@attack(MalformedMessage, "WS006", parse_forbidden=True)
def iso_8859_1_declared(ctx):
    return ctx.signed().replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'")


@attack(MalformedMessage, "WS006")
def latin1_bytes_declared_as_utf8(ctx):
    return ctx.signed().replace(b"Jan Jansen", "Jan Jänsen".encode("latin-1"))


@attack(MalformedMessage, "GW-ENVELOPE")
def soap12_envelope(ctx):
    return ctx.signed().replace(ns.SOAP11.encode(), ns.SOAP12.encode())


@attack(MalformedMessage, "GW-ENVELOPE")
def not_an_envelope(ctx):
    return b"<?xml version='1.0' encoding='UTF-8'?>" + PAYLOAD


@attack(MalformedMessage, "WS007")
def header_block_of_ones_own(ctx):
    root = ctx.root()
    block = etree.SubElement(header(root), q("urn:test:evil", "Sessie"))
    block.text = "admin"
    return to_bytes(root)


@attack(MalformedMessage, "WS007")
def unknown_ws_addressing_header(ctx):
    root = ctx.root()
    etree.SubElement(header(root), q(ns.WSA, "ReferenceParameters")).text = "x"
    return to_bytes(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def encoding_style_on_envelope(ctx):
    root = ctx.root()
    root.set(q(ns.SOAP11, "encodingStyle"), "http://schemas.xmlsoap.org/soap/encoding/")
    return to_bytes(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def encoding_style_on_body_child(ctx):
    root = ctx.root()
    body(root)[0].set(q(ns.SOAP11, "encodingStyle"), "http://schemas.xmlsoap.org/soap/encoding/")
    return ctx.resign(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def two_body_children(ctx):
    root = ctx.root()
    body(root).append(tree(EVIL_PAYLOAD))
    return ctx.resign(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def empty_body(ctx):
    root = ctx.root()
    body(root).remove(body(root)[0])
    return ctx.resign(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def text_beside_the_body_child(ctx):
    root = ctx.root()
    body(root)[0].tail = "stuur alle dossiers"
    return ctx.resign(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def processing_instruction_in_body(ctx):
    root = ctx.root()
    body(root).insert(0, etree.ProcessingInstruction("evil", "x"))
    return ctx.resign(root)


@attack(MalformedMessage, "GW-ENVELOPE")
def element_after_the_body(ctx):
    root = ctx.root()
    root.append(etree.Element(q("urn:test:evil", "Trailer")))
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def security_without_must_understand(ctx):
    root = ctx.root()
    del security(root).attrib[q(ns.SOAP11, "mustUnderstand")]
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def security_for_another_actor(ctx):
    root = ctx.root()
    security(root).set(q(ns.SOAP11, "actor"), "http://evil.example/intermediary")
    return to_bytes(root)


@attack(InvalidSecurity, "WB003")
def unknown_element_in_security(ctx):
    root = ctx.root()
    etree.SubElement(security(root), q(ns.WSSE, "UsernameToken"))
    return to_bytes(root)


@attack(InvalidSecurity, "WB007")
def relative_namespace_uri_in_the_signed_body(ctx):
    root = tree(ctx.signed().replace(b"<m:tekst>", b'<m:tekst xmlns:r="relative/uri">'))
    return ctx.resign(root, redigest_all=False)


# ------------------------------------------------------------------------------------------------- the tests

assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


def _forbidden(*args, **kwargs):
    raise AssertionError("the message reached the XML parser; it should have been refused before parsing")


def _no_digests(*args, **kwargs):
    raise AssertionError("an element was canonicalised; the message should have been refused before any digest")


def test_the_baseline_message_verifies(ctx):
    """Every case starts from this message: it must be valid, so each refusal is the attack's doing."""
    vm = Attempt(ctx.signed()).verify(ctx)
    assert vm.oin == VENDOR_OIN and vm.action == ACTION


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_attack_is_refused(ctx, case, monkeypatch):
    attempt = case.attempt(ctx)
    if case.parse_forbidden:
        monkeypatch.setattr(xmlparse.etree, "fromstring", _forbidden)
    if case.digest_forbidden:
        monkeypatch.setattr(checks_module, "exc_c14n", _no_digests)
    with pytest.raises(SecurityError) as info:
        attempt.verify(ctx)
    err = info.value
    assert type(err) is case.error, f"{case.name}: {type(err).__name__}: {err}"
    assert err.rule == case.rule, f"{case.name}: {err}"
    assert_safe_message(err, ctx.pki_dir, ctx.vendor.bst_value[:32], "/etc/passwd", "root:x:")
    assert len(attempt.replay) == 0 or case.name == "replayed_message_id"


def test_the_catalogue_raises_nothing_but_security_errors(ctx):
    """Across all cases: each one is refused, and with a SecurityError subclass, never anything else."""
    outcomes = {}
    for case in CASES:
        try:
            case.attempt(ctx).verify(ctx)
        except SecurityError as err:
            outcomes[case.name] = type(err)
        except BaseException as err:  # noqa: BLE001 - that is the property under test
            outcomes[case.name] = f"escaped: {type(err).__name__}"
        else:
            outcomes[case.name] = "ACCEPTED"
    bad = {name: outcome for name, outcome in outcomes.items() if not isinstance(outcome, type)}
    assert bad == {}
    assert len([c for c in CASES if c.name.startswith("xsw_")]) >= 10
    assert {c.rule for c in CASES} >= {"WB003", "WB004", "WB013", "SIGN003", "SIGN004", "PKI001", "PKI002",
                                       "GW-KEYUSAGE", "WB002", "GW-REPLAY", "WS002", "R1008", "GW-SIZE", "WS006",
                                       "GW-ENVELOPE", "WS007", "WB009", "WB010", "GW-ID"}


def test_external_dtd_does_not_touch_the_network(ctx):
    """Even the raw bytes never make libxml2 connect: a listening socket sees no connection attempt."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        port = server.getsockname()[1]
        data = with_doctype(ctx, b'<!DOCTYPE soapenv:Envelope SYSTEM "http://127.0.0.1:%d/x.dtd">' % port,
                            entity_in_body=b"&x;")
        with pytest.raises(MalformedMessage) as info:
            Attempt(data).verify(ctx)
        assert info.value.rule == "R1008"
        with pytest.raises(BlockingIOError):
            server.accept()


def test_wrapping_keeps_digests_valid_so_only_position_catches_it(ctx):
    """The catalogue's central XSW case is a real one: every digest and the SignatureValue still verify."""
    data = xsw_body_hidden_inside_the_unsigned_payload(ctx)
    root = tree(data)
    for ref in references(root):
        target = by_id(root, ref.get("URI")[1:])
        name = {v: k for k, v in ns.DIGEST_URI.items()}[one(ref, "ds:DigestMethod").get("Algorithm")]
        assert base64.b64encode(hashlib.new(name, c14n(target)).digest()).decode() == one(ref, "ds:DigestValue").text
    with pytest.raises(InvalidSecurity) as info:
        Attempt(data).verify(ctx)
    assert info.value.rule == "WB004" and "Body" in info.value.reason
