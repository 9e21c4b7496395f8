"""Whole transfers over real HTTP, signed both ways: the reference target (``gateway.client.target``) against the
Traffic Center and the reference source of one gateway (``LocalGateway``: SQLite, a test PKI, the test school and its
pupils, the official bundles). Each test pupil; binnen-BRIN; the SWV flow with a koppelsleutel (``oso-gateway school
melden`` then ``oso-gateway transfer``) and the SWV's feedback to the school; an OV notification of an updated
dossier; each refusal; and each of the 12 official example dossiers, received with the same canonical XML as the
file."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from gateway.client.overdracht import Call
from gateway.client.target import Doelsysteem
from gateway.dossier import load_bundles
from gateway.oso.register import Vendor
from gateway.oso.zoeksleutel import ChainKey, maak
from gateway.pki import issue
from gateway.school.dossierbestand import lees
from gateway.school.synthetisch import bouw_dossier, genereer_leerling
from gateway.school.uitlevering import DossierRecord
from gateway.store.doelsysteem import DoelsysteemStore
from gateway.store.school_repository import SchoolRepository
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, TEST_ROUTERINGSKENMERK,
                                      TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK)
from gateway.web.local import LocalGateway
from gateway.wsse import Credentials

from .conftest import GEGEVENSSET

EXAMPLES = sorted(GEGEVENSSET.glob("*/examples/*.xml"))
STRANGER_OIN = "00000001000000000033"
TODAY = datetime.now(timezone.utc).date()
RNG = random.Random("test_transfer_e2e")


@pytest.fixture(scope="module")
def gw():
    with LocalGateway(bundles_dir=str(GEGEVENSSET.parent)) as running:
        yield running


@pytest.fixture(scope="module")
def target(gw):
    return Doelsysteem.from_config(gw.config, bundles=load_bundles(GEGEVENSSET.parent))


def to_00zz(target, pgn, **kw):
    args = dict(pgn=pgn, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    args.update(kw)
    return target.transfer(**args)


def c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n")


def klaarzetten(gw, data: bytes, *, pgn: str | None = None) -> DossierRecord:
    """Prepare a dossier file in the test school with the source's own command (``oso-gateway school klaarzetten``,
    run in this process): the school's records then say what the file says about inzage, toestemming and its date.
    Returns what the school stored."""
    import contextlib
    import io
    import tempfile

    from gateway.commands import main

    info = lees(data)
    pgn = pgn or info.pgn
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(data)
        f.flush()
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = main(["school", "klaarzetten", "--file", f.name, "--pgn", pgn, "--brin", TEST_BRIN,
                         "--database", gw.config.database_url])
    assert code == 0, printed.getvalue()
    with gw.database.unit_of_work(readonly=True) as repo:
        return SchoolRepository.of(repo).dossier(TEST_BRIN, pgn)


def synthetic(gw, profile: str, **kw) -> str:
    """A new synthetic pupil of the test school with a dossier of ``profile``; returns its PGN."""
    ll = genereer_leerling(RNG)
    data = bouw_dossier(ll, profile, brin=TEST_BRIN, datum=TODAY, **kw)
    klaarzetten(gw, data, pgn=ll.pgn)
    return ll.pgn


# ---- the test pupils ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pgn, overstap", [("127095823", "POPO"), ("127095824", "VOVO")])
def test_a_test_pupil_is_delivered_valid(target, pgn, overstap):
    account = to_00zz(target, pgn)
    assert account.exit_code == 0, account.render()
    assert (account.resultaat, account.confirmed) == ("OverdrachtGeslaagd", True)
    assert [(s.operation, s.resultaat) for s in account.steps] == [
        ("overdracht", "Geslaagd"), ("document", "OverdrachtGeslaagd"), ("afmelding", "OverdrachtGeslaagd")]
    assert account.report.valid and account.report.bundle == "2019.1", account.render()
    root = etree.fromstring(account.dossier)
    ns = {"d": etree.QName(root).namespace}
    assert root.findtext("d:huidigeschool/d:leerling/d:bsn", namespaces=ns) == pgn
    assert root.findtext("d:metadata/d:overstap", namespaces=ns) == overstap


def test_the_refusing_test_pupil(target):
    account = to_00zz(target, "127095825")
    assert (account.resultaat, account.confirmed, account.dossier) == ("LeveringGeweigerd", True, None)
    assert account.exit_code == 1 and "the new school contacts the old school" in account.render()


def test_binnen_brin(target, gw):
    account = target.transfer(pgn="118716943", bron_brin=TEST_BRIN, doel_brin=TEST_BRIN,
                              doel_routeringskenmerk=TEST_ROUTERINGSKENMERK)
    assert account.request.soort == "overdrachtbinnenbrin"
    assert account.resultaat == "OverdrachtGeslaagd" and account.report.valid, account.render()
    root = etree.fromstring(account.dossier)
    ns = etree.QName(root).namespace
    leerling = root.find(f"{{{ns}}}huidigeschool/{{{ns}}}leerling")
    # its categorie_uitlevering marks these VERBODEN: the stored dossier has them, the released one does not
    assert leerling.find(f"{{{ns}}}verzuim") is None and leerling.find(f"{{{ns}}}onderwijsondersteuning") is None
    # the same pupil in an overstap to another school: there is no such dossier prepared
    assert to_00zz(target, "118716943").resultaat == "LeerlinginfoNietBeschikbaar"


def test_binnen_brin_between_two_brins_is_refused_by_the_tc(target):
    account = to_00zz(target, "118716943", overdrachtsoort="overdrachtbinnenbrin")
    assert account.resultaat == "GeenRelatieMetDoel" and account.sessie_id is None
    assert [s.operation for s in account.steps] == ["overdracht"]


# ---- SWV: notification, koppelsleutel, transfer ------------------------------------------------------------------

def melden(gw, tmp_path, capsys, pgn: str, *extra: str, doel_brin=TEST_SWV_BRIN,
           doel_rk=TEST_SWV_ROUTERINGSKENMERK) -> str:
    """The source's side of a notification, through its command: ``oso-gateway school melden`` (meldenNotificatie
    at the TC, the koppelsleutel remembered for the pupil, notificatieRequest to the target). Returns the
    koppelsleutel."""
    import re

    from gateway.commands import main

    code = main(["school", "melden", "--pgn", pgn, "--doel-brin", doel_brin, "--doel-routeringskenmerk", doel_rk,
                 *extra, "--config", str(config_file(gw, tmp_path))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"notificatieRequest to {gw.url}/school/doelsysteem: NotificatieOntvangen" in out and pgn not in out
    return re.search(r"koppelsleutel ([0-9A-F-]{36})", out).group(1)


def config_file(gw, tmp_path):
    path = tmp_path / "gateway.toml"
    c = gw.config
    path.write_text("[gateway]\n" + "".join(f'{k} = "{getattr(c, k)}"\n' for k in (
        "public_url", "cert", "key", "ca", "crl", "database_url", "zoeksleutel_key", "bundles_dir"))
        + f"port = {c.port}\n", encoding="utf-8")
    return path


def test_the_swv_flow_with_a_koppelsleutel_through_the_command(gw, tmp_path, capsys, monkeypatch):
    from gateway.commands import main

    for k in [k for k in __import__("os").environ if k.startswith("OSO_GATEWAY_")]:
        monkeypatch.delenv(k)
    pgn = synthetic(gw, "POSWV")
    koppelsleutel = melden(gw, tmp_path, capsys, pgn)
    with gw.database.unit_of_work(readonly=True) as repo:
        n = DoelsysteemStore(repo).notificatie(koppelsleutel)
    assert (n.bron_brin, n.doel_brin, n.afzender_oin, n.doel) == (TEST_BRIN, TEST_SWV_BRIN,
                                                                  gw.config.credentials().oin, "SWV")

    out = tmp_path / "swv.xml"
    code = main(["transfer", "--koppelsleutel", koppelsleutel, "--config", str(config_file(gw, tmp_path)),
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "swv-dossier" in text and f"koppelsleutel {koppelsleutel}" in text and pgn not in text
    root = etree.fromstring(out.read_bytes())
    assert root.findtext(f"{{{etree.QName(root).namespace}}}metadata/{{{etree.QName(root).namespace}}}overstap") \
        == "POSWV"
    with gw.database.unit_of_work(readonly=True) as repo:
        n = DoelsysteemStore(repo).notificatie(koppelsleutel)
    assert n.opgehaald is not None and n.resultaat == "OverdrachtGeslaagd" and n.sessie_id

    # the SWV's feedback reaches the school's LAS (the same gateway's notification endpoint), by koppelsleutel
    swv = Doelsysteem.from_config(gw.config)
    assert swv.terugkoppeling(n, "dossier ontvangen") == ("Geslaagd", "")
    with gw.database.unit_of_work(readonly=True) as repo:
        [fb] = DoelsysteemStore(repo).terugkoppelingen(koppelsleutel=koppelsleutel)
        assert (fb.bron_routeringskenmerk, fb.doel_routeringskenmerk, fb.tekst) == (
            TEST_SWV_ROUTERINGSKENMERK, TEST_ROUTERINGSKENMERK, "dossier ontvangen")
        assert [t.tekst for t in repo.terugkoppelingen(koppelsleutel=koppelsleutel)] == ["dossier ontvangen"]

    # a koppelsleutel the TC never issued
    account = swv.transfer(koppelsleutel=str(uuid.uuid4()).upper(), bron_brin=TEST_BRIN, doel_brin=TEST_SWV_BRIN,
                           doel_routeringskenmerk=TEST_SWV_ROUTERINGSKENMERK)
    assert account.resultaat == "KoppelsleutelOnbekend" and account.exit_code == 1


def test_an_updated_dossier_is_announced_with_an_ov_notification(gw, target, tmp_path, capsys):
    """OV: the source tells the school that fetched a dossier (in an earlier session) that it was updated; the
    target fetches it again with the koppelsleutel, in a transfer of the earlier kind."""
    first = to_00zz(target, "127095824")
    assert first.resultaat == "OverdrachtGeslaagd"
    koppelsleutel = melden(gw, tmp_path, capsys, "127095824", "--doel", "OV", "--sessie", first.sessie_id,
                           doel_brin=TEST_DOEL_BRIN, doel_rk=TEST_DOEL_ROUTERINGSKENMERK)
    with gw.database.unit_of_work(readonly=True) as repo:
        n = DoelsysteemStore(repo).notificatie(koppelsleutel)
        tc_side = repo.notificatie(koppelsleutel)
    assert (n.doel, n.overdrachtsoort) == ("OV", "overstapdossier")
    assert (tc_side.sessie_id, tc_side.aanvraagdatum is not None) == (first.sessie_id, True)
    again = target.transfer(koppelsleutel=koppelsleutel, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                            doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK, overdrachtsoort=n.overdrachtsoort)
    assert again.resultaat == "OverdrachtGeslaagd" and c14n(again.dossier) == c14n(first.dossier), again.render()


# ---- refusals ----------------------------------------------------------------------------------------------------

def test_no_inzage(gw, target):
    pgn = synthetic(gw, "POVO", inzage=None)
    account = to_00zz(target, pgn)
    assert (account.resultaat, account.exit_code) == ("LeerlinginfoNietOpvraagbaar", 1)


def test_no_toestemming(gw, target):
    pgn = synthetic(gw, "VOVO", inzage=TODAY, toestemming=False)
    account = to_00zz(target, pgn)
    assert (account.resultaat, account.exit_code) == ("LeerlinginfoNietOpvraagbaar", 1)


def test_verzameldatum_not_met(target):
    account = to_00zz(target, "127095823", dossier_verzameldatum=TODAY + timedelta(days=30))
    assert (account.resultaat, account.exit_code, account.dossier) == ("VerzameldatumNietBereikt", 1, None)
    assert to_00zz(target, "127095823", dossier_verzameldatum=TODAY).resultaat == "OverdrachtGeslaagd"


def test_session_mismatch(target):
    """A documentRequest that does not match its session (another pupil's zoeksleutel): the source's sessiecontrole
    says SessieAfwijkend, and that is the answer: no dossier."""
    opened, ap = open_00zz(target, "127095823")
    answer, _ = target.invoke(document_call(target, opened, ap, "127095824"))
    assert (answer.resultaat, answer.answer.dossier) == ("SessieAfwijkend", None)


def test_wrong_vendor(gw):
    """A qualified vendor that is not the registered vendor of the target's aanleverpunt cannot open a session
    for it."""
    with gw.database.unit_of_work() as repo:
        if repo.vendor(STRANGER_OIN) is None:
            repo.add_vendor(Vendor(STRANGER_OIN, "Ander LAS (TEST ONLY)", True))
    party = issue(gw.folder / "pki", "ander-las", STRANGER_OIN)
    stranger = Doelsysteem(Credentials.from_files(party.cert_path, party.key_path), gw.config.trust(),
                           tc_url=gw.config.traffic_center_url,
                           chain_key=ChainKey.from_file(gw.config.zoeksleutel_key))
    account = to_00zz(stranger, "127095823")
    assert (account.resultaat, account.sessie_id, account.exit_code) == ("LeverancierNietGeautoriseerd", None, 1)


def test_session_already_closed(target):
    account = to_00zz(target, "127095823")
    assert account.resultaat == "OverdrachtGeslaagd"
    z, f = maak(target.chain_key, pgn="127095823", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN)
    partijen = dict(bronBrin=TEST_BRIN, bronRouteringsKenmerk=TEST_ROUTERINGSKENMERK, doelBrin=TEST_DOEL_BRIN,
                    doelRouteringsKenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    again = dict(partijen, zoeksleutelPgnfrag={"zoeksleutel": z, "pgnfrag": f}, overdrachtsoort="overstapdossier",
                 sessieId=account.sessie_id)
    answer, _ = target.invoke(Call("document", again, endpoint=account.steps[1].endpoint,
                                   routeringskenmerk=TEST_ROUTERINGSKENMERK))
    assert (answer.resultaat, answer.answer.dossier) == ("SessieReedsAfgemeld", None)
    closed, _ = target.invoke(Call("afmelding", dict(partijen, sessieId=account.sessie_id,
                                                     resultaat="OverdrachtGeslaagd")))
    assert closed.resultaat == "SessieReedsAfgemeld"


def test_an_unknown_pupil(target):
    account = to_00zz(target, "999999990")  # a test BSN (elfproef) the school does not have
    assert (account.resultaat, account.exit_code) == ("LeerlingOnbekend", 1)


# ---- the 12 official example dossiers ------------------------------------------------------------------------------

DOEL = {"overstapdossier": (TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK),
        "overdrachtbinnenbrin": (TEST_BRIN, TEST_ROUTERINGSKENMERK),
        "swv-dossier": (TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK)}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem.replace("Voorbeelddossier_", "") for p in EXAMPLES])
def test_each_official_example_is_received_as_it_was_prepared(gw, target, path):
    data = path.read_bytes()
    info = lees(data)
    pgn = info.pgn or genereer_leerling(RNG).pgn  # an SWV dossier names no BSN: the school keeps one beside it
    record = klaarzetten(gw, data, pgn=pgn)
    doel_brin, doel_rk = DOEL[record.overdrachtsoort]
    account = target.transfer(pgn=pgn, bron_brin=TEST_BRIN, doel_brin=doel_brin, doel_routeringskenmerk=doel_rk,
                              overdrachtsoort=record.overdrachtsoort)
    assert account.resultaat == "OverdrachtGeslaagd", account.render()
    assert c14n(account.dossier) == c14n(data)
    assert account.report.valid, account.render()


def test_there_are_twelve_examples():
    assert len(EXAMPLES) == 12


def test_a_signed_fault_is_reported_not_retried(gw):
    """A target whose certificate the chain does not trust: the TC answers with a signed Fault (PKI002), once."""
    party = issue(gw.folder / "pki", "onbekende-las", STRANGER_OIN, untrusted=True)
    outsider = Doelsysteem(Credentials.from_files(party.cert_path, party.key_path), gw.config.trust(),
                           tc_url=gw.config.traffic_center_url,
                           chain_key=ChainKey.from_file(gw.config.zoeksleutel_key))
    account = to_00zz(outsider, "127095823")
    [step] = account.steps
    assert step.failure.kind == "fault" and "PKI002" in step.failure.text and not step.failure.server_side
    assert (account.sessie_id, account.exit_code) == (None, 3)


def test_a_documentrequest_from_another_vendor_than_the_sessions_gets_no_dossier(gw, target):
    with gw.database.unit_of_work() as repo:
        if repo.vendor(STRANGER_OIN) is None:
            repo.add_vendor(Vendor(STRANGER_OIN, "Ander LAS (TEST ONLY)", True))
    party = issue(gw.folder / "pki", "ander-las-2", STRANGER_OIN)
    stranger = Doelsysteem(Credentials.from_files(party.cert_path, party.key_path), gw.config.trust(),
                           tc_url=gw.config.traffic_center_url, chain_key=target.chain_key)
    opened, ap = open_00zz(target, "127095823")
    call = document_call(target, opened, ap, "127095823")
    answer, _ = stranger.invoke(call)
    assert (answer.resultaat, answer.answer.dossier) == ("LeverancierNietGeautoriseerd", None)
    answer, _ = target.invoke(call)  # the session's own vendor still gets it
    assert answer.resultaat == "OverdrachtGeslaagd" and answer.answer.dossier is not None


def open_00zz(target, pgn):
    """Open a session at the TC for ``pgn`` from 00YY to 00ZZ (a single call): (the answer, its aanleverpunt)."""
    z, f = maak(target.chain_key, pgn=pgn, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN)
    opened, _ = target.invoke(Call("overdracht", dict(
        bronBrin=TEST_BRIN, doelBrin=TEST_DOEL_BRIN, doelRouteringsKenmerk=TEST_DOEL_ROUTERINGSKENMERK,
        zoeksleutelPgnfrag={"zoeksleutel": z, "pgnfrag": f}, overdrachtsoort="overstapdossier")))
    [ap] = opened.answer.aanleverpunten
    return opened.answer, ap


def document_call(target, opened, ap, pgn) -> Call:
    """The documentRequest for ``opened``'s session, naming ``pgn`` (the session's pupil or another)."""
    z, f = maak(target.chain_key, pgn=pgn, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN)
    return Call("document", dict(
        bronBrin=TEST_BRIN, bronRouteringsKenmerk=ap.routeringskenmerk, doelBrin=TEST_DOEL_BRIN,
        doelRouteringsKenmerk=TEST_DOEL_ROUTERINGSKENMERK, zoeksleutelPgnfrag={"zoeksleutel": z, "pgnfrag": f},
        overdrachtsoort="overstapdossier", sessieId=opened.sessie_id), endpoint=ap.url,
        routeringskenmerk=ap.routeringskenmerk, leverancier_oin=ap.leverancier_oin)
