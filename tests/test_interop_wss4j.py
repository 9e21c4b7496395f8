"""Interop with Apache WSS4J 1.6, the stack most Dutch government and vendor SOAP services run.

WSS4J's default output carries ``ec:InclusiveNamespaces`` PrefixLists on every reference and on SignedInfo's
CanonicalizationMethod, with ``#default`` whenever a default namespace is in scope of a signed element; an empty
``PrefixList=""`` when nothing is. Our ``verify`` must accept such messages, and WSS4J must accept what our
``sign_request`` writes. The WSS4J side is ``tests/interop/wss4j/Wss4jTool.java``, compiled once per session
(Debian packages ``libwss4j-java`` and ``default-jdk-headless``; missing ones fail the tests, never skip them).
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from lxml import etree

from gateway.pki import init_pki, issue
from gateway.wsse import (
    Credentials,
    MemoryReplayStore,
    Policy,
    SecurityError,
    TrustStore,
    sign_request,
    verify,
)

try:  # pytest's default "prepend" import mode puts tests/ on sys.path
    from interop.wss4j_tool import SOAP11_NS, WSA_NS, WSU_NS, Wss4jTool, wss4j_tool  # noqa: F401 (fixture)
except ImportError:  # tests/ is a package, or --import-mode=importlib from the repository root
    from tests.interop.wss4j_tool import SOAP11_NS, WSA_NS, WSU_NS, Wss4jTool, wss4j_tool  # noqa: F401 (fixture)

pytestmark = pytest.mark.interop

ENDPOINT = "http://localhost/tc"
ACTION = "urn:x:ping"
PAYLOAD_NS = "urn:x"
SCHOOL_OIN = "00000001999999990000"

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
NSMAP = {"ds": DS_NS, "ec": EC_NS, "wsa": WSA_NS, "wsu": WSU_NS, "soap": SOAP11_NS}


def wsa_headers(message_id: str, *, with_from: bool, style: str) -> str:
    from_ = (
        f"<wsa:From><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous?oin={SCHOOL_OIN}"
        "</wsa:Address></wsa:From>"
        if with_from
        else ""
    )
    if style == "cxf":  # how Apache CXF writes them: unprefixed, each declaring the WS-Addressing namespace
        return (
            f'<Action xmlns="{WSA_NS}">{ACTION}</Action>'
            f'<MessageID xmlns="{WSA_NS}">{message_id}</MessageID>'
            f'<To xmlns="{WSA_NS}">{ENDPOINT}</To>'
        )
    return (
        f"<wsa:To>{ENDPOINT}</wsa:To><wsa:Action>{ACTION}</wsa:Action>"
        f"<wsa:MessageID>{message_id}</wsa:MessageID>{from_}"
    )


def unsigned_for_wss4j(style: str, message_id: str) -> bytes:
    """An unsigned request with its wsa headers, for WSS4J to sign."""
    if style == "default-ns-envelope":
        # The SOAP namespace is the default one: Envelope, Header and Body are unprefixed, and it is in scope of
        # every wsa header, so WSS4J writes PrefixList="#default" on their references.
        xml = (
            f'<Envelope xmlns="{SOAP11_NS}" xmlns:wsa="{WSA_NS}">'
            f"<Header>{wsa_headers(message_id, with_from=False, style=style)}</Header>"
            f'<Body><ping xmlns="{PAYLOAD_NS}"><text>hello</text></ping></Body></Envelope>'
        )
    elif style == "default-ns-ancestor":
        # A prefixed envelope whose root declares the payload's namespace as the default one: #default lands in
        # the PrefixList of the Body's reference (and of the wsa headers'); a wsa:From rides along.
        xml = (
            f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}" xmlns="{PAYLOAD_NS}" xmlns:wsa="{WSA_NS}">'
            f"<soapenv:Header>{wsa_headers(message_id, with_from=True, style=style)}</soapenv:Header>"
            "<soapenv:Body><ping><text>hello</text></ping></soapenv:Body></soapenv:Envelope>"
        )
    elif style == "cxf":
        # No default namespace in scope of a signed element: WSS4J writes PrefixList="" on the Body's reference.
        xml = (
            f'<soap:Envelope xmlns:soap="{SOAP11_NS}">'
            f"<soap:Header>{wsa_headers(message_id, with_from=False, style=style)}</soap:Header>"
            f'<soap:Body><ping xmlns="{PAYLOAD_NS}"><text>hello</text></ping></soap:Body></soap:Envelope>'
        )
    else:  # pragma: no cover
        raise ValueError(style)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode("utf-8")


def unsigned_for_us(style: str) -> bytes:
    """An unsigned request without wsa headers: ``sign_request`` adds them."""
    if style == "prefixed":
        xml = (
            f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}"><soapenv:Body>'
            f'<ping xmlns="{PAYLOAD_NS}"><text>hello</text></ping></soapenv:Body></soapenv:Envelope>'
        )
    elif style == "default-ns-envelope":
        xml = (
            f'<Envelope xmlns="{SOAP11_NS}"><Header/><Body>'
            f'<ping xmlns="{PAYLOAD_NS}"><text>hello</text></ping></Body></Envelope>'
        )
    else:  # pragma: no cover
        raise ValueError(style)
    return xml.encode("utf-8")


def prefix_lists(signed: bytes) -> dict[str, list[str] | None]:
    """The PrefixList of each Reference's exclusive c14n transform (by the referenced element's QName), and of
    SignedInfo's CanonicalizationMethod (key ``SignedInfo``); None where there is no InclusiveNamespaces."""
    doc = etree.fromstring(signed)
    ids = {el.get(f"{{{WSU_NS}}}Id"): el for el in doc.iter() if el.get(f"{{{WSU_NS}}}Id")}
    out: dict[str, list[str] | None] = {}
    cm = doc.find(".//ds:SignedInfo/ds:CanonicalizationMethod/ec:InclusiveNamespaces", NSMAP)
    out["SignedInfo"] = None if cm is None else cm.get("PrefixList", "").split()
    for ref in doc.iterfind(".//ds:SignedInfo/ds:Reference", NSMAP):
        target = ids[ref.get("URI")[1:]]
        inc = ref.find("ds:Transforms/ds:Transform/ec:InclusiveNamespaces", NSMAP)
        out[etree.QName(target).text] = None if inc is None else inc.get("PrefixList", "").split()
    return out


def signature_value_of(signed: bytes) -> str:
    doc = etree.fromstring(signed)
    return "".join(doc.findtext(".//ds:SignatureValue", namespaces=NSMAP).split())


def same_signature_value(ours, text: str) -> bool:
    """``vm.signature_value`` as base64 text (whitespace aside) or as the raw bytes."""
    if isinstance(ours, bytes):
        return ours == base64.b64decode(text) or "".join(ours.decode("ascii", "replace").split()) == text
    return "".join(str(ours).split()) == text


def trust_ca(party) -> Path:
    """The trust store that ``init_pki`` wrote next to the party's certificate: root and issuing CA."""
    return Path(party.cert_path).parent / "ca.pem"


def tamper(signed: bytes, old: bytes, new: bytes) -> bytes:
    assert signed.count(old) == 1, f"expected {old!r} once in the message"
    return signed.replace(old, new)


# ------------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wss4j-pki")
    init_pki(directory)
    return directory


@pytest.fixture(scope="module")
def school(pki_dir: Path):
    return issue(pki_dir, "school", SCHOOL_OIN)


@pytest.fixture(scope="module")
def trust(pki_dir: Path) -> TrustStore:
    return TrustStore.from_files(pki_dir / "ca.pem", pki_dir / "crl.pem")


@pytest.fixture(scope="module")
def creds(school) -> Credentials:
    return Credentials.from_files(school.cert_path, school.key_path)


def our_verify(signed: bytes, trust: TrustStore):
    return verify(signed, policy=Policy(endpoint=ENDPOINT), trust=trust, replay=MemoryReplayStore())


# --------------------------------------------------------------------------------------------------------- tests

WSS4J_STYLES = ["default-ns-envelope", "default-ns-ancestor", "cxf"]


@pytest.mark.parametrize("style", WSS4J_STYLES)
def test_we_verify_what_wss4j_signs(style: str, wss4j_tool: Wss4jTool, school, trust: TrustStore):
    """(a) A WSS4J-signed request, with #default in its PrefixLists, passes our verify: right OIN, Body, ids."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    signed = wss4j_tool.sign(school.cert_path, school.key_path, unsigned_for_wss4j(style, message_id))

    # First make sure WSS4J wrote what this test is about.
    lists = prefix_lists(signed)
    names = {f"{{{SOAP11_NS}}}Body", f"{{{WSU_NS}}}Timestamp"}
    names |= {f"{{{WSA_NS}}}{n}" for n in ("To", "Action", "MessageID")}
    assert names <= set(lists), lists
    assert all(v is not None for v in lists.values()), f"WSS4J always writes InclusiveNamespaces: {lists}"
    if style == "default-ns-envelope":
        for name in ("To", "Action", "MessageID"):
            assert "#default" in lists[f"{{{WSA_NS}}}{name}"], lists
    elif style == "default-ns-ancestor":
        assert "#default" in lists[f"{{{SOAP11_NS}}}Body"], lists
        assert "#default" in lists[f"{{{WSA_NS}}}From"], lists
    else:
        assert lists[f"{{{SOAP11_NS}}}Body"] == [], lists  # PrefixList=""
        assert not any("#default" in v for v in lists.values()), lists
    assert wss4j_tool.verify(trust_ca(school), signed).ok  # WSS4J accepts its own message

    vm = our_verify(signed, trust)
    assert vm.oin == SCHOOL_OIN
    assert etree.QName(vm.body).text == f"{{{PAYLOAD_NS}}}ping"
    assert vm.body.findtext(f"{{{PAYLOAD_NS}}}text") == "hello"
    assert vm.message_id == message_id
    assert vm.action == ACTION
    assert vm.to == ENDPOINT
    assert same_signature_value(vm.signature_value, signature_value_of(signed))



@pytest.mark.parametrize("style", ["prefixed", "default-ns-envelope"])
def test_wss4j_verifies_what_we_sign(style: str, wss4j_tool: Wss4jTool, school, creds: Credentials):
    """(b) WSSecurityEngine accepts our signed request, and our signature covers Body, Timestamp, every wsa header."""
    signed = sign_request(unsigned_for_us(style), creds, to=ENDPOINT, action=ACTION, from_oin=SCHOOL_OIN)

    verdict = wss4j_tool.verify(trust_ca(school), signed)
    assert verdict.ok, f"WSS4J refused our message: {verdict.error}\n{verdict.process.stderr[-3000:]}"
    assert verdict.error is None
    assert verdict.signer_oin == SCHOOL_OIN, verdict.signer

    doc = etree.fromstring(signed)
    header = doc.find(f"{{{SOAP11_NS}}}Header")
    wsa_present = {
        etree.QName(el).text for el in header if isinstance(el.tag, str) and etree.QName(el).namespace == WSA_NS
    }
    assert {f"{{{WSA_NS}}}{n}" for n in ("To", "Action", "MessageID", "From")} <= wsa_present
    required = {f"{{{SOAP11_NS}}}Body", f"{{{WSU_NS}}}Timestamp"} | wsa_present
    assert required <= set(verdict.signed), f"not signed: {required - set(verdict.signed)}"


@pytest.mark.parametrize(
    "old,new",
    [
        (b"<text>hello</text>", b"<text>hellO</text>"),  # the Body's text
        (f">{ACTION}<".encode(), b">urn:x:pong<"),  # a signed wsa header
    ],
    ids=["body-text", "wsa-action"],
)
@pytest.mark.parametrize("style", ["default-ns-envelope", "default-ns-ancestor"])
def test_we_refuse_a_tampered_wss4j_message(style: str, old: bytes, new: bytes, wss4j_tool: Wss4jTool, school,
                                            trust: TrustStore):
    """(c) A WSS4J-signed request whose signed content changed is refused, by us and by WSS4J."""
    signed = wss4j_tool.sign(school.cert_path, school.key_path, unsigned_for_wss4j(style, f"urn:uuid:{uuid.uuid4()}"))
    tampered = tamper(signed, old, new)
    verdict = wss4j_tool.verify(trust_ca(school), tampered)
    assert not verdict.ok and verdict.error, "WSS4J itself must refuse the tampered message"
    with pytest.raises(SecurityError):
        our_verify(tampered, trust)


def test_wss4j_refuses_what_we_sign_when_tampered(wss4j_tool: Wss4jTool, school, creds: Credentials):
    """The oracle of (b) is not vacuous: WSS4J refuses our message once its Body changed."""
    signed = sign_request(unsigned_for_us("prefixed"), creds, to=ENDPOINT, action=ACTION, from_oin=SCHOOL_OIN)
    verdict = wss4j_tool.verify(trust_ca(school), tamper(signed, b"<text>hello</text>", b"<text>hellO</text>"))
    assert not verdict.ok
    assert verdict.error
