"""Nothing a request carries is told back in a Fault's reason or written to a log: not a value, not an element or
attribute name, not a namespace. A sender puts a BSN, a name and an e-mail address in every kind of field of several
operations of the three services — dates, enumerations, patterns (BRIN, routeringskenmerk, sessieId, koppelsleutel,
zoeksleutel, pgnfrag), strings too long for their type — and in element names, attribute names and namespaces. Every
message is signed by a trusted party, so it reaches the contract's XSD; each answer is a signed Fault (or, for a
value the contract allows, a result code), and the Faults, the log records (caplog), the JSON log lines
(gateway.web.jsonlog) and the journal are scanned for the values."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select

from gateway import contracts
from gateway.store.base import Base
from gateway.store.journal_models import JournalRow
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, TEST_ROUTERINGSKENMERK,
                                      TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK)
from gateway.web.jsonlog import JsonFormatter
from gateway.web.local import LocalGateway
from gateway.wsse import ns, sign_request

OSO = contracts.OSO_NS
BSN = "123456782"  # passes the eleven test, as a real BSN would
NAME = "Annemarie Vermeulen"
EMAIL = "a.vermeulen@voorbeeld.nl"
VALUES = (BSN, NAME, EMAIL)
NEEDLES = ("123456782", "annemarie", "vermeulen", "voorbeeld")  # and every part of them, case-insensitive
SESSIE = "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"
KOPPEL = "0B8F6A2E-3C1D-4E5F-8A9B-0C1D2E3F4A5B"
PARTIJEN = [("bronBrin", TEST_BRIN), ("bronRouteringsKenmerk", TEST_ROUTERINGSKENMERK), ("doelBrin", TEST_DOEL_BRIN),
            ("doelRouteringsKenmerk", TEST_DOEL_ROUTERINGSKENMERK)]
LEERLING = [("zoeksleutelPgnfrag", [("zoeksleutel", "QUJDRA=="), ("pgnfrag", "1234")])]

# service -> operation -> its request's fields in the contract's order (a list value: a nested element)
OPERATIONS = {
    "trafficcenter": {
        "overdracht": [("bronBrin", TEST_BRIN), ("doelBrin", TEST_DOEL_BRIN),
                       ("doelRouteringsKenmerk", TEST_DOEL_ROUTERINGSKENMERK), *LEERLING,
                       ("overdrachtsoort", "overstapdossier")],
        "sessiecontrole": [*PARTIJEN, *LEERLING, ("overdrachtsoort", "overstapdossier"), ("sessieId", SESSIE)],
        "afmelding": [*PARTIJEN, ("sessieId", SESSIE), ("resultaat", "OverdrachtGeslaagd")],
        "meldenNotificatie": [*PARTIJEN, ("sessieId", SESSIE), ("aanvraagdatum", "2024-03-01T10:00:00+01:00"),
                              ("doel", "OV")],
        "meldenTerugkoppeling": [("bronBrin", TEST_SWV_BRIN), ("bronRouteringsKenmerk", TEST_SWV_ROUTERINGSKENMERK),
                                 ("doelBrin", TEST_BRIN), ("doelRouteringsKenmerk", TEST_ROUTERINGSKENMERK),
                                 ("koppelsleutel", KOPPEL), ("terugkoppeling", "ontvangen")],
        "overzichtAanleverpunt": [("brin", TEST_BRIN), ("routeringsKenmerk", TEST_ROUTERINGSKENMERK)],
    },
    "aanleverpunt": {
        "document": [*PARTIJEN, ("koppelsleutel", KOPPEL), ("overdrachtsoort", "swv-dossier"), ("sessieId", SESSIE),
                     ("dossierVerzameldatum", "2024-03-01T10:00:00Z")],
    },
    "doelsysteem": {
        "notificatie": [*PARTIJEN, ("koppelsleutel", KOPPEL), ("doel", "SWV")],
        "terugkoppeling": [("bronBrin", TEST_SWV_BRIN), ("bronRouteringsKenmerk", TEST_SWV_ROUTERINGSKENMERK),
                           ("doelBrin", TEST_BRIN), ("doelRouteringsKenmerk", TEST_ROUTERINGSKENMERK),
                           ("koppelsleutel", KOPPEL), ("terugkoppeling", "ontvangen")],
    },
}
PATHS = {"trafficcenter": "/tc", "aanleverpunt": "/school/aanleverpunt", "doelsysteem": "/school/doelsysteem"}
STRINGS = {"terugkoppeling"}  # free text: a value fits; too long (over 1000 characters) it does not


def _xml(fields, replace: dict | None = None) -> str:
    out = []
    for name, value in fields:
        if isinstance(value, list):
            out.append(f"<o:{name}>{_xml(value, replace)}</o:{name}>")
            continue
        text = (replace or {}).get(name, value)
        out.append(f"<o:{name}>{_escape(text)}</o:{name}>")
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _envelope(operation: str, inner: str, *, attributes: str = "") -> bytes:
    return (f'<s:Envelope xmlns:s="{ns.SOAP11}"><s:Header/><s:Body><o:{operation}Request xmlns:o="{OSO}"{attributes}>'
            f"{inner}</o:{operation}Request></s:Body></s:Envelope>").encode()


def _leaves(fields, prefix=()):
    for name, value in fields:
        if isinstance(value, list):
            yield from _leaves(value, prefix + (name,))
        else:
            yield name


def bad_messages():
    """(service, operation, what, body): each field of each operation with each value (and the free-text fields
    with the values repeated past their maximum length), plus element names, attribute names and namespaces."""
    for service, operations in OPERATIONS.items():
        for operation, fields in operations.items():
            for field in _leaves(fields):
                for value in VALUES:
                    if field in STRINGS:
                        value = (value + " ") * (1001 // len(value) + 1)
                    body = _envelope(operation, _xml(fields, {field: value}))
                    yield service, operation, f"{field}={value[:20]}", body
            first, *rest = fields
            yield service, operation, "element name", _envelope(
                operation, _xml([first]) + f"<o:Vermeulen>{BSN}</o:Vermeulen>" + _xml(rest))
            yield service, operation, "namespace", _envelope(
                operation, _xml([first]) + f'<x:{rest[0][0]} xmlns:x="urn:{EMAIL}">{BSN}</x:{rest[0][0]}>'
                + _xml(rest[1:]))
            yield service, operation, "attribute", _envelope(operation, _xml(fields),
                                                             attributes=f' Vermeulen="{BSN}"')
            yield service, operation, "text", _envelope(operation, f"{NAME} {EMAIL}" + _xml(fields))


@pytest.fixture(scope="module")
def gw():
    with LocalGateway(pupils=False) as running:
        yield running


def _leaks(text: str) -> list[str]:
    low = text.lower()
    return [n for n in NEEDLES if n in low]


def _send(gw, service: str, operation: str, body: bytes) -> requests.Response:
    url = gw.url + PATHS[service]
    action = contracts.service(service).operation(operation).action
    signed = sign_request(body, gw.config.credentials(), to=url, action=action)
    return requests.post(url, data=signed, headers={"Content-Type": "text/xml; charset=utf-8",
                                                    "SOAPAction": f'"{action}"'}, timeout=30)


def test_no_value_of_a_refused_body_reaches_a_fault_a_log_or_the_journal(gw, caplog):
    caplog.set_level(logging.DEBUG)
    json_out = io.StringIO()
    handler = logging.StreamHandler(json_out)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    seen, faults = 0, set()
    try:
        for service, operation, what, body in bad_messages():
            r = _send(gw, service, operation, body)
            assert r.status_code == 500, (service, operation, what, r.text[:300])
            fault = etree.fromstring(r.content).find(f".//{{{ns.SOAP11}}}Fault")
            reason = fault.findtext("faultstring")
            assert "GW-XSD" in reason, (service, operation, what, reason)
            assert _leaks(r.content.decode("utf-8")) == [], (service, operation, what, reason)
            faults.add(reason)
            seen += 1
    finally:
        root.removeHandler(handler)
    assert seen >= 150
    # the reasons still say what is wrong, in the contract's words
    assert any("aanvraagdatum': the value is not a valid value of the atomic type" in f for f in faults)
    assert any("[facet 'enumeration'] the value is not one of {'OV', 'SWV'}" in f for f in faults)
    assert any("terugkoppeling': [facet 'maxLength'] the value has a length of" in f for f in faults)
    assert any("An element that is not in the contract: this element is not expected here" in f for f in faults)
    records = [r for r in caplog.records]
    assert any(r.getMessage().startswith("refused: GW-XSD") for r in records)  # the refusals were logged
    for record in records:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        assert _leaks(text) == [], text[:500]
    lines = [json.loads(line) for line in json_out.getvalue().splitlines() if line.strip()]
    assert any(line.get("logger") == "oso.gateway.exchange" for line in lines)
    assert _leaks(json_out.getvalue()) == [], [line for line in lines if _leaks(json.dumps(line))][:3]
    # the journal (and any table of it: tallies, …) holds none of them either
    tables = [t for t in Base.metadata.sorted_tables if t.name.startswith("journal")]
    with gw.database.unit_of_work(readonly=True) as repo:
        assert repo.session.scalar(select(func.count()).select_from(JournalRow)) > 0
        for table in tables:
            for row in repo.session.execute(select(table)):
                text = " ".join(str(v) for v in row)
                assert _leaks(text) == [], (table.name, text[:500])


def test_a_value_the_contract_allows_in_free_text_is_not_logged(gw, caplog):
    """In a terugkoppeling the values fit the contract: the message is answered (a result code), and still no log
    line carries them."""
    caplog.set_level(logging.DEBUG)
    for service in ("trafficcenter", "doelsysteem"):
        operation = "meldenTerugkoppeling" if service == "trafficcenter" else "terugkoppeling"
        fields = OPERATIONS[service][operation]
        body = _envelope(operation, _xml(fields, {"terugkoppeling": f"{NAME} {EMAIL} {BSN}"}))
        r = _send(gw, service, operation, body)
        assert r.status_code == 200, r.text[:300]
        assert _leaks(r.content.decode()) == []
    for record in caplog.records:
        assert _leaks(record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())) == []


@pytest.mark.parametrize("message", [
    # libxml2's templates with values of every awkward shape: quotes, newlines, the template's own words
    "Element '{%s}aanvraagdatum': '123456782' is not a valid value of the atomic type '{%s}Tijdstip'." % (OSO, OSO),
    "Element '{%s}aanvraagdatum': 'a'b' is not a valid value of the atomic type 'x' is not a valid value of the "
    "atomic type '{%s}Tijdstip'." % (OSO, OSO),
    "Element '{%s}doel': [facet 'enumeration'] The value 'Annemarie\nVermeulen', 'OV' is not an element of the set "
    "{'OV', 'SWV'}." % OSO,
    "Element '{%s}bronBrin': [facet 'pattern'] The value 'a.vermeulen@voorbeeld.nl' is not accepted by the pattern "
    "'[0-9]{2}[A-Z]{2}'." % OSO,
    "Element '{urn:a.vermeulen@voorbeeld.nl}doel': This element is not expected. Expected is ( {%s}doel )." % OSO,
    "Element '{%s}Vermeulen': This element is not expected. Expected is one of ( {%s}a, Vermeulen )." % (OSO, OSO),
    "Element '{%s}doel', attribute 'Vermeulen': The attribute 'Vermeulen' is not allowed." % OSO,
    "Element '{%s}doel': [facet 'minInclusive'] The value '123456782' is less than the minimum ('1')." % OSO,
    "Element '{%s}doel': The QName value 'vermeulen:x' has no corresponding namespace declaration in scope." % OSO,
    "Element '{%s}doel': No match found for key-sequence ['123456782'] of keyref 'k'." % OSO,
    "Annemarie Vermeulen 123456782",
    "",
])
def test_scrub_tells_no_word_of_the_instance(message):
    told = contracts.scrub(message)
    assert told and _leaks(told) == [], told
    assert not re.search(r"[0-9]{5,}", told.replace("20200910", ""))


@pytest.mark.parametrize("where", ["header block", "in Security", "duplicate id", "referenced element"])
def test_the_security_checks_repeat_no_name_or_value_the_sender_chose(pki, where):
    """Element names and ids in a message are the sender's words (a pupil's name would do): a refusal's reason and
    its Fault never repeat them."""
    from gateway.wsse import Policy, TrustStore, verify
    from gateway.wsse.errors import SecurityError
    from gateway.wsse.faults import fault_envelope

    secret = "Vermeulen123456782"
    body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            b'<m:pingRequest xmlns:m="http://xml.kennisnet.nl/schemas/Overstapservice/20200910"/>'
            b"</s:Body></s:Envelope>")
    signed = sign_request(body, pki.credentials("vendor"), to="http://tc/tc",
                          action="http://xml.kennisnet.nl/schemas/Overstapservice/20200910/ping")
    root = etree.fromstring(signed)
    header = root.find(f"{{{ns.SOAP11}}}Header")
    security = header.find(f"{{{ns.WSSE}}}Security")
    if where == "header block":
        header.append(etree.Element(f"{{urn:x}}{secret}"))
    elif where == "in Security":
        security.append(etree.Element(f"{{urn:x}}{secret}"))
    elif where == "duplicate id":
        for el in (root.find(f"{{{ns.SOAP11}}}Body"), security.find(f"{{{ns.WSU}}}Timestamp")):
            el.set(f"{{{ns.WSU}}}Id", secret)
    else:  # the signature's first reference now points at an element of the sender's own, with that id
        ref = root.find(f".//{{{ns.DS}}}Reference")
        extra = etree.SubElement(header, f"{{urn:x}}{secret}")
        extra.set(f"{{{ns.WSU}}}Id", "own")
        ref.set("URI", "#own")
    with pytest.raises(SecurityError) as info:
        verify(etree.tostring(root), policy=Policy(endpoint="http://tc/tc"),
               trust=TrustStore.from_pem(pki.ca.read_bytes()))
    fault = etree.tostring(fault_envelope(info.value))
    assert secret not in info.value.reason and secret.encode() not in fault, info.value.reason
