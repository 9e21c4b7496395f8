"""Every check of the WUS profile on one message, each on its own: for a servicedesk that wants all that is wrong
with a message, not only the first thing ``verify`` refuses it for.

``diagnose`` runs the very step functions of ``verify`` (structure, timestamp, ids, SignedInfo, KeyInfo, each
reference and its digest, the SignatureValue, coverage of each part, the certificate, freshness, each addressing
header, SOAPAction), catching each step's refusal and going on with what can still be read: when the structure is
off, the parts are looked up leniently; when a reference is refused, the others are still checked. ``verdict`` is
what ``verify`` itself says (it stops at the first refusal): the cause the sender was answered with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from lxml import etree

from . import ns
from .errors import SecurityError
from .policy import Policy
from .trust import TrustStore, oin_of
from .verify import (
    DS_C14N, DS_KEY_INFO, DS_REFERENCE, DS_SIGMETHOD, DS_SIGNATURE, DS_SIGNATURE_VALUE, DS_SIGNED_INFO, S_BODY,
    S_HEADER, WSSE11_CONF, WSSE_BST, WSSE_SECURITY, WSU_TS, _action, _c14n_method, _certificate, _check_digest,
    _check_signature_value, _check_soap_action, _check_to, _coverage_errors, _freshness_errors, _from, _ids, _IDS,
    _ID_NAMES, _key_info, _message_id, _Parts, _reference, _reference_count, _reply_to, _required_parts,
    _SignedInfo, _signed_info, _structure, _text, _timestamp, verify,
)
from .xmlparse import parse_untrusted

OK, FAIL, SKIP = "ok", "fail", "skip"


@dataclass(frozen=True)
class Finding:
    check: str  # what was checked, in words
    status: str  # ok | fail | skip
    rule: str | None = None
    detail: str = ""
    error: SecurityError | None = None


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    verdict: SecurityError | None = None  # verify()'s own answer (None: valid, or not judged without trust)
    judged: bool = False  # whether verify() ran (it needs the trust anchors)
    payload: etree._Element | None = None  # the Body's element, for the contract's checks
    action: str | None = None
    signer_oin: str | None = None

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAIL]


class _Run:
    def __init__(self, diagnosis: Diagnosis):
        self.d = diagnosis

    def check(self, what: str, rule: str | None, fn: Callable, *args, ok: str | Callable = ""):
        """Run one step; record ok (with ``ok`` as detail) or its refusal; return its value or None."""
        try:
            value = fn(*args)
        except SecurityError as err:
            self.d.findings.append(Finding(what, FAIL, err.rule, err.reason, err))
            return None
        detail = ok(value) if callable(ok) else ok
        self.d.findings.append(Finding(what, OK, rule, detail))
        return value if value is not None else True

    def skip(self, what: str, rule: str | None, why: str) -> None:
        self.d.findings.append(Finding(what, SKIP, rule, why))


def _lenient_parts(root: etree._Element) -> _Parts | None:
    """The parts where they most likely are, for a message whose structure was refused."""
    header, body = root.find(S_HEADER), root.find(S_BODY)
    if body is None:
        return None
    payload = next((c for c in body if isinstance(c.tag, str)), None)
    security = header.find(WSSE_SECURITY) if header is not None else None
    wsa = {}
    if header is not None:
        for name in ns.WSA_HEADERS:
            el = header.find(f"{{{ns.WSA}}}{name}")
            if el is not None:
                wsa[name] = el

    def first(tag):
        return security.find(tag) if security is not None else None

    return _Parts(root, header, body, payload, security, first(WSU_TS), first(WSSE_BST), first(DS_SIGNATURE),
                  security.findall(WSSE11_CONF) if security is not None else [], wsa)


def _lenient_ids(root: etree._Element) -> dict[str, etree._Element]:
    ids: dict[str, etree._Element] = {}
    for value in _IDS(root):
        if value.attrname in _ID_NAMES:
            ids.setdefault(str(value), value.getparent())
    return ids


def _lenient_signed_info(sig: etree._Element) -> _SignedInfo | None:
    si, sv, ki = sig.find(DS_SIGNED_INFO), sig.find(DS_SIGNATURE_VALUE), sig.find(DS_KEY_INFO)
    if si is None or sv is None:
        return None
    method = si.find(DS_SIGMETHOD)
    try:
        prefixes = _c14n_method(si.find(DS_C14N), "SignedInfo's CanonicalizationMethod")
    except SecurityError:
        prefixes = None
    uri = method.get("Algorithm") if method is not None else None
    return _SignedInfo(si, sv, ki, prefixes, uri, si.findall(DS_REFERENCE))


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname


def diagnose(data: bytes, *, policy: Policy, trust: TrustStore | None = None, soap_action: str | None = None,
             now: datetime | None = None) -> Diagnosis:
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    d = Diagnosis()
    run = _Run(d)
    if trust is not None:
        d.judged = True
        try:
            verify(data, policy=policy, trust=trust, soap_action=soap_action, now=now)
        except SecurityError as err:
            d.verdict = err

    root = run.check("size, well-formed UTF-8 XML without a DTD", "GW-XML", parse_untrusted, data,
                     ok="the message can be read")
    if root is None:
        return d
    parts = run.check("envelope structure: one Header and one Body, one Security with one Timestamp, token and "
                      "Signature", "GW-ENVELOPE", _structure, root, ok="as the profile demands")
    if parts is None:
        parts = _lenient_parts(root)
        if parts is None:
            run.skip("everything else", None, "there is no SOAP Body to look at")
            return d
    d.payload = parts.payload
    ids = run.check("element ids are unique", "GW-ID", _ids, root, ok="no id is used twice") or _lenient_ids(root)

    times = None
    if parts.timestamp is not None:
        times = run.check("wsu:Timestamp", "WB002", _timestamp, parts.timestamp,
                          ok=lambda t: f"Created {t[0].isoformat()}" + (f", Expires {t[1].isoformat()}" if t[1]
                                                                        else ", no Expires"))
    else:
        run.skip("wsu:Timestamp", "WB002", "there is no wsu:Timestamp")

    # the signature, step by step
    cert = key = None
    referenced: list[etree._Element] = []
    if parts.signature is None:
        run.skip("the signature", "WB003", "there is no ds:Signature")
    else:
        si = run.check("ds:Signature layout and algorithms (exclusive c14n, RSA-SHA-2)", "WB003", _signed_info,
                       parts.signature, policy, ok="SignedInfo, SignatureValue, KeyInfo; allowed algorithms")
        if si is None:
            si = _lenient_signed_info(parts.signature)
        keys = None
        if si is not None and si.key_info is not None and parts.bst is not None:
            keys = run.check("KeyInfo points at the BinarySecurityToken, an X.509 RSA certificate", "WB010",
                             _key_info, si.key_info, parts.bst, ok="a direct reference to the token")
        if keys is None and parts.bst is not None:
            keys = run.check("the BinarySecurityToken holds an X.509 certificate with an RSA key", "WB009",
                             _certificate, parts.bst, ok="the certificate can be read")
        elif parts.bst is None:
            run.skip("the BinarySecurityToken", "WB009", "there is no wsse:BinarySecurityToken")
        if keys:
            cert, key = keys
            d.signer_oin = oin_of(cert)
        if si is not None:
            run.check("number of references", "WB004", _reference_count, parts, len(si.references),
                      ok=f"{len(si.references)} references")
            seen: set[str] = set()
            for ref in si.references:
                uri = ref.get("URI") or "(no URI)"
                r = run.check(f"reference {uri}: form and algorithms", "WB004", _reference, ref, ids, policy, seen,
                              ok=lambda r: f"points at {_name(r.target)}, {r.digest_name}")
                if r is None:
                    run.skip(f"digest of reference {uri}", "WB013", "not computed: the reference was refused")
                    continue
                referenced.append(r.target)
                run.check(f"digest of {_name(r.target)} ({uri})", "WB013", _check_digest, r,
                          ok="matches: unchanged since signing")
            if key is not None and si.method is not None:
                run.check("SignatureValue", "WB013", _check_signature_value, si, key,
                          ok="verifies with the certificate's key")
            else:
                run.skip("SignatureValue", "WB013", "not verified: no usable key or signature method")

        # coverage by position, part by part
        errors = _coverage_errors(parts, referenced)
        if parts.timestamp is None:  # reported above as missing
            errors = [e for e in errors if e.element != "the Timestamp"]
        uncovered = {e.element for e in errors}
        for element, what in _required_parts(parts):
            if element is not None and what not in uncovered:
                d.findings.append(Finding(f"{what} is covered by the signature", OK, "WB004", "signed in its place"))
        for err in errors:
            d.findings.append(Finding(f"{err.element or 'a reference'} is covered by the signature" if err.element
                                      else "the signature signs only the profile's parts", FAIL, "WB004",
                                      err.reason, err))

    # the certificate
    if cert is None:
        run.skip("the signing certificate", "PKI002", "no certificate could be read")
    else:
        valid = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
        d.findings.append(Finding(
            "the certificate's validity period", OK if valid else FAIL, "PKI002",
            f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()}, judged at "
            f"{now.isoformat()}"))
        oin = oin_of(cert)
        d.findings.append(Finding("the certificate carries an OIN in subject.serialNumber", OK if oin else FAIL,
                                  "PKI001", f"OIN {oin}" if oin else "there is no 20-digit OIN"))
        if trust is not None:
            run.check("the certificate chains to a trusted root, is not revoked, may sign", "PKI002", trust.check,
                      cert, now, ok=lambda o: f"trusted (OIN {o})")
        else:
            run.skip("the certificate's chain and revocation", "PKI002", "not checked: give --ca (and --crl)")

    # freshness at the time the message is judged
    if times is not None:
        errors = _freshness_errors(times[0], times[1], now, policy)
        for err in errors:
            d.findings.append(Finding("freshness of the Timestamp", FAIL, err.rule, err.reason, err))
        if not errors:
            d.findings.append(Finding("freshness of the Timestamp", OK, "WB002", f"fresh at {now.isoformat()}"))

    # addressing, header by header
    d.action = run.check("wsa:Action", "WSA-ACTION", _action, parts, policy, ok=lambda a: a) or None
    run.check("wsa:MessageID", "WSA-MESSAGEID", _message_id, parts, ok=lambda m: m)
    to = run.check("wsa:To", "WSA-TO", lambda: _text(parts, "To", required=True), ok=lambda t: t) or None
    if to and policy.endpoint:
        run.check("wsa:To addresses this service", "WSA-TO", _check_to, to, policy, ok=policy.endpoint)
    if "From" in parts.wsa:
        run.check("wsa:From carries the signer's OIN", "WSA-FROM", _from, parts, d.signer_oin, ok=lambda f: f)
    run.check("wsa:ReplyTo / FaultTo", "WSA-REPLYTO", _reply_to, parts, ok="absent or anonymous")
    if soap_action is not None and d.action:
        run.check("the HTTP SOAPAction equals wsa:Action", "WS002", _check_soap_action, soap_action, d.action,
                  ok="equal")
    return d
