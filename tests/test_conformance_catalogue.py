"""The conformance suite's parts without a server: the catalogue, the redaction of evidence, the reports, the hostile
messages (each refused by our own verifier for the rule it is meant to break), and `oso-gateway conformance list`."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from gateway.commands import main
from gateway.conformance import mutations as m
from gateway.conformance.catalogue import (BY_ID, CHAIN_RULES, MUST, SCENARIOS, SHOULD, SOURCE, TARGET, for_role,
                                           rule_text)
from gateway.conformance.evidence import HttpExchange, find_pgns, redact, without_dossier
from gateway.conformance.report import html_report, junit_xml
from gateway.conformance.results import ERROR, FAILED, NOT_APPLICABLE, PASSED, Result, RunReport
from gateway.wsse import MemoryReplayStore, Policy, SecurityError, sign_request, verify
from gateway.wsse.errors import RULES

from .conftest import ENDPOINT, VENDOR_OIN

# what issue 6 asks the catalogue to hold, at least
REQUIRED = [
    "OSO-BRON-HAPPY-POPO", "OSO-BRON-HAPPY-VOVO", "OSO-BRON-HAPPY-BINNENBRIN", "OSO-BRON-LEVERINGGEWEIGERD",
    "WUS-WB003-RESPONSE-SIGNED", "WUS-WB004-RESPONSE-COVERAGE", "WUS-SIGN003-RESPONSE-SHA2",
    "WUS-WB010-RESPONSE-DIRECT-REFERENCE", "WUS-WB014-SIGNATURECONFIRMATION", "WUS-WSA-RELATESTO",
    "OSO-BRON-SESSIECONTROLE-FIRST", "OSO-BRON-SESSIECONTROLE-HONOURED", "WUS-WB003-REQUEST-UNSIGNED",
    "WUS-WB013-REQUEST-TAMPERED", "WUS-WB004-REQUEST-WRAPPED", "WUS-WB002-REQUEST-EXPIRED", "WUS-GW-REPLAY-REQUEST",
    "WUS-WSA-TO-WRONG", "WUS-PKI002-UNTRUSTED-CERT", "WUS-SIGN003-REQUEST-SHA1", "OSO-BRON-SESSIE-AFWIJKEND",
    "OSO-BRON-LEERLING-ONBEKEND", "OSO-BRON-INZAGE-ONTBREEKT", "OSO-BRON-TOESTEMMING-ONTBREEKT",
    "OSO-BRON-DOSSIER-VALID", "OSO-BRON-CATEGORIE-UITLEVERING", "OSO-BRON-PGN-NOT-IN-CLEAR",
    "WUS-DOEL-OVERDRACHT-SIGNED", "WUS-DOEL-DOCUMENTREQUEST-SIGNED", "WUS-DOEL-AFMELDING-SIGNED",
    "OSO-DOEL-AFMELDING-BEST-RESULT", "OSO-DOEL-ZOEKSLEUTEL", "OSO-DOEL-FAULT-NO-RETRY-STORM", "WUS-DOEL-NO-REPLAY",
    "OSO-DOEL-FINDINGS-SURFACED",
]


def test_the_catalogue_has_stable_ids_rules_and_texts():
    assert set(REQUIRED) <= set(BY_ID)
    for s in SCENARIOS:
        assert re.fullmatch(r"(WUS|OSO)-[A-Z0-9]+(-[A-Z0-9]+)+", s.id), s.id
        assert ("-DOEL-" in s.id) == (s.role == TARGET), s.id
        assert s.severity in (MUST, SHOULD) and s.title and s.sends and s.expects and s.fix
        for rule in s.rules:
            assert rule in RULES or rule in CHAIN_RULES, rule
            assert rule_text(rule)
        if s.id.startswith("WUS-"):
            assert any(r in RULES for r in s.rules), f"{s.id} cites no rule of the profile"
    assert len(for_role(SOURCE)) + len(for_role(TARGET)) == len(SCENARIOS)


def test_conformance_list_prints_the_catalogue(capsys):
    assert main(["conformance", "list"]) == 0
    out = capsys.readouterr().out
    assert all(s.id in out for s in SCENARIOS)
    assert f"{len(SCENARIOS)} scenarios" in out
    assert main(["conformance", "list", "--role", "target", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| `OSO-DOEL-ZOEKSLEUTEL` | target | must |" in md and "OSO-BRON-" not in md
    assert main(["conformance", "list", "-v", "--role", "source"]) == 0
    assert "rule WB004:" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ evidence
PGN = "127095823"
OSO = b"http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
ZOEKSLEUTEL = base64.b64encode(b"\x01\x04test" + bytes(range(32)))  # the shape of the chain's scheme


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc"])
@pytest.mark.parametrize("suffix", [b"", b"x", b"xy"])
def test_a_pgn_is_found_in_any_encoding(prefix, suffix):
    for data in (prefix + PGN.encode() + suffix, base64.b64encode(prefix + PGN.encode() + suffix),
                 (prefix.decode() + PGN + suffix.decode()).encode("utf-16-le"), PGN.encode().hex().encode(),
                 b"127 095 823", b"127.095.823"):
        assert find_pgns(b"<x>" + data + b"</x>", ["999999990", PGN]), data
    assert find_pgns(b"nothing here", [PGN]) == []


def test_redaction_removes_pupil_data_and_keeps_the_message_readable():
    dossier = (b'<d:dossier xmlns:d="http://www.edustandaard.nl/oso_gegevensset/2019/dossier"><d:bsn>' + PGN.encode()
               + b"</d:bsn><d:achternaam>Proefhoeve</d:achternaam></d:dossier>")
    message = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
               b'<ap:documentResponse xmlns:ap="' + OSO + b'"><ap:resultaat>OverdrachtGeslaagd'
               b"</ap:resultaat><ap:dossier>" + dossier + b"</ap:dossier></ap:documentResponse>"
               b'<ap:zoeksleutelPgnfrag xmlns:ap="' + OSO + b'"><ap:zoeksleutel>' + ZOEKSLEUTEL + b"</ap:zoeksleutel>"
               b"<ap:pgnfrag>4821</ap:pgnfrag></ap:zoeksleutelPgnfrag>"
               b"<x>999999990 " + base64.b64encode(b"x" * 200) + b"</x></soapenv:Body></soapenv:Envelope>")
    shown = redact(message, [PGN])
    assert PGN not in shown and "Proefhoeve" not in shown and "999999990" not in shown
    assert ZOEKSLEUTEL.decode() not in shown and "[zoeksleutel REDACTED]" in shown
    assert "4821" not in shown and "[pgnfrag REDACTED]" in shown
    assert "dossier REDACTED" in shown and "OverdrachtGeslaagd" in shown and "chars]" in shown
    assert PGN.encode() not in without_dossier(message) and b"OverdrachtGeslaagd" in without_dossier(message)
    assert redact(b"not xml " + PGN.encode(), [PGN]) == "not xml [PGN]"


def _report(verdicts: list[tuple[str, str]]) -> RunReport:
    report = RunReport(SOURCE, {"under test": "http://vendor.test/ap"}, secrets=[PGN])
    ex = HttpExchange("suite → vendor: documentRequest", "http://vendor.test/ap", b"<a>" + PGN.encode() + b"</a>",
                      {"SOAPAction": '"x"'}, 200, b'<b:zoeksleutel xmlns:b="' + OSO + b'">' + ZOEKSLEUTEL
                      + b"</b:zoeksleutel>", {"X-Leerling": PGN})
    for scenario_id, verdict in verdicts:
        report.results.append(Result(BY_ID[scenario_id], verdict, f"finding about {PGN}", [ex], [f"note {PGN}"]))
    report.finished = report.started + timedelta(seconds=1)
    return report


def test_the_exit_code_counts_the_musts_only():
    should = "OSO-DOEL-FINDINGS-SURFACED"  # a should (of the target role: the source role has none)
    assert BY_ID[should].severity == SHOULD
    assert _report([("OSO-BRON-HAPPY-POPO", PASSED), (should, FAILED)]).exit_code == 0
    assert _report([("OSO-BRON-HAPPY-POPO", PASSED), (should, NOT_APPLICABLE)]).exit_code == 0
    assert _report([("OSO-BRON-HAPPY-POPO", FAILED)]).exit_code == 1
    assert _report([("OSO-BRON-HAPPY-POPO", ERROR)]).exit_code == 1
    # a must that could not be judged: INCOMPLETE, not a pass (tests/test_conformance_verdicts.py)
    assert _report([("OSO-BRON-INZAGE-ONTBREEKT", NOT_APPLICABLE)]).exit_code == 1
    counts = _report([("OSO-BRON-HAPPY-POPO", FAILED), (should, PASSED)]).summary()
    assert counts[MUST][FAILED] == 1 and counts[SHOULD][PASSED] == 1


def test_junit_and_html_name_the_failure_and_never_show_a_pgn():
    report = _report([("OSO-BRON-HAPPY-POPO", PASSED), ("OSO-BRON-SESSIECONTROLE-FIRST", FAILED),
                      ("OSO-DOEL-FINDINGS-SURFACED", FAILED), ("OSO-BRON-INZAGE-ONTBREEKT", NOT_APPLICABLE),
                      ("WUS-WB004-REQUEST-WRAPPED", ERROR)])
    xml = junit_xml(report)
    assert PGN.encode() not in xml and ZOEKSLEUTEL not in xml
    suite = etree.fromstring(xml).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "2", "1",
                                                                                                      "1")
    cases = {c.get("name").split(":")[0]: c for c in suite.iter("testcase")}
    assert cases["OSO-BRON-SESSIECONTROLE-FIRST"].find("failure").get("type") == "must"
    assert cases["OSO-DOEL-FINDINGS-SURFACED"].find("failure").get("type") == "should"
    assert cases["OSO-BRON-INZAGE-ONTBREEKT"].find("skipped") is not None
    assert cases["WUS-WB004-REQUEST-WRAPPED"].find("error") is not None
    page = html_report(report)
    assert PGN not in page and ZOEKSLEUTEL.decode() not in page
    assert '<details class="sc failed" id="OSO-BRON-SESSIECONTROLE-FIRST" open>' in page
    assert '<details class="sc passed" id="OSO-BRON-HAPPY-POPO">' in page
    shown = page.replace("http://vendor.test/ap", "").replace(OSO.decode(), "")  # the address, a namespace name
    assert "<script" not in page and "<link" not in page and "src=" not in page and "http://" not in shown
    assert page.index('id="OSO-BRON-SESSIECONTROLE-FIRST"') < page.index('id="OSO-BRON-HAPPY-POPO"')  # failed first


# ------------------------------------------------------------------------------------------------ hostile messages
PAYLOAD = b'<m:aanvraag xmlns:m="urn:test:conformance"><m:sessieId>s-1</m:sessieId></m:aanvraag>'
ENVELOPE = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/>'
            b"<soapenv:Body>" + PAYLOAD + b"</soapenv:Body></soapenv:Envelope>")


@pytest.fixture(scope="module")
def parties(pki):
    return pki.credentials("vendor"), pki.trust()


def _signed(creds, **kw):
    return sign_request(ENVELOPE, creds, to=ENDPOINT, action="urn:test:conformance", **kw)


@pytest.mark.parametrize("name, build, rule", [
    ("unsigned", lambda c: m.strip_security(_signed(c)), "WB003"),
    ("signature removed", lambda c: m.strip_signature(_signed(c)), "WB003"),
    ("tampered", lambda c: m.tamper_text(_signed(c), "//b:sessieId", "s-2"), "WB013"),
    ("body not covered", lambda c: m.drop_reference_to(_signed(c), "Body", c.private_key), "WB004"),
    ("to not covered", lambda c: m.drop_reference_to(_signed(c), "To", c.private_key), "WB004"),
    ("timestamp not covered", lambda c: m.drop_reference_to(_signed(c), "Timestamp", c.private_key), "WB004"),
    ("wrapped", lambda c: m.wrap_body(_signed(c), PAYLOAD.replace(b"s-1", b"s-2")), "WB004"),
    ("sha1", lambda c: m.with_sha1(_signed(c), c.private_key), "SIGN004"),
    ("other message id, re-signed", lambda c: m.set_header_text(_signed(c), "MessageID", "no uri", c.private_key),
     "WSA-MESSAGEID"),
])
def test_each_hostile_message_is_refused_by_our_verifier_for_its_rule(parties, name, build, rule):
    creds, trust = parties
    data = build(creds)
    with pytest.raises(SecurityError) as err:
        verify(data, policy=Policy(endpoint=ENDPOINT), trust=trust, replay=MemoryReplayStore())
    assert err.value.rule == rule, f"{name}: {err.value}"


def test_the_mutations_keep_everything_else_valid(parties):
    """A re-signed message that changes nothing is accepted: the tools make only the defect they are asked for."""
    creds, trust = parties
    data = _signed(creds)
    resigned = m.to_bytes(m.resign(m.tree(data), creds.private_key))
    vm = verify(resigned, policy=Policy(endpoint=ENDPOINT), trust=trust)
    assert vm.oin == VENDOR_OIN
    expired = _signed(creds, now=datetime.now(timezone.utc) - timedelta(hours=1))
    with pytest.raises(SecurityError) as err:
        verify(expired, policy=Policy(endpoint=ENDPOINT), trust=trust)
    assert err.value.rule == "WB002"
    assert m.drop_confirmation(data, creds.private_key)  # no SignatureConfirmation to drop: unchanged but re-signed


def test_the_published_rule_table_is_the_catalogue_s():
    """docs/conformance.md's rule → scenario table is what `conformance list --format rules` prints."""
    from pathlib import Path

    from gateway.commands.conformance import rules_table
    from gateway.conformance.catalogue import SCENARIOS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "conformance.md").read_text(encoding="utf-8")
    published = doc.split("<!-- rules-table:begin -->\n", 1)[1].split("\n<!-- rules-table:end -->", 1)[0]
    assert published == rules_table(SCENARIOS)


def test_every_rule_a_receiver_checks_is_probed_by_a_hostile_source_scenario():
    """The receiver's check order (docs/faults.md) against the hostile scenarios: each rule a receiver refuses a
    request for has a scenario that sends such a request."""
    from gateway.conformance.source import HOSTILE

    probed = {rule for sid in HOSTILE for rule in BY_ID[sid].rules}
    receiver_rules = {"R1008", "WB003", "WB004", "WB013", "SIGN003", "SIGN004", "PKI001", "PKI002", "GW-KEYUSAGE",
                      "WB002", "GW-REPLAY", "WSA-TO", "WSA-ACTION", "WS002", "WSA-MESSAGEID", "WSA-FROM", "GW-XSD"}
    assert receiver_rules <= probed, sorted(receiver_rules - probed)
