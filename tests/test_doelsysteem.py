"""The reference target's notification endpoint (/school/doelsysteem) over real HTTP: a source's zeep client built
from wsdl/doelsysteem-1.wsdl pushes koppelsleutels and feedback, signed both ways; what arrives is recorded with the
verified sender's OIN; the answers conform to xsd/doelsysteem-1.xsd."""

from __future__ import annotations

import uuid

import pytest
import requests
from lxml import etree

from gateway.client import WusSignature, client_for
from gateway.client.target import DS_WSDL
from gateway.pki import issue
from gateway.store.doelsysteem import DoelsysteemStore
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK,
                                      TEST_ROUTERINGSKENMERK)
from gateway.web.app import load_schema
from gateway.web.local import LocalGateway
from gateway.oso.register import Aanleverpunt, Vendor
from gateway.wsse import Credentials, MemoryReplayStore, ns, sign_request

BRON_OIN = "00000001000000000022"
BRON_RK = "0000000700000YY00022"  # the bron-las's own aanleverpunt at the test school
OTHER_OIN = "00000001000000000023"
SCHEMA = load_schema("doelsysteem-1.xsd")


@pytest.fixture(scope="module")
def gw():
    with LocalGateway(pupils=False) as running:
        yield running


def _party(gw, name: str, oin: str):
    """A client of the notification endpoint signing as a party of the chain's PKI with ``oin``."""
    party = issue(gw.folder / "pki", name, oin)
    plugin = WusSignature(Credentials.from_files(party.cert_path, party.key_path), gw.config.trust(),
                          replay=MemoryReplayStore())
    _, service = client_for(DS_WSDL, plugin, address=gw.url + "/school/doelsysteem")
    return service, plugin


@pytest.fixture(scope="module")
def bron(gw):
    with gw.database.unit_of_work() as repo:
        repo.add_vendor(Vendor(BRON_OIN, "Bron LAS (TEST ONLY)", True))
        repo.add_aanleverpunt(Aanleverpunt(BRON_RK, TEST_BRIN, "00", BRON_OIN, "https://bron.test/ap"))
    return _party(gw, "bron-las", BRON_OIN)


@pytest.fixture(scope="module")
def other(gw, bron):
    """Another vendor of the chain (trusted, registered), but not the one registered for BRON_RK."""
    with gw.database.unit_of_work() as repo:
        repo.add_vendor(Vendor(OTHER_OIN, "Ander LAS (TEST ONLY)", True))
    return _party(gw, "ander-las", OTHER_OIN)


def notify(bron, **kw):
    service, plugin = bron
    args = dict(koppelsleutel=str(uuid.uuid4()), bronBrin=TEST_BRIN, bronRouteringskenmerk=BRON_RK,
                doelBrin=TEST_DOEL_BRIN, doelRouteringskenmerk=TEST_DOEL_ROUTERINGSKENMERK,
                overdrachtsoort="swv-dossier")
    args.update(kw)
    answer = service.notificatie(**args)
    assert SCHEMA.validate(plugin.last_response.body), SCHEMA.error_log
    return args, answer  # zeep unwraps a response of one element to its value


def test_a_notification_is_recorded_with_its_verified_sender(gw, bron):
    args, resultaat = notify(bron)
    assert resultaat == "Geslaagd"
    with gw.database.unit_of_work(readonly=True) as repo:
        n = DoelsysteemStore(repo).notificatie(args["koppelsleutel"])
    assert n.afzender_oin == BRON_OIN
    assert (n.bron_brin, n.bron_routeringskenmerk, n.doel_brin, n.doel_routeringskenmerk, n.overdrachtsoort) == (
        TEST_BRIN, BRON_RK, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, "swv-dossier")
    assert n.opgehaald is None


def test_the_same_notification_again_is_accepted_once_a_different_one_is_refused(gw, bron):
    args, _ = notify(bron)
    again, resultaat = notify(bron, koppelsleutel=args["koppelsleutel"])
    assert resultaat == "Geslaagd"
    _, resultaat = notify(bron, koppelsleutel=args["koppelsleutel"], overdrachtsoort="overstapdossier")
    assert resultaat == "OngeldigVerzoek"
    with gw.database.unit_of_work(readonly=True) as repo:
        kept = [n for n in DoelsysteemStore(repo).notificaties() if n.koppelsleutel == args["koppelsleutel"]]
    assert len(kept) == 1 and kept[0].overdrachtsoort == "swv-dossier"


def test_a_notification_for_an_aanleverpunt_not_served_here_is_refused(gw, bron):
    args, resultaat = notify(bron, doelRouteringskenmerk="0000000700000QQ00000")
    assert resultaat == "AfnemerNietBekend"
    _, resultaat = notify(bron, doelBrin="11AA")  # the routeringskenmerk is 00ZZ's
    assert resultaat == "AfnemerNietBekend"
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(args["koppelsleutel"]) is None


def test_a_notification_signed_by_another_vendor_than_the_aanleverpunts_is_refused(gw, bron, other):
    """Any party the PKI trusts could otherwise push koppelsleutels in another vendor's name: the register knows
    BRON_RK and who serves it, so the verified signer must be that vendor."""
    args, resultaat = notify(other)  # bronRouteringskenmerk BRON_RK, signed by OTHER_OIN
    assert resultaat == "OnbekendAanleverpunt"
    _, resultaat = notify(other, bronRouteringskenmerk=TEST_ROUTERINGSKENMERK)  # the gateway's own aanleverpunt
    assert resultaat == "OnbekendAanleverpunt"
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(args["koppelsleutel"]) is None
    args, resultaat = notify(bron)  # the genuine vendor still is
    assert resultaat == "Geslaagd"


def test_a_notification_from_an_aanleverpunt_the_register_does_not_know_is_refused(gw, bron):
    """The reference target shares the register with the TC: a bronRouteringskenmerk it does not know was not
    handed out by the TC, so there is no vendor the signer could be checked against."""
    args, resultaat = notify(bron, bronRouteringskenmerk="0000000700000QQ00099")
    assert resultaat == "OnbekendAanleverpunt"
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(args["koppelsleutel"]) is None


def test_feedback_is_recorded(gw, bron):
    service, plugin = bron
    sid = str(uuid.uuid4())
    answer = service.terugkoppeling(bronBrin=TEST_BRIN, bronRouteringskenmerk=BRON_RK, sessieId=sid,
                                    terugkoppeling="dossier aangevuld, graag opnieuw ophalen")
    assert SCHEMA.validate(plugin.last_response.body)
    assert answer == "Geslaagd"
    with gw.database.unit_of_work(readonly=True) as repo:
        [t] = DoelsysteemStore(repo).terugkoppelingen(sessie_id=sid)
    assert (t.afzender_oin, t.tekst, t.koppelsleutel) == (BRON_OIN, "dossier aangevuld, graag opnieuw ophalen", None)


def test_feedback_from_another_vendor_than_the_aanleverpunts_is_refused(gw, bron, other):
    sid = str(uuid.uuid4())
    for party, rk, brin in ((other, BRON_RK, TEST_BRIN), (bron, TEST_ROUTERINGSKENMERK, TEST_BRIN),
                            (bron, "0000000700000QQ00099", TEST_BRIN), (bron, BRON_RK, "99ZZ")):
        service, _ = party
        answer = service.terugkoppeling(bronBrin=brin, bronRouteringskenmerk=rk, sessieId=sid, terugkoppeling="x")
        assert answer == "OnbekendAanleverpunt", (rk, brin)
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).terugkoppelingen(sessie_id=sid) == []


def test_a_body_that_breaks_the_contract_is_a_signed_fault_and_nothing_is_kept(gw):
    party = issue(gw.folder / "pki", "bron-las-2", BRON_OIN)
    creds = Credentials.from_files(party.cert_path, party.key_path)
    k = str(uuid.uuid4())
    body = (f'<s:Envelope xmlns:s="{ns.SOAP11}"><s:Body>'
            '<ds:notificatieRequest xmlns:ds="urn:oso-gateway:doelsysteem:1">'
            f'<ds:koppelsleutel>{k}</ds:koppelsleutel><ds:bronBrin>00yy</ds:bronBrin>'
            f'<ds:bronRouteringskenmerk>{TEST_ROUTERINGSKENMERK}</ds:bronRouteringskenmerk>'
            f'<ds:doelBrin>{TEST_DOEL_BRIN}</ds:doelBrin>'
            f'<ds:doelRouteringskenmerk>{TEST_DOEL_ROUTERINGSKENMERK}</ds:doelRouteringskenmerk>'
            '<ds:overdrachtsoort>swv-dossier</ds:overdrachtsoort></ds:notificatieRequest></s:Body></s:Envelope>')
    signed = sign_request(body.encode(), creds, to=gw.url + "/school/doelsysteem",
                          action="urn:oso-gateway:doelsysteem:1/notificatie")
    r = requests.post(gw.url + "/school/doelsysteem", data=signed, timeout=10,
                      headers={"Content-Type": "text/xml", "SOAPAction": "urn:oso-gateway:doelsysteem:1/notificatie"})
    assert r.status_code == 500
    fault = etree.fromstring(r.content).find(f".//{{{ns.SOAP11}}}Fault")
    assert "GW-XSD" in fault.findtext("faultstring")
    assert etree.fromstring(r.content).find(f".//{{{ns.DS}}}SignatureValue") is not None  # signed
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(k) is None


def test_the_contract_is_served(gw):
    r = requests.get(gw.url + "/school/doelsysteem?wsdl", timeout=10)
    assert r.status_code == 200 and r.content == DS_WSDL.read_bytes()
