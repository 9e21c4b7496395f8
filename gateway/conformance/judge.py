"""Reading a vendor's answer part by part, so that each scenario can judge its own aspect of it.

``gateway.wsse.verify_response`` stops at the first failure; a conformance report needs every aspect on its own
(is it signed at all, what does the signature cover, with which algorithms, how is the token referenced, does it
verify, is the certificate trusted, does it confirm our signature). The coverage, algorithm and reference checks
here read the message directly; digests and the signature value are recomputed here with lxml, hashlib and
cryptography (a second implementation beside the gateway's verifier); the certificate is judged by the TrustStore.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from ..wsse import Policy, TrustStore, ns, verify_response
from ..wsse.errors import SecurityError
from ..wsse.faults import read_fault
from ..wsse.xmlparse import parse_untrusted
from .. import contracts
from ..contracts import OSO_NS

_ID = f"{{{ns.WSU}}}Id"
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512, "sha1": hashes.SHA1}
_WEAK = {"http://www.w3.org/2000/09/xmldsig#sha1": "sha1", "http://www.w3.org/2001/04/xmldsig-more#md5": "md5"}
_WEAK_SIG = {"http://www.w3.org/2000/09/xmldsig#rsa-sha1": "sha1"}


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


@dataclass
class Answer:
    """What the suite established about one answer of the vendor."""

    raw: bytes
    status: int | None = None
    parse_error: str | None = None
    is_fault: bool = False
    fault: dict = field(default_factory=dict)
    fault_code: str | None = None  # the faultcode as a Clark name ({namespace}local), its prefix resolved
    fault_text: str = ""  # faultstring and every text of the detail: where a Fault may name its rule
    payload: str | None = None  # the Body child's local name
    resultaat: str | None = None
    dossier: bytes | None = None  # the released dossier (the one child of <dossier>), serialised
    has_security: bool = False
    has_signature: bool = False
    timestamp_problem: str | None = None
    required: list[str] = field(default_factory=list)  # the parts the profile says must be covered
    covered: list[str] = field(default_factory=list)
    digest_algorithms: list[str] = field(default_factory=list)
    signature_algorithm: str | None = None
    c14n_problem: str | None = None
    token_problem: str | None = None  # WB009 / WB010
    crypto_problem: str | None = None  # a digest or the SignatureValue does not verify (WB013)
    certificate_problem: str | None = None  # PKI001/PKI002
    signer_oin: str | None = None
    certificate: x509.Certificate | None = field(default=None, repr=False)
    confirmations: list[str] = field(default_factory=list)
    relates_to: str | None = None
    action: str | None = None
    message_id: str | None = None
    verification: str = ""  # the gateway verifier's verdict on the whole answer
    xsd_problem: str | None = None

    @property
    def missing(self) -> list[str]:
        return [p for p in self.required if p not in self.covered]

    @property
    def weak_algorithms(self) -> list[str]:
        weak = [a for a in self.digest_algorithms if a not in ns.DIGESTS]
        if self.signature_algorithm and self.signature_algorithm not in ns.SIGNATURES:
            weak.append(self.signature_algorithm)
        return weak


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _find(parent, *path: tuple[str, str]):
    el = parent
    for namespace, local in path:
        if el is None:
            return None
        el = el.find(_q(namespace, local))
    return el


def _signature_parts(answer: Answer, root: etree._Element, header: etree._Element | None, body) -> None:
    security = _find(header, (ns.WSSE, "Security")) if header is not None else None
    answer.has_security = security is not None
    if security is None:
        return
    signature = security.find(_q(ns.DS, "Signature"))
    answer.has_signature = signature is not None
    ts = security.find(_q(ns.WSU, "Timestamp"))
    if ts is None:
        answer.timestamp_problem = "no wsu:Timestamp in wsse:Security"
    else:
        created = _text(ts.find(_q(ns.WSU, "Created")))
        try:
            when = datetime.fromisoformat((created or "").replace("Z", "+00:00"))
            now = datetime.now(timezone.utc)
            if when.tzinfo is None or abs(now - when) > timedelta(seconds=360):
                answer.timestamp_problem = "wsu:Created is not a current UTC time"
        except ValueError:
            answer.timestamp_problem = "wsu:Created is not an xs:dateTime"
    # the parts that must be covered, where they stand
    parts = [("the Body", body)]
    if ts is not None:
        parts.append(("the Timestamp", ts))
    for child in header:
        if isinstance(child.tag, str) and etree.QName(child).namespace == ns.WSA:
            parts.append((f"wsa:{etree.QName(child).localname}", child))
    for conf in security.findall(_q(ns.WSSE11, "SignatureConfirmation")):
        parts.append(("the SignatureConfirmation", conf))
    answer.required = [name for name, _ in parts]
    if signature is None:
        return
    ids: dict[str, list[etree._Element]] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get(_ID):
            ids.setdefault(el.get(_ID), []).append(el)
    signed_info = signature.find(_q(ns.DS, "SignedInfo"))
    if signed_info is None:
        answer.crypto_problem = "ds:Signature has no SignedInfo"
        return
    method = signed_info.find(_q(ns.DS, "CanonicalizationMethod"))
    if method is None or method.get("Algorithm") != ns.EXC_C14N:
        answer.c14n_problem = "SignedInfo is not canonicalised with exclusive c14n"
    sm = signed_info.find(_q(ns.DS, "SignatureMethod"))
    answer.signature_algorithm = sm.get("Algorithm") if sm is not None else None
    referenced: list[etree._Element] = []
    digest_failures = []
    for ref in signed_info.findall(_q(ns.DS, "Reference")):
        uri = ref.get("URI") or ""
        dm = ref.find(_q(ns.DS, "DigestMethod"))
        algorithm = dm.get("Algorithm") if dm is not None else ""
        answer.digest_algorithms.append(algorithm)
        for t in ref.iterfind(f"{_q(ns.DS, 'Transforms')}/{_q(ns.DS, 'Transform')}"):
            if t.get("Algorithm") != ns.EXC_C14N:
                answer.c14n_problem = "a reference's transform is not exclusive c14n"
        targets = ids.get(uri[1:], []) if uri.startswith("#") else []
        if len(targets) != 1:
            digest_failures.append(f"reference {uri[:40]!r} names {len(targets)} elements")
            continue
        referenced.append(targets[0])
        name = ns.DIGESTS.get(algorithm) or _WEAK.get(algorithm)
        if name is None:
            digest_failures.append(f"unknown digest algorithm {algorithm[:60]!r}")
            continue
        canonical = etree.tostring(targets[0], method="c14n", exclusive=True, with_comments=False)
        try:
            expected = base64.b64decode("".join((_text(ref.find(_q(ns.DS, "DigestValue"))) or "").split()))
        except (binascii.Error, ValueError):
            expected = b""
        if not hmac.compare_digest(hashlib.new(name, canonical).digest(), expected):
            digest_failures.append(f"the digest of {etree.QName(targets[0]).localname} does not match")
    answer.covered = [name for name, el in parts if any(el is r for r in referenced)]
    # the token and the key reference (WB009, WB010)
    bst = security.findall(_q(ns.WSSE, "BinarySecurityToken"))
    cert = None
    if len(bst) != 1:
        answer.token_problem = f"{len(bst)} BinarySecurityTokens (the profile wants one X509v3 token)"
    elif bst[0].get("ValueType") != ns.X509V3 or bst[0].get("EncodingType") != ns.BASE64_ENCODING:
        answer.token_problem = "the BinarySecurityToken is not X509v3 / Base64Binary"
    else:
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join((bst[0].text or "").split())))
        except (ValueError, binascii.Error):
            answer.token_problem = "the BinarySecurityToken is not an X.509 certificate"
    key_info = signature.find(_q(ns.DS, "KeyInfo"))
    refs = key_info.findall(f"{_q(ns.WSSE, 'SecurityTokenReference')}/{_q(ns.WSSE, 'Reference')}") \
        if key_info is not None else []
    if answer.token_problem is None:
        if len(refs) != 1 or refs[0].get("URI") != "#" + (bst[0].get(_ID) or "-"):
            answer.token_problem = ("KeyInfo does not reference the BinarySecurityToken directly "
                                    "(SecurityTokenReference/Reference URI=\"#token\")")
    # digests and the signature value (WB013)
    if digest_failures:
        answer.crypto_problem = "; ".join(digest_failures)
    elif cert is None:
        answer.crypto_problem = "no certificate to verify the signature with"
    else:
        sv = _text(signature.find(_q(ns.DS, "SignatureValue"))) or ""
        algorithm = answer.signature_algorithm or ""
        sig_hash = ns.SIGNATURES.get(algorithm) or _WEAK_SIG.get(algorithm)
        key = cert.public_key()
        if sig_hash is None or not isinstance(key, rsa.RSAPublicKey):
            answer.crypto_problem = "the signature is not RSA with a known hash"
        else:
            try:
                key.verify(base64.b64decode("".join(sv.split())),
                           etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False),
                           padding.PKCS1v15(), _HASHES[sig_hash]())
            except Exception:  # InvalidSignature, bad base64: the same verdict
                answer.crypto_problem = "the SignatureValue does not verify with the token's key"
    answer.certificate = cert


def _fault_code(fault: etree._Element) -> str | None:
    """The Fault's faultcode as a Clark name: its prefix resolved where the faultcode element stands."""
    el = fault.find("faultcode")
    text = (el.text or "").strip() if el is not None else ""
    if not text:
        return None
    prefix, _, local = text.rpartition(":")
    namespace = el.nsmap.get(prefix or None)
    return f"{{{namespace}}}{local}" if namespace else text


_RULE_TOKEN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")


def rules_named(answer: Answer, known) -> set[str]:
    """The rule ids of ``known`` that a Fault names in its faultstring or detail."""
    return {t for t in _RULE_TOKEN.findall(answer.fault_text) if t in known}


_DK_TOKEN = re.compile(r"(?<![0-9])00[0-9]{2}(?![0-9])")


def other_reason(scenario, answer: Answer, known) -> str | None:
    """Why a Fault is NOT a refusal for the reason ``scenario`` probes, or None when it is: the Fault names one of
    the scenario's rules, or (naming no rule of ``known``) carries one of the fault or Digikoppeling codes the
    scenario accepts."""
    named = rules_named(answer, known)
    if named & set(scenario.rules):
        return None
    code = answer.fault_code or "no faultcode"
    if named:
        return (f"refused for another reason: the Fault names {', '.join(sorted(named))}, not "
                f"{' or '.join(scenario.rules)} ({code})")
    dk = set(_DK_TOKEN.findall(answer.fault_text))
    if answer.fault_code in scenario.accepts or dk & set(scenario.accepts):
        return None
    expected = [a for a in scenario.accepts]
    return (f"refused for another reason: faultcode {code} names no rule of the probe "
            f"({' or '.join(scenario.rules)}) and is not {' or '.join(expected) or 'a code the probe accepts'}")


def read_answer(data: bytes, *, status: int | None = None, request_message_id: str | None = None,
                request_signature_value: str | None = None, trust: TrustStore | None = None,
                vendor_oin: str | None = None, check_contract: bool = False) -> Answer:
    answer = Answer(raw=data, status=status)
    try:
        root = parse_untrusted(data)
    except SecurityError as err:
        answer.parse_error = f"{err.rule}: {err.reason}"
        return answer
    if root.tag != _q(ns.SOAP11, "Envelope"):
        answer.parse_error = "the answer is not a SOAP 1.1 Envelope"
        return answer
    header = root.find(_q(ns.SOAP11, "Header"))
    body = root.find(_q(ns.SOAP11, "Body"))
    if body is None:
        answer.parse_error = "the answer has no SOAP Body"
        return answer
    payload = next((c for c in body if isinstance(c.tag, str)), None)
    if payload is not None:
        answer.payload = etree.QName(payload).localname
        answer.is_fault = payload.tag == _q(ns.SOAP11, "Fault")
        if answer.is_fault:
            answer.fault = read_fault(payload)
            answer.fault_code = _fault_code(payload)
            answer.fault_text = " ".join(t.strip() for t in payload.itertext() if t and t.strip())
        elif payload.tag == _q(OSO_NS, "documentResponse"):
            answer.resultaat = _text(payload.find(_q(OSO_NS, "resultaat")))
            holder = payload.find(_q(OSO_NS, "dossier"))
            if holder is not None:
                content = [c for c in holder if isinstance(c.tag, str)]
                answer.dossier = etree.tostring(content[0]) if content else b""
            if check_contract:
                answer.xsd_problem = contracts.schema_error(payload)
        elif check_contract:
            answer.xsd_problem = f"the Body holds {answer.payload}, not a documentResponse"
    if header is not None:
        answer.relates_to = _text(header.find(_q(ns.WSA, "RelatesTo")))
        answer.action = _text(header.find(_q(ns.WSA, "Action")))
        answer.message_id = _text(header.find(_q(ns.WSA, "MessageID")))
        security = header.find(_q(ns.WSSE, "Security"))
        if security is not None:
            answer.confirmations = [c.get("Value") or "" for c in
                                    security.findall(_q(ns.WSSE11, "SignatureConfirmation"))]
        _signature_parts(answer, root, header, body)
    cert = answer.certificate
    if cert is not None and trust is not None:
        try:
            answer.signer_oin = trust.check(cert)
            if vendor_oin is not None and answer.signer_oin != vendor_oin:
                answer.certificate_problem = (f"signed with the certificate of OIN {answer.signer_oin}, not the "
                                              f"vendor's {vendor_oin}")
        except SecurityError as err:
            answer.certificate_problem = f"{err.rule}: {err.reason}"
    if trust is not None and request_message_id is not None:
        try:
            vm = verify_response(data, request_message_id=request_message_id,
                                 request_signature_value=request_signature_value or "", policy=Policy(), trust=trust)
            answer.verification = f"valid (signer OIN {vm.oin})"
        except SecurityError as err:
            answer.verification = f"INVALID {err.rule}: {err.reason}"
    return answer
