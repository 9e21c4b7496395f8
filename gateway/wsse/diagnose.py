"""Every check of the WUS profile on one message, each on its own: for a servicedesk that wants all that is wrong
with a message, not only the first thing ``verify`` refuses it for.

``diagnose`` runs the very checks of ``verify`` (``gateway.wsse.checks``: structure, timestamp, ids, SignedInfo,
KeyInfo, each reference and its digest, the SignatureValue, coverage of each part, the certificate, freshness, each
addressing header, SOAPAction; for a response RelatesTo and SignatureConfirmation), recording each check's refusal
and going on with what can still be read: when the structure is off, the parts are looked up leniently; when a
reference is refused, the others are still checked. ``verdict`` is what ``verify`` itself says (it stops at the
first refusal): the cause the sender was answered with.

A message is judged as a response when the request it answers is given (``request_message_id`` and
``request_signature_value``, as ``verify_response`` takes them) or, without it, when it carries wsa:RelatesTo; then
what needs the request is reported as not checked. It never raises: a check that cannot run is a finding too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from lxml import etree

from . import checks, ns
from .checks import (
    DS_C14N, DS_DIGEST_METHOD, DS_KEY_INFO, DS_REFERENCE, DS_SIGMETHOD, DS_SIGNATURE, DS_SIGNATURE_VALUE,
    DS_SIGNED_INFO, S_BODY, S_FAULT, S_HEADER, WSSE11_CONF, WSSE_BST, WSSE_SECURITY, WSU_TS, Parts, SignedInfo,
)
from .errors import SecurityError, ServerSecurityError
from .policy import Policy
from .trust import TrustStore, oin_of
from .verify import verify, verify_response, verify_response_without_request
from .xmlparse import parse_untrusted

OK, FAIL, SKIP = "ok", "fail", "skip"
# The start of a finding's detail when the check itself failed (a bug, never the sender's fault): tests look for it.
COULD_NOT_RUN = "the check could not run"
NEEDS_REQUEST = "NOT checked: the request is not at hand (give --response-to REQUEST)"
REQUEST, RESPONSE, UNBOUND_RESPONSE = "request", "response", "response without its request"
# Algorithm URIs a sender may well use, by the name people know them by.
_ALGORITHM_NAMES = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "RSA-SHA1",
    "http://www.w3.org/2000/09/xmldsig#sha1": "SHA-1",
    "http://www.w3.org/2001/04/xmldsig-more#md5": "MD5",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-md5": "RSA-MD5",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": "HMAC-SHA1",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1": "DSA-SHA1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": "ECDSA-SHA256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224": "RSA-SHA224",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "SHA-224",
}


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
    kind: str = REQUEST  # REQUEST, RESPONSE (judged against its request) or UNBOUND_RESPONSE
    revocation_checked: bool = False  # whether the trust anchors came with CRLs (judged and revocation looked at)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAIL]

    @property
    def not_checked(self) -> list[str]:
        """What the verdict could not cover, in words (empty when everything was judged)."""
        out = []
        if self.kind == UNBOUND_RESPONSE:
            out.append("RelatesTo and SignatureConfirmation NOT checked: give --response-to REQUEST")
        if not self.judged:
            out.append("the certificate's trust NOT checked: give --ca")
        elif not self.revocation_checked:
            out.append("revocation NOT checked (no --crl)")
        return out


class _Run:
    def __init__(self, diagnosis: Diagnosis):
        self.d = diagnosis

    def check(self, what: str, rule: str | None, fn: Callable, *args, ok: str | Callable = "",
              failed: Callable[[SecurityError], str] | None = None, **kwargs):
        """Run one step; record ok (with ``ok`` as detail) or its refusal (``failed`` may word it); return its value
        or None. A step that breaks (anything but a refusal) is recorded as a failure of its rule: it never raises."""
        try:
            value = fn(*args, **kwargs)
            detail = ok(value) if callable(ok) else ok
        except SecurityError as err:
            try:
                reason = failed(err) if failed is not None else err.reason
            except Exception:  # noqa: BLE001 - wording a finding must not end the diagnosis
                reason = err.reason
            self.d.findings.append(Finding(what, FAIL, err.rule, reason, err))
            return None
        except Exception as exc:  # noqa: BLE001 - a diagnosis reports, whatever the bytes
            self.broke(what, rule, exc)
            return None
        self.d.findings.append(Finding(what, OK, rule, detail))
        return value if value is not None else True

    def guard(self, what: str, rule: str | None, fn: Callable, *args, default=None):
        """Run a part of the diagnosis that records its own findings; if it breaks, record that and go on."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - a diagnosis reports, whatever the bytes
            self.broke(what, rule, exc)
            return default

    def broke(self, what: str, rule: str | None, exc: BaseException) -> None:
        self.d.findings.append(Finding(what, FAIL, rule, f"{COULD_NOT_RUN} ({type(exc).__name__})"))

    def skip(self, what: str, rule: str | None, why: str) -> None:
        self.d.findings.append(Finding(what, SKIP, rule, why))

    def add(self, what: str, status: str, rule: str | None, detail: str, error: SecurityError | None = None):
        self.d.findings.append(Finding(what, status, rule, detail, error))


def lenient_parts(root: etree._Element) -> Parts | None:
    """The parts where they most likely are, for a message whose structure was refused (None: no Body)."""
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

    return Parts(root, header, body, payload, security, first(WSU_TS), first(WSSE_BST), first(DS_SIGNATURE),
                 security.findall(WSSE11_CONF) if security is not None else [], wsa)


def lenient_signed_info(sig: etree._Element) -> SignedInfo | None:
    """SignedInfo's parts where they most likely are, for a Signature whose layout or algorithms were refused."""
    si, sv, ki = sig.find(DS_SIGNED_INFO), sig.find(DS_SIGNATURE_VALUE), sig.find(DS_KEY_INFO)
    if si is None or sv is None:
        return None
    method = si.find(DS_SIGMETHOD)
    try:
        prefixes = checks.c14n_method(si.find(DS_C14N), "SignedInfo's CanonicalizationMethod")
    except SecurityError:
        prefixes = None
    uri = method.get("Algorithm") if method is not None else None
    return SignedInfo(si, sv, ki, prefixes, uri, si.findall(DS_REFERENCE))


def algorithm_name(uri: str | None) -> str:
    """An algorithm URI as a person reads it: its common name (and the URI), or the URI cut to a safe length."""
    if not uri:
        return "no Algorithm"
    shown = "".join(c if c.isprintable() else "?" for c in uri[:120]) + ("…" if len(uri) > 120 else "")
    name = _ALGORITHM_NAMES.get(uri)
    return f"{name} ({shown})" if name else shown


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _with_algorithm(err: SecurityError, rule: str, uri: str | None) -> str:
    return f"{err.reason}; the message uses {algorithm_name(uri)}" if err.rule == rule else err.reason


def kind_of(root: etree._Element | None, *, bound: bool) -> str:
    """How a message is judged: RESPONSE when its request is given (``bound``), UNBOUND_RESPONSE when it carries
    wsa:RelatesTo, else REQUEST."""
    if bound:
        return RESPONSE
    if root is not None and root.find(f"{S_HEADER}/{{{ns.WSA}}}RelatesTo") is not None:
        return UNBOUND_RESPONSE
    return REQUEST


def _verdict(d: Diagnosis, data: bytes, policy: Policy, trust: TrustStore, soap_action: str | None, now: datetime,
             request_message_id: str | None, request_signature_value: str | None) -> None:
    try:
        if d.kind == RESPONSE:
            verify_response(data, request_message_id=request_message_id,
                            request_signature_value=request_signature_value, policy=policy, trust=trust, now=now)
        elif d.kind == UNBOUND_RESPONSE:
            verify_response_without_request(data, policy=policy, trust=trust, now=now)
        else:
            verify(data, policy=policy, trust=trust, soap_action=soap_action, now=now)
    except SecurityError as err:
        d.verdict = err
    except Exception as exc:  # noqa: BLE001 - the gateway would have failed on it: say so, do not crash
        d.verdict = ServerSecurityError("GW-INTERNAL", f"the verifier failed on this message ({type(exc).__name__})")


def diagnose(data: bytes, *, policy: Policy, trust: TrustStore | None = None, soap_action: str | None = None,
             now: datetime | None = None, request_message_id: str | None = None,
             request_signature_value: str | None = None) -> Diagnosis:
    """Every check on ``data``; with ``trust``, also ``verify``'s verdict. Give the request's MessageID and
    SignatureValue to judge a response against it. Never raises."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    d = Diagnosis()
    run = _Run(d)
    bound = request_message_id is not None and request_signature_value is not None
    try:
        _diagnose(d, run, data, policy, trust, soap_action, now, bound, request_message_id, request_signature_value)
    except Exception as exc:  # noqa: BLE001 - every step guards itself; this is the last line, never a traceback
        run.add("the rest of the diagnosis", FAIL, "GW-INTERNAL", f"{COULD_NOT_RUN} ({type(exc).__name__})")
    return d


def _diagnose(d: Diagnosis, run: _Run, data: bytes, policy: Policy, trust: TrustStore | None,
              soap_action: str | None, now: datetime, bound: bool, request_message_id: str | None,
              request_signature_value: str | None) -> None:
    root = run.check("size, well-formed UTF-8 XML without a DTD", "GW-XML", parse_untrusted, data,
                     ok="the message can be read")
    d.kind = kind_of(root, bound=bound)
    if trust is not None:
        d.judged = True
        d.revocation_checked = trust.has_crls
        _verdict(d, data, policy, trust, soap_action, now, request_message_id, request_signature_value)
    if root is None:
        return
    parts = run.check("envelope structure: one Header and one Body, one Security with one Timestamp, token and "
                      "Signature", "GW-ENVELOPE", checks.structure, root, ok="as the profile demands")
    if parts is None:
        parts = lenient_parts(root)
        if parts is None:
            run.skip("everything else", None, "there is no SOAP Body to look at")
            return
    d.payload = parts.payload
    ids = run.check("element ids are unique", "GW-ID", checks.element_ids, root, ok="no id is used twice")
    if ids is None:  # go on with the first element of each id
        ids = run.guard("element ids", "GW-ID", lambda: checks.element_ids(root, strict=False), default={})

    times = None
    if parts.timestamp is not None:
        times = run.check("wsu:Timestamp", "WB002", checks.timestamp, parts.timestamp,
                          ok=lambda t: f"Created {t[0].isoformat()}" + (f", Expires {t[1].isoformat()}" if t[1]
                                                                        else ", no Expires"))
    else:
        run.skip("wsu:Timestamp", "WB002", "there is no wsu:Timestamp")

    cert = run.guard("the signature", "WB003", _signature, d, run, parts, ids, policy)
    run.guard("the signing certificate", "PKI002", _certificate, d, run, cert, trust, now)
    if times is not None:
        run.guard("freshness of the Timestamp", "WB002", _freshness, run, times, now, policy)
    run.guard("the WS-Addressing headers", None, _addressing, d, run, parts, policy, soap_action,
              request_message_id, request_signature_value)


def _freshness(run: _Run, times: tuple[datetime, datetime | None], now: datetime, policy: Policy) -> None:
    """Freshness at the time the message is judged (WB002)."""
    errors = checks.freshness_errors(times[0], times[1], now, policy)
    for err in errors:
        run.add("freshness of the Timestamp", FAIL, err.rule, err.reason, err)
    if not errors:
        run.add("freshness of the Timestamp", OK, "WB002", f"fresh at {now.isoformat()}")


def _signature(d: Diagnosis, run: _Run, parts: Parts, ids: dict, policy: Policy):
    """The signature, step by step, then coverage by position; returns the signing certificate (or None)."""
    cert = key = None
    referenced: list[etree._Element] = []
    if parts.signature is None:
        run.skip("the signature", "WB003", "there is no ds:Signature")
        return None
    method = parts.signature.find(f"{DS_SIGNED_INFO}/{DS_SIGMETHOD}")
    method_uri = method.get("Algorithm") if method is not None else None
    si = run.check("ds:Signature layout and algorithms (exclusive c14n, RSA-SHA-2)", "WB003", checks.signed_info,
                   parts.signature, policy, ok="SignedInfo, SignatureValue, KeyInfo; allowed algorithms",
                   failed=lambda err: _with_algorithm(err, "SIGN004", method_uri))
    if si is None:
        si = run.guard("SignedInfo's parts (read leniently)", "WB003", lenient_signed_info, parts.signature)
    keys = None
    if si is not None and si.key_info is not None and parts.bst is not None:
        keys = run.check("KeyInfo points at the BinarySecurityToken, an X.509 RSA certificate", "WB010",
                         checks.key_info, si.key_info, parts.bst, ok="a direct reference to the token")
    if keys is None and parts.bst is not None:
        keys = run.check("the BinarySecurityToken holds an X.509 certificate with an RSA key", "WB009",
                         checks.certificate, parts.bst, ok="the certificate can be read")
    elif parts.bst is None:
        run.skip("the BinarySecurityToken", "WB009", "there is no wsse:BinarySecurityToken")
    if keys:
        cert, key = keys
        d.signer_oin = run.guard("the signer's OIN", "PKI001", oin_of, cert)  # reported with the certificate
    if si is not None:
        run.check("number of references", "WB004", checks.reference_count, parts, len(si.references),
                  ok=f"{len(si.references)} references")
        seen: set[str] = set()
        for ref in si.references:
            uri = ref.get("URI") or "(no URI)"
            dm = ref.find(DS_DIGEST_METHOD)
            digest_uri = dm.get("Algorithm") if dm is not None else None
            r = run.check(f"reference {uri}: form and algorithms", "WB004", checks.reference, ref, ids, policy, seen,
                          ok=lambda r: f"points at {_name(r.target)}, {r.digest_name}",
                          failed=lambda err, u=digest_uri: _with_algorithm(err, "SIGN003", u))
            if r is None:
                run.skip(f"digest of reference {uri}", "WB013", "not computed: the reference was refused")
                continue
            referenced.append(r.target)
            run.check(f"digest of {_name(r.target)} ({uri})", "WB013", checks.check_digest, r,
                      ok="matches: unchanged since signing")
        if key is None:
            run.skip("SignatureValue", "WB013", "not verified: no usable certificate key")
        elif si.method not in ns.SIGNATURES:
            run.skip("SignatureValue", "SIGN004", f"not verified: the signature method {algorithm_name(si.method)} "
                                                  "is not allowed (RSA with SHA-256/384/512 only)")
        else:
            run.check("SignatureValue", "WB013", checks.check_signature_value, si, key,
                      ok="verifies with the certificate's key")

    run.guard("coverage by position", "WB004", _coverage, run, parts, referenced)
    return cert


def _coverage(run: _Run, parts: Parts, referenced: list[etree._Element]) -> None:
    """Coverage by position, part by part (WB004)."""
    errors = checks.coverage_errors(parts, referenced)
    if parts.timestamp is None:  # reported above as missing
        errors = [e for e in errors if e.element != "the Timestamp"]
    uncovered = {e.element for e in errors}
    for element, what in checks.required_parts(parts):
        if element is not None and what not in uncovered:
            run.add(f"{what} is covered by the signature", OK, "WB004", "signed in its place")
    for err in errors:
        run.add(f"{err.element} is covered by the signature" if err.element
                else "the signature signs only the profile's parts", FAIL, "WB004", err.reason, err)


def _certificate(d: Diagnosis, run: _Run, cert, trust: TrustStore | None, now: datetime) -> None:
    if cert is None:
        run.skip("the signing certificate", "PKI002", "no certificate could be read")
        return
    valid = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
    run.add("the certificate's validity period", OK if valid else FAIL, "PKI002",
            f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()}, judged at "
            f"{now.isoformat()}")
    oin = d.signer_oin
    run.add("the certificate carries an OIN in subject.serialNumber", OK if oin else FAIL, "PKI001",
            f"OIN {oin}" if oin else "there is no 20-digit OIN")
    if trust is None:
        run.skip("the certificate's chain and revocation", "PKI002", "not checked: give --ca (and --crl)")
        return
    if trust.has_crls:
        run.check("the certificate chains to a trusted root, is not revoked, may sign", "PKI002", trust.check, cert,
                  now, ok=lambda o: f"trusted (OIN {o})")
    else:
        run.check("the certificate chains to a trusted root and may sign", "PKI002", trust.check, cert, now,
                  ok=lambda o: f"trusted (OIN {o})")
        run.skip("the certificate is not revoked", "PKI002", "revocation NOT checked: no CRL given (--crl)")


def _addressing(d: Diagnosis, run: _Run, parts: Parts, policy: Policy, soap_action: str | None,
                request_message_id: str | None, request_signature_value: str | None) -> None:
    """The WS-Addressing headers one by one; for a response RelatesTo and SignatureConfirmation."""
    response = d.kind != REQUEST
    d.action = run.check("wsa:Action", "WSA-ACTION", checks.action, parts, policy, ok=lambda a: a) or None
    run.check("wsa:MessageID", "WSA-MESSAGEID", checks.message_id, parts, ok=lambda m: m)
    if response:
        to = run.check("wsa:To (optional in a response)", "WSA-TO", checks.to, parts, response=True,
                       ok=lambda t: t or "absent: a response goes back on the same connection")
        if isinstance(to, str) and to.split("?", 1)[0] != ns.WSA_ANONYMOUS and policy.endpoint:
            run.check("wsa:To addresses this service", "WSA-TO", checks.check_to, to, policy, ok=policy.endpoint)
    else:
        to = run.check("wsa:To", "WSA-TO", checks.to, parts, response=False, ok=lambda t: t) or None
        if to and policy.endpoint:
            run.check("wsa:To addresses this service", "WSA-TO", checks.check_to, to, policy, ok=policy.endpoint)
    if "From" in parts.wsa:
        run.check("wsa:From carries the signer's OIN", "WSA-FROM", checks.from_address, parts, d.signer_oin,
                  ok=lambda f: f)
    run.check("wsa:ReplyTo / FaultTo", "WSA-REPLYTO", checks.reply_to, parts, ok="absent or anonymous")
    if response:
        _response(d, run, parts, request_message_id, request_signature_value)
        if soap_action is not None:
            run.skip("the HTTP SOAPAction equals wsa:Action", "WS002", "not checked: a response has no SOAPAction")
    elif soap_action is not None and d.action:
        run.check("the HTTP SOAPAction equals wsa:Action", "WS002", checks.check_soap_action, soap_action, d.action,
                  ok="equal")


def _response(d: Diagnosis, run: _Run, parts: Parts, request_message_id: str | None,
              request_signature_value: str | None) -> None:
    is_fault = parts.payload is not None and parts.payload.tag == S_FAULT
    confirmations = tuple(c.get("Value") or "" for c in parts.confirmations)
    relates = run.check("wsa:RelatesTo", "WSA-RELATESTO", checks.relates_to, parts, required=True,
                        ok=lambda r: r)
    if d.kind == RESPONSE:
        if relates is not None:
            run.check("wsa:RelatesTo is the request's MessageID", "WSA-RELATESTO", checks.check_relates_to, relates,
                      request_message_id, ok="it answers the request", is_fault=is_fault)
        run.check("the SignatureConfirmation carries the request's SignatureValue", "WB014",
                  checks.check_confirmation, confirmations, request_signature_value,
                  ok="the request's signature is confirmed" if confirmations else "none: a Fault may leave it out",
                  is_fault=is_fault)
    else:
        run.skip("wsa:RelatesTo is the request's MessageID", "WSA-RELATESTO", NEEDS_REQUEST)
        present = run.check("a SignatureConfirmation is present", "WB014", checks.check_confirmation_present,
                            confirmations, is_fault=is_fault,
                            ok="yes" if confirmations else "none: a Fault may leave it out")
        if present is not None and confirmations:
            run.skip("the SignatureConfirmation carries the request's SignatureValue", "WB014", NEEDS_REQUEST)
