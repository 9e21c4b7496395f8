"""The reference school's notification endpoint (/school/doelsysteem) over real HTTP: a source's zeep client built
from wsdl/doelsysteem-20200910.wsdl pushes koppelsleutels (and an SWV system feedback), signed both ways; what arrives
is recorded with the verified sender's OIN; the answers conform to the contract. A signer may only speak for what it
owns: every forged notification or feedback (another BRIN, an inactive aanleverpunt, an unqualified vendor, a
koppelsleutel issued for other aanleverpunten or never announced to the sender, an OV update of a dossier this target
never fetched from that source) is refused with its result code and nothing of it is kept."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.pki import issue
from gateway.store.doelsysteem import DoelsysteemStore
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK,
                                      TEST_ROUTERINGSKENMERK, TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK)
from gateway.web.local import LocalGateway
from gateway.oso.doelsysteem import OntvangenNotificatie
from gateway.oso.register import Aanleverpunt, Vendor
from gateway.oso.sessie import Sessie, Status
from gateway.oso.trafficcenter import Notificatie
from gateway.wsse import Credentials, MemoryReplayStore, ns, sign_request

BRON_OIN = "00000001000000000022"
BRON_RK = "0000000700000YY00022"  # the bron-las's own aanleverpunt at the test school
OTHER_OIN = "00000001000000000023"
BRON_RK2 = "0000000700000YY00023"  # another aanleverpunt of the bron-las at the test school: nothing fetched from it
IDLE_RK = "0000000700000YY00025"  # an aanleverpunt of the bron-las that is no longer active
UNQ_OIN = "00000001000000000024"  # a vendor of the chain that is not (or no longer) qualified
UNQ_RK = "0000000700000YY00024"
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
        repo.add_aanleverpunt(Aanleverpunt(BRON_RK2, TEST_BRIN, "00", BRON_OIN, "https://bron.test/ap2"))
        repo.add_aanleverpunt(Aanleverpunt(IDLE_RK, TEST_BRIN, "00", BRON_OIN, "https://bron.test/old", actief=False))
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


@pytest.fixture(scope="module")
def unqualified(gw, bron):
    """A vendor the register knows, with an aanleverpunt of its own, but not qualified."""
    with gw.database.unit_of_work() as repo:
        repo.add_vendor(Vendor(UNQ_OIN, "Ongekwalificeerd LAS (TEST ONLY)", False))
        repo.add_aanleverpunt(Aanleverpunt(UNQ_RK, TEST_BRIN, "00", UNQ_OIN, "https://unq.test/ap"))
    return _party(gw, "unq-las", UNQ_OIN)


def issued(gw, k: str, *, bron=(TEST_BRIN, BRON_RK), doel=(TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK),
           kind: str = "SWV", sessie_id: str | None = None) -> None:
    """The Traffic Center of this gateway issued koppelsleutel ``k`` for bron -> doel (what meldenNotificatie
    records)."""
    now = datetime.now(timezone.utc)
    with gw.database.unit_of_work() as repo:
        repo.add_notificatie(Notificatie(k, bron[1], bron[0], doel[0], doel[1],
                                         "swv-dossier" if kind == "SWV" else "overstapdossier", kind, now,
                                         now + timedelta(days=14), sessie_id, now if sessie_id else None))


def fetched(gw, *, bron=(TEST_BRIN, BRON_RK), doel=(TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK),
            oin: str | None = None, resultaat: str = "OverdrachtGeslaagd") -> str:
    """A session of this gateway's TC as a transfer leaves it: opened by the target's vendor (``oin``, default the
    gateway's own, which serves 00ZZ), the dossier fetched from ``bron`` and the session closed with ``resultaat``."""
    now = datetime.now(timezone.utc)
    sessie = Sessie(Sessie.new_id(), doel[0], doel[1], oin or gw.config.credentials().oin, bron[0], "overstapdossier",
                    (bron[1],), now - timedelta(minutes=5), now + timedelta(minutes=55), status=Status.AFGEMELD,
                    controles=(bron[1],), resultaat=resultaat, resultaat_aanleverpunt=bron[1], afgemeld=now)
    with gw.database.unit_of_work() as repo:
        repo.add_sessie(sessie)
    return sessie.sessie_id


def kept(gw, k: str):
    with gw.database.unit_of_work(readonly=True) as repo:
        store = DoelsysteemStore(repo)
        return store.notificatie(k), store.terugkoppelingen(koppelsleutel=k)


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
    fetched(gw)  # this target fetched a dossier from BRON_RK before
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
    k = new_koppelsleutel()
    issued(gw, k, bron=(TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK), doel=(TEST_BRIN, BRON_RK))  # 00ZZ -> the SWV
    args, answer = _feedback(bron, koppelsleutel=k)
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


# ---- what the signer owns: BRIN, aanleverpunt, qualification, koppelsleutel, session -------------------------------

def test_a_notification_naming_another_brin_or_an_inactive_aanleverpunt_is_refused(gw, bron):
    for kw in (dict(bronBrin="11AA"),  # BRON_RK is an aanleverpunt of 00YY, not of 11AA
               dict(bronBrin=TEST_DOEL_BRIN),  # a BRIN this system serves itself
               dict(bronRouteringsKenmerk=IDLE_RK)):  # the vendor's, but no longer active
        args, resultaat = notify(bron, **kw)
        assert resultaat == "OnbekendAanleverpunt", kw
        assert kept(gw, args["koppelsleutel"]) == (None, [])


def test_a_notification_from_a_vendor_that_is_not_qualified_is_refused(gw, unqualified):
    args, resultaat = notify(unqualified, bronRouteringsKenmerk=UNQ_RK)  # its own aanleverpunt
    assert resultaat == "LeverancierNietGeautoriseerd"
    assert kept(gw, args["koppelsleutel"]) == (None, [])


def test_a_koppelsleutel_the_tc_issued_for_other_aanleverpunten_is_refused(gw, bron):
    """The TC of this gateway issued the koppelsleutel for the test school's own aanleverpunt and the SWV: the
    bron-las cannot announce it as its own, nor to another target, nor with another doel."""
    k = new_koppelsleutel()
    issued(gw, k, bron=(TEST_BRIN, TEST_ROUTERINGSKENMERK), doel=(TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK))
    _, resultaat = notify(bron, koppelsleutel=k)  # from BRON_RK to 00ZZ
    assert resultaat == "KoppelsleutelOnbekend"
    k2 = new_koppelsleutel()
    issued(gw, k2)  # BRON_RK -> 00ZZ, doel SWV
    _, resultaat = notify(bron, koppelsleutel=k2, doelBrin=TEST_SWV_BRIN,
                          doelRouteringsKenmerk=TEST_SWV_ROUTERINGSKENMERK)
    assert resultaat == "KoppelsleutelOnbekend"
    fetched(gw)
    _, resultaat = notify(bron, koppelsleutel=k2, doel="OV")
    assert resultaat == "KoppelsleutelOnbekend"
    assert kept(gw, k) == (None, []) and kept(gw, k2) == (None, [])
    _, resultaat = notify(bron, koppelsleutel=k2)  # as issued
    assert resultaat == "NotificatieOntvangen"
    assert kept(gw, k2)[0].afzender_oin == BRON_OIN


def test_an_ov_notification_without_a_dossier_fetched_from_that_source_is_refused(gw, bron):
    """OV announces an update of a dossier this target fetched from the source: from an aanleverpunt it never fetched
    from, or where the session ended without the dossier, or was another vendor's, there is nothing to update."""
    args, resultaat = notify(bron, doel="OV", bronRouteringsKenmerk=BRON_RK2)
    assert resultaat == "SessieOnbekend"
    fetched(gw, bron=(TEST_BRIN, BRON_RK2), resultaat="LeveringGeweigerd")
    fetched(gw, bron=(TEST_BRIN, BRON_RK2), oin=OTHER_OIN)  # another vendor's target fetched it
    fetched(gw, bron=(TEST_BRIN, BRON_RK2), doel=(TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK))  # into the SWV
    args2, resultaat = notify(bron, doel="OV", bronRouteringsKenmerk=BRON_RK2)
    assert resultaat == "SessieOnbekend"
    assert kept(gw, args["koppelsleutel"]) == (None, []) and kept(gw, args2["koppelsleutel"]) == (None, [])


def test_an_ov_notification_must_name_a_session_this_target_fetched_from_that_source(gw, bron):
    """The sessieId the source gave the TC (meldenNotificatie) must be one of this target's sessions with that
    source: another session does not do, even when this target fetched from the source in another one."""
    mine = fetched(gw)
    theirs = fetched(gw, oin=OTHER_OIN)
    refused = fetched(gw, resultaat="LeerlinginfoNietBeschikbaar")
    for sessie_id in (theirs, refused, str(uuid.uuid4())):
        k = new_koppelsleutel()
        issued(gw, k, kind="OV", sessie_id=sessie_id)
        _, resultaat = notify(bron, koppelsleutel=k, doel="OV")
        assert resultaat == "SessieOnbekend", sessie_id
        assert kept(gw, k) == (None, [])
    k = new_koppelsleutel()
    issued(gw, k, kind="OV", sessie_id=mine)
    _, resultaat = notify(bron, koppelsleutel=k, doel="OV")
    assert resultaat == "NotificatieOntvangen"
    assert kept(gw, k)[0].doel == "OV"


def test_an_ov_notification_after_a_transfer_with_a_koppelsleutel_is_accepted(gw, bron):
    """The target's own record counts too: a notification it used in a transfer that fetched the dossier."""
    earlier = new_koppelsleutel()
    issued(gw, earlier, bron=(TEST_BRIN, BRON_RK2))
    _, resultaat = notify(bron, koppelsleutel=earlier, bronRouteringsKenmerk=BRON_RK2)
    assert resultaat == "NotificatieOntvangen"
    with gw.database.unit_of_work() as repo:
        DoelsysteemStore(repo).mark_opgehaald(earlier, when=datetime.now(timezone.utc), sessie_id=str(uuid.uuid4()),
                                              resultaat="OverdrachtGeslaagd")
    args, resultaat = notify(bron, doel="OV", bronRouteringsKenmerk=BRON_RK2)
    assert resultaat == "NotificatieOntvangen"
    assert kept(gw, args["koppelsleutel"])[0].overdrachtsoort == "overstapdossier"


def test_feedback_with_a_koppelsleutel_not_announced_to_its_sender_is_refused(gw, bron, other):
    """Feedback goes with a koppelsleutel the school announced to that SWV: never announced, announced by another
    school, to another SWV, or the other way round, it is refused and not kept."""
    never = new_koppelsleutel()
    to_other_swv = new_koppelsleutel()
    issued(gw, to_other_swv, bron=(TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK),
           doel=(TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK))
    by_other_school = new_koppelsleutel()
    issued(gw, by_other_school, bron=(TEST_BRIN, TEST_ROUTERINGSKENMERK), doel=(TEST_BRIN, BRON_RK))
    reversed_pair = new_koppelsleutel()
    issued(gw, reversed_pair)  # BRON_RK announced to 00ZZ: feedback from BRON_RK to 00ZZ is not its reverse
    for k in (never, to_other_swv, by_other_school, reversed_pair):
        _, answer = _feedback(bron, koppelsleutel=k, terugkoppeling="vervalst")
        assert answer == "KoppelsleutelOnbekend", k
        assert kept(gw, k)[1] == []
    # a koppelsleutel announced to BRON_RK, but feedback signed by another vendor in BRON_RK's name
    genuine = new_koppelsleutel()
    issued(gw, genuine, bron=(TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK), doel=(TEST_BRIN, BRON_RK))
    _, answer = _feedback(other, koppelsleutel=genuine, terugkoppeling="vervalst")
    assert answer == "LeverancierNietGeautoriseerd"
    _, answer = _feedback(bron, koppelsleutel=genuine, bronBrin=TEST_DOEL_BRIN, terugkoppeling="vervalst")
    assert answer == "OnbekendAanleverpunt"
    assert kept(gw, genuine)[1] == []
    _, answer = _feedback(bron, koppelsleutel=genuine, terugkoppeling="echt")
    assert answer == "Geslaagd"
    assert [t.tekst for t in kept(gw, genuine)[1]] == ["echt"]


def test_feedback_on_a_koppelsleutel_received_here_is_accepted(gw, bron):
    """The SWV 00SW is served here too: a notification it received from the school (00ZZ) is the announcement the
    school's feedback endpoint recognises, when the SWV's vendor gives the feedback."""
    k = new_koppelsleutel()
    now = datetime.now(timezone.utc)
    own = gw.config.credentials().oin
    with gw.database.unit_of_work() as repo:
        DoelsysteemStore(repo).add_notificatie(OntvangenNotificatie(
            k, own, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK, "SWV",
            "swv-dossier", now))
    swv = _party(gw, "swv-las", own)  # 00SW's vendor is the gateway's own test vendor
    _, answer = _feedback(swv, bronBrin=TEST_SWV_BRIN, bronRouteringsKenmerk=TEST_SWV_ROUTERINGSKENMERK,
                          koppelsleutel=k, terugkoppeling="dossier gelezen")
    assert answer == "Geslaagd"
    [t] = kept(gw, k)[1]
    assert (t.afzender_oin, t.bron_routeringskenmerk, t.doel_routeringskenmerk) == (
        own, TEST_SWV_ROUTERINGSKENMERK, TEST_DOEL_ROUTERINGSKENMERK)
