"""The Traffic Center over real HTTP, on SQLite and on PostgreSQL: a zeep client built from the published
wsdl/trafficcenter-1.wsdl calls every operation, signed both ways; every answer validates against xsd/."""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from gateway.oso.sessie import Status
from gateway.wsse import sign_request
from gateway.wsse import ns

from .conftest import free_port
from .tc_harness import (BRON_BRIN, BRON_OIN, BRON_RK, DOEL_BRIN, DOEL_OIN, DOEL_RK, PGNFRAG, STRANGER_OIN, SWV_RK,
                         ZOEKSLEUTEL, assert_valid_response, register_parties, start_tc)


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
    args = dict(doelBrin=DOEL_BRIN, doelRouteringskenmerk=DOEL_RK, bronBrin=BRON_BRIN,
                overdrachtsoort="overstapdossier", zoeksleutel=ZOEKSLEUTEL, pgnfrag=PGNFRAG)
    args.update(kw)
    answer = service.overdracht(**args)
    assert_valid_response(plugin)
    return answer


def control(bron, sessie_id, **kw):
    service, plugin = bron
    args = dict(sessieId=sessie_id, aanvragerOin=DOEL_OIN, bronRouteringskenmerk=BRON_RK, bronBrin=BRON_BRIN, doelBrin=DOEL_BRIN,
                overdrachtsoort="overstapdossier", zoeksleutel=ZOEKSLEUTEL, pgnfrag=PGNFRAG)
    args.update(kw)
    answer = service.sessiecontrole(**args)
    assert_valid_response(plugin)
    return answer


def close(doel, sessie_id, resultaat="OverdrachtGeslaagd", rk=BRON_RK):
    service, plugin = doel
    answer = service.afmelding(sessieId=sessie_id,
                               aanleverpuntResultaat=[{"routeringskenmerk": rk, "resultaat": resultaat}])
    assert_valid_response(plugin)
    return answer


def test_a_whole_session(tc, doel, bron):
    opened = open_session(doel)
    assert opened.resultaat == "Geslaagd"
    assert [a.routeringskenmerk for a in opened.aanleverpunt] == [BRON_RK]
    assert opened.aanleverpunt[0].documentEndpoint == "https://bron.test/ap"
    assert opened.aanleverpunt[0].leverancierOin == BRON_OIN
    checked = control(bron, opened.sessieId)
    assert (checked.resultaat, checked.doelSector) == ("Geslaagd", "VO")
    closed = close(doel, opened.sessieId)
    assert (closed.resultaat, closed.sessieResultaat) == ("Geslaagd", "OverdrachtGeslaagd")
    with tc.database.unit_of_work() as repo:
        stored = repo.sessie(opened.sessieId)
    assert stored.status is Status.AFGEMELD and stored.resultaat == "OverdrachtGeslaagd"
    assert stored.controles == (BRON_RK,) and stored.doel_vendor_oin == DOEL_OIN
    # closed: every further step is refused with the result code, and nothing changes
    assert control(bron, opened.sessieId).resultaat == "SessieReedsAfgemeld"
    assert close(doel, opened.sessieId).resultaat == "SessieReedsAfgemeld"


def test_rules_refuse_with_result_codes(tc, doel, bron):
    stranger = tc.client("ander-las", STRANGER_OIN)
    assert open_session(stranger).resultaat == "LeverancierNietGeautoriseerd"
    assert open_session(doel, bronBrin="99ZZ").resultaat == "VerstrekkerNietBekend"
    assert open_session(doel, overdrachtsoort="overdrachtbinnenbrin").resultaat == "GeenRelatieMetDoel"
    assert open_session(doel, doelRouteringskenmerk="0000000700000ZZ00000").resultaat == "AfnemerNietBekend"
    opened = open_session(doel)
    assert control(bron, opened.sessieId, pgnfrag="999").resultaat == "SessieAfwijkend"
    assert control(bron, opened.sessieId, aanvragerOin=STRANGER_OIN).resultaat == "SessieAfwijkend"
    assert control(stranger, opened.sessieId).resultaat == "OnbekendAanleverpunt"
    assert control(bron, "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b").resultaat == "SessieOnbekend"
    assert close(stranger, opened.sessieId).resultaat == "LeverancierNietGeautoriseerd"
    with tc.database.unit_of_work() as repo:
        assert repo.sessie(opened.sessieId).status is Status.OPEN  # refusals changed nothing


def test_notification_flow_and_feedback(tc, doel, bron):
    service, plugin = bron
    n = service.meldenNotificatie(bronRouteringskenmerk=BRON_RK, doelBrin="44SW", doelRouteringskenmerk=SWV_RK,
                                  overdrachtsoort="swv-dossier", zoeksleutel=ZOEKSLEUTEL, pgnfrag=PGNFRAG)
    assert_valid_response(plugin)
    assert n.resultaat == "Geslaagd" and n.notificatieEndpoint == "https://swv.test/notificatie"
    opened = open_session(doel, doelBrin="44SW", doelRouteringskenmerk=SWV_RK, overdrachtsoort="swv-dossier",
                          zoeksleutel=None, pgnfrag=None, koppelsleutel=n.koppelsleutel)
    assert opened.resultaat == "Geslaagd"
    checked = control(bron, opened.sessieId, doelBrin="44SW", overdrachtsoort="swv-dossier", zoeksleutel=None,
                      pgnfrag=None, koppelsleutel=n.koppelsleutel)
    assert (checked.resultaat, checked.doelSector) == ("Geslaagd", "SWV")
    fb = service.meldenTerugkoppeling(bronRouteringskenmerk=BRON_RK, sessieId=opened.sessieId,
                                      terugkoppeling="dossier klaargezet")
    assert_valid_response(plugin)
    assert fb.resultaat == "Geslaagd" and fb.notificatieEndpoint == "https://swv.test/notificatie"
    with tc.database.unit_of_work() as repo:
        assert [t.tekst for t in repo.terugkoppelingen(sessie_id=opened.sessieId)] == ["dossier klaargezet"]


def test_overzicht_and_ping(tc, doel):
    service, plugin = doel
    o = service.overzichtAanleverpunt(brin=BRON_BRIN)
    assert_valid_response(plugin)
    assert o.resultaat == "Geslaagd" and o.aanleverpunt[0].schoolnaam == "Testschool"
    assert o.aanleverpunt[0].leverancierOin == BRON_OIN
    p = service.ping(echo="hoi")
    assert_valid_response(plugin)
    assert p.afzenderOin == DOEL_OIN and p.echo == "hoi"


def test_body_not_conforming_to_the_xsd_is_a_fault_and_keeps_nothing(tc, pki):
    """A signed request whose Body breaks the contract (a malformed BRIN) gets GW-XSD / 0004; its MessageID is not
    consumed, and no session is written."""
    body = (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body>'
            '<tc:overdrachtRequest xmlns:tc="urn:oso-gateway:trafficcenter:1"><tc:doelBrin>11aa</tc:doelBrin>'
            f'<tc:doelRouteringskenmerk>{DOEL_RK}</tc:doelRouteringskenmerk><tc:bronBrin>{BRON_BRIN}</tc:bronBrin>'
            '<tc:overdrachtsoort>overstapdossier</tc:overdrachtsoort>'
            f'<tc:zoeksleutel>{ZOEKSLEUTEL}</tc:zoeksleutel><tc:pgnfrag>{PGNFRAG}</tc:pgnfrag>'
            '</tc:overdrachtRequest></soapenv:Body></soapenv:Envelope>').encode()
    signed = sign_request(body, pki.credentials("doel-las", DOEL_OIN), to=tc.url + "/tc",
                          action="urn:oso-gateway:trafficcenter:1/overdracht")
    r = requests.post(tc.url + "/tc", data=signed, headers={"Content-Type": "text/xml"}, timeout=10)
    assert r.status_code == 500
    fault = etree.fromstring(r.content).find(f".//{{{ns.SOAP11}}}Fault")
    assert fault.findtext("faultcode") == "soapenv:Client"
    assert "GW-XSD" in fault.findtext("faultstring") and "0004" in fault.findtext("faultstring")
    assert "11aa" not in fault.findtext("faultstring")  # values are never echoed
    with tc.database.unit_of_work() as repo:
        assert repo.sessies() == []
        mid = etree.fromstring(signed).findtext(f".//{{{ns.WSA}}}MessageID")
        from datetime import datetime, timedelta, timezone

        now = datetime.now(timezone.utc)
        assert repo.remember(mid, now + timedelta(minutes=5), now)  # not consumed by the refused request
