"""Property test: a signed message mutated at random is either refused with a SecurityError, or accepted with
exactly the meaning that was signed.

Mutations: bytes flipped, inserted or deleted; elements moved, duplicated, deleted, wrapped, renamed or swapped;
attributes set or removed; text and tails changed; comments and processing instructions inserted; namespace
prefixes rebound or redeclared. The oracle, for an accepted message: the exclusive canonical form and the lxml
reading of the verified Body child, every WS-Addressing header, the Timestamp and every value the VerifiedMessage
reports equal those of the original. Anything but a SecurityError escaping is a failure too.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.wsse import MemoryReplayStore, Policy, TrustStore, ns, sign_request, verify
from gateway.wsse.errors import SecurityError
from tests.conftest import ENDPOINT
from tests.wsse_helpers import ACTION, assert_safe_message, c14n, envelope, ms, q, reading, tree

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
