"""Interop with libxmlsec1, the C library most non-Java WS-Security stacks sit on, through three doors:

* the ``xmlsec1`` command line (Debian package ``xmlsec1``, libxmlsec1 1.2.x with OpenSSL);
* zeep's verifier (``zeep.wsse.signature``, on python-xmlsec), which zeep clients use to check signed responses;
* python-xmlsec (``xmlsec``, bundling libxmlsec1 1.3.x), through the independent WUS peer in ``xmlsec_peer.py``.

What we sign must verify with each; what python-xmlsec signs in the WUS layout must verify with ours; and each
of them must refuse a tampered copy (so that an "OK" means something). A missing ``xmlsec1`` fails, never skips.

libxmlsec1 does not understand a ``wsse:SecurityTokenReference`` in KeyInfo (it looks for ds:X509Data,
ds:KeyValue, ds:KeyName, ...). So ``xmlsec1`` is run two ways: on the message exactly as signed, with the key of
the BinarySecurityToken's certificate given on the command line (``--pubkey-cert-pem``), and on a copy whose
(unsigned) KeyInfo carries that certificate as ds:X509Data, with the test CA as ``--trusted-pem`` so that xmlsec1
also checks the certificate chain. ``--id-attr:Id ns:Name`` tells xmlsec1 which attributes are ids (it matches the
attribute by local name, so it finds ``wsu:Id``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest
import xmlsec
from lxml import etree
from zeep.exceptions import SignatureVerificationFailed
from zeep.wsse import signature as zeep_signature

from gateway.wsse import (
    MemoryReplayStore,
    Policy,
    SecurityError,
    sign_request,
    sign_response,
    verify,
)
from gateway.wsse.errors import FailedCheck

try:  # pytest's default "prepend" import mode puts tests/ on sys.path
    from xmlsec_peer import DS_NS, SOAP_NS, WSA_NS, WSSE_NS, WSU_NS, XmlsecPeer, xmlsec_sign, xmlsec_verify
except ImportError:  # tests/ is a package, or --import-mode=importlib from the repository root
    from tests.xmlsec_peer import DS_NS, SOAP_NS, WSA_NS, WSSE_NS, WSU_NS, XmlsecPeer, xmlsec_sign, xmlsec_verify

pytestmark = pytest.mark.interop

ENDPOINT = "http://localhost:8080/tc"
ACTION = "urn:x:ping"
PAYLOAD_NS = "urn:x"
WSSE11_NS = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
VENDOR_OIN = "00000001234567890000"
TIMEOUT = 60  # seconds, for each xmlsec1 run

UNSIGNED = (
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<ping xmlns="{PAYLOAD_NS}"><text>hello</text></ping></soapenv:Body></soapenv:Envelope>'
).encode()
UNSIGNED_RESPONSE = (
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<pong xmlns="{PAYLOAD_NS}"><text>hello back</text></pong></soapenv:Body></soapenv:Envelope>'
).encode()

# Every element the profile signs by wsu:Id, for xmlsec1's --id-attr (and the token, which KeyInfo points at).
ID_ELEMENTS = [
    (WSA_NS, "To"), (WSA_NS, "Action"), (WSA_NS, "MessageID"), (WSA_NS, "RelatesTo"), (WSA_NS, "From"),
    (WSA_NS, "ReplyTo"), (WSU_NS, "Timestamp"), (SOAP_NS, "Body"), (WSSE_NS, "BinarySecurityToken"),
    (WSSE11_NS, "SignatureConfirmation"),
]
NS = {"ds": DS_NS, "wsse": WSSE_NS, "wsu": WSU_NS, "soap": SOAP_NS, "wsa": WSA_NS, "wsse11": WSSE11_NS}


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def tamper(signed: bytes, old: bytes, new: bytes) -> bytes:
    assert signed.count(old) == 1, f"expected {old!r} once in the message"
    return signed.replace(old, new)


def reference_count(signed: bytes) -> int:
    return len(etree.fromstring(signed).findall(".//ds:SignedInfo/ds:Reference", NS))


def bst_certificate_pem(signed: bytes) -> bytes:
    """The certificate of the message's BinarySecurityToken, as PEM (what a receiver has to go on)."""
    text = etree.fromstring(signed).findtext(".//wsse:Security/wsse:BinarySecurityToken", namespaces=NS)
    b64 = "".join(text.split())
    return b"-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(b64, 64)).encode() + \
        b"\n-----END CERTIFICATE-----\n"


def with_x509data_keyinfo(signed: bytes) -> bytes:
    """A copy whose KeyInfo holds the token's certificate as ds:X509Data (KeyInfo is not signed)."""
    root = etree.fromstring(signed)
    key_info = root.find(".//wsse:Security/ds:Signature/ds:KeyInfo", NS)
    cert = root.findtext(".//wsse:Security/wsse:BinarySecurityToken", namespaces=NS)
    for child in list(key_info):
        key_info.remove(child)
    data = etree.SubElement(key_info, f"{{{DS_NS}}}X509Data")
    etree.SubElement(data, f"{{{DS_NS}}}X509Certificate").text = cert
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.fixture(scope="module")
def xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    assert path, "the xmlsec1 command line is missing: apt-get install xmlsec1 (see `make system-deps`)"
    return path


@pytest.fixture(scope="module")
def ca_files(pki, tmp_path_factory) -> tuple[Path, Path]:
    """The root CA (trusted) and the issuing CA (untrusted intermediate) as separate PEM files: xmlsec1 reads
    one certificate per file."""
    d = tmp_path_factory.mktemp("xmlsec1-ca")
    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\r?\n", pki.ca.read_bytes(), re.S)
    assert len(pems) == 2, "ca.pem holds the root CA followed by the issuing CA"
    (d / "root.pem").write_bytes(pems[0])
    (d / "issuing.pem").write_bytes(pems[1])
    return d / "root.pem", d / "issuing.pem"


@pytest.fixture(scope="module")
def vendor(pki):
    return pki.party("vendor")


@pytest.fixture(scope="module")
def peer(pki, vendor) -> XmlsecPeer:
    return XmlsecPeer(vendor.key_path, vendor.cert_path, pki.ca)


def run_xmlsec1(xmlsec1: str, tmp_path: Path, signed: bytes, *, key_args: list[str]) -> subprocess.CompletedProcess:
    message = tmp_path / f"msg-{uuid.uuid4().hex}.xml"
    message.write_bytes(signed)
    ids = []
    for namespace, name in ID_ELEMENTS:
        ids += ["--id-attr:Id", f"{namespace}:{name}"]
    cmd = [xmlsec1, "--verify", "--enabled-reference-uris", "same-doc", *key_args, *ids, str(message)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def xmlsec1_with_bst_key(xmlsec1: str, tmp_path: Path, signed: bytes, *, cert_from: bytes | None = None):
    """xmlsec1 on the message as it is, the key taken from the token's certificate (of ``cert_from``, default the
    message itself). xmlsec1 checks no chain this way."""
    cert = tmp_path / f"bst-{uuid.uuid4().hex}.pem"
    cert.write_bytes(bst_certificate_pem(cert_from or signed))
    return run_xmlsec1(xmlsec1, tmp_path, signed, key_args=["--pubkey-cert-pem", str(cert)])


def xmlsec1_with_chain(xmlsec1: str, tmp_path: Path, signed: bytes, ca_files: tuple[Path, Path]):
    """xmlsec1 on a copy with the certificate in ds:X509Data: xmlsec1 also verifies the chain to the test root."""
    root, issuing = ca_files
    return run_xmlsec1(
        xmlsec1, tmp_path, with_x509data_keyinfo(signed),
        key_args=["--trusted-pem", str(root), "--untrusted-pem", str(issuing)],
    )


def assert_xmlsec1_ok(result: subprocess.CompletedProcess, references: int) -> None:
    assert result.returncode == 0, f"xmlsec1 refused our message:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert "OK" in result.stdout + result.stderr
    # xmlsec1 reports how many SignedInfo references it checked: all of them.
    assert f"SignedInfo References (ok/all): {references}/{references}" in result.stdout + result.stderr


def our_verify(signed: bytes, pki):
    return verify(signed, policy=Policy(endpoint=ENDPOINT), trust=pki.trust(), replay=MemoryReplayStore())


# ------------------------------------------------------------------------------------------------ xmlsec1 (C)


def test_xmlsec1_verifies_our_request(xmlsec1, pki, tmp_path, ca_files):
    signed = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    assert reference_count(signed) == 6  # To, Action, MessageID, From, Timestamp, Body
    assert_xmlsec1_ok(xmlsec1_with_bst_key(xmlsec1, tmp_path, signed), 6)
    assert_xmlsec1_ok(xmlsec1_with_chain(xmlsec1, tmp_path, signed, ca_files), 6)


@pytest.mark.parametrize(
    "old,new",
    [
        (b"<text>hello</text>", b"<text>hellO</text>"),  # the Body
        (f">{ACTION}<".encode(), b">urn:x:pong<"),  # wsa:Action
        (f">{ENDPOINT}<".encode(), b">http://elsewhere/tc<"),  # wsa:To
        (b"<wsu:Created>20", b"<wsu:Created>19"),  # the Timestamp
    ],
    ids=["body", "wsa-action", "wsa-to", "timestamp"],
)
def test_xmlsec1_refuses_our_request_tampered(xmlsec1, pki, tmp_path, ca_files, old, new):
    signed = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    tampered = tamper(signed, old, new)
    # The key must be the signer's, read from the untouched message: the tampering is in what is signed.
    result = xmlsec1_with_bst_key(xmlsec1, tmp_path, tampered, cert_from=signed)
    assert result.returncode != 0, result.stdout
    assert xmlsec1_with_chain(xmlsec1, tmp_path, tampered, ca_files).returncode != 0


def test_xmlsec1_refuses_a_signer_outside_the_trusted_chain(xmlsec1, pki, tmp_path, ca_files):
    """The chain variant is not vacuous: a certificate from a CA outside the trust store is refused."""
    stranger = pki.credentials("xmlsec-stranger", untrusted=True)
    signed = sign_request(UNSIGNED, stranger, to=ENDPOINT, action=ACTION)
    assert_xmlsec1_ok(xmlsec1_with_bst_key(xmlsec1, tmp_path, signed), 6)  # the signature itself is fine
    assert xmlsec1_with_chain(xmlsec1, tmp_path, signed, ca_files).returncode != 0


def test_xmlsec1_verifies_our_response(xmlsec1, pki, tmp_path, ca_files):
    request = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    vm = our_verify(request, pki)
    response = sign_response(
        UNSIGNED_RESPONSE, pki.credentials("gateway"), relates_to=vm.message_id,
        confirmation=vm.signature_value, action=ACTION + "Response",
    )
    root = etree.fromstring(response)
    assert root.find(".//wsse11:SignatureConfirmation", NS).get("Value") == vm.signature_value
    # Action, MessageID, RelatesTo, Timestamp, SignatureConfirmation, Body
    assert reference_count(response) == 6
    assert_xmlsec1_ok(xmlsec1_with_bst_key(xmlsec1, tmp_path, response), 6)
    assert_xmlsec1_ok(xmlsec1_with_chain(xmlsec1, tmp_path, response, ca_files), 6)

    for old, new in [
        (b"<text>hello back</text>", b"<text>hello Back</text>"),
        (vm.message_id.encode(), new_message_id().encode()),  # RelatesTo
        (f'Value="{vm.signature_value}"'.encode(), f'Value="{vm.signature_value[:-4]}AAA="'.encode()),
    ]:
        tampered = tamper(response, old, new)
        assert xmlsec1_with_bst_key(xmlsec1, tmp_path, tampered, cert_from=response).returncode != 0, old


# --------------------------------------------------------------------------------------------------- zeep

# zeep's verifier (zeep.wsse.signature._verify_envelope_with_key, behind Signature.verify / verify_envelope) checks
# the digests of whatever references SignedInfo happens to hold, and the SignatureValue, with a certificate the
# CALLER supplies. It does NOT check: which elements are referenced (not even that the Body is; wsa headers and
# the Timestamp may go unsigned), where they stand (signature wrapping), the algorithms (SHA-1 passes), the
# BinarySecurityToken (ignored: the key is the configured one), any certificate chain, validity or revocation,
# the Timestamp's freshness, or replay. It raises AttributeError rather than SignatureVerificationFailed when
# there is no wsse:Security header.


def test_zeep_verifies_our_request(pki, vendor):
    signed = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    envelope = etree.fromstring(signed)
    algorithms = {el.get("Algorithm") for el in envelope.iterfind(".//ds:SignedInfo//*[@Algorithm]", NS)}
    assert algorithms == {
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    }
    zeep_signature.verify_envelope(envelope, str(vendor.cert_path))  # raises on failure
    # The same through the object a zeep client is configured with.
    zeep_signature.BinarySignature(str(vendor.key_path), str(vendor.cert_path)).verify(etree.fromstring(signed))
    # ... and with the certificate the message itself carries.
    key = xmlsec.Key.from_memory(bst_certificate_pem(signed), xmlsec.KeyFormat.CERT_PEM, None)
    zeep_signature._verify_envelope_with_key(etree.fromstring(signed), key)


@pytest.mark.parametrize(
    "old,new",
    [(b"<text>hello</text>", b"<text>hellO</text>"), (f">{ACTION}<".encode(), b">urn:x:pong<")],
    ids=["body", "wsa-action"],
)
def test_zeep_refuses_our_request_tampered(pki, vendor, old, new):
    signed = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    with pytest.raises(SignatureVerificationFailed):
        zeep_signature.verify_envelope(etree.fromstring(tamper(signed, old, new)), str(vendor.cert_path))


def test_zeep_refuses_our_request_with_another_key(pki):
    signed = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    with pytest.raises(SignatureVerificationFailed):
        zeep_signature.verify_envelope(etree.fromstring(signed), str(pki.gateway.cert_path))


# ------------------------------------------------------------------------------------------ python-xmlsec


def test_we_verify_what_python_xmlsec_signs(pki, peer):
    message_id = new_message_id()
    signed = peer.sign(UNSIGNED, to=ENDPOINT, action=ACTION, message_id=message_id)
    assert reference_count(signed) == 6
    vm = our_verify(signed, pki)
    assert vm.oin == VENDOR_OIN
    assert etree.QName(vm.body).text == f"{{{PAYLOAD_NS}}}ping"
    assert vm.body.findtext(f"{{{PAYLOAD_NS}}}text") == "hello"
    assert vm.message_id == message_id
    assert vm.action == ACTION
    assert vm.to == ENDPOINT
    assert vm.from_address == f"http://www.w3.org/2005/08/addressing/anonymous?oin={VENDOR_OIN}"
    assert vm.signature_algorithm == "sha256" and vm.digest_algorithm == "sha256"
    assert peer.verify(signed)  # python-xmlsec accepts its own message


def test_we_verify_what_the_one_shot_python_xmlsec_signer_signs(pki, vendor):
    signed = xmlsec_sign(UNSIGNED, vendor.key_path, vendor.cert_path, to=ENDPOINT, action=ACTION,
                         message_id=new_message_id())
    assert our_verify(signed, pki).oin == VENDOR_OIN
    assert xmlsec_verify(signed, pki.ca)


@pytest.mark.parametrize(
    "old,new",
    [(b"<text>hello</text>", b"<text>hellO</text>"), (f">{ACTION}<".encode(), b">urn:x:pong<")],
    ids=["body", "wsa-action"],
)
def test_we_and_python_xmlsec_refuse_a_tampered_python_xmlsec_message(pki, peer, old, new):
    signed = peer.sign(UNSIGNED, to=ENDPOINT, action=ACTION, message_id=new_message_id())
    tampered = tamper(signed, old, new)
    assert not peer.verify(tampered)
    with pytest.raises(FailedCheck):
        our_verify(tampered, pki)


def test_python_xmlsec_verifies_ours(pki, peer):
    signed = sign_request(UNSIGNED, pki.credentials("vendor"), to=ENDPOINT, action=ACTION)
    assert peer.verify(signed)
    assert not peer.verify(tamper(signed, b"<text>hello</text>", b"<text>hellO</text>"))
    assert not peer.verify(tamper(signed, f">{ACTION}<".encode(), b">urn:x:pong<"))
    response = sign_response(UNSIGNED_RESPONSE, pki.credentials("gateway"), relates_to=new_message_id(),
                             confirmation="c2lnbmF0dXJl", action=ACTION + "Response")
    assert peer.verify(response)


def test_python_xmlsec_peer_checks_the_certificate_chain(pki, peer):
    """The bench compares our verify with this peer: it must do the chain check too, or the race is unfair."""
    stranger = pki.party("xmlsec-stranger", untrusted=True)
    strange_peer = XmlsecPeer(stranger.key_path, stranger.cert_path, pki.ca)
    signed = strange_peer.sign(UNSIGNED, to=ENDPOINT, action=ACTION, message_id=new_message_id())
    assert not peer.verify(signed)
    with pytest.raises(SecurityError):
        our_verify(signed, pki)
    # ... and it is the chain that fails: with the stranger's CA as the trust store, the same message verifies.
    assert XmlsecPeer(None, None, Path(stranger.cert_path).parent / "untrusted-ca.pem").verify(signed)
    # The lighter variant (key from the token, no chain) accepts it, and still checks the signature.
    assert peer.verify(signed, check_chain=False)
    assert not peer.verify(tamper(signed, b"<text>hello</text>", b"<text>hellO</text>"), check_chain=False)


def test_python_xmlsec_peer_refuses_sha1(pki, vendor, peer):
    """The peer's algorithm allow-list is on: a message signed with RSA-SHA1 is refused (as ours refuses it)."""
    signed = peer.sign(UNSIGNED, to=ENDPOINT, action=ACTION, message_id=new_message_id())
    # Re-sign SignedInfo with SHA-1 algorithms by hand, through python-xmlsec.
    root = etree.fromstring(signed)
    sig = root.find(".//ds:Signature", NS)
    sig.find("ds:SignedInfo/ds:SignatureMethod", NS).set("Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_file(str(vendor.key_path), xmlsec.KeyFormat.PEM)
    for el in root.iterfind(".//*[@wsu:Id]", NS):
        ctx.register_id(el, "Id", WSU_NS)
    key_info = sig.find("ds:KeyInfo", NS)
    sig.remove(key_info)  # xmlsec would otherwise try to write key data into the STR
    ctx.sign(sig)
    sig.append(key_info)
    resigned = etree.tostring(root)
    assert not peer.verify(resigned)
    with pytest.raises(SecurityError):
        our_verify(resigned, pki)
