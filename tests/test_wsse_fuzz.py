"""Property test: a signed message mutated at random is either refused with a SecurityError, or accepted with
exactly the meaning that was signed.

Mutations: bytes flipped, inserted or deleted; elements moved, duplicated, deleted, wrapped, renamed or swapped;
attributes set or removed; text and tails changed; comments and processing instructions inserted; namespace
prefixes rebound or redeclared. The oracle, for an accepted message: the exclusive canonical form and the lxml
reading of the verified Body child, every WS-Addressing header, the Timestamp and every value the VerifiedMessage
reports equal those of the original. Anything but a SecurityError escaping is a failure too.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.servicedesk.diagnose import Report, render, run
from gateway.wsse import MemoryReplayStore, Policy, TrustStore, ns, sign_request, sign_response, verify
from gateway.wsse.diagnose import COULD_NOT_RUN, REQUEST
from gateway.wsse.errors import RULES, SecurityError
from tests.conftest import ENDPOINT
from tests.wsse_helpers import (
    ACTION,
    MD5_DIGEST,
    RSA_SHA1,
    SHA1_DIGEST,
    assert_safe_message,
    c14n,
    envelope,
    ms,
    one,
    q,
    reading,
    resign,
    signature_value,
    to_bytes,
    tree,
    xp,
)

# A payload with some texture: attributes, a default namespace, mixed content, xml:lang.
PAYLOAD = (
    b'<m:aanvraag xmlns:m="urn:test:oso:aanvraag" xmlns="urn:test:default" versie="1">'
    b'<m:leerling nummer="12345">Jan <b>Jansen</b> jr.</m:leerling>'
    b'<tekst xml:lang="nl">hallo wereld</tekst>'
    b"<leeg/>"
    b"</m:aanvraag>"
)
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Original:
    data: bytes
    trust: TrustStore
    now: datetime
    body_c14n: bytes
    body_reading: list
    headers: dict
    timestamp_c14n: bytes
    values: tuple
    ids: tuple[str, ...]
    namespaces: tuple[str, ...]


def _headers(envelope_el: etree._Element) -> dict[str, bytes]:
    header = envelope_el.find(q(ns.SOAP11, "Header"))
    return {etree.QName(el).localname: c14n(el)
            for el in header if isinstance(el.tag, str) and etree.QName(el).namespace == ns.WSA}


def _timestamp(envelope_el: etree._Element) -> bytes:
    return c14n(envelope_el.find(f"{q(ns.SOAP11, 'Header')}/{q(ns.WSSE, 'Security')}/{q(ns.WSU, 'Timestamp')}"))


def _values(vm) -> tuple:
    return (vm.oin, vm.action, vm.message_id, vm.to, vm.from_address, vm.relates_to, vm.created, vm.expires,
            vm.certificate, vm.signature_value)


def _verify(original: Original, data: bytes):
    return verify(data, policy=Policy(endpoint=ENDPOINT), trust=original.trust, replay=MemoryReplayStore(),
                  soap_action=ACTION, now=original.now)


@pytest.fixture(scope="module")
def original(pki) -> Original:
    vendor, trust = pki.credentials("vendor"), pki.trust()
    now = ms(datetime.now(timezone.utc))
    data = sign_request(envelope(PAYLOAD), vendor, to=ENDPOINT, action=ACTION, now=now)
    vm = verify(data, policy=Policy(endpoint=ENDPOINT), trust=trust, now=now)
    root = tree(data)
    ids = tuple(sorted(set(root.xpath("//@*[local-name()='Id']"))))
    namespaces = tuple(sorted({uri for el in root.iter() for uri in el.nsmap.values()} | {"urn:test:evil"}))
    return Original(data, trust, now, c14n(vm.body), reading(vm.body), _headers(vm.envelope),
                    _timestamp(vm.envelope), _values(vm), ids, namespaces)


def judge(original: Original, data: bytes) -> bool:
    """Refused with a clean SecurityError (False), or accepted with the signed meaning intact (True)."""
    try:
        vm = _verify(original, data)
    except SecurityError as err:
        assert_safe_message(err)
        return False
    assert c14n(vm.body) == original.body_c14n
    assert reading(vm.body) == original.body_reading
    assert _headers(vm.envelope) == original.headers
    assert _timestamp(vm.envelope) == original.timestamp_c14n
    assert _values(vm) == original.values
    return True


def test_the_oracle_tells_harmless_from_harmful(original):
    """The judge itself: the original and harmless edits are accepted, a changed Body or header is refused."""
    assert judge(original, original.data)
    assert judge(original, original.data.replace(b"hallo wereld", b"hallo<!-- c --> wereld"))
    assert judge(original, original.data.replace(b"<soapenv:Header>", b"<soapenv:Header>\n  "))
    assert not judge(original, original.data.replace(b"hallo wereld", b"hallo werelt"))
    assert not judge(original, original.data.replace(b">urn:test:oso:aanvraag<", b">urn:test:oso:verwijder<"))
    assert not judge(original, original.data[:100])


# ------------------------------------------------------------------------------------------------ bytes


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_byte_mutations(original, data):
    message = bytearray(original.data)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]), label="op")
        at = data.draw(st.integers(0, len(message) - 1), label="at")
        if op == "flip":
            message[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif op == "insert":
            message[at:at] = data.draw(st.binary(min_size=1, max_size=4), label="bytes")
        elif op == "delete":
            del message[at:at + data.draw(st.integers(1, 8), label="length")]
        else:
            message[at] = data.draw(st.sampled_from(b"<>&\"'=/ :x0\x00\xff\x80"), label="byte")
        if not message:
            message = bytearray(b"<")
    judge(original, bytes(message))


# ------------------------------------------------------------------------------------------------- tree

_TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ019 \n\t<>&\"':/?=#é€")), max_size=12)
_ATTRIBUTES = [
    "Id", "ID", "URI", "Algorithm", "ValueType", "EncodingType", "Value", "nummer", "x",
    q(ns.WSU, "Id"), q(ns.SOAP11, "mustUnderstand"), q(ns.SOAP11, "encodingStyle"), q(ns.SOAP11, "actor"),
    "{http://www.w3.org/XML/1998/namespace}id", "{urn:test:evil}y",
]
_TAGS = [
    q(ns.SOAP11, "Envelope"), q(ns.SOAP11, "Header"), q(ns.SOAP11, "Body"), q(ns.WSSE, "Security"),
    q(ns.WSU, "Timestamp"), q(ns.WSU, "Created"), q(ns.WSA, "To"), q(ns.WSA, "Action"), q(ns.WSA, "MessageID"),
    q(ns.WSA, "From"), q(ns.WSA, "ReplyTo"), q(ns.WSA, "RelatesTo"), q(ns.DS, "Signature"), q(ns.DS, "Object"),
    q(ns.DS, "Reference"), q("urn:test:evil", "Wrapper"), q("urn:test:oso:aanvraag", "tekst"),
]
_OPS = ["move", "duplicate", "delete", "wrap", "rename", "swap", "set_attr", "del_attr", "text", "tail",
        "comment", "pi"]


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _pick(data, items: list, label: str):
    return items[data.draw(st.integers(0, 10_000), label=label) % len(items)]


def _destination(data, root, moving: etree._Element | None):
    """A parent that is not ``moving`` or inside it, and a position in it."""
    candidates = [el for el in _elements(root)
                  if moving is None or (el is not moving and moving not in el.iterancestors())]
    parent = _pick(data, candidates, "parent")
    return parent, data.draw(st.integers(0, len(parent)), label="position")


def _mutate(data, root: etree._Element, original: Original) -> None:
    op = data.draw(st.sampled_from(_OPS), label="op")
    elements = _elements(root)
    el = _pick(data, elements, "element")
    not_root = [e for e in elements if e is not root]
    if not not_root and op in ("move", "duplicate", "delete", "wrap", "swap"):
        op = "text"
    if op == "move":
        el = _pick(data, not_root, "moved")
        parent, position = _destination(data, root, el)
        parent.insert(position, el)
    elif op == "duplicate":
        clone = copy.deepcopy(_pick(data, not_root, "duplicated"))
        parent, position = _destination(data, root, None)
        parent.insert(position, clone)
    elif op == "delete":
        el = _pick(data, not_root, "deleted")
        el.getparent().remove(el)
    elif op == "wrap":
        el = _pick(data, not_root, "wrapped")
        box = etree.Element(data.draw(st.sampled_from(_TAGS), label="wrapper"))
        el.addprevious(box)
        box.append(el)
    elif op == "rename":
        el.tag = data.draw(st.sampled_from(_TAGS), label="tag")
    elif op == "swap":
        a, b = _pick(data, not_root, "a"), _pick(data, not_root, "b")
        if a is not b and a not in b.iterancestors() and b not in a.iterancestors():
            marker = etree.Comment("swap")
            a.addprevious(marker)
            b.addprevious(a)
            marker.addprevious(b)
            marker.getparent().remove(marker)
    elif op == "set_attr":
        value = data.draw(st.one_of(st.sampled_from(original.ids), st.sampled_from(original.namespaces), _TEXT),
                          label="value")
        el.set(data.draw(st.sampled_from(_ATTRIBUTES), label="attribute"), value)
    elif op == "del_attr":
        if el.attrib:
            del el.attrib[_pick(data, sorted(el.attrib), "attribute")]
    elif op == "text":
        el.text = data.draw(_TEXT, label="text")
    elif op == "tail":
        if el is not root:
            el.tail = data.draw(_TEXT, label="tail")
    elif op == "comment":
        el.insert(data.draw(st.integers(0, len(el)), label="position"),
                  etree.Comment(data.draw(st.text(alphabet="abc <>&", max_size=8), label="comment")))
    else:
        el.insert(data.draw(st.integers(0, len(el)), label="position"), etree.ProcessingInstruction("evil", "x"))


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_tree_mutations(original, data):
    root = tree(original.data)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        _mutate(data, root, original)
    judge(original, etree.tostring(root, xml_declaration=data.draw(st.booleans(), label="declaration"),
                                   encoding="UTF-8"))


# ------------------------------------------------------------------------------------------- namespaces

_START_TAG = re.compile(rb"<([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)")
_DECLARATION = re.compile(rb'xmlns(?::([A-Za-z_][\w.-]*))?="([^"]*)"')


@settings(FUZZ, max_examples=50)
@given(data=st.data())
def test_namespace_rebinding(original, data):
    message = original.data
    prefixes = sorted({m.group(1) or b"" for m in _DECLARATION.finditer(message)} | {b"", b"x"})
    uris = [u.encode() for u in original.namespaces] + [b"relative", b""]
    for _ in range(data.draw(st.integers(1, 2), label="edits")):
        if data.draw(st.booleans(), label="redeclare"):
            # declare a prefix (again) on some start tag, bound to some namespace
            tags = list(_START_TAG.finditer(message))
            at = _pick(data, tags, "tag").end()
            prefix = data.draw(st.sampled_from(prefixes), label="prefix")
            name = b"xmlns:" + prefix if prefix else b"xmlns"
            uri = data.draw(st.sampled_from(uris), label="uri")
            message = message[:at] + b" " + name + b'="' + uri + b'"' + message[at:]
        else:
            # rebind an existing declaration to another namespace
            declarations = list(_DECLARATION.finditer(message))
            if not declarations:
                break
            m = _pick(data, declarations, "declaration")
            uri = data.draw(st.sampled_from(uris), label="uri")
            message = message[:m.start(2)] + uri + message[m.end(2):]
    judge(original, message)


# --------------------------------------------------------------------------------------------- diagnose
# The same generated messages, and more aimed at the signature (algorithms, base64, certificates), through the
# servicedesk's diagnose: it must return a Report whatever the bytes, every check that cannot run must be a finding
# with its rule (never a traceback), none may have broken (COULD_NOT_RUN is a bug of ours), it renders to lines, and
# for a request its verdict is verify's own, with the cause among its findings.

CONTRACT_RULES = ("GW-XSD", "WSA-ACTION")  # the test payload and action are not the chain's contract

_ALGORITHMS = [RSA_SHA1, SHA1_DIGEST, MD5_DIGEST, ns.EXC_C14N, ns.EXC_C14N_WITH_COMMENTS, "", "urn:unknown:alg",
               "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256",
               "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
               "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "x" * 300, "\u202e\u200b?\t"]
_ALGORITHM_PLACES = ["//ds:SignatureMethod", "//ds:DigestMethod", "//ds:Transform", "//ds:CanonicalizationMethod"]
_BASE64_PLACES = ["//ds:DigestValue", "//ds:SignatureValue", "//wsse:BinarySecurityToken"]
_GARBAGE_BASE64 = st.one_of(st.sampled_from(["", "====", "AAAA", "not base64!", "QUJD\nREVG", "A" * 5, "€€"]),
                            st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()))


def _certificate_b64(key, *, serial_oin: str = "00000001234567890000") -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd"),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_oin)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@pytest.fixture(scope="module")
def odd_certificates(original) -> list[str]:
    """BinarySecurityToken values a sender may get wrong: a non-RSA (EC) key, a short RSA key, a self-signed
    stranger, a truncated certificate, not a certificate at all."""
    good = one(tree(original.data), "//wsse:BinarySecurityToken").text
    der = base64.b64decode(good)
    return [
        _certificate_b64(ec.generate_private_key(ec.SECP256R1())),
        _certificate_b64(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        _certificate_b64(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        base64.b64encode(der[: len(der) // 2]).decode(),
        base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
    ]


@dataclass(frozen=True)
class Exchange:
    request: bytes
    response: bytes
    message_id: str
    signature_value: str


@pytest.fixture(scope="module")
def exchange(pki, original) -> Exchange:
    message_id = tree(original.data).findtext(f".//{{{ns.WSA}}}MessageID")
    value = signature_value(original.data)
    response = sign_response(envelope(b'<m:antwoord xmlns:m="urn:test:oso:aanvraag">ok</m:antwoord>'),
                             pki.credentials("gateway"), relates_to=message_id, confirmation=value,
                             action=ACTION + "Response", now=original.now)
    return Exchange(original.data, response, message_id, value)


def diagnosed(original: Original, data: bytes, exchange: Exchange | None = None) -> Report:
    """Diagnose ``data`` (as a response to the exchange's request when given) and check the properties above."""
    request = (exchange.message_id, exchange.signature_value) if exchange else (None, None)
    report = run(data, trust=original.trust, at=original.now, to=ENDPOINT, soap_action=ACTION,
                 request_message_id=request[0], request_signature_value=request[1])
    assert isinstance(report, Report)
    broken = [f for f in report.findings if f.detail.startswith(COULD_NOT_RUN)]
    assert broken == [], broken
    assert all(f.rule is None or f.rule in RULES for f in report.findings)
    lines = render("m.xml", report)
    assert lines and all(isinstance(line, str) and "Traceback" not in line for line in lines)
    d = report.diagnosis
    assert d.judged
    if d.kind == REQUEST and exchange is None:
        try:
            _verify(original, data)
        except SecurityError as err:
            assert d.verdict is not None and (d.verdict.rule, d.verdict.reason) == (err.rule, err.reason)
            if err.rule != "GW-REPLAY":  # diagnose keeps no replay store
                assert err.rule in {f.rule for f in report.failures}, (err, report.failures)
        else:
            assert d.verdict is None
            # a message verify accepts passes every check of the profile (the test payload is not the chain's)
            assert [f for f in report.failures if f.rule not in CONTRACT_RULES] == []
    return report


def test_diagnose_judges_the_originals(original, exchange):
    """The oracle itself: the signed request and its response are valid; a changed Body is refused with its cause."""
    assert diagnosed(original, original.data).diagnosis.verdict is None
    assert diagnosed(original, exchange.response, exchange).diagnosis.verdict is None
    unbound = diagnosed(original, exchange.response)  # a response judged without its request
    assert unbound.diagnosis.verdict is None and unbound.diagnosis.kind != REQUEST
    changed = diagnosed(original, original.data.replace(b"hallo wereld", b"hallo werelt"))
    assert changed.diagnosis.verdict.rule == "WB013"
    assert [f.rule for f in changed.failures if f.rule not in CONTRACT_RULES] == ["WB013"]


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_diagnose_byte_mutations(original, data):
    message = bytearray(original.data)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.integers(0, len(message) - 1), label="at")
        if data.draw(st.booleans(), label="flip"):
            message[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        else:
            del message[at:at + data.draw(st.integers(1, 8), label="length")]
        if not message:
            message = bytearray(b"<")
    diagnosed(original, bytes(message))


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_diagnose_tree_mutations(original, exchange, data):
    """Moved, duplicated, deleted, wrapped, renamed elements and changed attributes and text, in requests and in
    responses (judged with and without their request)."""
    target = data.draw(st.sampled_from(["request", "response", "unbound response"]), label="message")
    root = tree(exchange.response if target != "request" else original.data)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        _mutate(data, root, original)
    diagnosed(original, etree.tostring(root, encoding="UTF-8"), exchange if target == "response" else None)


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_diagnose_signature_mutations(original, exchange, odd_certificates, pki, data):
    """Algorithms changed (RSA-SHA1, SHA-1, MD5, unknown and absurd URIs), re-signed or not; garbage base64 in
    digests, the SignatureValue and the token; other certificates (EC, RSA-1024, a stranger, truncated); elements of
    the signature removed or duplicated."""
    target = data.draw(st.sampled_from(["request", "response"]), label="message")
    root = tree(exchange.response if target == "response" else original.data)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["algorithm", "base64", "certificate", "remove", "duplicate"]), label="op")
        if op == "algorithm":
            el = _pick(data, xp_all(root, data.draw(st.sampled_from(_ALGORITHM_PLACES), label="place")), "element")
            if el is not None:
                el.set("Algorithm", data.draw(st.sampled_from(_ALGORITHMS), label="algorithm"))
        elif op == "base64":
            el = _pick(data, xp_all(root, data.draw(st.sampled_from(_BASE64_PLACES), label="place")), "element")
            if el is not None:
                el.text = data.draw(_GARBAGE_BASE64, label="text")
        elif op == "certificate":
            el = _pick(data, xp_all(root, "//wsse:BinarySecurityToken"), "element")
            if el is not None:
                el.text = data.draw(st.sampled_from(odd_certificates), label="certificate")
        else:
            path = data.draw(st.sampled_from(["//ds:Reference", "//ds:Transforms", "//ds:KeyInfo/*",
                                              "//wsse:BinarySecurityToken", "//ds:SignatureMethod",
                                              "//wsse11:SignatureConfirmation", "//ds:SignedInfo",
                                              "//wsu:Timestamp/*"]), label="path")
            el = _pick(data, xp_all(root, path), "element")
            if el is not None and el.getparent() is not None:
                if op == "remove":
                    el.getparent().remove(el)
                else:
                    el.addnext(copy.deepcopy(el))
    if data.draw(st.booleans(), label="re-sign") and _resignable(root):
        key = (pki.credentials("gateway") if target == "response" else pki.credentials("vendor")).private_key
        resign(root, key, redigest_all=data.draw(st.booleans(), label="redigest"))
    bound = target == "response" and data.draw(st.booleans(), label="with its request")
    diagnosed(original, to_bytes(root), exchange if bound else None)


def xp_all(root: etree._Element, path: str) -> list[etree._Element | None]:
    """The elements at ``path``, or [None] when there are none (a mutation that finds nothing does nothing)."""
    return xp(root, path) or [None]


def _resignable(root: etree._Element) -> bool:
    """Whether the attacker's re-sign can run: one SignedInfo with a SignatureMethod it knows, digests it knows."""
    methods = xp(root, "//wsse:Security/ds:Signature/ds:SignedInfo/ds:SignatureMethod")
    if len(xp(root, "//wsse:Security/ds:Signature/ds:SignedInfo")) != 1 or len(methods) != 1 \
            or len(xp(root, "//wsse:Security/ds:Signature/ds:SignatureValue")) != 1:
        return False
    known_digests = set(ns.DIGESTS) | {SHA1_DIGEST, MD5_DIGEST}
    return methods[0].get("Algorithm") in set(ns.SIGNATURES) | {RSA_SHA1} and all(
        m.get("Algorithm") in known_digests for m in xp(root, "//ds:DigestMethod"))


def test_diagnose_on_rsa_sha1_names_the_rule(original, pki):
    """The most common refusal of a vendor's message: RSA-SHA1, signed for real. No KeyError, the rule explained."""
    root = tree(original.data)
    one(root, "//ds:SignatureMethod").set("Algorithm", RSA_SHA1)
    data = to_bytes(resign(root, pki.credentials("vendor").private_key))
    report = diagnosed(original, data)
    assert report.diagnosis.verdict.rule == "SIGN004"
    lines = render("m.xml", report)
    assert lines[0] == "m.xml: REFUSED SIGN004 [wsse:UnsupportedAlgorithm] the signature algorithm is not RSA with " \
                       "SHA-256/384/512"
    assert lines[1].startswith("  cause: the signature is RSA with SHA-256, SHA-384 or SHA-512; to fix: sign with "
                               "RSA-SHA-256")
    assert any(line.startswith("FAIL SIGN004") and "RSA-SHA1" in line for line in lines)

