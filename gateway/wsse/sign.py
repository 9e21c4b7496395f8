"""Signing a SOAP 1.1 envelope per WUS 2W-be-S (requests) and with RelatesTo + SignatureConfirmation (responses).

Every WS-Addressing header, the Timestamp, the Body (and a response's SignatureConfirmation) get a ``wsu:Id`` and a
reference of their own in SignedInfo; exclusive c14n everywhere; the certificate travels as a BinarySecurityToken
that KeyInfo references directly. Each referenced element is canonicalised where it finally stands.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from . import ns
from .c14n import exc_c14n
from .credentials import Credentials
from .xmlparse import parse_untrusted

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_ID = f"{{{ns.WSU}}}Id"


@dataclass(frozen=True)
class SignedEnvelope:
    """A signed envelope (the element, in place) with the values the sender needs to check the answer."""

    envelope: etree._Element
    message_id: str
    signature_value: str

    def to_bytes(self) -> bytes:
        return etree.tostring(self.envelope, xml_declaration=True, encoding="UTF-8")


def format_time(when: datetime) -> str:
    """xs:dateTime in UTC with milliseconds and a Z, as WSS4J and .NET write it."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def from_address(oin: str) -> str:
    """Edukoppeling's wsa:From address: the anonymous address carrying the sender's OIN."""
    return f"{ns.WSA_ANONYMOUS}?oin={oin}"


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def _with_namespaces(root: etree._Element) -> etree._Element:
    """Declare wsse, wsu, wsa and ds on the Envelope (once), so ids and headers need no local declarations."""
    missing = {p: uri for p, uri in ns.NSMAP.items() if uri not in root.nsmap.values() and p not in root.nsmap}
    if not missing:
        return root
    new = etree.Element(root.tag, attrib=dict(root.attrib), nsmap={**root.nsmap, **missing})
    new.text = root.text
    for child in list(root):
        new.append(child)
    return new


def _ensure_id(element: etree._Element, kind: str) -> str:
    value = element.get(_ID)
    if not value:
        value = f"{kind}-{secrets.token_hex(8)}"
        element.set(_ID, value)
    return value


def _header(root: etree._Element) -> etree._Element:
    header = root.find(_q(ns.SOAP11, "Header"))
    if header is None:
        header = etree.Element(_q(ns.SOAP11, "Header"))
        root.insert(0, header)
    return header


def _set_wsa(header: etree._Element, name: str, value: str | None, *, address: bool = False) -> etree._Element | None:
    """Set (or keep) one WS-Addressing header; returns the element, or None when absent and not asked for."""
    element = header.find(_q(ns.WSA, name))
    if value is None:
        return element
    if element is None:
        element = etree.SubElement(header, _q(ns.WSA, name))
    if address:
        for child in list(element):
            element.remove(child)
        element.text = None
        etree.SubElement(element, _q(ns.WSA, "Address")).text = value
    else:
        element.text = value
    return element


def sign_envelope(
    envelope: bytes | etree._Element,
    credentials: Credentials,
    *,
    to: str | None = None,
    action: str | None = None,
    message_id: str | None = None,
    relates_to: str | None = None,
    from_oin: str | None = None,
    reply_to: str | None = None,
    confirmation: str | None = None,
    now: datetime | None = None,
    ttl: timedelta | None = timedelta(seconds=300),
    digest: str = "sha256",
    signature: str = "sha256",
) -> SignedEnvelope:
    """Add WS-Addressing and a WS-Security header to a SOAP 1.1 envelope and sign it.

    WS-Addressing headers already present (zeep's plugin adds them) are kept unless a value is given here.
    ``confirmation`` is the request's SignatureValue, for a response (WB014).
    """
    if digest not in ns.DIGEST_URI or signature not in ns.SIGNATURE_URI:
        raise ValueError("digest and signature must be sha256, sha384 or sha512 (SIGN003, SIGN004)")
    root = parse_untrusted(envelope) if isinstance(envelope, (bytes, bytearray)) else envelope
    if root.tag != _q(ns.SOAP11, "Envelope"):
        raise ValueError("not a SOAP 1.1 Envelope")
    body = root.find(_q(ns.SOAP11, "Body"))
    if body is None:
        raise ValueError("the envelope has no Body")
    if root.find(f"{_q(ns.SOAP11, 'Header')}/{_q(ns.WSSE, 'Security')}") is not None:
        raise ValueError("the envelope already has a wsse:Security header")
    root = _with_namespaces(root)
    header = _header(root)
    now = now or datetime.now(timezone.utc)

    if message_id is None and header.find(_q(ns.WSA, "MessageID")) is None:
        message_id = new_message_id()
    _set_wsa(header, "To", to)
    _set_wsa(header, "Action", action)
    _set_wsa(header, "MessageID", message_id)
    _set_wsa(header, "RelatesTo", relates_to)
    _set_wsa(header, "From", from_address(from_oin) if from_oin else None, address=True)
    _set_wsa(header, "ReplyTo", reply_to, address=True)
    wsa = [header.find(_q(ns.WSA, name)) for name in ns.WSA_HEADERS]
    wsa = [(name, el) for name, el in zip(ns.WSA_HEADERS, wsa) if el is not None]
    names = {name for name, _ in wsa}
    if not {"Action", "MessageID"} <= names:
        raise ValueError("wsa:Action and wsa:MessageID are required")

    security = etree.Element(_q(ns.WSSE, "Security"))
    security.set(_q(ns.SOAP11, "mustUnderstand"), "1")
    header.insert(0, security)

    timestamp = etree.SubElement(security, _q(ns.WSU, "Timestamp"))
    etree.SubElement(timestamp, _q(ns.WSU, "Created")).text = format_time(now)
    if ttl is not None:
        etree.SubElement(timestamp, _q(ns.WSU, "Expires")).text = format_time(now + ttl)
    bst = etree.SubElement(
        security,
        _q(ns.WSSE, "BinarySecurityToken"),
        EncodingType=ns.BASE64_ENCODING,
        ValueType=ns.X509V3,
    )
    bst_id = _ensure_id(bst, "X509")
    bst.text = credentials.bst_value
    parts: list[tuple[etree._Element, str]] = [(el, _ensure_id(el, name)) for name, el in wsa]
    parts.append((timestamp, _ensure_id(timestamp, "TS")))
    if confirmation is not None:
        conf = etree.SubElement(security, _q(ns.WSSE11, "SignatureConfirmation"), Value=confirmation)
        parts.append((conf, _ensure_id(conf, "SC")))
    parts.append((body, _ensure_id(body, "Body")))

    sig = etree.SubElement(security, _q(ns.DS, "Signature"))
    signed_info = etree.SubElement(sig, _q(ns.DS, "SignedInfo"))
    etree.SubElement(signed_info, _q(ns.DS, "CanonicalizationMethod"), Algorithm=ns.EXC_C14N)
    etree.SubElement(signed_info, _q(ns.DS, "SignatureMethod"), Algorithm=ns.SIGNATURE_URI[signature])
    digest_uri = ns.DIGEST_URI[digest]
    for element, ident in parts:
        ref = etree.SubElement(signed_info, _q(ns.DS, "Reference"), URI="#" + ident)
        transforms = etree.SubElement(ref, _q(ns.DS, "Transforms"))
        etree.SubElement(transforms, _q(ns.DS, "Transform"), Algorithm=ns.EXC_C14N)
        etree.SubElement(ref, _q(ns.DS, "DigestMethod"), Algorithm=digest_uri)
        value = hashlib.new(digest, exc_c14n(element)).digest()
        etree.SubElement(ref, _q(ns.DS, "DigestValue")).text = base64.b64encode(value).decode("ascii")
    sig_value = etree.SubElement(sig, _q(ns.DS, "SignatureValue"))
    key_info = etree.SubElement(sig, _q(ns.DS, "KeyInfo"))
    str_ = etree.SubElement(key_info, _q(ns.WSSE, "SecurityTokenReference"))
    etree.SubElement(str_, _q(ns.WSSE, "Reference"), URI="#" + bst_id, ValueType=ns.X509V3)

    raw = credentials.private_key.sign(exc_c14n(signed_info), padding.PKCS1v15(), _HASHES[signature]())
    sig_value.text = base64.b64encode(raw).decode("ascii")
    message_id = header.find(_q(ns.WSA, "MessageID")).text
    return SignedEnvelope(root, message_id, sig_value.text)


def sign_request(
    envelope: bytes | etree._Element,
    credentials: Credentials,
    *,
    to: str,
    action: str,
    message_id: str | None = None,
    from_oin: str | None = None,
    now: datetime | None = None,
    **options,
) -> bytes:
    """Sign a request: To, Action, MessageID (new unless given), From with the sender's OIN (default: the OIN of
    the signing certificate), Timestamp, BinarySecurityToken and Signature."""
    signed = sign_envelope(
        envelope,
        credentials,
        to=to,
        action=action,
        message_id=message_id,
        from_oin=from_oin or credentials.oin,
        now=now,
        **options,
    )
    return signed.to_bytes()


def sign_response(
    envelope: bytes | etree._Element,
    credentials: Credentials,
    *,
    relates_to: str | None,
    confirmation: str | None,
    action: str,
    message_id: str | None = None,
    now: datetime | None = None,
    **options,
) -> bytes:
    """Sign a response: Action, a new MessageID, RelatesTo = the request's MessageID and a SignatureConfirmation of
    the request's SignatureValue (WB014). Both may be None only for a Fault about a request that could not be read."""
    signed = sign_envelope(
        envelope,
        credentials,
        action=action,
        message_id=message_id,
        relates_to=relates_to,
        confirmation=confirmation,
        now=now,
        **options,
    )
    return signed.to_bytes()
