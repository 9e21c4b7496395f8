"""Verifying a signed message of the WUS profile: raw bytes in, a VerifiedMessage out, or one typed refusal.

The checks run in the order of wus-profile.md: size and safe parsing → structure → algorithms → digests and
signature → coverage by position → certificate → freshness → addressing → replay (recorded last, so a message
refused for any reason can be sent again once corrected). Nothing is parsed twice: one tree, one canonical form
per referenced element.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as UnsupportedKeyType
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from . import ns
from .c14n import exc_c14n
from .errors import (
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
from .policy import Policy
from .replay import ReplayStore
from .trust import OIN_PATTERN, TrustStore
from .xmlparse import parse_untrusted

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
# One pass over the elements' attributes (a union of four //@x paths walks every node four times and sorts).
_IDS = etree.XPath(
    "descendant-or-self::*/@*[local-name()='Id' or local-name()='ID' or local-name()='id']", smart_strings=True
)
# InclusiveNamespaces PrefixList entries per c14n method (WSS4J lists the few prefixes in scope).
MAX_INCLUSIVE_PREFIXES = 64
_ID_NAMES = frozenset((f"{{{ns.WSU}}}Id", "Id", "ID", f"{{{ns.XML}}}id"))
# Digikoppeling technical fault codes for a missing or malformed WS-Addressing header.
_WSA_DK = {"To": "0005", "Action": "0006", "MessageID": "0007", "RelatesTo": "0008"}
_WSA_RULE = {
    "To": "WSA-TO",
    "Action": "WSA-ACTION",
    "MessageID": "WSA-MESSAGEID",
    "RelatesTo": "WSA-RELATESTO",
    "From": "WSA-FROM",
    "ReplyTo": "WSA-REPLYTO",
    "FaultTo": "WSA-REPLYTO",
}


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


S_ENVELOPE, S_HEADER, S_BODY = _q(ns.SOAP11, "Envelope"), _q(ns.SOAP11, "Header"), _q(ns.SOAP11, "Body")
S_MUST, S_ENCODING, S_ACTOR = _q(ns.SOAP11, "mustUnderstand"), _q(ns.SOAP11, "encodingStyle"), _q(ns.SOAP11, "actor")
WSSE_SECURITY, WSSE_BST = _q(ns.WSSE, "Security"), _q(ns.WSSE, "BinarySecurityToken")
WSSE_STR, WSSE_REF = _q(ns.WSSE, "SecurityTokenReference"), _q(ns.WSSE, "Reference")
WSSE11_CONF = _q(ns.WSSE11, "SignatureConfirmation")
WSU_TS, WSU_CREATED, WSU_EXPIRES, WSU_ID = (_q(ns.WSU, n) for n in ("Timestamp", "Created", "Expires", "Id"))
DS_SIGNATURE, DS_SIGNED_INFO, DS_SIGNATURE_VALUE, DS_KEY_INFO = (
    _q(ns.DS, n) for n in ("Signature", "SignedInfo", "SignatureValue", "KeyInfo")
)
DS_C14N, DS_SIGMETHOD, DS_REFERENCE, DS_TRANSFORMS, DS_TRANSFORM = (
    _q(ns.DS, n) for n in ("CanonicalizationMethod", "SignatureMethod", "Reference", "Transforms", "Transform")
)
DS_DIGEST_METHOD, DS_DIGEST_VALUE = _q(ns.DS, "DigestMethod"), _q(ns.DS, "DigestValue")
EC_INCLUSIVE = _q(ns.EC, "InclusiveNamespaces")
WSA_ADDRESS = _q(ns.WSA, "Address")


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
        return self.body.tag == _q(ns.SOAP11, "Fault")


@dataclass
class _Parts:
    envelope: etree._Element
    header: etree._Element
    body: etree._Element  # soap:Body
    payload: etree._Element  # its one child
    security: etree._Element
    timestamp: etree._Element
    bst: etree._Element
    signature: etree._Element
    confirmations: list[etree._Element]
    wsa: dict[str, etree._Element]


def _elements(parent: etree._Element) -> list[etree._Element]:
    """Element children; refuses text that is not whitespace and processing instructions."""
    out = []
    if parent.text and parent.text.strip():
        raise MalformedMessage("GW-ENVELOPE", f"unexpected text in {etree.QName(parent).localname}")
    for child in parent:
        if isinstance(child.tag, str):
            out.append(child)
        elif child.tag is etree.ProcessingInstruction:
            raise MalformedMessage("GW-ENVELOPE", "processing instructions are not allowed in a message")
        if child.tail and child.tail.strip():
            raise MalformedMessage("GW-ENVELOPE", f"unexpected text in {etree.QName(parent).localname}")
    return out


def _structure(root: etree._Element) -> _Parts:
    if root.tag != S_ENVELOPE:
        if root.tag == _q(ns.SOAP12, "Envelope"):
            raise MalformedMessage("GW-ENVELOPE", "a SOAP 1.2 envelope: the profile uses SOAP 1.1")
        raise MalformedMessage("GW-ENVELOPE", "the root element is not a SOAP 1.1 Envelope")
    if root.get(S_ENCODING) is not None:
        raise MalformedMessage("GW-ENVELOPE", "soap:encodingStyle is not allowed")
    children = _elements(root)
    if [c.tag for c in children] != [S_HEADER, S_BODY]:
        if not any(c.tag == S_HEADER for c in children):
            raise InvalidSecurity("WB003", "the message is not signed: it has no SOAP Header")
        raise MalformedMessage("GW-ENVELOPE", "the Envelope must hold exactly one Header followed by one Body")
    header, body = children
    payload = _elements(body)
    if len(payload) != 1:
        raise MalformedMessage("GW-ENVELOPE", "the Body must hold exactly one element")
    for el in (body, payload[0]):
        if el.get(S_ENCODING) is not None:
            raise MalformedMessage("GW-ENVELOPE", "soap:encodingStyle is not allowed")

    wsa: dict[str, etree._Element] = {}
    securities = []
    for block in _elements(header):
        q = etree.QName(block)
        if q.namespace == ns.WSSE and q.localname == "Security":
            securities.append(block)
        elif q.namespace == ns.WSA and q.localname in ns.WSA_HEADERS:
            if q.localname in wsa:
                raise AddressingError(
                    _WSA_RULE[q.localname], f"wsa:{q.localname} appears more than once", dk_code="0011"
                )
            wsa[q.localname] = block
        else:
            raise MalformedMessage(
                "WS007", f"header block {q.localname} is not allowed (only WS-Addressing and WS-Security)",
                dk_code="0010", element=q.localname,
            )
    if not securities:
        raise InvalidSecurity("WB003", "the message is not signed: there is no wsse:Security header")
    if len(securities) > 1:
        raise InvalidSecurity("WB003", "more than one wsse:Security header")
    security = securities[0]
    if security.get(S_MUST) not in ("1", "true"):
        raise InvalidSecurity("WB003", 'wsse:Security must carry soap:mustUnderstand="1"')
    if security.get(S_ACTOR) is not None:
        raise InvalidSecurity("WB003", "wsse:Security must be for the ultimate receiver (no actor)")

    timestamps, tokens, signatures, confirmations = [], [], [], []
    for child in _elements(security):
        if child.tag == WSU_TS:
            timestamps.append(child)
        elif child.tag == WSSE_BST:
            if signatures:
                raise InvalidSecurity("WB009", "the BinarySecurityToken must come before the Signature")
            tokens.append(child)
        elif child.tag == DS_SIGNATURE:
            signatures.append(child)
        elif child.tag == WSSE11_CONF:
            confirmations.append(child)
        else:
            raise InvalidSecurity("WB003", f"unexpected element {etree.QName(child).localname} in wsse:Security")
    if len(timestamps) != 1:
        raise InvalidSecurity("WB002", "wsse:Security must hold exactly one wsu:Timestamp")
    if len(signatures) != 1:
        raise InvalidSecurity("WB003", "wsse:Security must hold exactly one ds:Signature")
    if len(tokens) != 1:
        raise InvalidSecurity("WB009", "wsse:Security must hold exactly one X.509 BinarySecurityToken")
    for conf in confirmations:
        if not conf.get("Value") or not conf.get(WSU_ID) or len(conf):
            raise InvalidSecurity("WB014", "a SignatureConfirmation needs a Value and a wsu:Id, and no children")
    return _Parts(root, header, body, payload[0], security, timestamps[0], tokens[0], signatures[0],
                  confirmations, wsa)


def _ids(root: etree._Element) -> dict[str, etree._Element]:
    ids: dict[str, etree._Element] = {}
    for value in _IDS(root):
        if value.attrname not in _ID_NAMES:
            continue
        key = str(value)
        if key in ids:
            raise InvalidSecurity("GW-ID", f"the id {key[:64]!r} is used more than once")
        ids[key] = value.getparent()
    return ids


def _parse_time(text: str | None, what: str) -> datetime:
    m = _TIME.fullmatch((text or "").strip())
    if not m:
        raise InvalidSecurity("WB002", f"{what} is not a UTC xs:dateTime (…Z)")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7)
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone.utc)
    except ValueError:
        raise InvalidSecurity("WB002", f"{what} is not a valid time") from None


def _timestamp(ts: etree._Element) -> tuple[datetime, datetime | None]:
    children = _elements(ts)
    tags = [c.tag for c in children]
    if tags not in ([WSU_CREATED], [WSU_CREATED, WSU_EXPIRES]):
        raise InvalidSecurity("WB002", "wsu:Timestamp must hold one Created and at most one Expires, in order")
    if any(c.get("ValueType") is not None or len(c) for c in children):
        raise InvalidSecurity("WB002", "Created and Expires carry a plain time, no ValueType")
    created = _parse_time(children[0].text, "wsu:Created")
    expires = _parse_time(children[1].text, "wsu:Expires") if len(children) == 2 else None
    if expires is not None and expires <= created:
        raise InvalidSecurity("WB002", "wsu:Expires must be after wsu:Created")
    return created, expires


def _b64(text: str | None, rule: str, what: str, error=InvalidSecurity) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise error(rule, f"{what} is not valid base64") from None


_CERT_CACHE: dict[str, tuple[x509.Certificate, rsa.RSAPublicKey]] = {}
_CERT_CACHE_MAX = 1024


def _certificate(bst: etree._Element) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    if bst.get("EncodingType") != ns.BASE64_ENCODING:
        raise InvalidSecurityToken("WB009", "the BinarySecurityToken's EncodingType must be Base64Binary")
    if bst.get("ValueType") != ns.X509V3:
        raise InvalidSecurityToken("WB009", "the BinarySecurityToken's ValueType must be X509v3")
    if not bst.get(WSU_ID) or len(bst):
        raise InvalidSecurityToken("WB009", "the BinarySecurityToken needs a wsu:Id and holds only base64 text")
    hit = _CERT_CACHE.get(bst.text)
    if hit is not None:
        return hit
    der = _b64(bst.text, "WB009", "the BinarySecurityToken", InvalidSecurityToken)
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except ValueError:
        raise InvalidSecurityToken("WB009", "the BinarySecurityToken is not an X.509 certificate") from None
    except UnsupportedKeyType:
        raise UnsupportedAlgorithm("SIGN004", "the signing certificate does not hold an RSA key") from None
    try:
        # cryptography parses these lazily; a malformed one would otherwise surface as a crash in the trust check
        cert.subject
        cert.extensions
    except (ValueError, x509.DuplicateExtension):
        raise InvalidSecurityToken("WB009", "the signing certificate has a malformed name or extensions") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithm("SIGN004", "the signing certificate does not hold an RSA key")
    if key.key_size < 2048:
        raise UnsupportedAlgorithm("SIGN004", "the signing key is shorter than 2048 bits")
    if len(_CERT_CACHE) >= _CERT_CACHE_MAX:
        _CERT_CACHE.clear()
    _CERT_CACHE[bst.text] = (cert, key)
    return cert, key


def _c14n_method(method: etree._Element | None, where: str) -> list[str] | None:
    """Check an exc-c14n CanonicalizationMethod/Transform; return its InclusiveNamespaces PrefixList."""
    if method is None or method.get("Algorithm") != ns.EXC_C14N:
        raise UnsupportedAlgorithm("WB007", f"{where} must be exclusive c14n without comments")
    children = _elements(method)
    if not children:
        return None
    if len(children) != 1 or children[0].tag != EC_INCLUSIVE or len(children[0]):
        raise InvalidSecurity("WB007", f"{where} may only hold an ec:InclusiveNamespaces")
    prefixes = (children[0].get("PrefixList") or "").split()
    if len(prefixes) > MAX_INCLUSIVE_PREFIXES:  # each one listed is rendered on every element: quadratic c14n
        raise InvalidSecurity("WB007", f"{where}'s PrefixList names more than {MAX_INCLUSIVE_PREFIXES} prefixes")
    return prefixes or None


def _c14n(element: etree._Element, prefixes: list[str] | None) -> bytes:
    try:
        return exc_c14n(element, prefixes)
    except (etree.C14NError, ValueError):
        raise InvalidSecurity(
            "WB007", f"{etree.QName(element).localname} cannot be canonicalised (e.g. a relative namespace URI)"
        ) from None


@dataclass
class _Signed:
    certificate: x509.Certificate
    referenced: list[etree._Element]
    signature_value: str
    digest_algorithm: str
    signature_algorithm: str


# The signature is checked in steps, each a function that raises the first refusal it finds; ``_signature`` runs them
# in order, and gateway.wsse.diagnose runs each on its own to report every finding of a message.


@dataclass
class _SignedInfo:
    """ds:Signature's parts once their layout and algorithms passed."""

    signed_info: etree._Element
    signature_value: etree._Element
    key_info: etree._Element
    prefixes: list[str] | None  # SignedInfo's InclusiveNamespaces
    method: str  # the SignatureMethod's URI
    references: list[etree._Element]  # the ds:Reference elements


@dataclass
class _Reference:
    uri: str
    target: etree._Element
    prefixes: list[str] | None
    digest_name: str
    digest_value: etree._Element


def _signed_info(sig: etree._Element, policy: Policy) -> _SignedInfo:
    """ds:Signature holds SignedInfo, SignatureValue and KeyInfo; SignedInfo's c14n and signature method."""
    children = _elements(sig)
    if [c.tag for c in children] != [DS_SIGNED_INFO, DS_SIGNATURE_VALUE, DS_KEY_INFO]:
        raise InvalidSecurity("WB003", "ds:Signature must hold SignedInfo, SignatureValue and KeyInfo only")
    signed_info, sig_value_el, key_info = children
    if len(sig_value_el):
        raise InvalidSecurity("WB003", "ds:SignatureValue holds base64 text only")

    si = _elements(signed_info)
    if len(si) < 3 or si[0].tag != DS_C14N or si[1].tag != DS_SIGMETHOD or any(r.tag != DS_REFERENCE for r in si[2:]):
        raise InvalidSecurity("WB003", "SignedInfo must hold CanonicalizationMethod, SignatureMethod and References")
    si_prefixes = _c14n_method(si[0], "SignedInfo's CanonicalizationMethod")
    sig_uri = si[1].get("Algorithm")
    if sig_uri not in policy.signature_algorithms:
        raise UnsupportedAlgorithm("SIGN004", "the signature algorithm is not RSA with SHA-256/384/512")
    if len(si[1]):
        raise InvalidSecurity("SIGN004", "SignatureMethod takes no parameters (no HMACOutputLength)")
    return _SignedInfo(signed_info, sig_value_el, key_info, si_prefixes, sig_uri, si[2:])


def _key_info(key_info: etree._Element, bst: etree._Element) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    """KeyInfo: one SecurityTokenReference with one direct Reference to this header's BinarySecurityToken; the
    certificate it holds."""
    ki = _elements(key_info)
    if len(ki) != 1 or ki[0].tag != WSSE_STR:
        raise InvalidSecurityToken("WB010", "KeyInfo must hold exactly one wsse:SecurityTokenReference")
    refs = _elements(ki[0])
    if len(refs) != 1 or refs[0].tag != WSSE_REF or len(refs[0]):
        raise InvalidSecurityToken("WB010", "the SecurityTokenReference must hold one direct wsse:Reference")
    if refs[0].get("ValueType") != ns.X509V3 or refs[0].get("URI") != "#" + (bst.get(WSU_ID) or ""):
        raise InvalidSecurityToken("WB010", "the token reference must point at the X509v3 BinarySecurityToken")
    return _certificate(bst)


def _reference_count(parts: _Parts, count: int) -> None:
    # Each reference must name a different element the profile signs (checked by position after the signature),
    # so more references than there are such elements can never pass; refusing them here keeps a hostile message
    # from making us canonicalise and hash (nested) parts of it over and over before that check.
    signable = 3 + len(parts.wsa) + len(parts.confirmations)  # Body, Timestamp, token, wsa headers, confirmations
    if count > signable:
        raise InvalidSecurity("WB004", "SignedInfo holds more references than the message has parts to sign")


def _reference(ref: etree._Element, ids: dict[str, etree._Element], policy: Policy, seen: set[str]) -> _Reference:
    """One ds:Reference: a shorthand URI to an element of this message, exclusive c14n, a SHA-2 digest."""
    uri = ref.get("URI") or ""
    if not uri.startswith("#") or len(uri) < 2 or "(" in uri:
        raise InvalidSecurity("WB004", "every reference must be a shorthand #id URI")
    if uri in seen:
        raise InvalidSecurity("WB004", "two references to the same element")
    seen.add(uri)
    rc = _elements(ref)
    if [c.tag for c in rc] != [DS_TRANSFORMS, DS_DIGEST_METHOD, DS_DIGEST_VALUE]:
        raise InvalidSecurity("WB004", "a Reference must hold Transforms, DigestMethod and DigestValue")
    transforms = _elements(rc[0])
    if len(transforms) != 1 or transforms[0].tag != DS_TRANSFORM:
        raise UnsupportedAlgorithm("WB007", "a reference must have exactly one Transform: exclusive c14n")
    prefixes = _c14n_method(transforms[0], "a reference's Transform")
    digest_uri = rc[1].get("Algorithm")
    if digest_uri not in policy.digest_algorithms:
        raise UnsupportedAlgorithm("SIGN003", "a digest algorithm is not SHA-256/384/512")
    if len(rc[1]):
        raise InvalidSecurity("SIGN003", "DigestMethod takes no parameters")
    target = ids.get(uri[1:])
    if target is None:
        raise InvalidSecurity("WB004", "a reference points at no element of this message")
    return _Reference(uri, target, prefixes, ns.DIGESTS[digest_uri], rc[2])


def _check_digest(ref: _Reference) -> None:
    expected = _b64(ref.digest_value.text, "WB013", "a DigestValue")
    actual = hashlib.new(ref.digest_name, _c14n(ref.target, ref.prefixes)).digest()
    if not hmac.compare_digest(expected, actual):
        raise FailedCheck("WB013", f"the digest of {etree.QName(ref.target).localname} does not match: "
                          "the element was changed after signing")


def _check_signature_value(si: _SignedInfo, public_key: rsa.RSAPublicKey) -> None:
    raw = _b64(si.signature_value.text, "WB013", "the SignatureValue")
    signed_octets = _c14n(si.signed_info, si.prefixes)
    try:
        public_key.verify(raw, signed_octets, padding.PKCS1v15(), _HASHES[ns.SIGNATURES[si.method]]())
    except InvalidSignature:
        raise FailedCheck("WB013", "the SignatureValue does not verify with the certificate's key") from None


def _signature(parts: _Parts, ids: dict[str, etree._Element], policy: Policy) -> _Signed:
    si = _signed_info(parts.signature, policy)
    cert, public_key = _key_info(si.key_info, parts.bst)
    # References: algorithms first, for all of them, then the digests.
    _reference_count(parts, len(si.references))
    seen: set[str] = set()
    references = [_reference(ref, ids, policy, seen) for ref in si.references]
    for ref in references:
        _check_digest(ref)
    _check_signature_value(si, public_key)
    return _Signed(
        cert,
        [r.target for r in references],
        "".join((si.signature_value.text or "").split()),
        "/".join(sorted({r.digest_name for r in references})),
        ns.SIGNATURES[si.method],
    )


def _required_parts(parts: _Parts) -> list[tuple[etree._Element, str]]:
    """The elements the signature must cover, each in its place, with how a refusal names it."""
    required = [(parts.body, "the Body"), (parts.timestamp, "the Timestamp")]
    required += [(el, f"wsa:{name}") for name, el in parts.wsa.items()]
    required += [(el, "the SignatureConfirmation") for el in parts.confirmations]
    return required


def _coverage_errors(parts: _Parts, referenced: list[etree._Element]) -> list[InvalidSecurity]:
    """Every WB004 finding of coverage by position, in the order ``_coverage`` reports the first."""
    covered = set(referenced)
    required = _required_parts(parts)
    errors = [InvalidSecurity("WB004", f"{what} is not covered by the signature", element=what)
              for element, what in required if element not in covered]
    allowed = {el for el, _ in required}
    allowed.add(parts.bst)
    errors += [InvalidSecurity("WB004", f"the signature references {etree.QName(element).localname}, which the "
                               "profile does not sign in that place")
               for element in referenced if element not in allowed]
    return errors


def _coverage(parts: _Parts, referenced: list[etree._Element], *, response: bool) -> None:
    """The elements in their required places are the very elements the references point at (WB004)."""
    errors = _coverage_errors(parts, referenced)
    if errors:
        raise errors[0]


def _address(element: etree._Element, name: str) -> str:
    children = _elements(element)
    addresses = [c for c in children if c.tag == WSA_ADDRESS]
    if len(addresses) != 1 or not (addresses[0].text or "").strip():
        raise AddressingError(_WSA_RULE[name], f"wsa:{name} must hold one wsa:Address", dk_code="0011")
    return addresses[0].text.strip()


def _text(parts: _Parts, name: str, *, required: bool) -> str | None:
    element = parts.wsa.get(name)
    if element is None:
        if required:
            raise AddressingHeaderRequired(_WSA_RULE[name], f"wsa:{name} is missing", dk_code=_WSA_DK.get(name))
        return None
    if len(element) or not (element.text or "").strip():
        raise AddressingError(_WSA_RULE[name], f"wsa:{name} is empty or malformed", dk_code=_WSA_DK.get(name, "0011"))
    return element.text.strip()


def _oin_values(address: str) -> list[str] | None:
    """The ?oin= values of an address (blank ones included), None when there are none; ValueError when the
    address is not a URL."""
    return parse_qs(urlsplit(address).query, keep_blank_values=True).get("oin")


def _oin_in(address: str) -> str | None:
    try:
        values = _oin_values(address)
    except ValueError:
        return None
    return values[0] if values and len(values) == 1 else None


def _freshness_errors(created: datetime, expires: datetime | None, now: datetime,
                      policy: Policy) -> list[SecurityError]:
    """Every WB002 finding of freshness at ``now``, in the order ``_freshness`` reports the first."""
    skew = policy.clock_skew
    errors: list[SecurityError] = []
    if created > now + skew:
        errors.append(MessageExpired("WB002", "the Timestamp's Created lies in the future (beyond the allowed clock "
                                     "skew)"))
    if expires is not None and expires < now - skew:
        errors.append(MessageExpired("WB002", "the message has expired (Timestamp Expires has passed)"))
    if created < now - policy.max_age - skew:
        errors.append(MessageExpired("WB002", "the message is too old (Timestamp Created is outside the freshness "
                                     "window)"))
    if expires is None and policy.require_expires:
        errors.append(InvalidSecurity("WB002", "the Timestamp must carry Expires"))
    return errors


def _freshness(created: datetime, expires: datetime | None, now: datetime, policy: Policy) -> None:
    errors = _freshness_errors(created, expires, now, policy)
    if errors:
        raise errors[0]


def _action(parts: _Parts, policy: Policy) -> str:
    action = _text(parts, "Action", required=True)
    if policy.actions is not None and action not in policy.actions:
        err = AddressingError("WSA-ACTION", "wsa:Action is not an operation of this service", dk_code="0006")
        err.faultcode = (ns.WSA, "ActionNotSupported")
        raise err
    return action


def _message_id(parts: _Parts) -> str:
    message_id = _text(parts, "MessageID", required=True)
    if not _URI.fullmatch(message_id):
        raise AddressingError("WSA-MESSAGEID", "wsa:MessageID must be an absolute URI", dk_code="0007")
    return message_id


def _from(parts: _Parts, oin: str | None) -> str | None:
    """wsa:From's address; its ?oin= must be the signer's OIN (``oin``; None: not compared)."""
    if "From" not in parts.wsa:
        return None
    from_ = _address(parts.wsa["From"], "From")
    claimed = _oin_in(from_)
    if claimed is None or not OIN_PATTERN.fullmatch(claimed):
        raise AddressingError("WSA-FROM", "wsa:From must carry the sender's OIN as ?oin=<20 digits>",
                              dk_code="0011")
    if oin is not None and claimed != oin:
        raise FailedAuthentication("PKI001", "the OIN in wsa:From is not the OIN of the signing certificate")
    return from_


def _reply_to(parts: _Parts) -> None:
    for name in ("ReplyTo", "FaultTo"):
        if name in parts.wsa:
            address = _address(parts.wsa[name], name)
            if address.split("?", 1)[0] != ns.WSA_ANONYMOUS:
                raise AddressingError("WSA-REPLYTO", f"wsa:{name} must be the anonymous address", dk_code="0011")


def _verify(data: bytes, policy: Policy, trust: TrustStore, now: datetime | None, *, response: bool):
    root = parse_untrusted(data, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
    parts = _structure(root)
    created, expires = _timestamp(parts.timestamp)
    ids = _ids(root)
    signed = _signature(parts, ids, policy)
    _coverage(parts, signed.referenced, response=response)

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    oin = trust.check(signed.certificate, now)

    _freshness(created, expires, now, policy)
    action = _action(parts, policy)
    message_id = _message_id(parts)
    from_ = _from(parts, oin)
    _reply_to(parts)
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
        to=_text(parts, "To", required=not response),
        relates_to=_text(parts, "RelatesTo", required=False),
        from_address=from_,
        created=created,
        expires=expires,
        signature_value=signed.signature_value,
        confirmations=tuple(c.get("Value") for c in parts.confirmations),
        digest_algorithm=signed.digest_algorithm,
        signature_algorithm=signed.signature_algorithm,
    )
    return vm, now, until()


def _check_to(to: str, policy: Policy) -> None:
    if policy.endpoint is None:
        return
    base = to.split("?", 1)[0]
    if base.rstrip("/") != policy.endpoint.split("?", 1)[0].rstrip("/"):
        raise DestinationUnreachable("WSA-TO", "wsa:To does not address this service")
    try:
        oins = _oin_values(to)
    except ValueError:
        raise DestinationUnreachable("WSA-TO", "wsa:To is not a valid address") from None
    if oins is not None and policy.own_oin is not None and oins != [policy.own_oin]:
        raise DestinationUnreachable("WSA-TO", "wsa:To carries another receiver's OIN")


def _check_soap_action(soap_action: str | None, action: str) -> None:
    """WS002: the HTTP SOAPAction (quotes and all, as received) is empty or equals wsa:Action."""
    if soap_action is None:
        return
    sa = soap_action.strip()
    if len(sa) >= 2 and sa[0] == sa[-1] == '"':
        sa = sa[1:-1]
    if sa and sa != action:
        raise AddressingError("WS002", "the HTTP SOAPAction differs from wsa:Action", dk_code="0003")


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
    _check_to(vm.to, policy)
    _check_soap_action(soap_action, vm.action)
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
    if vm.relates_to is None and not (vm.is_fault and allow_unbound_fault):
        what = "a Fault that names no request (wsa:RelatesTo) cannot be taken as the answer to ours" \
            if vm.is_fault else "wsa:RelatesTo is missing"
        raise AddressingHeaderRequired("WSA-RELATESTO", what, dk_code="0008")
    if vm.relates_to is not None and vm.relates_to != request_message_id:
        raise AddressingError("WSA-RELATESTO", "wsa:RelatesTo is not the MessageID of our request", dk_code="0008")
    if not vm.confirmations:
        if not vm.is_fault:
            raise InvalidSecurity("WB014", "the response carries no SignatureConfirmation")
    elif list(vm.confirmations) != [request_signature_value]:
        raise InvalidSecurity("WB014", "the SignatureConfirmation does not confirm our request's SignatureValue")
    _replay(replay, vm, until, now)
    return vm
