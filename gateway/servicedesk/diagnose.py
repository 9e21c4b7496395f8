"""``oso-gateway diagnose``: every check of the security profile (gateway.wsse.diagnose) and of the contract on one
raw message, each explained in plain words with its rule id and how to fix it.

The contract is the chain's (gateway.contracts): the Body element must be in its namespace, is validated against its
XSD and every schema error is reported (values are never echoed). The operation is checked too: wsa:Action names an
operation of the contract whose request (or, for an answer, whose response) is the Body's element.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from .. import contracts
from ..journal.advice import explain
from ..journal.entry import faultcode_text
from ..wsse import ns
from ..wsse.diagnose import (
    COULD_NOT_RUN, FAIL, OK, RESPONSE, SKIP, UNBOUND_RESPONSE, Diagnosis, Finding, diagnose,
)
from ..wsse.errors import SchemaInvalid
from ..wsse.policy import Policy
from ..wsse.trust import TrustStore

CONTRACT = f"the contract ({contracts.XSD_FILE})"


def contract_findings(payload: etree._Element | None, action: str | None) -> list[Finding]:
    if payload is None:
        return [Finding("the Body against its contract", SKIP, "GW-XSD", "there is no Body element")]
    q = etree.QName(payload)
    out: list[Finding] = []
    if q.namespace != contracts.OSO_NS:
        err = SchemaInvalid("GW-XSD", f"the Body's element is in namespace {q.namespace or '(none)'}, not the "
                            f"chain's {contracts.OSO_NS}")
        out.append(Finding("the Body belongs to the contract", FAIL, "GW-XSD", err.reason, err))
    else:
        errors = contracts.schema_errors(payload)
        if not errors:
            out.append(Finding(f"the Body against {CONTRACT}", OK, "GW-XSD", f"{q.localname} conforms"))
        for text in errors:
            err = SchemaInvalid("GW-XSD", text[:300])
            out.append(Finding(f"the Body against {CONTRACT}", FAIL, "GW-XSD", err.reason, err))
    if action:
        problem = contracts.action_mismatch(action, payload.tag)
        known = contracts.operation_for_action(action) or contracts.operation_for_response_action(action)
        if problem is not None:
            check = "wsa:Action matches the Body" if known else "wsa:Action is an operation of the contract"
            out.append(Finding(check, FAIL, "WSA-ACTION", problem))
        else:
            answer = contracts.operation_for_action(action) is None
            out.append(Finding("wsa:Action matches the Body", OK, "WSA-ACTION",
                               f"{known.service}: {known.name}{' (its answer)' if answer else ''}"))
    return out


@dataclass
class Report:
    diagnosis: Diagnosis
    findings: list[Finding]

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAIL]


def run(data: bytes, *, trust: TrustStore | None, at: datetime | None, to: str | None,
        soap_action: str | None, skew_s: int = 60, request_message_id: str | None = None,
        request_signature_value: str | None = None) -> Report:
    """Every check of the profile and the contract on ``data``. Give the MessageID and SignatureValue of the request
    it answers to judge a response against it. Never raises: a check that cannot run is a finding."""
    from datetime import timedelta

    policy = Policy(endpoint=to, clock_skew=timedelta(seconds=skew_s))
    d = diagnose(data, policy=policy, trust=trust, soap_action=soap_action, now=at,
                 request_message_id=request_message_id, request_signature_value=request_signature_value)
    findings = list(d.findings)
    try:
        action = d.action
        if action is None and d.payload is not None:
            el = d.payload.getroottree().getroot().find(f"{{{ns.SOAP11}}}Header/{{{ns.WSA}}}Action")
            action = (el.text or "").strip() or None if el is not None else None
        if any(f.status == OK for f in findings[:1]):  # the message could be read
            findings += contract_findings(d.payload, action)
    except Exception as exc:  # noqa: BLE001 - a diagnosis reports, whatever the bytes
        findings.append(Finding("the Body against its contract", FAIL, "GW-XSD",
                                f"{COULD_NOT_RUN} ({type(exc).__name__})"))
    return Report(d, findings)


def render(name: str, report: Report) -> list[str]:
    """The report as lines: the verdict with its cause first, how the message was judged and what was not checked,
    then every problem explained, then what was not checked and what passed."""
    d, failures = report.diagnosis, report.failures
    not_checked = d.not_checked
    lines = []
    if d.judged and d.verdict is not None:  # what the gateway answered: verify()'s first refusal
        v = d.verdict
        dk = f" Digikoppeling {v.dk_code}" if v.dk_code else ""
        lines.append(f"{name}: REFUSED {v.rule} [{faultcode_text(v)}{dk}] {v.reason}")
        cause = v.rule
    elif failures:
        first = failures[0]
        lines.append(f"{name}: {'REFUSED' if d.judged else 'PROBLEMS'}: first {first.rule} {first.check}: "
                     f"{first.detail}")
        cause = first.rule or ""
    else:
        lines.append(f"{name}: VALID" + (f", signer OIN {d.signer_oin}" if d.signer_oin else "")
                     + "".join(f", {note}" for note in not_checked))
        cause = None
    if cause:
        what, fix = explain(cause)
        lines.append(f"  cause: {what}; to fix: {fix}")
    lines.append(f"  judged as: {_judged_as(d)}")
    counts = {s: sum(1 for f in report.findings if f.status == s) for s in (FAIL, OK, SKIP)}
    lines.append(f"  {counts[FAIL]} problem(s), {counts[OK]} check(s) passed, {counts[SKIP]} not checked"
                 + "".join(f"; {note}" for note in not_checked))
    for f in failures:
        rule = f.rule or "?"
        code = ""
        if f.error is not None:
            code = f" [{faultcode_text(f.error)}" + (f" Digikoppeling {f.error.dk_code}" if f.error.dk_code else "") \
                + "]"
        lines.append(f"FAIL {rule}{code} {f.check}: {f.detail}")
        what, fix = explain(rule)
        lines.append(f"     the rule: {what}")
        lines.append(f"     to fix: {fix}")
    lines += [f"skip {f.rule or '-'} {f.check}: {f.detail}" for f in report.findings if f.status == SKIP]
    lines += [f"ok   {f.rule or '-'} {f.check}" + (f": {f.detail}" if f.detail else "")
              for f in report.findings if f.status == OK]
    return lines


def _judged_as(d: Diagnosis) -> str:
    if d.kind == RESPONSE:
        return "a response, against the request given (--response-to)"
    if d.kind == UNBOUND_RESPONSE:
        return ("a response (it carries wsa:RelatesTo), without its request: RelatesTo and SignatureConfirmation "
                "NOT checked against it; give --response-to REQUEST")
    return "a request"
