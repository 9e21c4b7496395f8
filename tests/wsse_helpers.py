"""Message-building helpers shared by the WS-Security tests (sign/verify, the attack catalogue, the fuzzer).

Everything here is written against lxml, hashlib and cryptography directly, not against the gateway's own signer
internals, so that a hostile message built here is built the way an attacker would build it: parse, mutate,
recompute what the attacker can recompute (digests; a signature with a key the attacker holds), serialise.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from gateway.wsse import ns
from gateway.wsse.errors import SecurityError

NS = {
    "soap": ns.SOAP11,
    "wsse": ns.WSSE,
    "wsse11": ns.WSSE11,
    "wsu": ns.WSU,
    "wsa": ns.WSA,
    "ds": ns.DS,
    "ec": ns.EC,
    "m": "urn:test:oso:aanvraag",
}
PAYLOAD_NS = NS["m"]
ACTION = "urn:test:oso:aanvraag"
PAYLOAD = (
    b'<m:aanvraag xmlns:m="urn:test:oso:aanvraag">'
    b"<m:leerling nummer=\"12345\">Jan Jansen</m:leerling>"
    b"<m:tekst>hallo wereld</m:tekst>"
    b"</m:aanvraag>"
)

# Algorithm URIs outside the profile's allow-list, with the real algorithm behind each.
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
MD5_DIGEST = "http://www.w3.org/2001/04/xmldsig-more#md5"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
_DIGEST_NAMES = {**ns.DIGESTS, SHA1_DIGEST: "sha1", MD5_DIGEST: "md5"}
_SIGNATURE_HASHES = {
    **{uri: getattr(hashes, name.upper())() for uri, name in ns.SIGNATURES.items()},
    RSA_SHA1: hashes.SHA1(),
}


def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def envelope(payload: bytes = PAYLOAD, *, header: bool = True) -> bytes:
    """A bare SOAP 1.1 envelope around ``payload``, as a client builds it before signing."""
    head = b"<soapenv:Header/>" if header else b""
    return (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        + head + b"<soapenv:Body>" + payload + b"</soapenv:Body></soapenv:Envelope>"
    )


def fault_envelope(reason: str = "the request could not be read") -> bytes:
    return envelope(
        b"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>"
        + reason.encode() + b"</faultstring></soapenv:Fault>"
    )


def tree(data: bytes) -> etree._Element:
    """Parse a (trusted, test-made) message as an attacker's tool would: comments kept, nothing resolved."""
    parser = etree.XMLParser(remove_comments=False, resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xp(root: etree._Element, path: str, **variables) -> list:
    return root.xpath(path, namespaces=NS, **variables)


def one(root: etree._Element, path: str, **variables) -> etree._Element:
    found = xp(root, path, **variables)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0]


def by_id(root: etree._Element, ident: str) -> etree._Element:
    return one(root, "//*[@wsu:Id=$id]", id=ident)


def c14n(element: etree._Element) -> bytes:
    """Exclusive c14n without comments, straight from lxml (independent of gateway.wsse.c14n)."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def reading(element: etree._Element) -> list:
    """What a program reading ``element`` with lxml sees: every node's tag, attributes, text and tail."""
    out = []
    for node in element.iter():
        tail = node.tail if node is not element else None
        out.append((str(node.tag), sorted(node.attrib.items()), node.text, tail))
    return out


def signature_value(data: bytes) -> str:
    return "".join(one(tree(data), "//ds:SignatureValue").text.split())


def references(root: etree._Element) -> list[etree._Element]:
    return xp(root, "//wsse:Security/ds:Signature/ds:SignedInfo/ds:Reference")


def reference_to(root: etree._Element, element: etree._Element) -> etree._Element:
    return one(root, "//ds:SignedInfo/ds:Reference[@URI=$uri]", uri="#" + element.get(q(ns.WSU, "Id")))


def redigest(root: etree._Element, *, only: list[etree._Element] | None = None) -> None:
    """Recompute the DigestValue of every Reference (or those in ``only``) with the algorithm its DigestMethod
    names (SHA-1 and MD5 included), over the element its URI names where that element now stands."""
    for ref in only if only is not None else references(root):
        uri = ref.get("URI") or ""
        targets = xp(root, "//*[@wsu:Id=$id]", id=uri[1:]) if uri.startswith("#") else []
        if len(targets) != 1:
            continue
        name = _DIGEST_NAMES[one(ref, "ds:DigestMethod").get("Algorithm")]
        one(ref, "ds:DigestValue").text = base64.b64encode(hashlib.new(name, c14n(targets[0])).digest()).decode()


def resign(root: etree._Element, private_key, *, redigest_all: bool = True) -> etree._Element:
    """Recompute the digests (unless told not to) and the SignatureValue over SignedInfo as it now stands, with
    ``private_key`` and the hash the SignatureMethod names (RSA-SHA1 included): the attacker's "re-sign"."""
    if redigest_all:
        redigest(root)
    signed_info = one(root, "//wsse:Security/ds:Signature/ds:SignedInfo")
    algorithm = _SIGNATURE_HASHES[one(signed_info, "ds:SignatureMethod").get("Algorithm")]
    raw = private_key.sign(c14n(signed_info), padding.PKCS1v15(), algorithm)
    one(root, "//wsse:Security/ds:Signature/ds:SignatureValue").text = base64.b64encode(raw).decode()
    return root


def drop_reference(root: etree._Element, element: etree._Element, private_key) -> etree._Element:
    """Remove ``element``'s Reference from SignedInfo and re-sign: a message whose signature omits that part."""
    ref = reference_to(root, element)
    ref.getparent().remove(ref)
    return resign(root, private_key)


def add_reference(root: etree._Element, element: etree._Element, ident: str) -> etree._Element:
    """Give ``element`` a wsu:Id and a Reference (SHA-256, exclusive c14n) in SignedInfo; call resign after."""
    element.set(q(ns.WSU, "Id"), ident)
    signed_info = one(root, "//wsse:Security/ds:Signature/ds:SignedInfo")
    template = references(root)[0]
    ref = copy.deepcopy(template)
    ref.set("URI", "#" + ident)
    signed_info.append(ref)
    return root


def replace_with_copy(element: etree._Element) -> etree._Element:
    """Put a deep copy of ``element`` in its place and return the detached original (for wrapping attacks)."""
    clone = copy.deepcopy(element)
    clone.tail = element.tail
    element.addprevious(clone)
    parent = element.getparent()
    parent.remove(element)
    element.tail = None
    return element


def utc(when: datetime) -> datetime:
    return when.astimezone(timezone.utc)


def ms(when: datetime) -> datetime:
    """``when`` truncated to the milliseconds a signed Timestamp carries."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


_PATH = re.compile(r"(/(tmp|etc|home|work|usr|var|proc|root)\b)|(\.(py|pem|key|der)\b)|(file:)|([A-Za-z]:\\)")
_LINE = re.compile(r"line \d+|column \d+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def assert_safe_message(err: SecurityError, *secrets: str) -> None:
    """A refusal's text names the rule and says why, and leaks nothing: no paths, no traceback, no key or
    certificate material, none of the given secrets."""
    for text in (str(err), err.reason, err.faultstring):
        assert text.startswith(err.rule + ": ") or text == err.reason
        assert "Traceback" not in text and 'File "' not in text and not _LINE.search(text), text
        assert not _PATH.search(text), text
        assert not _BASE64_RUN.search(text), text
        assert "BEGIN" not in text and "PRIVATE" not in text and "root:" not in text
        for secret in secrets:
            assert secret not in text, text
