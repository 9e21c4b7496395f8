"""Building hostile messages the way an attacker would: parse, mutate, recompute what the attacker can recompute
(digests; a signature with a key the attacker holds), serialise.

Written against lxml, hashlib and cryptography directly, not against the gateway's own signer internals, so that a
message built here does not inherit a bug of the code it is meant to test. The conformance suite builds its hostile
requests (and the self-tests their broken variants) with these; the WS-Security tests import them too.
"""

from __future__ import annotations

import base64
import copy
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from ..wsse import ns

NS = {
    "soap": ns.SOAP11,
    "wsse": ns.WSSE,
    "wsse11": ns.WSSE11,
    "wsu": ns.WSU,
    "wsa": ns.WSA,
    "ds": ns.DS,
    "ec": ns.EC,
}

# Algorithm URIs outside the profile's allow-list, with the real algorithm behind each.
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
MD5_DIGEST = "http://www.w3.org/2001/04/xmldsig-more#md5"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
_DIGEST_NAMES = {**ns.DIGESTS, SHA1_DIGEST: "sha1", MD5_DIGEST: "md5"}
_SIGNATURE_HASHES = {
    **{uri: getattr(hashes, name.upper())() for uri, name in ns.SIGNATURES.items()},
    RSA_SHA1: hashes.SHA1(),
}
WSU_ID = f"{{{ns.WSU}}}Id"


def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def tree(data: bytes) -> etree._Element:
    """Parse a (trusted, self-made) message as an attacker's tool would: comments kept, nothing resolved."""
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


def references(root: etree._Element) -> list[etree._Element]:
    return xp(root, "//wsse:Security/ds:Signature/ds:SignedInfo/ds:Reference")


def reference_to(root: etree._Element, element: etree._Element) -> etree._Element:
    return one(root, "//ds:SignedInfo/ds:Reference[@URI=$uri]", uri="#" + element.get(WSU_ID))


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
    element.set(WSU_ID, ident)
    signed_info = one(root, "//wsse:Security/ds:Signature/ds:SignedInfo")
    template = references(root)[0]
    ref = copy.deepcopy(template)
    ref.set("URI", "#" + ident)
    signed_info.append(ref)
    return root


# --------------------------------------------------------------------------- whole-message mutations (by name)
# Each takes a signed message (bytes) and returns the hostile one. ``key`` is a private key the attacker holds.


def body(root: etree._Element) -> etree._Element:
    return one(root, "/soap:Envelope/soap:Body")


def header(root: etree._Element) -> etree._Element:
    return one(root, "/soap:Envelope/soap:Header")


def security(root: etree._Element) -> etree._Element:
    return one(root, "/soap:Envelope/soap:Header/wsse:Security")


def wsa_header(root: etree._Element, name: str) -> etree._Element:
    return one(root, f"/soap:Envelope/soap:Header/wsa:{name}")


def strip_security(data: bytes) -> bytes:
    """The message without its wsse:Security header: WS-Addressing headers and Body as they were (unsigned)."""
    root = tree(data)
    sec = security(root)
    sec.getparent().remove(sec)
    for el in xp(root, "//*[@wsu:Id]"):
        del el.attrib[WSU_ID]
    return to_bytes(root)


def strip_signature(data: bytes) -> bytes:
    """Keep wsse:Security (Timestamp, token) but remove ds:Signature: 'signed' in name only."""
    root = tree(data)
    sig = one(root, "//wsse:Security/ds:Signature")
    sig.getparent().remove(sig)
    return to_bytes(root)


def tamper_text(data: bytes, path: str, value: str) -> bytes:
    """Change the text of the element at ``path`` (namespaces of NS plus ``b`` for the Body's payload namespace)
    after signing, without re-signing: a digest no longer matches (WB013)."""
    root = tree(data)
    payload = body(root)[0]
    found = root.xpath(path, namespaces={**NS, "b": etree.QName(payload).namespace})
    if len(found) != 1:
        raise ValueError(f"{path}: {len(found)} matches")
    found[0].text = value
    return to_bytes(root)


def drop_reference_to(data: bytes, what: str, key) -> bytes:
    """Remove the reference to the Body (``what="Body"``), the Timestamp or a wsa header (``"To"``, …) and re-sign
    with ``key``: a validly signed message that does not cover that part (WB004)."""
    root = tree(data)
    if what == "Body":
        element = body(root)
    elif what == "Timestamp":
        element = one(root, "//wsse:Security/wsu:Timestamp")
    else:
        element = wsa_header(root, what)
    return to_bytes(drop_reference(root, element, key))


def with_sha1(data: bytes, key) -> bytes:
    """Every DigestMethod SHA-1 and the SignatureMethod RSA-SHA1, digests and signature recomputed (SIGN003/004)."""
    root = tree(data)
    for method in xp(root, "//ds:SignedInfo/ds:Reference/ds:DigestMethod"):
        method.set("Algorithm", SHA1_DIGEST)
    one(root, "//ds:SignedInfo/ds:SignatureMethod").set("Algorithm", RSA_SHA1)
    return to_bytes(resign(root, key))


def wrap_body(data: bytes, evil_payload: bytes) -> bytes:
    """Signature wrapping (XSW): the signed Body is hidden inside an unsigned wsa:ReplyTo in the Header and an
    unsigned Body with ``evil_payload`` takes its place. Every digest and the SignatureValue still verify; only a
    receiver that checks coverage *by position* sees that the Body it reads is not the one that was signed."""
    root = tree(data)
    signed = body(root)
    evil = etree.Element(q(ns.SOAP11, "Body"))
    evil.append(tree(evil_payload))
    signed.addprevious(evil)
    root.remove(signed)
    signed.tail = None
    reply_to = etree.Element(q(ns.WSA, "ReplyTo"))
    etree.SubElement(reply_to, q(ns.WSA, "Address")).text = ns.WSA_ANONYMOUS
    reply_to.append(signed)
    header(root).append(reply_to)
    return to_bytes(root)


def set_header_text(data: bytes, name: str, value: str, key) -> bytes:
    """Give a wsa header (``"RelatesTo"``, ``"MessageID"``, ``"To"``, …) another value and re-sign with ``key``."""
    root = tree(data)
    wsa_header(root, name).text = value
    return to_bytes(resign(root, key))


def drop_confirmation(data: bytes, key) -> bytes:
    """Remove the wsse11:SignatureConfirmation (and its reference) and re-sign with ``key`` (WB014)."""
    root = tree(data)
    for conf in xp(root, "//wsse:Security/wsse11:SignatureConfirmation"):
        ident = conf.get(WSU_ID)
        for ref in xp(root, "//ds:SignedInfo/ds:Reference[@URI=$uri]", uri="#" + (ident or "")):
            ref.getparent().remove(ref)
        conf.getparent().remove(conf)
    return to_bytes(resign(root, key))


def drop_timestamp(data: bytes, key) -> bytes:
    """Remove the wsu:Timestamp (and its reference) and re-sign with ``key``: a signed message without one (WB002)."""
    root = tree(data)
    ts = one(root, "//wsse:Security/wsu:Timestamp")
    ident = ts.get(WSU_ID)
    for ref in xp(root, "//ds:SignedInfo/ds:Reference[@URI=$uri]", uri="#" + (ident or "")):
        ref.getparent().remove(ref)
    ts.getparent().remove(ts)
    return to_bytes(resign(root, key))


def drop_header(data: bytes, name: str, key) -> bytes:
    """Remove a wsa header (``"MessageID"``, …) and its reference, and re-sign with ``key``."""
    root = tree(data)
    el = wsa_header(root, name)
    ident = el.get(WSU_ID)
    for ref in xp(root, "//ds:SignedInfo/ds:Reference[@URI=$uri]", uri="#" + (ident or "")):
        ref.getparent().remove(ref)
    el.getparent().remove(el)
    return to_bytes(resign(root, key))


def with_doctype(data: bytes) -> bytes:
    """The message with an internal DTD declaring an entity before the Envelope (not used: R1008 refuses any DTD)."""
    root = tree(data)
    body_bytes = etree.tostring(root, encoding="UTF-8")
    name = etree.QName(root).localname
    prefix = root.prefix + ":" if root.prefix else ""
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ' + (prefix + name).encode()
            + b' [<!ENTITY oso "overstap">]>\n' + body_bytes)


def add_payload_element(data: bytes, local: str, text: str, key) -> bytes:
    """Append an element of the payload's namespace that the contract does not know to the Body's child, and
    re-sign with ``key``: a validly signed request that breaks the published XSD (GW-XSD)."""
    root = tree(data)
    payload = body(root)[0]
    etree.SubElement(payload, q(etree.QName(payload).namespace, local)).text = text
    return to_bytes(resign(root, key))


def set_timestamp(data: bytes, created, expires, key) -> bytes:
    """Give the wsu:Timestamp other Created/Expires times (datetimes, UTC) and re-sign with ``key``."""
    root = tree(data)
    ts = one(root, "//wsse:Security/wsu:Timestamp")
    one(ts, "wsu:Created").text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    for el in xp(ts, "wsu:Expires"):
        el.text = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return to_bytes(resign(root, key))


def resign_as(data: bytes, certificate_der: bytes, key) -> bytes:
    """Put another certificate in the BinarySecurityToken and re-sign with its ``key``: the same message, signed by
    someone else (a certificate of a CA the receiver does not trust, say)."""
    root = tree(data)
    one(root, "//wsse:Security/wsse:BinarySecurityToken").text = base64.b64encode(certificate_der).decode()
    return to_bytes(resign(root, key))


def change_after_signing(data: bytes) -> bytes:
    """An attribute added to the Body after signing, nothing re-signed: its digest no longer matches (WB013)."""
    root = tree(data)
    body(root).set("gewijzigd", "na-ondertekening")
    return to_bytes(root)
