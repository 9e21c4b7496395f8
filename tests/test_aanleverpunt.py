"""The reference source's aanleverpunt over real HTTP, with a real Traffic Center: the GatewayApp serves /tc and
/school/aanleverpunt from one threaded server and one SQLite database (so a transaction held across the
sessiecontrole would deadlock: every test here would then take the busy time-out). The target is a zeep client built
from wsdl/trafficcenter-20200910.wsdl and wsdl/aanleverpunt-20200910.wsdl, signing as a registered vendor; every
answer is verified and validated against the contract.

The source never releases a dossier without a successful sessiecontrole: a TC that refuses, a TC that cannot be
reached, and a "TC" that answers Geslaagd but is not the Traffic Center all end without a dossier, and the release
log shows why.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import pytest
import requests
from lxml import etree

from gateway import contracts
from gateway.client.bron import BronClient
from gateway.dossier import Transfer, load_bundles, validate
from gateway.oso.zoeksleutel import pgn_kind
from gateway.school.synthetisch import PROFIELEN, bouw_dossier, genereer_leerling
from gateway.school.uitlevering import SCHOOL_POLICY, Controle, DossierRecord, verwijder_categorieen
from gateway.services import aanleverpunt as ap_service
from gateway.store import Database
from gateway.web.mounts import AANLEVERPUNT_PATH, aanleverpunt_mount
from gateway.web.security import SecuredEndpoint, SecurityMiddleware
from gateway.wsse import MemoryReplayStore, Policy, sign_request

from .conftest import free_port
from .harness import serve, stop
from .school_harness import (BUNDLES, BRON_BRIN, BRON_RK, DOEL_BB_RK, DOEL_BRIN, DOEL_OIN, DOEL_RK, OSO_NS,
                             STRANGER_OIN, c14n, dossier_bytes, response_body, sha256, start_school, zoeksleutel)

NS = {"d": "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"}


@pytest.fixture(scope="module")
def school(pki, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("school")
    database = Database(f"sqlite:///{tmp / 'gateway.db'}")
    database.migrate()
    running = start_school(pki, database, free_port(), tmp)
    yield running
    running.stop()
    database.dispose()


@pytest.fixture(scope="module")
def tc(school):
    return school.tc_client()


@pytest.fixture(scope="module")
def ap(school):
    return school.ap_client()


def open_session(school, tc, pgn, *, soort="overstapdossier", doel_brin=DOEL_BRIN, doel_rk=DOEL_RK) -> str:
    service, _ = tc
    opened = service.overdracht(bronBrin=BRON_BRIN, doelBrin=doel_brin, doelRouteringsKenmerk=doel_rk,
                                **zoeksleutel(school.key, pgn, doel_brin=doel_brin), overdrachtsoort=soort)
    assert opened.resultaat == "Geslaagd"
    assert school.url + AANLEVERPUNT_PATH in [a.url for a in opened.aanleverpunt]
    return opened.sessieId


def ask(school, ap, sessie_id, pgn, *, soort="overstapdossier", doel_brin=DOEL_BRIN, doel_rk=DOEL_RK, **extra):
    service, plugin = ap
    answer = service.document(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=doel_brin,
                              doelRouteringsKenmerk=doel_rk, **zoeksleutel(school.key, pgn, doel_brin=doel_brin),
                              overdrachtsoort=soort, sessieId=sessie_id, **extra)
    return answer, response_body(plugin)


def transfer(school, tc, ap, pgn, **kw):
    """Open a session and ask our aanleverpunt: (resultaat, dossier bytes or None, the session)."""
    soort = kw.pop("soort", "overstapdossier")
    doel = dict(doel_brin=BRON_BRIN, doel_rk=DOEL_BB_RK) if soort == "overdrachtbinnenbrin" else {}
    sessie = open_session(school, tc, pgn, soort=soort, **doel)
    answer, body = ask(school, ap, sessie, pgn, soort=soort, **doel, **kw)
    return answer.resultaat, dossier_bytes(body), sessie, answer


def log_of(school, sessie):
    with school.school() as s:
        return s.uitleveringen(sessie_id=sessie)


def stored(school, pgn):
    with school.school() as s:
        return s.dossier(BRON_BRIN, pgn)


def prepare(school, profile: str, *, seed: str, inzage=True, toestemming=True, **changes) -> str:
    """A new pupil of the test school with a dossier of ``profile``; returns its PGN."""
    ll = genereer_leerling(random.Random(seed))
    overdrachtsoort, overstap = PROFIELEN[profile]
    day = school.today
    data = bouw_dossier(ll, profile, datum=day, inzage=day if inzage else None, toestemming=toestemming)
    record = DossierRecord(brin=BRON_BRIN, pgn=ll.pgn, pgn_kind=pgn_kind(ll.pgn), overdrachtsoort=overdrachtsoort,
                           overstap=overstap, dossier=data, verzameldatum=day, inzage=day if inzage else None,
                           toestemming=day if toestemming else None)
    record = replace(record, **changes)
    with school.school(readonly=False) as s:
        s.put_dossier(record)
    return ll.pgn


@pytest.fixture(scope="module")
def bundles():
    return load_bundles(BUNDLES)


def assert_valid(data: bytes, bundles, soort="overstapdossier"):
    report = validate(data, bundles, policy=SCHOOL_POLICY, transfer=Transfer(overdrachtsoort=soort,
                                                                              bron_brin=BRON_BRIN))
    assert report.valid and report.bundle == "2019.1", [(f.rule, f.location) for f in report.errors]


# ---- the test pupils -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pgn", ["127095823", "127095824"])
def test_the_test_pupils_dossier_is_released_signed_and_valid(school, tc, ap, bundles, pgn):
    resultaat, dossier, sessie, answer = transfer(school, tc, ap, pgn)
    assert resultaat == "OverdrachtGeslaagd"
    assert_valid(dossier, bundles)
    assert etree.fromstring(dossier).findtext("d:huidigeschool/d:leerling/d:bsn", namespaces=NS) == pgn
    record = stored(school, pgn)
    assert c14n(dossier) == c14n(record.dossier)  # nothing to leave out: the dossier as prepared
    (entry,) = log_of(school, sessie)
    assert (entry.aanvrager_oin, entry.doel_brin, entry.sessiecontrole, entry.resultaat) == (
        DOEL_OIN, DOEL_BRIN, "Geslaagd", "OverdrachtGeslaagd")
    assert (entry.sha256, entry.grootte) == (sha256(record.dossier), len(record.dossier))
    assert entry.message_id.startswith("urn:uuid:")


def test_127095825_is_refused(school, tc, ap):
    resultaat, dossier, sessie, answer = transfer(school, tc, ap, "127095825")
    assert (resultaat, dossier) == ("LeveringGeweigerd", None)
    (entry,) = log_of(school, sessie)
    assert (entry.sessiecontrole, entry.resultaat, entry.sha256) == ("Geslaagd", "LeveringGeweigerd", None)


def test_118716943_is_released_in_a_binnen_brin_transfer_only_and_without_its_verboden_categories(school, tc, ap,
                                                                                                   bundles):
    resultaat, dossier, sessie, _ = transfer(school, tc, ap, "118716943", soort="overdrachtbinnenbrin")
    assert resultaat == "OverdrachtGeslaagd"
    assert_valid(dossier, bundles, "overdrachtbinnenbrin")
    root = etree.fromstring(dossier)
    assert root.find("d:huidigeschool/d:leerling/d:verzuim", namespaces=NS) is None
    assert root.find("d:huidigeschool/d:leerling/d:onderwijsondersteuning", namespaces=NS) is None
    kept = stored(school, "118716943").dossier
    assert b"<verzuim>" in kept  # the school keeps it; it does not travel
    released, _ = verwijder_categorieen(kept)
    assert c14n(dossier) == c14n(released)
    (entry,) = log_of(school, sessie)  # the log's digest is of the bytes released, which the school can recompute
    assert entry.sha256 == sha256(released) and "left out: cat_onderwijsondersteuning, cat_verzuim" in entry.reden
    resultaat, dossier, _, _ = transfer(school, tc, ap, "118716943")  # an overstap: no such dossier prepared
    assert (resultaat, dossier) == ("LeerlinginfoNietBeschikbaar", None)


# ---- each refusal --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, profile, prep, ask_kw, code", [
    ("no inzage", "POPO", dict(inzage=False), {}, "LeerlinginfoNietOpvraagbaar"),
    ("no toestemming", "VOVO", dict(toestemming=False), {}, "LeerlinginfoNietOpvraagbaar"),
    ("verzameldatum not met", "POVO", {}, dict(verzameldatum=1), "VerzameldatumNietBereikt"),
    ("withdrawn", "POPO", dict(klaargezet=False), {}, "LeerlinginfoNietBeschikbaar"),
    ("withheld", "VOVO", dict(geweigerd=True), {}, "LeveringGeweigerd"),
    ("invalid dossier", "POPO", dict(dossier=b"<dossier xmlns='http://www.edustandaard.nl/oso_gegevensset/2019/"
                                             b"dossier'><metadata/></dossier>"), {}, "LeveringGeweigerd"),
])
def test_each_refusal(school, tc, ap, case, profile, prep, ask_kw, code):
    pgn = prepare(school, profile, seed=case, **prep)
    if "verzameldatum" in ask_kw:  # a moment with its offset, on a day after the dossier was gathered
        day = school.today + timedelta(days=ask_kw["verzameldatum"])
        ask_kw = {"dossierVerzameldatum": datetime.combine(day, time(8, 30), tzinfo=timezone(timedelta(hours=1)))}
    resultaat, dossier, sessie, answer = transfer(school, tc, ap, pgn, **ask_kw)
    assert (resultaat, dossier) == (code, None), case
    (entry,) = log_of(school, sessie)
    assert (entry.sessiecontrole, entry.resultaat, entry.sha256) == ("Geslaagd", code, None)


def test_an_unknown_pupil(school, tc, ap):
    resultaat, dossier, sessie, _ = transfer(school, tc, ap, "999990019")
    assert (resultaat, dossier) == ("LeerlingOnbekend", None)


# ---- no successful sessiecontrole, no dossier ----------------------------------------------------------------------

def test_a_request_that_does_not_match_the_session_gets_no_dossier(school, tc, ap):
    sessie = open_session(school, tc, "127095824")
    answer, body = ask(school, ap, sessie, "127095823")  # another (releasable) pupil than the session's
    assert (answer.resultaat, dossier_bytes(body)) == ("SessieAfwijkend", None)
    answer, body = ask(school, ap, sessie, "127095824", soort="swv-dossier")  # another kind of transfer
    assert (answer.resultaat, dossier_bytes(body)) == ("SessieAfwijkend", None)
    assert [(e.sessiecontrole, e.resultaat, e.sha256) for e in log_of(school, sessie)] == [
        ("SessieAfwijkend", "SessieAfwijkend", None)] * 2
    answer, body = ask(school, ap, sessie, "127095824")  # the session itself is still good
    assert answer.resultaat == "OverdrachtGeslaagd" and dossier_bytes(body) is not None


def test_a_closed_or_unknown_session_gets_no_dossier(school, tc, ap):
    sessie = open_session(school, tc, "127095823")
    service, _ = tc
    closed = service.afmelding(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=DOEL_BRIN,
                               doelRouteringsKenmerk=DOEL_RK, sessieId=sessie, resultaat="LeveringGeweigerd")
    assert closed == "OverdrachtGeslaagd"  # the TC's acknowledgement (zeep hands back the one element)
    answer, body = ask(school, ap, sessie, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("SessieReedsAfgemeld", None)
    unknown = str(uuid.uuid4())
    answer, body = ask(school, ap, unknown, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("SessieOnbekend", None)
    assert [e.resultaat for e in log_of(school, unknown)] == ["SessieOnbekend"]


def _fake_tc_app(resultaat: str, credentials, trust, url: str):
    """A signed 'Traffic Center' that answers every sessiecontrole with ``resultaat``."""
    envelope = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                f'<tc:sessiecontroleResponse xmlns:tc="{OSO_NS}"><tc:resultaat>{resultaat}</tc:resultaat>'
                f'<tc:sector>VO</tc:sector></tc:sessiecontroleResponse></s:Body></s:Envelope>').encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [envelope]

    contract = contracts.service("trafficcenter")
    return SecurityMiddleware(app, SecuredEndpoint(credentials, trust, Policy(endpoint=url, actions=contract.actions),
                                                   replay=MemoryReplayStore(), service=contract))


@pytest.fixture
def other_tc(school, pki):
    """Our aanleverpunt served again on another port, asking another 'Traffic Center' (made by each test)."""
    servers = []

    def start(tc_app=None, *, tc_oin=None, key_file=None):
        tc_port, ap_port = free_port(), free_port()
        tc_url = f"http://127.0.0.1:{tc_port}/tc"
        if tc_app is not None:
            servers.append(serve(tc_app(tc_url), tc_port))
        cfg = replace(school.app.config, port=ap_port, tc_url=tc_url)
        credentials, trust = pki.credentials("gateway"), pki.trust()
        bron = ap_service.Bron(school.database, BronClient(credentials, trust, tc_url=tc_url, tc_oin=tc_oin,
                                                           timeout_s=5),
                               ap_service.ChainKeys(key_file or cfg.zoeksleutel_key), Controle(None))
        app, _ = aanleverpunt_mount(cfg, credentials, trust, school.database, tls=False, bron=bron)
        servers.append(serve(app, ap_port))
        return school.ap_client(address=cfg.base_url + AANLEVERPUNT_PATH)

    yield start
    for httpd in servers:
        stop(httpd)


def test_a_tc_that_cannot_be_reached(school, other_tc):
    ap = other_tc()  # nothing listens on the TC's port
    sessie = str(uuid.uuid4())
    answer, body = ask(school, ap, sessie, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("TrafficCenterNietBeschikbaar", None)
    (entry,) = log_of(school, sessie)
    assert (entry.sessiecontrole, entry.sha256) == ("TrafficCenterNietBeschikbaar", None)
    assert "TC: unreachable" in entry.reden


def test_a_tc_that_refuses(school, pki, other_tc):
    ap = other_tc(lambda url: _fake_tc_app("SessieAfwijkend", pki.credentials("gateway"), pki.trust(), url),
                  tc_oin=pki.credentials("gateway").oin)
    sessie = str(uuid.uuid4())
    answer, body = ask(school, ap, sessie, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("SessieAfwijkend", None)
    (entry,) = log_of(school, sessie)
    assert (entry.sessiecontrole, entry.resultaat, entry.sha256) == ("SessieAfwijkend", "SessieAfwijkend", None)


def test_a_geslaagd_signed_by_someone_else_than_the_tc_releases_nothing(school, pki, other_tc):
    impostor = pki.credentials("stranger-las", STRANGER_OIN)  # a trusted certificate, but not the TC's
    ap = other_tc(lambda url: _fake_tc_app("Geslaagd", impostor, pki.trust(), url),
                  tc_oin=pki.credentials("gateway").oin)
    sessie = str(uuid.uuid4())
    answer, body = ask(school, ap, sessie, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("TrafficCenterNietBeschikbaar", None)
    (entry,) = log_of(school, sessie)
    assert entry.sessiecontrole == "TrafficCenterNietBeschikbaar" and STRANGER_OIN in entry.reden


def test_the_fake_tc_does_release_when_it_is_the_configured_tc(school, pki, other_tc):
    """The control for the two tests above: the same fake, answering Geslaagd with the TC's own key, is believed
    (so it is the sessiecontrole's answer, not the set-up, that stops the release)."""
    ap = other_tc(lambda url: _fake_tc_app("Geslaagd", pki.credentials("gateway"), pki.trust(), url),
                  tc_oin=pki.credentials("gateway").oin)
    answer, body = ask(school, ap, str(uuid.uuid4()), "127095823")
    assert answer.resultaat == "OverdrachtGeslaagd" and dossier_bytes(body) is not None


def test_without_a_chain_key_no_pupil_is_found_and_the_log_says_why(school, pki, other_tc, tmp_path):
    ap = other_tc(lambda url: _fake_tc_app("Geslaagd", pki.credentials("gateway"), pki.trust(), url),
                  tc_oin=pki.credentials("gateway").oin, key_file=tmp_path / "missing.key")
    sessie = str(uuid.uuid4())
    answer, body = ask(school, ap, sessie, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("LeerlingOnbekend", None)
    (entry,) = log_of(school, sessie)
    assert "no chain key is configured" in entry.reden


# ---- the message itself --------------------------------------------------------------------------------------------

def test_a_document_request_is_accepted_once(school, tc, pki):
    sessie = open_session(school, tc, "127095823")
    z = zoeksleutel(school.key, "127095823")
    z = z["zoeksleutelPgnfrag"]
    body = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<ap:documentRequest xmlns:ap="{OSO_NS}"><ap:bronBrin>{BRON_BRIN}</ap:bronBrin>'
            f'<ap:bronRouteringsKenmerk>{BRON_RK}</ap:bronRouteringsKenmerk><ap:doelBrin>{DOEL_BRIN}</ap:doelBrin>'
            f'<ap:doelRouteringsKenmerk>{DOEL_RK}</ap:doelRouteringsKenmerk><ap:zoeksleutelPgnfrag>'
            f'<ap:zoeksleutel>{z["zoeksleutel"]}</ap:zoeksleutel><ap:pgnfrag>{z["pgnfrag"]}</ap:pgnfrag>'
            f'</ap:zoeksleutelPgnfrag><ap:overdrachtsoort>overstapdossier</ap:overdrachtsoort>'
            f'<ap:sessieId>{sessie}</ap:sessieId></ap:documentRequest></s:Body></s:Envelope>').encode()
    action = f"{OSO_NS}/document"
    signed = sign_request(body, pki.credentials("doel-las", DOEL_OIN), to=school.url + AANLEVERPUNT_PATH,
                          action=action)
    post = lambda: requests.post(school.url + AANLEVERPUNT_PATH, data=signed, timeout=30,  # noqa: E731
                                 headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action})
    first, again = post(), post()
    assert first.status_code == 200 and b"OverdrachtGeslaagd" in first.content
    assert again.status_code == 500 and b"GW-REPLAY" in again.content
    assert len(log_of(school, sessie)) == 1  # the replay never reached the service (nor the TC)


def test_a_failure_after_the_replay_id_was_kept_says_so_truly(school, tc, pki, monkeypatch):
    """The reference source keeps a documentRequest's replay id before its service runs; when the service then
    fails, its Fault must not claim that nothing was kept: the same message again is a replay."""
    from gateway.services import aanleverpunt

    sessie = open_session(school, tc, "127095823")
    z = zoeksleutel(school.key, "127095823")["zoeksleutelPgnfrag"]
    body = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<ap:documentRequest xmlns:ap="{OSO_NS}"><ap:bronBrin>{BRON_BRIN}</ap:bronBrin>'
            f'<ap:bronRouteringsKenmerk>{BRON_RK}</ap:bronRouteringsKenmerk><ap:doelBrin>{DOEL_BRIN}</ap:doelBrin>'
            f'<ap:doelRouteringsKenmerk>{DOEL_RK}</ap:doelRouteringsKenmerk><ap:zoeksleutelPgnfrag>'
            f'<ap:zoeksleutel>{z["zoeksleutel"]}</ap:zoeksleutel><ap:pgnfrag>{z["pgnfrag"]}</ap:pgnfrag>'
            f'</ap:zoeksleutelPgnfrag><ap:overdrachtsoort>overstapdossier</ap:overdrachtsoort>'
            f'<ap:sessieId>{sessie}</ap:sessieId></ap:documentRequest></s:Body></s:Envelope>').encode()
    action = f"{OSO_NS}/document"
    signed = sign_request(body, pki.credentials("doel-las", DOEL_OIN), to=school.url + AANLEVERPUNT_PATH,
                          action=action)

    def broken(*a, **k):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(aanleverpunt, "beantwoord", broken)
    post = lambda: requests.post(school.url + AANLEVERPUNT_PATH, data=signed, timeout=30,  # noqa: E731
                                 headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action})
    first = post()
    assert first.status_code == 500 and b"GW-INTERNAL" in first.content
    assert b"only its MessageID was recorded" in first.content and b"nothing of it was kept" not in first.content
    monkeypatch.undo()
    assert b"GW-REPLAY" in post().content  # as the Fault said: the same message again is a replay


def test_the_contract_is_served(school):
    wsdl = requests.get(school.url + AANLEVERPUNT_PATH + "?wsdl", timeout=10)
    assert wsdl.status_code == 200 and wsdl.content == contracts.wsdl_path("aanleverpunt").read_bytes()


def test_another_vendor_with_the_sessions_details_gets_no_dossier_and_costs_no_call_to_the_tc(school, tc):
    """A party that learnt the sessieId and the zoeksleutel, naming the session's doel aanleverpunt or another: it is
    not the vendor registered for either, so the source refuses at once, without asking the TC on its behalf (a flood
    of such requests costs no outbound call); the release log says the TC was not asked."""
    sessie = open_session(school, tc, "127095823")
    stranger = school.ap_client("stranger-las", STRANGER_OIN)
    asked = school.sessiecontroles(sessie)
    answer, body = ask(school, stranger, sessie, "127095823")
    assert (answer.resultaat, dossier_bytes(body)) == ("LeverancierNietGeautoriseerd", None)
    answer, body = ask(school, stranger, sessie, "127095823", doel_rk=DOEL_BB_RK)
    assert (answer.resultaat, dossier_bytes(body)) == ("LeverancierNietGeautoriseerd", None)
    assert school.sessiecontroles(sessie) == asked
    assert [(e.sessiecontrole, e.resultaat, e.aanvrager_oin) for e in log_of(school, sessie)] == [
        ("NietGevraagd", "LeverancierNietGeautoriseerd", STRANGER_OIN),
        ("NietGevraagd", "LeverancierNietGeautoriseerd", STRANGER_OIN)]
    answer, body = ask(school, school.ap_client(), sessie, "127095823")  # the session is still good
    assert answer.resultaat == "OverdrachtGeslaagd" and dossier_bytes(body) is not None


# ---- the SWV flow: a koppelsleutel instead of a zoeksleutel ------------------------------------------------------

def test_the_swv_flow_with_a_koppelsleutel(school, pki, tmp_path, capsys):
    from gateway.commands import main
    from gateway.store.testschool import TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK

    pgn = prepare(school, "POSWV", seed="swv", inzage=False, toestemming=False)
    config = school.config_file(tmp_path)
    code = main(["school", "melden", "--pgn", pgn, "--doel-brin", TEST_SWV_BRIN, "--doel-routeringskenmerk",
                 TEST_SWV_ROUTERINGSKENMERK, "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "notificatieRequest to " + school.url + "/school/doelsysteem: NotificatieOntvangen" in out
    assert pgn not in out
    koppelsleutel = re.search(r"koppelsleutel ([0-9A-F-]{36})", out).group(1)
    with school.school() as s:
        assert s.koppeling(koppelsleutel) == (BRON_BRIN, pgn)

    # the SWV (served by the gateway's own test vendor) fetches the dossier with the koppelsleutel
    tc_service, _ = school.tc_client("gateway")
    opened = tc_service.overdracht(bronBrin=BRON_BRIN, doelBrin=TEST_SWV_BRIN,
                                   doelRouteringsKenmerk=TEST_SWV_ROUTERINGSKENMERK, koppelsleutel=koppelsleutel,
                                   overdrachtsoort="swv-dossier")
    assert opened.resultaat == "Geslaagd"
    service, plugin = school.ap_client("gateway")
    fields = dict(bronBrin=BRON_BRIN, bronRouteringsKenmerk=BRON_RK, doelBrin=TEST_SWV_BRIN,
                  doelRouteringsKenmerk=TEST_SWV_ROUTERINGSKENMERK, overdrachtsoort="swv-dossier",
                  sessieId=opened.sessieId)
    answer = service.document(koppelsleutel=koppelsleutel, **fields)
    dossier = dossier_bytes(response_body(plugin))
    assert answer.resultaat == "OverdrachtGeslaagd"
    assert c14n(dossier) == c14n(stored(school, pgn).dossier)
    # another koppelsleutel in the same session: the TC refuses, nothing is released
    answer = service.document(koppelsleutel=str(uuid.uuid4()).upper(), **fields)
    assert answer.resultaat == "SessieAfwijkend" and dossier_bytes(response_body(plugin)) is None


def test_melden_refuses_without_a_prepared_dossier(school, tmp_path, capsys):
    from gateway.commands import main

    code = main(["school", "melden", "--pgn", "999990019", "--doel-brin", "00SW", "--doel-routeringskenmerk",
                 "0000000700000SW00000", "--config", str(school.config_file(tmp_path))])
    assert code == 2 and "no dossier is prepared for pupil *******19" in capsys.readouterr().err


def test_validation_findings_are_logged_without_pupil_data(school, tc, ap, caplog):
    pgn = prepare(school, "POPO", seed="logged")
    record = stored(school, pgn)
    broken = record.dossier.replace(b"<geslacht>", b"<geslacht>x", 1)
    with school.school(readonly=False) as s:
        s.update(BRON_BRIN, pgn, dossier=broken)
    surname = etree.fromstring(broken).findtext("d:huidigeschool/d:leerling/d:achternaam", namespaces=NS)
    with caplog.at_level("INFO", logger="oso.gateway.school"):
        resultaat, dossier, sessie, _ = transfer(school, tc, ap, pgn)
    assert (resultaat, dossier) == ("LeveringGeweigerd", None)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "oso.gateway.school")
    assert f"session {sessie}: dossier not released, validation errors: " in text
    assert "geslacht" in text  # where (an XPath), and the rule: not the value
    bad_value = etree.fromstring(broken).findtext("d:huidigeschool/d:leerling/d:geslacht", namespaces=NS)
    assert pgn not in text and surname not in text and bad_value not in text


def test_on_postgresql(pki, pg_database, tmp_path):
    """The same service on PostgreSQL: a release, a refusal by the TC, both logged."""
    running = start_school(pki, pg_database, free_port(), tmp_path)
    try:
        tc, ap = running.tc_client(), running.ap_client()
        resultaat, dossier, sessie, _ = transfer(running, tc, ap, "127095823")
        assert resultaat == "OverdrachtGeslaagd" and c14n(dossier) == c14n(stored(running, "127095823").dossier)
        answer, body = ask(running, ap, sessie, "127095824")
        assert (answer.resultaat, dossier_bytes(body)) == ("SessieAfwijkend", None)
        assert [(e.resultaat, e.aanvrager_oin) for e in log_of(running, sessie)] == [
            ("OverdrachtGeslaagd", DOEL_OIN), ("SessieAfwijkend", DOEL_OIN)]
    finally:
        running.stop()


def test_a_retry_in_the_same_session_gets_the_same_answer_and_one_log_entry(school, tc, ap):
    """The answer to a documentRequest was lost (a worker died mid-answer): the target asks again with a new
    message. Same dossier, one release logged, one sessiecontrole counted by the TC."""
    sessie = open_session(school, tc, "127095824")
    first, body1 = ask(school, ap, sessie, "127095824")
    again, body2 = ask(school, ap, sessie, "127095824")
    assert first.resultaat == again.resultaat == "OverdrachtGeslaagd"
    assert dossier_bytes(body1) == dossier_bytes(body2)
    assert len(log_of(school, sessie)) == 1
    with school.database.unit_of_work(readonly=True) as repo:
        assert repo.sessie(sessie).controles == (BRON_RK,)  # the aanleverpunt's check counts once
