"""The suite never passes by default: a must that could not be judged makes the run INCOMPLETE (unless waived by id), a
scenario that would pass on no evidence is an error, and a hostile request refused for another reason than the one
probed fails its scenario. Judged here on the verdict rules themselves, with made-up answers; the end-to-end cases
(preflight, a run against the reference) are in test_conformance_source.py and test_conformance_cli.py."""

from __future__ import annotations

import pytest

from gateway.conformance.catalogue import BY_ID, MUST, RULE_TEXTS, SOURCE, TARGET, for_role
from gateway.conformance.evidence import HttpExchange
from gateway.conformance.judge import Answer, other_reason
from gateway.conformance.live import LiveView
from gateway.conformance.report import html_report, junit_xml
from gateway.conformance.results import (ERROR, FAILED, NOT_APPLICABLE, PASSED, RUN_FAILED, RUN_INCOMPLETE,
                                         RUN_PASSED, Result, RunReport)

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
EXCHANGE = HttpExchange("suite → vendor", "http://vendor.test/ap", b"<request/>", response=b"<answer/>")


def _run(verdicts: dict[str, str], *, waived=frozenset(), evidence=True, role=SOURCE) -> RunReport:
    """A run of ``role`` where every scenario passes with evidence, except those in ``verdicts``."""
    report = RunReport(role, {"under test": "made up"}, waived=frozenset(waived))
    graders = {s.id: (lambda suite, s: Result(s, verdicts.get(s.id, PASSED), "made up",
                                              [EXCHANGE] if evidence else []))
               for s in for_role(role)}
    report.judge(graders, None, LiveView(quiet=True))
    return report


def _a_must() -> str:
    return next(s.id for s in for_role(SOURCE) if s.severity == MUST)


def test_every_must_passed_is_the_only_way_to_pass():
    report = _run({})
    assert report.outcome == RUN_PASSED and report.exit_code == 0
    assert report.headline == "PASSED: every must holds"


def test_a_must_not_applicable_makes_the_run_incomplete_and_the_headline_says_which():
    must = _a_must()
    report = _run({must: NOT_APPLICABLE})
    assert report.outcome == RUN_INCOMPLETE and report.exit_code == 1
    assert report.headline.startswith("INCOMPLETE: 1 must could not be judged") and must in report.headline
    assert "--waive" in report.headline
    # every view says so too: the JUnit properties and the HTML page's headline
    assert b'name="outcome" value="INCOMPLETE"' in junit_xml(report)
    assert "INCOMPLETE — 1 must could not be judged" in html_report(report)


def test_a_waived_must_does_not_make_the_run_incomplete_but_is_named():
    must = _a_must()
    report = _run({must: NOT_APPLICABLE}, waived={must})
    assert report.outcome == RUN_PASSED and report.exit_code == 0
    assert must in report.headline and "waived" in report.headline
    assert any("waived" in n for n in report.result(must).notes)


def test_a_waiver_does_not_hide_a_failure():
    must = _a_must()
    report = _run({must: FAILED}, waived={must})
    assert report.outcome == RUN_FAILED and report.exit_code == 1


def test_a_should_not_applicable_does_not_block():
    should = [s.id for s in for_role(TARGET) if s.severity != MUST]
    assert should == ["OSO-DOEL-FINDINGS-SURFACED"]
    report = _run({should[0]: NOT_APPLICABLE}, role=TARGET)
    assert report.outcome == RUN_PASSED and report.exit_code == 0


def test_a_scenario_that_passes_on_no_evidence_is_an_error_and_fails_the_run():
    report = _run({}, evidence=False)
    assert {r.verdict for r in report.results} == {ERROR}
    assert "no evidence" in report.results[0].finding
    assert report.outcome == RUN_FAILED and report.exit_code == 1


def test_a_run_without_any_scenario_is_not_a_pass():
    assert RunReport(SOURCE, {}).outcome == RUN_INCOMPLETE


def _fault(code: str | None, text: str) -> Answer:
    return Answer(raw=b"<x/>", is_fault=True, fault_code=code, fault_text=text)


@pytest.mark.parametrize("scenario_id, answer, why", [
    # names the probed rule: for the probed reason, whatever its code
    ("WUS-WB013-REQUEST-TAMPERED", _fault(f"{{{WSSE}}}InvalidSecurity", "WB013: the digest does not match"), None),
    # names no rule, the standard code of the check: for the probed reason
    ("WUS-WB013-REQUEST-TAMPERED", _fault(f"{{{WSSE}}}FailedCheck", "The signature or decryption was invalid"), None),
    # a Digikoppeling code the scenario accepts
    ("WUS-WSA-TO-WRONG", _fault("{http://schemas.xmlsoap.org/soap/envelope/}Client", "fout 0005 wsa:To"), None),
    # names another rule: the system does not trust the suite's CA, so every hostile request is refused for that
    ("WUS-WB013-REQUEST-TAMPERED", _fault(f"{{{WSSE}}}FailedAuthentication", "PKI002: not trusted [0002]"),
     "names PKI002"),
    # names no rule and carries a code of another check
    ("WUS-WB002-REQUEST-EXPIRED", _fault(f"{{{WSSE}}}FailedAuthentication", "not authorised"), "FailedAuthentication"),
    # a generic Server fault: nothing says why
    ("WUS-PKI002-UNTRUSTED-CERT", _fault("{http://schemas.xmlsoap.org/soap/envelope/}Server", "error"), "Server"),
])
def test_a_hostile_request_passes_only_when_refused_for_the_probed_reason(scenario_id, answer, why):
    found = other_reason(BY_ID[scenario_id], answer, RULE_TEXTS)
    if why is None:
        assert found is None
    else:
        assert found and found.startswith("refused for another reason") and why in found


def test_every_hostile_scenario_of_the_source_role_states_what_counts_as_its_refusal():
    from gateway.conformance.source import HOSTILE

    for scenario_id in HOSTILE:
        sc = BY_ID[scenario_id]
        assert sc.accepts, scenario_id
        assert all(a.startswith("{") or (a.isdigit() and len(a) == 4) for a in sc.accepts), scenario_id
        assert set(sc.rules) <= set(RULE_TEXTS)
