"""The Traffic Center over real HTTP, on SQLite and on PostgreSQL: a zeep client built from the published
wsdl/trafficcenter-20200910.wsdl calls every operation in the chain's own messages, signed both ways; every answer
validates against the contract."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree

from gateway import contracts
from gateway.oso.sessie import Status
from gateway.wsse import ns, sign_request

from .conftest import free_port
from .harness import leerling
from .tc_harness import (BRON_BRIN, BRON_OIN, BRON_RK, DOEL_BRIN, DOEL_OIN, DOEL_RK, PGNFRAG, STRANGER_OIN, SWV_RK,
                         ZOEKSLEUTEL, assert_valid_response, register_parties, start_tc)

OSO = contracts.OSO_NS


@pytest.fixture
def tc(pki, database):
    register_parties(database)
    running = start_tc(pki, database, free_port())
    yield running
    running.stop()


@pytest.fixture
def doel(tc):
    return tc.client("doel-las", DOEL_OIN)


@pytest.fixture
def bron(tc):
    return tc.client("bron-las", BRON_OIN)


def open_session(doel, **kw):
    service, plugin = doel
    args = dict(bronBrin=BRON_BRIN, doelBrin=DOEL_BRIN, doelRouteringsKenmerk=DOEL_RK,
                **leerling(ZOEKSLEUTEL, PGNFRAG), overdrachtsoort="overstapdossier")
    args.update(kw)
    answer = service.overdracht(**args)
    assert_valid_response(plugin)
    return answer


def control(bron, sessie_id, **kw):
    service, plugin = bron
    args = dict(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=DOEL_BRIN, doelRouteringsKenmerk=DOEL_RK,
                **leerling(ZOEKSLEUTEL, PGNFRAG), overdrachtsoort="overstapdossier", sessieId=sessie_id)
    args.update(kw)
    answer = service.sessiecontrole(**args)
    assert_valid_response(plugin)
    return answer


def close(doel, sessie_id, resultaat="OverdrachtGeslaagd", **kw):
    service, plugin = doel
    args = dict(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=DOEL_BRIN, doelRouteringsKenmerk=DOEL_RK,
                sessieId=sessie_id, resultaat=resultaat)
    args.update(kw)
    answer = service.afmelding(**args)
    assert_valid_response(plugin)
    return answer  # zeep hands back the resultaat itself: the response has that one element


def test_a_whole_session(tc, doel, bron):
    opened = open_session(doel)
    assert opened.resultaat == "Geslaagd"
    assert [a.routeringsKenmerk for a in opened.aanleverpunt] == [BRON_RK]
    assert opened.aanleverpunt[0].url == "https://bron.test/ap"
    assert opened.aanleverpunt[0].leverancierOin == BRON_OIN  # the gateway's extension
    checked = control(bron, opened.sessieId)
    assert (checked.resultaat, checked.sector) == ("Geslaagd", "VO")
    closed = close(doel, opened.sessieId)
    assert closed == "OverdrachtGeslaagd"  # the TC registered the afmelding
    with tc.database.unit_of_work() as repo:
        stored = repo.sessie(opened.sessieId)
    assert stored.status is Status.AFGEMELD and stored.resultaat == "OverdrachtGeslaagd"
    assert stored.resultaat_aanleverpunt == BRON_RK
    assert stored.controles == (BRON_RK,) and stored.doel_vendor_oin == DOEL_OIN
    # closed: every further step is refused with the result code, and nothing changes
    assert control(bron, opened.sessieId).resultaat == "SessieReedsAfgemeld"
    assert close(doel, opened.sessieId) == "SessieReedsAfgemeld"


def test_rules_refuse_with_result_codes(tc, doel, bron):
    stranger = tc.client("ander-las", STRANGER_OIN)
    assert open_session(stranger).resultaat == "LeverancierNietGeautoriseerd"
    assert open_session(doel, bronBrin="99ZZ").resultaat == "VerstrekkerNietBekend"
    assert open_session(doel, overdrachtsoort="overdrachtbinnenbrin").resultaat == "GeenRelatieMetDoel"
    assert open_session(doel, doelRouteringsKenmerk="0000000700000ZZ00000").resultaat == "AfnemerNietBekend"
    assert open_session(doel, bronRouteringsKenmerk="0000000700000YY00999").resultaat == "OnbekendAanleverpunt"
    opened = open_session(doel)
    assert control(bron, opened.sessieId, **leerling(ZOEKSLEUTEL, "0999")).resultaat == "SessieAfwijkend"
    # the doel aanleverpunt binds the session to its requester
    assert control(bron, opened.sessieId, doelRouteringsKenmerk=SWV_RK).resultaat == "OnbekendAanleverpunt"
    assert control(stranger, opened.sessieId).resultaat == "LeverancierNietGeautoriseerd"
    assert control(bron, "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b").resultaat == "SessieOnbekend"
    assert close(stranger, opened.sessieId) == "LeverancierNietGeautoriseerd"
    assert close(doel, opened.sessieId, doelRouteringsKenmerk=SWV_RK) == "OnbekendAanleverpunt"
    assert close(doel, opened.sessieId, bronRouteringsKenmerk=DOEL_RK) == "SessieAfwijkend"
    with tc.database.unit_of_work() as repo:
        assert repo.sessie(opened.sessieId).status is Status.OPEN  # refusals changed nothing


def test_ask_one_specific_aanleverpunt(tc, doel):
    opened = open_session(doel, bronRouteringsKenmerk=BRON_RK)
    assert opened.resultaat == "Geslaagd" and [a.routeringsKenmerk for a in opened.aanleverpunt] == [BRON_RK]


def test_swv_notification_flow_and_feedback(tc, doel, bron):
    """SWV: the source announces, gets an upper-case koppelsleutel and the SWV's endpoint; the SWV opens a session
    with it; then gives feedback (as bron of the feedback) to the school's LAS (its doel)."""
    service, plugin = bron
    n = service.meldenNotificatie(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin="44SW",
                                  doelRouteringsKenmerk=SWV_RK, doel="SWV")
    assert_valid_response(plugin)
    assert n.resultaat == "Geslaagd" and n.url == "https://swv.test/notificatie"
    assert n.koppelsleutel == n.koppelsleutel.upper()
    opened = open_session(doel, doelBrin="44SW", doelRouteringsKenmerk=SWV_RK, overdrachtsoort="swv-dossier",
                          zoeksleutelPgnfrag=None, koppelsleutel=n.koppelsleutel)
    assert opened.resultaat == "Geslaagd"
    checked = control(bron, opened.sessieId, doelBrin="44SW", doelRouteringsKenmerk=SWV_RK,
                      overdrachtsoort="swv-dossier", zoeksleutelPgnfrag=None, koppelsleutel=n.koppelsleutel)
    assert (checked.resultaat, checked.sector) == ("Geslaagd", "SWV")
    swv, swv_plugin = doel  # the SWV is served by the doel vendor
    fb = swv.meldenTerugkoppeling(bronBrin="44SW", bronRouteringsKenmerk=SWV_RK, doelBrin=BRON_BRIN,
                                  doelRouteringsKenmerk=BRON_RK, koppelsleutel=n.koppelsleutel,
                                  terugkoppeling="dossier ontvangen")
    assert_valid_response(swv_plugin)
    # the LAS aanleverpunt has no notification endpoint in this register: the TC cannot name where to deliver
    assert fb.resultaat == "AfnemerNietBekend"
    with tc.database.unit_of_work() as repo:
        repo.update_aanleverpunt(repo.aanleverpunt(BRON_RK).__class__(
            BRON_RK, BRON_BRIN, "00", BRON_OIN, "https://bron.test/ap", "https://bron.test/notificatie"))
    fb = swv.meldenTerugkoppeling(bronBrin="44SW", bronRouteringsKenmerk=SWV_RK, doelBrin=BRON_BRIN,
                                  doelRouteringsKenmerk=BRON_RK, koppelsleutel=n.koppelsleutel,
                                  terugkoppeling="dossier ontvangen")
    assert fb.resultaat == "Geslaagd" and fb.url == "https://bron.test/notificatie"
    # the triple is checked: the source cannot give feedback to itself with the koppelsleutel
    other = service.meldenTerugkoppeling(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin="44SW",
                                         doelRouteringsKenmerk=SWV_RK, koppelsleutel=n.koppelsleutel,
                                         terugkoppeling="x")
    assert other.resultaat == "KoppelsleutelOnbekend"
    with tc.database.unit_of_work() as repo:
        assert [t.tekst for t in repo.terugkoppelingen(koppelsleutel=n.koppelsleutel)] == ["dossier ontvangen"]


def test_ov_notification_names_a_session_the_source_served(tc, doel, bron):
    service, plugin = bron
    opened = open_session(doel)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ov = dict(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=DOEL_BRIN, doelRouteringsKenmerk=DOEL_RK,
              sessieId=opened.sessieId, aanvraagdatum=now, doel="OV")
    # not yet: the source never checked (served) that session
    assert service.meldenNotificatie(**ov).resultaat == "SessieAfwijkend"
    assert control(bron, opened.sessieId).resultaat == "Geslaagd"
    n = service.meldenNotificatie(**ov)
    assert_valid_response(plugin)
    assert n.resultaat == "Geslaagd" and n.url == "https://doel.test/notificatie"
    without = {k: v for k, v in ov.items() if k not in ("sessieId", "aanvraagdatum")}
    assert service.meldenNotificatie(**without).resultaat == "OngeldigVerzoek"
    # the koppelsleutel opens a session of the earlier transfer's kind
    again = open_session(doel, zoeksleutelPgnfrag=None, koppelsleutel=n.koppelsleutel)
    assert again.resultaat == "Geslaagd"
    with tc.database.unit_of_work() as repo:
        stored = repo.notificatie(n.koppelsleutel)
    assert (stored.doel, stored.sessie_id, stored.overdrachtsoort) == ("OV", opened.sessieId, "overstapdossier")


def test_overzicht_and_ping(tc, doel):
    service, plugin = doel
    o = service.overzichtAanleverpunt(brin=BRON_BRIN)
    assert_valid_response(plugin)
    assert o.resultaat == "Geslaagd" and o.aanleverpunt[0].routeringsKenmerk == BRON_RK
    assert o.aanleverpunt[0].leverancierOin == BRON_OIN
    p = service.ping()
    assert_valid_response(plugin)
    assert p.resultaat == "Geslaagd" and p.afzenderOin == DOEL_OIN


def _post(tc, pki, payload: str, action: str):
    body = (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body>{payload}</soapenv:Body>'
            '</soapenv:Envelope>').encode()
    signed = sign_request(body, pki.credentials("doel-las", DOEL_OIN), to=tc.url + "/tc", action=action)
    r = requests.post(tc.url + "/tc", data=signed, headers={"Content-Type": "text/xml"}, timeout=10)
    return signed, r, etree.fromstring(r.content).find(f".//{{{ns.SOAP11}}}Fault")


def test_body_not_conforming_to_the_xsd_is_a_fault_and_keeps_nothing(tc, pki):
    """A signed request whose Body breaks the contract (a malformed BRIN) gets GW-XSD / 0004; its MessageID is not
    consumed, and no session is written."""
    payload = (f'<o:overdrachtRequest xmlns:o="{OSO}"><o:bronBrin>{BRON_BRIN}</o:bronBrin><o:doelBrin>11aa</o:doelBrin>'
               f'<o:doelRouteringsKenmerk>{DOEL_RK}</o:doelRouteringsKenmerk><o:zoeksleutelPgnfrag>'
               f'<o:zoeksleutel>{ZOEKSLEUTEL}</o:zoeksleutel><o:pgnfrag>{PGNFRAG}</o:pgnfrag></o:zoeksleutelPgnfrag>'
               '<o:overdrachtsoort>overstapdossier</o:overdrachtsoort></o:overdrachtRequest>')
    signed, r, fault = _post(tc, pki, payload, f"{OSO}/overdracht")
    assert r.status_code == 500
    assert fault.findtext("faultcode") == "soapenv:Client"
    assert "GW-XSD" in fault.findtext("faultstring") and "0004" in fault.findtext("faultstring")
    assert "11aa" not in fault.findtext("faultstring")  # values are never echoed
    with tc.database.unit_of_work() as repo:
        assert repo.sessies() == []
        mid = etree.fromstring(signed).findtext(f".//{{{ns.WSA}}}MessageID")
        now = datetime.now(timezone.utc)
        assert repo.remember(mid, now + timedelta(minutes=5), now)  # not consumed by the refused request


@pytest.mark.parametrize("payload", [
    # the project's old namespace, and the OSO'18 one: not the contract
    '<tc:pingRequest xmlns:tc="urn:oso-gateway:trafficcenter:1"/>',
    '<o:pingRequest xmlns:o="http://xml.kennisnet.nl/schemas/Overstapservice/20180404"/>',
], ids=["old-gateway-namespace", "oso18-namespace"])
def test_other_namespaces_are_refused(tc, pki, payload):
    _, r, fault = _post(tc, pki, payload, f"{OSO}/ping")
    assert r.status_code == 500 and "WSA-ACTION" in fault.findtext("faultstring")


def test_the_action_is_bound_to_the_body(tc, doel, pki):
    """A ping Action around an afmelding is refused (WSA-ACTION, 0006) and the afmelding is not carried out."""
    opened = open_session(doel)
    payload = (f'<o:afmeldingRequest xmlns:o="{OSO}"><o:bronBrin>{BRON_BRIN}</o:bronBrin>'
               f'<o:bronRouteringsKenmerk>{BRON_RK}</o:bronRouteringsKenmerk><o:doelBrin>{DOEL_BRIN}</o:doelBrin>'
               f'<o:doelRouteringsKenmerk>{DOEL_RK}</o:doelRouteringsKenmerk><o:sessieId>{opened.sessieId}</o:sessieId>'
               '<o:resultaat>OverdrachtGeslaagd</o:resultaat></o:afmeldingRequest>')
    _, r, fault = _post(tc, pki, payload, f"{OSO}/ping")
    assert r.status_code == 500
    assert "WSA-ACTION" in fault.findtext("faultstring") and "0006" in fault.findtext("faultstring")
    with tc.database.unit_of_work() as repo:
        assert repo.sessie(opened.sessieId).status is Status.OPEN
    # the same Body under its own Action is carried out
    _, r, fault = _post(tc, pki, payload, f"{OSO}/afmelding")
    assert r.status_code == 200 and fault is None
