"""The checks of the WUS profile, one function per step: the named internal API that ``verify`` composes (stopping
at the first refusal) and ``diagnose`` runs one by one (reporting every finding).

Each check takes what an earlier step established (the parsed tree, the message's ``Parts``, a ``SignedInfo``, a
``Reference``) and returns what it established, or raises one typed refusal from ``errors`` naming its rule id.
Checks hold no state except a bounded cache of decoded certificates. The order in which a receiver must run them
is that of wus-profile.md and of ``verify._verify``.
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
from .trust import OIN_PATTERN

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
# One pass over the elements' attributes (a union of four //@x paths walks every node four times and sorts).
_IDS = etree.XPath(
    "descendant-or-self::*/@*[local-name()='Id' or local-name()='ID' or local-name()='id']", smart_strings=True
)
# InclusiveNamespaces PrefixList entries per c14n method (WSS4J lists the few prefixes in scope).
MAX_INCLUSIVE_PREFIXES = 64
ID_NAMES = frozenset((f"{{{ns.WSU}}}Id", "Id", "ID", f"{{{ns.XML}}}id"))


# The names of the profile's own elements: a reason or a Fault detail may name these. Any other element name came
# from the sender (a header block of its own, an element it slipped in) and may carry anything, a pupil's name
# included: it is never repeated back, nor logged.
_PROFILE_NAMESPACES = frozenset((ns.SOAP11, ns.WSSE, ns.WSSE11, ns.WSU, ns.DS, ns.WSA,
                                 "http://www.w3.org/2001/10/xml-exc-c14n#"))
_PROFILE_NAMES = frozenset(("Envelope", "Header", "Body", "Fault", "Security", "Timestamp", "Created", "Expires",
                            "BinarySecurityToken", "Signature", "SignedInfo", "SignatureValue", "KeyInfo",
                            "SecurityTokenReference", "Reference", "Transforms", "Transform", "DigestMethod",
                            "DigestValue", "CanonicalizationMethod", "SignatureMethod", "InclusiveNamespaces",
                            "SignatureConfirmation", "Address", *ns.WSA_HEADERS))


def said(element) -> str:
    """How a reason may name ``element``: its name when it is one of the profile's, else a description that repeats
    nothing of what the sender wrote."""
    qn = etree.QName(element)
    if qn.namespace in _PROFILE_NAMESPACES and qn.localname in _PROFILE_NAMES:
        return qn.localname
    return "an element of the sender's own (not named here)"
# Digikoppeling technical fault codes for a missing or malformed WS-Addressing header.
WSA_DK = {"To": "0005", "Action": "0006", "MessageID": "0007", "RelatesTo": "0008"}
WSA_RULE = {
    "To": "WSA-TO",
    "Action": "WSA-ACTION",
    "MessageID": "WSA-MESSAGEID",
    "RelatesTo": "WSA-RELATESTO",
    "From": "WSA-FROM",
    "ReplyTo": "WSA-REPLYTO",
    "FaultTo": "WSA-REPLYTO",
}


def q(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local``."""
    return f"{{{namespace}}}{local}"


S_ENVELOPE, S_HEADER, S_BODY = q(ns.SOAP11, "Envelope"), q(ns.SOAP11, "Header"), q(ns.SOAP11, "Body")
S_FAULT = q(ns.SOAP11, "Fault")
S_MUST, S_ENCODING, S_ACTOR = q(ns.SOAP11, "mustUnderstand"), q(ns.SOAP11, "encodingStyle"), q(ns.SOAP11, "actor")
WSSE_SECURITY, WSSE_BST = q(ns.WSSE, "Security"), q(ns.WSSE, "BinarySecurityToken")
WSSE_STR, WSSE_REF = q(ns.WSSE, "SecurityTokenReference"), q(ns.WSSE, "Reference")
WSSE11_CONF = q(ns.WSSE11, "SignatureConfirmation")
WSU_TS, WSU_CREATED, WSU_EXPIRES, WSU_ID = (q(ns.WSU, n) for n in ("Timestamp", "Created", "Expires", "Id"))
DS_SIGNATURE, DS_SIGNED_INFO, DS_SIGNATURE_VALUE, DS_KEY_INFO = (
    q(ns.DS, n) for n in ("Signature", "SignedInfo", "SignatureValue", "KeyInfo")
)
DS_C14N, DS_SIGMETHOD, DS_REFERENCE, DS_TRANSFORMS, DS_TRANSFORM = (
    q(ns.DS, n) for n in ("CanonicalizationMethod", "SignatureMethod", "Reference", "Transforms", "Transform")
)
DS_DIGEST_METHOD, DS_DIGEST_VALUE = q(ns.DS, "DigestMethod"), q(ns.DS, "DigestValue")
EC_INCLUSIVE = q(ns.EC, "InclusiveNamespaces")
WSA_ADDRESS = q(ns.WSA, "Address")


# ------------------------------------------------------------------------------------------------ values


@dataclass
class Parts:
    """Where the profile's parts of one message are. ``structure`` fills every field; a lenient reader (diagnose)
    may leave ``header``, ``payload``, ``security``, ``timestamp``, ``bst`` or ``signature`` None."""

    envelope: etree._Element
    header: etree._Element | None
    body: etree._Element  # soap:Body
    payload: etree._Element | None  # its one child
    security: etree._Element | None
    timestamp: etree._Element | None
    bst: etree._Element | None
    signature: etree._Element | None
    confirmations: list[etree._Element]
    wsa: dict[str, etree._Element]


@dataclass
class SignedInfo:
    """ds:Signature's parts once their layout and algorithms passed (``signed_info``); a lenient reader may leave
    ``key_info``, ``method`` None."""

    signed_info: etree._Element
    signature_value: etree._Element
    key_info: etree._Element | None
    prefixes: list[str] | None  # SignedInfo's InclusiveNamespaces
    method: str | None  # the SignatureMethod's URI
    references: list[etree._Element]  # the ds:Reference elements


@dataclass
class Reference:
    """One ds:Reference whose form and algorithms passed (``reference``): what it points at and how to digest it."""

    uri: str
    target: etree._Element
    prefixes: list[str] | None
    digest_name: str
    digest_value: etree._Element


# ------------------------------------------------------------------------------------------- structure


def elements(parent: etree._Element) -> list[etree._Element]:
    """GW-ENVELOPE: the element children; refuses text that is not whitespace and processing instructions."""
    out = []
    if parent.text and parent.text.strip():
        raise MalformedMessage("GW-ENVELOPE", f"unexpected text in {said(parent)}")
    for child in parent:
        if isinstance(child.tag, str):
            out.append(child)
        elif child.tag is etree.ProcessingInstruction:
            raise MalformedMessage("GW-ENVELOPE", "processing instructions are not allowed in a message")
        if child.tail and child.tail.strip():
            raise MalformedMessage("GW-ENVELOPE", f"unexpected text in {said(parent)}")
    return out


def structure(root: etree._Element) -> Parts:
    """GW-ENVELOPE, WS007, WB003, WB002, WB009, WB014: one SOAP 1.1 Envelope with one Header and one Body (one
    child), only WS-Addressing and WS-Security headers, one Security (mustUnderstand, no actor) holding one
    Timestamp, one BinarySecurityToken before one Signature, and well-formed SignatureConfirmations."""
    if root.tag != S_ENVELOPE:
        if root.tag == q(ns.SOAP12, "Envelope"):
            raise MalformedMessage("GW-ENVELOPE", "a SOAP 1.2 envelope: the profile uses SOAP 1.1")
        raise MalformedMessage("GW-ENVELOPE", "the root element is not a SOAP 1.1 Envelope")
    if root.get(S_ENCODING) is not None:
        raise MalformedMessage("GW-ENVELOPE", "soap:encodingStyle is not allowed")
    children = elements(root)
    if [c.tag for c in children] != [S_HEADER, S_BODY]:
        if not any(c.tag == S_HEADER for c in children):
            raise InvalidSecurity("WB003", "the message is not signed: it has no SOAP Header")
        raise MalformedMessage("GW-ENVELOPE", "the Envelope must hold exactly one Header followed by one Body")
    header, body = children
    payload = elements(body)
    if len(payload) != 1:
        raise MalformedMessage("GW-ENVELOPE", "the Body must hold exactly one element")
    for el in (body, payload[0]):
        if el.get(S_ENCODING) is not None:
            raise MalformedMessage("GW-ENVELOPE", "soap:encodingStyle is not allowed")

    wsa: dict[str, etree._Element] = {}
    securities = []
    for block in elements(header):
        qn = etree.QName(block)
        if qn.namespace == ns.WSSE and qn.localname == "Security":
            securities.append(block)
        elif qn.namespace == ns.WSA and qn.localname in ns.WSA_HEADERS:
            if qn.localname in wsa:
                raise AddressingError(
                    WSA_RULE[qn.localname], f"wsa:{qn.localname} appears more than once", dk_code="0011"
                )
            wsa[qn.localname] = block
        else:
            raise MalformedMessage(
                "WS007", f"a header block that is not WS-Addressing or WS-Security ({said(block)}) is not allowed",
                dk_code="0010",
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
    for child in elements(security):
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
            raise InvalidSecurity("WB003", f"unexpected element in wsse:Security: {said(child)}")
    if len(timestamps) != 1:
        raise InvalidSecurity("WB002", "wsse:Security must hold exactly one wsu:Timestamp")
    if len(signatures) != 1:
        raise InvalidSecurity("WB003", "wsse:Security must hold exactly one ds:Signature")
    if len(tokens) != 1:
        raise InvalidSecurity("WB009", "wsse:Security must hold exactly one X.509 BinarySecurityToken")
    for conf in confirmations:
        if not conf.get("Value") or not conf.get(WSU_ID) or len(conf):
            raise InvalidSecurity("WB014", "a SignatureConfirmation needs a Value and a wsu:Id, and no children")
    return Parts(root, header, body, payload[0], security, timestamps[0], tokens[0], signatures[0],
                 confirmations, wsa)


def element_ids(root: etree._Element, *, strict: bool = True) -> dict[str, etree._Element]:
    """GW-ID: every wsu:Id / Id / ID / xml:id value and its element; refuses an id used twice. ``strict=False``
    (a diagnosis going on after that refusal) keeps the first element of each id instead."""
    ids: dict[str, etree._Element] = {}
    for value in _IDS(root):
        if value.attrname not in ID_NAMES:
            continue
        key = str(value)
        if key in ids:
            if strict:
                raise InvalidSecurity("GW-ID", "an id is used on more than one element")
            continue
        ids[key] = value.getparent()
    return ids


def parse_time(text: str | None, what: str) -> datetime:
    """WB002: a UTC xs:dateTime ending in Z."""
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


def timestamp(ts: etree._Element) -> tuple[datetime, datetime | None]:
    """WB002: wsu:Timestamp holds one Created and at most one Expires (plain UTC times, Created before Expires);
    returns (created, expires)."""
    children = elements(ts)
    tags = [c.tag for c in children]
    if tags not in ([WSU_CREATED], [WSU_CREATED, WSU_EXPIRES]):
        raise InvalidSecurity("WB002", "wsu:Timestamp must hold one Created and at most one Expires, in order")
    if any(c.get("ValueType") is not None or len(c) for c in children):
        raise InvalidSecurity("WB002", "Created and Expires carry a plain time, no ValueType")
    created = parse_time(children[0].text, "wsu:Created")
    expires = parse_time(children[1].text, "wsu:Expires") if len(children) == 2 else None
    if expires is not None and expires <= created:
        raise InvalidSecurity("WB002", "wsu:Expires must be after wsu:Created")
    return created, expires


# ----------------------------------------------------------------------------------------- the signature


def _b64(text: str | None, rule: str, what: str, error=InvalidSecurity) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise error(rule, f"{what} is not valid base64") from None


_CERT_CACHE: dict[str, tuple[x509.Certificate, rsa.RSAPublicKey]] = {}
_CERT_CACHE_MAX = 1024


def certificate(bst: etree._Element) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    """WB009, SIGN004: the BinarySecurityToken (Base64Binary, X509v3, a wsu:Id) holds an X.509 certificate with
    an RSA key of at least 2048 bits; returns (certificate, public key)."""
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


def c14n_method(method: etree._Element | None, where: str) -> list[str] | None:
    """WB007: an exclusive c14n CanonicalizationMethod or Transform (at most an ec:InclusiveNamespaces inside);
    returns its PrefixList."""
    if method is None or method.get("Algorithm") != ns.EXC_C14N:
        raise UnsupportedAlgorithm("WB007", f"{where} must be exclusive c14n without comments")
    children = elements(method)
    if not children:
        return None
    if len(children) != 1 or children[0].tag != EC_INCLUSIVE or len(children[0]):
        raise InvalidSecurity("WB007", f"{where} may only hold an ec:InclusiveNamespaces")
    prefixes = (children[0].get("PrefixList") or "").split()
    if len(prefixes) > MAX_INCLUSIVE_PREFIXES:  # each one listed is rendered on every element: quadratic c14n
        raise InvalidSecurity("WB007", f"{where}'s PrefixList names more than {MAX_INCLUSIVE_PREFIXES} prefixes")
    return prefixes or None


def canonical(element: etree._Element, prefixes: list[str] | None) -> bytes:
    """WB007: the exclusive canonical form of ``element`` where it stands."""
    try:
        return exc_c14n(element, prefixes)
    except (etree.C14NError, ValueError):
        raise InvalidSecurity(
            "WB007", f"{said(element)} cannot be canonicalised (e.g. a relative namespace URI)"
        ) from None


def signed_info(sig: etree._Element, policy: Policy) -> SignedInfo:
    """WB003, WB007, SIGN004: ds:Signature holds SignedInfo, SignatureValue and KeyInfo; SignedInfo's c14n is
    exclusive and its SignatureMethod is RSA with SHA-2 (as ``policy`` allows), without parameters."""
    children = elements(sig)
    if [c.tag for c in children] != [DS_SIGNED_INFO, DS_SIGNATURE_VALUE, DS_KEY_INFO]:
        raise InvalidSecurity("WB003", "ds:Signature must hold SignedInfo, SignatureValue and KeyInfo only")
    si_el, sig_value_el, key_info_el = children
    if len(sig_value_el):
        raise InvalidSecurity("WB003", "ds:SignatureValue holds base64 text only")

    si = elements(si_el)
    if len(si) < 3 or si[0].tag != DS_C14N or si[1].tag != DS_SIGMETHOD or any(r.tag != DS_REFERENCE for r in si[2:]):
        raise InvalidSecurity("WB003", "SignedInfo must hold CanonicalizationMethod, SignatureMethod and References")
    si_prefixes = c14n_method(si[0], "SignedInfo's CanonicalizationMethod")
    sig_uri = si[1].get("Algorithm")
    if sig_uri not in policy.signature_algorithms:
        raise UnsupportedAlgorithm("SIGN004", "the signature algorithm is not RSA with SHA-256/384/512")
    if len(si[1]):
        raise InvalidSecurity("SIGN004", "SignatureMethod takes no parameters (no HMACOutputLength)")
    return SignedInfo(si_el, sig_value_el, key_info_el, si_prefixes, sig_uri, si[2:])


def key_info(key_info_el: etree._Element, bst: etree._Element) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    """WB010 (then WB009, SIGN004 via ``certificate``): KeyInfo holds one SecurityTokenReference with one direct
    Reference to this header's BinarySecurityToken; returns the certificate it holds and its key."""
    ki = elements(key_info_el)
    if len(ki) != 1 or ki[0].tag != WSSE_STR:
        raise InvalidSecurityToken("WB010", "KeyInfo must hold exactly one wsse:SecurityTokenReference")
    refs = elements(ki[0])
    if len(refs) != 1 or refs[0].tag != WSSE_REF or len(refs[0]):
        raise InvalidSecurityToken("WB010", "the SecurityTokenReference must hold one direct wsse:Reference")
    if refs[0].get("ValueType") != ns.X509V3 or refs[0].get("URI") != "#" + (bst.get(WSU_ID) or ""):
        raise InvalidSecurityToken("WB010", "the token reference must point at the X509v3 BinarySecurityToken")
    return certificate(bst)


def reference_count(parts: Parts, count: int) -> None:
    """WB004: no more references than the message has parts the profile signs."""
    # Each reference must name a different element the profile signs (checked by position after the signature),
    # so more references than there are such elements can never pass; refusing them here keeps a hostile message
    # from making us canonicalise and hash (nested) parts of it over and over before that check.
    signable = 3 + len(parts.wsa) + len(parts.confirmations)  # Body, Timestamp, token, wsa headers, confirmations
    if count > signable:
        raise InvalidSecurity("WB004", "SignedInfo holds more references than the message has parts to sign")


def reference(ref: etree._Element, ids: dict[str, etree._Element], policy: Policy, seen: set[str]) -> Reference:
    """WB004, WB007, SIGN003: one ds:Reference: a shorthand URI (not in ``seen``) to an element of this message,
    exactly one exclusive c14n Transform, a SHA-2 digest (as ``policy`` allows) without parameters."""
    uri = ref.get("URI") or ""
    if not uri.startswith("#") or len(uri) < 2 or "(" in uri:
        raise InvalidSecurity("WB004", "every reference must be a shorthand #id URI")
    if uri in seen:
        raise InvalidSecurity("WB004", "two references to the same element")
    seen.add(uri)
    rc = elements(ref)
    if [c.tag for c in rc] != [DS_TRANSFORMS, DS_DIGEST_METHOD, DS_DIGEST_VALUE]:
        raise InvalidSecurity("WB004", "a Reference must hold Transforms, DigestMethod and DigestValue")
    transforms = elements(rc[0])
    if len(transforms) != 1 or transforms[0].tag != DS_TRANSFORM:
        raise UnsupportedAlgorithm("WB007", "a reference must have exactly one Transform: exclusive c14n")
    prefixes = c14n_method(transforms[0], "a reference's Transform")
    digest_uri = rc[1].get("Algorithm")
    if digest_uri not in policy.digest_algorithms:
        raise UnsupportedAlgorithm("SIGN003", "a digest algorithm is not SHA-256/384/512")
    if len(rc[1]):
        raise InvalidSecurity("SIGN003", "DigestMethod takes no parameters")
    target = ids.get(uri[1:])
    if target is None:
        raise InvalidSecurity("WB004", "a reference points at no element of this message")
    return Reference(uri, target, prefixes, ns.DIGESTS[digest_uri], rc[2])


def check_digest(ref: Reference) -> None:
    """WB013: the DigestValue is the digest of the referenced element's canonical form where it stands."""
    expected = _b64(ref.digest_value.text, "WB013", "a DigestValue")
    actual = hashlib.new(ref.digest_name, canonical(ref.target, ref.prefixes)).digest()
    if not hmac.compare_digest(expected, actual):
        raise FailedCheck("WB013", f"the digest of {said(ref.target)} does not match: "
                          "the element was changed after signing")


def check_signature_value(si: SignedInfo, public_key: rsa.RSAPublicKey) -> None:
    """WB013 (SIGN004 for a method off the allow-list): the SignatureValue verifies over SignedInfo's canonical
    form with the certificate's key and the SignatureMethod's hash."""
    hash_name = ns.SIGNATURES.get(si.method or "")
    if hash_name is None:  # only a lenient SignedInfo gets here with it; never verified with a forbidden hash
        raise UnsupportedAlgorithm("SIGN004", "the signature algorithm is not RSA with SHA-256/384/512")
    raw = _b64(si.signature_value.text, "WB013", "the SignatureValue")
    signed_octets = canonical(si.signed_info, si.prefixes)
    try:
        public_key.verify(raw, signed_octets, padding.PKCS1v15(), _HASHES[hash_name]())
    except InvalidSignature:
        raise FailedCheck("WB013", "the SignatureValue does not verify with the certificate's key") from None


# ----------------------------------------------------------------------------------- coverage by position


def required_parts(parts: Parts) -> list[tuple[etree._Element | None, str]]:
    """WB004, WB014: the elements the signature must cover, each in its place, with how a refusal names it."""
    required = [(parts.body, "the Body"), (parts.timestamp, "the Timestamp")]
    required += [(el, f"wsa:{name}") for name, el in parts.wsa.items()]
    required += [(el, "the SignatureConfirmation") for el in parts.confirmations]
    return required


def coverage_errors(parts: Parts, referenced: list[etree._Element]) -> list[InvalidSecurity]:
    """WB004: every finding of coverage by position (a required part not referenced in its place, a reference to
    anything else but the token), in the order a receiver reports the first."""
    covered = set(referenced)
    required = required_parts(parts)
    errors = [InvalidSecurity("WB004", f"{what} is not covered by the signature", element=what)
              for element, what in required if element not in covered]
    allowed = {el for el, _ in required}
    allowed.add(parts.bst)
    errors += [InvalidSecurity("WB004", f"the signature references {said(element)}, which the "
                               "profile does not sign in that place")
               for element in referenced if element not in allowed]
    return errors


# ----------------------------------------------------------------------------------------------- freshness


def freshness_errors(created: datetime, expires: datetime | None, now: datetime,
                     policy: Policy) -> list[SecurityError]:
    """WB002: every finding of freshness at ``now`` (future Created, passed Expires, too old, Expires required), in
    the order a receiver reports the first."""
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


# ---------------------------------------------------------------------------------------------- addressing


def address(element: etree._Element, name: str) -> str:
    """WSA-FROM / WSA-REPLYTO: an endpoint reference header holds one non-empty wsa:Address; returns it."""
    children = elements(element)
    addresses = [c for c in children if c.tag == WSA_ADDRESS]
    if len(addresses) != 1 or not (addresses[0].text or "").strip():
        raise AddressingError(WSA_RULE[name], f"wsa:{name} must hold one wsa:Address", dk_code="0011")
    return addresses[0].text.strip()


def wsa_text(parts: Parts, name: str, *, required: bool) -> str | None:
    """WSA-TO / WSA-ACTION / WSA-MESSAGEID / WSA-RELATESTO: the text of a simple WS-Addressing header (None when
    absent and not ``required``); refuses one that is missing when required, empty or holds elements."""
    element = parts.wsa.get(name)
    if element is None:
        if required:
            raise AddressingHeaderRequired(WSA_RULE[name], f"wsa:{name} is missing", dk_code=WSA_DK.get(name))
        return None
    if len(element) or not (element.text or "").strip():
        raise AddressingError(WSA_RULE[name], f"wsa:{name} is empty or malformed", dk_code=WSA_DK.get(name, "0011"))
    return element.text.strip()


def oin_values(address_: str) -> list[str] | None:
    """The ?oin= values of an address (blank ones included), None when there are none; ValueError when the
    address is not a URL."""
    return parse_qs(urlsplit(address_).query, keep_blank_values=True).get("oin")


def oin_in(address_: str) -> str | None:
    """The one ?oin= value of an address, or None."""
    try:
        values = oin_values(address_)
    except ValueError:
        return None
    return values[0] if values and len(values) == 1 else None


def action(parts: Parts, policy: Policy) -> str:
    """WSA-ACTION: wsa:Action is present and, when ``policy.actions`` is given, one of them."""
    value = wsa_text(parts, "Action", required=True)
    if policy.actions is not None and value not in policy.actions:
        err = AddressingError("WSA-ACTION", "wsa:Action is not an operation of this service", dk_code="0006")
        err.faultcode = (ns.WSA, "ActionNotSupported")
        raise err
    return value


def message_id(parts: Parts) -> str:
    """WSA-MESSAGEID: wsa:MessageID is present and an absolute URI."""
    value = wsa_text(parts, "MessageID", required=True)
    if not _URI.fullmatch(value):
        raise AddressingError("WSA-MESSAGEID", "wsa:MessageID must be an absolute URI", dk_code="0007")
    return value


def to(parts: Parts, *, response: bool) -> str | None:
    """WSA-TO: wsa:To is required in a request; a response may leave it out (anonymous)."""
    return wsa_text(parts, "To", required=not response)


def relates_to(parts: Parts, *, required: bool) -> str | None:
    """WSA-RELATESTO: wsa:RelatesTo's text (a response must carry it)."""
    return wsa_text(parts, "RelatesTo", required=required)


def from_address(parts: Parts, oin: str | None) -> str | None:
    """WSA-FROM, PKI001: wsa:From's address, when present, is anonymous with ?oin=<20 digits>, and that OIN is the
    signer's (``oin``; None: not compared)."""
    if "From" not in parts.wsa:
        return None
    from_ = address(parts.wsa["From"], "From")
    claimed = oin_in(from_)
    if claimed is None or not OIN_PATTERN.fullmatch(claimed):
        raise AddressingError("WSA-FROM", "wsa:From must carry the sender's OIN as ?oin=<20 digits>",
                              dk_code="0011")
    if oin is not None and claimed != oin:
        raise FailedAuthentication("PKI001", "the OIN in wsa:From is not the OIN of the signing certificate")
    return from_


def reply_to(parts: Parts) -> None:
    """WSA-REPLYTO: wsa:ReplyTo and wsa:FaultTo are absent or the anonymous address."""
    for name in ("ReplyTo", "FaultTo"):
        if name in parts.wsa:
            value = address(parts.wsa[name], name)
            if value.split("?", 1)[0] != ns.WSA_ANONYMOUS:
                raise AddressingError("WSA-REPLYTO", f"wsa:{name} must be the anonymous address", dk_code="0011")


def check_to(to_: str, policy: Policy) -> None:
    """WSA-TO: a request's wsa:To addresses this service (``policy.endpoint``; None: any) and a ?oin= on it is
    ``policy.own_oin``."""
    if policy.endpoint is None:
        return
    base = to_.split("?", 1)[0]
    if base.rstrip("/") != policy.endpoint.split("?", 1)[0].rstrip("/"):
        raise DestinationUnreachable("WSA-TO", "wsa:To does not address this service")
    try:
        oins = oin_values(to_)
    except ValueError:
        raise DestinationUnreachable("WSA-TO", "wsa:To is not a valid address") from None
    if oins is not None and policy.own_oin is not None and oins != [policy.own_oin]:
        raise DestinationUnreachable("WSA-TO", "wsa:To carries another receiver's OIN")


def check_soap_action(soap_action: str | None, action_: str) -> None:
    """WS002: the HTTP SOAPAction (quotes and all, as received; None: not known) is empty or equals wsa:Action."""
    if soap_action is None:
        return
    sa = soap_action.strip()
    if len(sa) >= 2 and sa[0] == sa[-1] == '"':
        sa = sa[1:-1]
    if sa and sa != action_:
        raise AddressingError("WS002", "the HTTP SOAPAction differs from wsa:Action", dk_code="0003")


# ----------------------------------------------------------------------------------------------- responses


def check_relates_to(relates_to_: str | None, request_message_id: str, *, is_fault: bool,
                     allow_unbound_fault: bool = False) -> None:
    """WSA-RELATESTO: a response's wsa:RelatesTo is the MessageID of the request it answers. A Fault must relate
    too (one that names no request could be any Fault of that peer), unless ``allow_unbound_fault``."""
    if relates_to_ is None and not (is_fault and allow_unbound_fault):
        what = "a Fault that names no request (wsa:RelatesTo) cannot be taken as the answer to ours" \
            if is_fault else "wsa:RelatesTo is missing"
        raise AddressingHeaderRequired("WSA-RELATESTO", what, dk_code="0008")
    if relates_to_ is not None and relates_to_ != request_message_id:
        raise AddressingError("WSA-RELATESTO", "wsa:RelatesTo is not the MessageID of our request", dk_code="0008")


def check_confirmation_present(confirmations: tuple[str, ...] | list[str], *, is_fault: bool) -> None:
    """WB014: a response that is not a Fault carries a SignatureConfirmation (judged without the request)."""
    if not confirmations and not is_fault:
        raise InvalidSecurity("WB014", "the response carries no SignatureConfirmation")


def check_confirmation(confirmations: tuple[str, ...] | list[str], request_signature_value: str, *,
                       is_fault: bool) -> None:
    """WB014: a response carries exactly one SignatureConfirmation, of the request's SignatureValue. A Fault may
    carry none (the peer could not read the request's signature), but one it carries must be that one."""
    check_confirmation_present(confirmations, is_fault=is_fault)
    if confirmations and list(confirmations) != [request_signature_value]:
        raise InvalidSecurity("WB014", "the SignatureConfirmation does not confirm our request's SignatureValue")
