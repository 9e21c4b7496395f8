"""The reference school's notification endpoint (/school/doelsysteem) over real HTTP: a source's zeep client built
from wsdl/doelsysteem-20200910.wsdl pushes koppelsleutels (and an SWV system feedback), signed both ways; what arrives
is recorded with the verified sender's OIN; the answers conform to the contract."""

from __future__ import annotations

import uuid

import pytest
import requests
from lxml import etree

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.pki import issue
from gateway.store.doelsysteem import DoelsysteemStore
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK,
                                      TEST_ROUTERINGSKENMERK)
from gateway.web.local import LocalGateway
from gateway.oso.register import Aanleverpunt, Vendor
from gateway.wsse import Credentials, MemoryReplayStore, ns, sign_request

BRON_OIN = "00000001000000000022"
BRON_RK = "0000000700000YY00022"  # the bron-las's own aanleverpunt at the test school
OTHER_OIN = "00000001000000000023"
DS_WSDL = contracts.wsdl_path("doelsysteem")
OSO = contracts.OSO_NS


def new_koppelsleutel() -> str:
    return str(uuid.uuid4()).upper()


def conforms(plugin) -> bool:
    return contracts.schema_error(plugin.last_response.body) is None


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
    args = dict(bronBrin=TEST_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=TEST_DOEL_BRIN,
                doelRouteringsKenmerk=TEST_DOEL_ROUTERINGSKENMERK, koppelsleutel=new_koppelsleutel(), doel="SWV")
    args.update(kw)
    answer = service.notificatie(**args)
    assert conforms(plugin), contracts.schema_errors(plugin.last_response.body)
    return args, answer  # zeep unwraps a response of one element to its value


def test_a_notification_is_recorded_with_its_verified_sender(gw, bron):
    args, resultaat = notify(bron)
    assert resultaat == "NotificatieOntvangen"
    with gw.database.unit_of_work(readonly=True) as repo:
        n = DoelsysteemStore(repo).notificatie(args["koppelsleutel"])
    assert n.afzender_oin == BRON_OIN
    assert (n.bron_brin, n.bron_routeringskenmerk, n.doel_brin, n.doel_routeringskenmerk, n.doel,
            n.overdrachtsoort) == (TEST_BRIN, BRON_RK, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, "SWV",
                                   "swv-dossier")
    assert n.opgehaald is None


def test_an_ov_notification_opens_a_transfer_of_the_earlier_kind(gw, bron):
    args, resultaat = notify(bron, doel="OV")
    assert resultaat == "NotificatieOntvangen"
    with gw.database.unit_of_work(readonly=True) as repo:
        n = DoelsysteemStore(repo).notificatie(args["koppelsleutel"])
    assert (n.doel, n.overdrachtsoort) == ("OV", "overstapdossier")


def test_the_same_notification_again_is_accepted_once_a_different_one_is_refused(gw, bron):
    args, _ = notify(bron)
    again, resultaat = notify(bron, koppelsleutel=args["koppelsleutel"])
    assert resultaat == "NotificatieOntvangen"
    _, resultaat = notify(bron, koppelsleutel=args["koppelsleutel"], doel="OV")
    assert resultaat == "OngeldigVerzoek"
    with gw.database.unit_of_work(readonly=True) as repo:
        kept = [n for n in DoelsysteemStore(repo).notificaties() if n.koppelsleutel == args["koppelsleutel"]]
    assert len(kept) == 1 and kept[0].overdrachtsoort == "swv-dossier"


def test_a_notification_for_an_aanleverpunt_not_served_here_is_refused(gw, bron):
    args, resultaat = notify(bron, doelRouteringsKenmerk="0000000700000QQ00000")
    assert resultaat == "AfnemerNietBekend"
    _, resultaat = notify(bron, doelBrin="11AA")  # the routeringskenmerk is 00ZZ's
    assert resultaat == "AfnemerNietBekend"
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(args["koppelsleutel"]) is None


def test_a_notification_signed_by_another_vendor_than_the_aanleverpunts_is_refused(gw, bron, other):
    """Any party the PKI trusts could otherwise push koppelsleutels in another vendor's name: the register knows
    BRON_RK and who serves it, so the verified signer must be that vendor."""
    args, resultaat = notify(other)  # bronRouteringsKenmerk BRON_RK, signed by OTHER_OIN
    assert resultaat == "LeverancierNietGeautoriseerd"
    _, resultaat = notify(other, bronRouteringsKenmerk=TEST_ROUTERINGSKENMERK)  # the gateway's own aanleverpunt
    assert resultaat == "LeverancierNietGeautoriseerd"
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(args["koppelsleutel"]) is None
    args, resultaat = notify(bron)  # the genuine vendor still is
    assert resultaat == "NotificatieOntvangen"


def test_a_notification_from_an_aanleverpunt_the_register_does_not_know_is_refused(gw, bron):
    """The reference target shares the register with the TC: a bronRouteringskenmerk it does not know was not
    handed out by the TC, so there is no vendor the signer could be checked against."""
    args, resultaat = notify(bron, bronRouteringsKenmerk="0000000700000QQ00099")
    assert resultaat == "OnbekendAanleverpunt"
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(args["koppelsleutel"]) is None


def _feedback(party, **kw):
    """An SWV system's feedback (bron of the feedback: the SWV; doel: the school's LAS, served here)."""
    service, plugin = party
    args = dict(bronBrin=TEST_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=TEST_DOEL_BRIN,
                doelRouteringsKenmerk=TEST_DOEL_ROUTERINGSKENMERK, koppelsleutel=new_koppelsleutel(),
                terugkoppeling="dossier ontvangen en ingelezen")
    args.update(kw)
    answer = service.terugkoppeling(**args)
    assert conforms(plugin)
    return args, answer


def test_feedback_is_recorded(gw, bron):
    args, answer = _feedback(bron)
    assert answer == "Geslaagd"
    with gw.database.unit_of_work(readonly=True) as repo:
        [t] = DoelsysteemStore(repo).terugkoppelingen(koppelsleutel=args["koppelsleutel"])
    assert (t.afzender_oin, t.tekst, t.bron_routeringskenmerk, t.doel_routeringskenmerk) == (
        BRON_OIN, "dossier ontvangen en ingelezen", BRON_RK, TEST_DOEL_ROUTERINGSKENMERK)


def test_feedback_from_another_vendor_than_the_aanleverpunts_is_refused(gw, bron, other):
    k = new_koppelsleutel()
    for party, rk, brin, code in ((other, BRON_RK, TEST_BRIN, "LeverancierNietGeautoriseerd"),
                                  (bron, TEST_ROUTERINGSKENMERK, TEST_BRIN, "LeverancierNietGeautoriseerd"),
                                  (bron, "0000000700000QQ00099", TEST_BRIN, "OnbekendAanleverpunt"),
                                  (bron, BRON_RK, "99ZZ", "OnbekendAanleverpunt")):
        _, answer = _feedback(party, bronBrin=brin, bronRouteringsKenmerk=rk, koppelsleutel=k, terugkoppeling="x")
        assert answer == code, (rk, brin)
    _, answer = _feedback(bron, doelRouteringsKenmerk="0000000700000QQ00000", koppelsleutel=k)
    assert answer == "AfnemerNietBekend"  # not an aanleverpunt served here
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).terugkoppelingen(koppelsleutel=k) == []


def test_a_body_that_breaks_the_contract_is_a_signed_fault_and_nothing_is_kept(gw):
    party = issue(gw.folder / "pki", "bron-las-2", BRON_OIN)
    creds = Credentials.from_files(party.cert_path, party.key_path)
    k = new_koppelsleutel()
    body = (f'<s:Envelope xmlns:s="{ns.SOAP11}"><s:Body>'
            f'<ds:notificatieRequest xmlns:ds="{OSO}"><ds:bronBrin>00yy</ds:bronBrin>'
            f'<ds:bronRouteringsKenmerk>{TEST_ROUTERINGSKENMERK}</ds:bronRouteringsKenmerk>'
            f'<ds:doelBrin>{TEST_DOEL_BRIN}</ds:doelBrin>'
            f'<ds:doelRouteringsKenmerk>{TEST_DOEL_ROUTERINGSKENMERK}</ds:doelRouteringsKenmerk>'
            f'<ds:koppelsleutel>{k}</ds:koppelsleutel><ds:doel>SWV</ds:doel></ds:notificatieRequest>'
            '</s:Body></s:Envelope>')
    action = f"{OSO}/notificatie"
    signed = sign_request(body.encode(), creds, to=gw.url + "/school/doelsysteem", action=action)
    r = requests.post(gw.url + "/school/doelsysteem", data=signed, timeout=10,
                      headers={"Content-Type": "text/xml", "SOAPAction": action})
    assert r.status_code == 500
    fault = etree.fromstring(r.content).find(f".//{{{ns.SOAP11}}}Fault")
    assert "GW-XSD" in fault.findtext("faultstring")
    assert etree.fromstring(r.content).find(f".//{{{ns.DS}}}SignatureValue") is not None  # signed
    with gw.database.unit_of_work(readonly=True) as repo:
        assert DoelsysteemStore(repo).notificatie(k) is None


def test_the_contract_is_served(gw):
    r = requests.get(gw.url + "/school/doelsysteem?wsdl", timeout=10)
    assert r.status_code == 200 and r.content == DS_WSDL.read_bytes()
