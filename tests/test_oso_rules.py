"""The Traffic Center's rules and the session state machine, sans-IO: values in, outcomes out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import product

import pytest

from gateway.oso import resultaat, trafficcenter as tc
from gateway.oso.register import Aanleverpunt, RegisterError, School, Sector, Vendor
from gateway.oso.sessie import REFUSAL, TRANSITIONS, IllegalStep, Sessie, Stap, Status
from gateway.oso.trafficcenter import Leerling

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
TTL = timedelta(hours=1)
DOEL_OIN, BRON_OIN, OTHER_OIN, UNQUALIFIED_OIN = ("00000001000000000001", "00000001000000000002",
                                                  "00000001000000000003", "00000001000000000004")
DOEL_RK, BRON_RK, BRON_RK2, SWV_RK = ("0000000700000AA00000", "0000000700000YY00931", "0000000700000YY00932",
                                      "0000000700000SW00000")
ZK = Leerling("AQJrMWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OQ==", "0823")
KOPPEL = "0B8F6A2E-3C1D-4E5F-8A9B-0C1D2E3F4A5B"


class Register:
    """An in-memory register for the pure rules (the store implements the same four reads)."""

    def __init__(self, vendors, schools, aps):
        self._vendors = {v.oin: v for v in vendors}
        self._schools = schools
        self._aps = {a.routeringskenmerk: a for a in aps}

    def vendor(self, oin):
        return self._vendors.get(oin)

    def schools(self, brin):
        return [s for s in self._schools if s.brin == brin]

    def aanleverpunt(self, rk):
        return self._aps.get(rk)

    def aanleverpunten(self, brin):
        return [a for a in self._aps.values() if a.brin == brin]


@pytest.fixture
def register():
    return Register(
        [Vendor(DOEL_OIN, "Doel LAS", True), Vendor(BRON_OIN, "Bron LAS", True), Vendor(OTHER_OIN, "Ander", True),
         Vendor(UNQUALIFIED_OIN, "Nieuw", False)],
        [School("11AA", "00", Sector.VO, "Doelschool"), School("00YY", "00", Sector.PO, "Testschool"),
         School("22BB", "00", Sector.PO, "Zonder punt"), School("33CC", "00", Sector.PO, "Ongekwalificeerd"),
         School("44SW", "00", Sector.SWV, "SWV")],
        [Aanleverpunt(DOEL_RK, "11AA", "00", DOEL_OIN, "https://doel/ap", "https://doel/notif"),
         Aanleverpunt(BRON_RK, "00YY", "00", BRON_OIN, "https://bron/ap"),
         Aanleverpunt(BRON_RK2, "00YY", "00", BRON_OIN, "https://bron/ap2"),
         Aanleverpunt("0000000700000CC00000", "33CC", "00", UNQUALIFIED_OIN, "https://new/ap"),
         Aanleverpunt(SWV_RK, "44SW", "00", DOEL_OIN, "https://swv/ap", "https://swv/notif")],
    )


def open_session(register, **kw) -> tc.Outcome:
    args = dict(bron_brin="00YY", bron_routeringskenmerk=None, doel_brin="11AA", doel_routeringskenmerk=DOEL_RK,
                leerling=ZK, overdrachtsoort="overstapdossier", notificatie=None, now=NOW, sessie_ttl=TTL)
    args.update(kw)
    caller = args.pop("caller", DOEL_OIN)
    return tc.overdracht(register, caller, **args)


# --- the state machine -------------------------------------------------------------------------------------------

def _sessie(**kw) -> Sessie:
    base = Sessie("0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "11AA", DOEL_RK, DOEL_OIN, "00YY", "overstapdossier",
                  (BRON_RK,), NOW, NOW + TTL, "zk" * 10, "1")
    return replace(base, **kw)


@pytest.mark.parametrize("status,stap", list(product(Status, Stap)))
def test_every_transition_is_in_the_table_or_refused(status, stap):
    s = _sessie(status=status)
    if stap is Stap.VERLOOP:
        later = NOW + TTL
        result = s.at(later)
        expected = TRANSITIONS.get((status, stap), status)
        assert result.status == expected
        return
    act = (lambda: s.sessiecontrole(BRON_RK, NOW)) if stap is Stap.SESSIECONTROLE else \
        (lambda: s.afmelding("OverdrachtGeslaagd", BRON_RK, NOW))
    if (status, stap) in TRANSITIONS:
        assert act().status == TRANSITIONS[(status, stap)]
    else:
        with pytest.raises(IllegalStep) as info:
            act()
        assert info.value.resultaat == REFUSAL[status]
        assert s.status == status  # values: a refused step changes nothing


def test_expired_session_refuses_every_step():
    s = _sessie()
    with pytest.raises(IllegalStep) as info:
        s.sessiecontrole(BRON_RK, NOW + TTL)
    assert info.value.resultaat == "SessieVerlopen"
    with pytest.raises(IllegalStep):
        s.afmelding("OverdrachtGeslaagd", BRON_RK, NOW + TTL + timedelta(seconds=1))


def test_controls_are_recorded_in_order():
    s = _sessie(aanleverpunten=(BRON_RK, BRON_RK2)).sessiecontrole(BRON_RK2, NOW).sessiecontrole(BRON_RK, NOW)
    assert s.controles == (BRON_RK2, BRON_RK)
    closed = s.afmelding("LeveringGeweigerd", BRON_RK2, NOW)
    assert closed.status is Status.AFGEMELD and closed.resultaat == "LeveringGeweigerd" and closed.afgemeld == NOW
    assert closed.resultaat_aanleverpunt == BRON_RK2


# --- the result-code table ---------------------------------------------------------------------------------------

def test_best_result_ties_go_to_the_last_asked():
    assert resultaat.best(["LeveringGeweigerd", "OverdrachtGeslaagd"]) == "OverdrachtGeslaagd"
    assert resultaat.best(["OverdrachtGeslaagd", "LeveringGeweigerd"]) == "OverdrachtGeslaagd"
    assert resultaat.best(["LeerlinginfoNietOpvraagbaar", "LeerlingOnbekend"]) == "LeerlinginfoNietOpvraagbaar"
    assert resultaat.best_index(["SessieAfwijkend", "OnbekendAanleverpunt"]) == 1  # a tie: the last one asked
    assert resultaat.best(["LeerlingOnbekend", "Timeout", "LeerlinginfoNietBeschikbaar"]) == \
        "LeerlinginfoNietBeschikbaar"
    with pytest.raises(ValueError):
        resultaat.best([])


def test_xsd_enumeration_equals_the_table():
    from pathlib import Path

    from lxml import etree

    xsd = etree.parse(str(Path(__file__).resolve().parents[1] / "xsd" / "overstapservice-20200910.xsd"))
    values = xsd.xpath("//xs:simpleType[@name='Resultaat']//xs:enumeration/@value",
                       namespaces={"xs": "http://www.w3.org/2001/XMLSchema"})
    assert list(values) == list(resultaat.CODES)


# --- overdracht ----------------------------------------------------------------------------------------------------

def test_overdracht_opens_a_session(register):
    o = open_session(register)
    assert o.resultaat == "Geslaagd"
    s = o.sessie
    assert s.status is Status.OPEN and s.doel_vendor_oin == DOEL_OIN and s.verloopt == NOW + TTL
    assert [a.routeringskenmerk for a in o.aanleverpunten] == [BRON_RK, BRON_RK2]
    assert o.aanleverpunten[0].document_url == "https://bron/ap"
    assert [a.leverancier_oin for a in o.aanleverpunten] == [BRON_OIN, BRON_OIN]  # whose signature to believe
    assert s.aanleverpunten == (BRON_RK, BRON_RK2)
    import uuid

    assert uuid.UUID(s.sessie_id).version == 4


@pytest.mark.parametrize("kw,code", [
    (dict(caller=OTHER_OIN), "LeverancierNietGeautoriseerd"),        # not the doel's vendor
    (dict(caller=UNQUALIFIED_OIN), "LeverancierNietGeautoriseerd"),
    (dict(doel_routeringskenmerk="0000000700000ZZ00000"), "AfnemerNietBekend"),
    (dict(doel_brin="99ZZ"), "AfnemerNietBekend"),                     # aanleverpunt belongs to another BRIN
    (dict(bron_brin="99ZZ"), "VerstrekkerNietBekend"),                 # unknown source school
    (dict(bron_brin="33CC"), "VerstrekkerNietBekend"),                 # its only vendor is not qualified
    (dict(bron_brin="22BB"), "GeenAanleverpunt"),
    (dict(overdrachtsoort="overdrachtbinnenbrin"), "GeenRelatieMetDoel"),
    (dict(leerling=Leerling("x" * 20, "1", KOPPEL)), "OngeldigVerzoek"),
    (dict(leerling=Leerling(None, None, None)), "OngeldigVerzoek"),
    (dict(leerling=Leerling(koppelsleutel=KOPPEL)), "KoppelsleutelOnbekend"),
    (dict(bron_routeringskenmerk="0000000700000YY00999"), "OnbekendAanleverpunt"),  # not one of the school's
])
def test_overdracht_refusals(register, kw, code):
    o = open_session(register, **kw)
    assert o.resultaat == code and o.sessie is None and o.aanleverpunten == ()


def test_one_specific_aanleverpunt(register):
    o = open_session(register, bron_routeringskenmerk=BRON_RK2)
    assert o.resultaat == "Geslaagd" and [a.routeringskenmerk for a in o.aanleverpunten] == [BRON_RK2]
    assert o.sessie.aanleverpunten == (BRON_RK2,)


def test_inactive_doel_aanleverpunt(register):
    register._aps[DOEL_RK] = replace(register._aps[DOEL_RK], actief=False)
    assert open_session(register).resultaat == "AfnemerNietBekend"


# --- sessiecontrole ------------------------------------------------------------------------------------------------

def control(register, sessie, **kw):
    args = dict(bron_brin="00YY", bron_routeringskenmerk=BRON_RK, doel_brin="11AA", doel_routeringskenmerk=DOEL_RK,
                leerling=ZK, overdrachtsoort="overstapdossier", now=NOW)
    args.update(kw)
    caller = args.pop("caller", BRON_OIN)
    return tc.sessiecontrole(register, caller, sessie, **args)


def test_sessiecontrole_matches_and_returns_the_doel_sector(register):
    s = open_session(register).sessie
    o = control(register, s)
    assert o.resultaat == "Geslaagd" and o.doel_sector == "VO" and o.sessie.controles == (BRON_RK,)


@pytest.mark.parametrize("kw,code", [
    (dict(caller=OTHER_OIN), "LeverancierNietGeautoriseerd"),         # not the vendor of that aanleverpunt
    (dict(caller=UNQUALIFIED_OIN), "LeverancierNietGeautoriseerd"),
    (dict(bron_routeringskenmerk="0000000700000ZZ00000"), "OnbekendAanleverpunt"),
    (dict(bron_brin="99ZZ"), "VerstrekkerNietBekend"),                # the bron BRIN is unknown to the TC
    (dict(bron_brin="11AA"), "OnbekendAanleverpunt"),                 # the aanleverpunt is not of that school
    (dict(doel_brin="22BB"), "SessieAfwijkend"),
    (dict(overdrachtsoort="swv-dossier"), "SessieAfwijkend"),
    (dict(leerling=Leerling("AQJrMWFub3RoZXItcHVwaWw=", "0823")), "SessieAfwijkend"),
    (dict(leerling=Leerling(ZK.zoeksleutel, "0999")), "SessieAfwijkend"),
    (dict(overdrachtsoort="overdrachtbinnenbrin"), "GeenRelatieMetDoel"),
    (dict(doel_routeringskenmerk=SWV_RK), "OnbekendAanleverpunt"),  # not the session's doel aanleverpunt
])
def test_sessiecontrole_refusals(register, kw, code):
    s = open_session(register).sessie
    o = control(register, s, **kw)
    assert o.resultaat == code and o.sessie is None


def test_sessiecontrole_unknown_closed_expired(register):
    assert control(register, None).resultaat == "SessieOnbekend"
    s = open_session(register).sessie
    closed = close(s).sessie
    assert control(register, closed).resultaat == "SessieReedsAfgemeld"
    o = control(register, s, now=NOW + TTL)
    assert o.resultaat == "SessieVerlopen" and o.sessie.status is Status.VERLOPEN  # the expiry is stored


def test_aanleverpunt_not_handed_out_is_a_mismatch(register):
    register._aps[BRON_RK2] = replace(register._aps[BRON_RK2], actief=False)
    s = open_session(register).sessie
    assert s.aanleverpunten == (BRON_RK,)
    register._aps[BRON_RK2] = replace(register._aps[BRON_RK2], actief=True)
    assert control(register, s, bron_routeringskenmerk=BRON_RK2).resultaat == "SessieAfwijkend"


# --- afmelding -----------------------------------------------------------------------------------------------------

def close(sessie, **kw) -> tc.Outcome:
    args = dict(bron_brin="00YY", bron_routeringskenmerk=BRON_RK, doel_brin="11AA", doel_routeringskenmerk=DOEL_RK,
                resultaat="OverdrachtGeslaagd", now=NOW)
    args.update(kw)
    caller = args.pop("caller", DOEL_OIN)
    return tc.afmelding(caller, sessie, **args)


def test_afmelding_closes_with_the_reported_result(register):
    s = open_session(register).sessie
    o = close(s, bron_routeringskenmerk=BRON_RK2, resultaat="LeveringGeweigerd")
    assert o.resultaat == "OverdrachtGeslaagd"  # the TC's acknowledgement: the afmelding was received correctly
    assert o.sessie.status is Status.AFGEMELD
    assert (o.sessie.resultaat, o.sessie.resultaat_aanleverpunt) == ("LeveringGeweigerd", BRON_RK2)
    again = close(o.sessie)
    assert again.resultaat == "SessieReedsAfgemeld" and again.sessie is None


@pytest.mark.parametrize("kw,code", [
    (dict(caller=BRON_OIN), "LeverancierNietGeautoriseerd"),
    (dict(doel_routeringskenmerk=SWV_RK), "OnbekendAanleverpunt"),
    (dict(bron_routeringskenmerk="0000000700000ZZ00000"), "SessieAfwijkend"),  # not an aanleverpunt handed out
    (dict(bron_brin="22BB"), "SessieAfwijkend"),
    (dict(doel_brin="44SW"), "SessieAfwijkend"),
    (dict(now=NOW + TTL), "SessieVerlopen"),
])
def test_afmelding_refusals(register, kw, code):
    s = open_session(register).sessie
    o = close(s, **kw)
    assert o.resultaat == code and o.sessie is None


def test_afmelding_of_an_unknown_session(register):
    assert close(None).resultaat == "SessieOnbekend"


# --- notification flow -------------------------------------------------------------------------------------------

def notify(register, **kw):
    args = dict(bron_brin="00YY", bron_routeringskenmerk=BRON_RK, doel_brin="44SW", doel_routeringskenmerk=SWV_RK,
                doel="SWV", sessie_id=None, aanvraagdatum=None, sessie=None, now=NOW, ttl=timedelta(days=14))
    args.update(kw)
    caller = args.pop("caller", BRON_OIN)
    return tc.melden_notificatie(register, caller, **args)


def test_koppelsleutel_flow(register):
    n = notify(register)
    assert n.resultaat == "Geslaagd" and n.endpoint == "https://swv/notif"
    k = n.notificatie.koppelsleutel
    assert k == k.upper() and len(k) == 36  # an upper-case GUID, as in the chain's examples
    assert (n.notificatie.doel, n.notificatie.overdrachtsoort) == ("SWV", "swv-dossier")
    o = open_session(register, doel_brin="44SW", doel_routeringskenmerk=SWV_RK, overdrachtsoort="swv-dossier",
                     leerling=Leerling(koppelsleutel=k), notificatie=n.notificatie)
    assert o.resultaat == "Geslaagd" and [a.routeringskenmerk for a in o.aanleverpunten] == [BRON_RK]
    c = control(register, o.sessie, doel_brin="44SW", doel_routeringskenmerk=SWV_RK, overdrachtsoort="swv-dossier",
                leerling=Leerling(koppelsleutel=k))
    assert c.resultaat == "Geslaagd" and c.doel_sector == "SWV"
    # a koppelsleutel is bound to its target and expires
    other = open_session(register, leerling=Leerling(koppelsleutel=k), notificatie=n.notificatie,
                         overdrachtsoort="swv-dossier")
    assert other.resultaat == "KoppelsleutelOnbekend"
    late = open_session(register, doel_brin="44SW", doel_routeringskenmerk=SWV_RK, overdrachtsoort="swv-dossier",
                        leerling=Leerling(koppelsleutel=k), notificatie=n.notificatie, now=NOW + timedelta(days=15))
    assert late.resultaat == "KoppelsleutelOnbekend"


def test_ov_notification_about_a_session_the_source_served(register):
    s = open_session(register).sessie
    ov = dict(doel_brin="11AA", doel_routeringskenmerk=DOEL_RK, doel="OV", sessie_id=s.sessie_id,
              aanvraagdatum=NOW)
    assert notify(register, sessie=s, **ov).resultaat == "SessieAfwijkend"  # the source never checked it
    served = control(register, s).sessie
    n = notify(register, sessie=served, **ov)
    assert n.resultaat == "Geslaagd" and n.endpoint == "https://doel/notif"
    assert (n.notificatie.sessie_id, n.notificatie.overdrachtsoort) == (s.sessie_id, "overstapdossier")
    assert notify(register, sessie=None, **ov).resultaat == "SessieOnbekend"
    assert notify(register, sessie=served, **{**ov, "aanvraagdatum": None}).resultaat == "OngeldigVerzoek"
    assert notify(register, sessie=served, **{**ov, "doel_routeringskenmerk": SWV_RK,
                                              "doel_brin": "44SW"}).resultaat == "SessieAfwijkend"


@pytest.mark.parametrize("kw,code", [
    (dict(caller=DOEL_OIN), "LeverancierNietGeautoriseerd"),
    (dict(bron_brin="11AA"), "OnbekendAanleverpunt"),
    (dict(doel_routeringskenmerk=BRON_RK2, doel_brin="00YY"), "AfnemerNietBekend"),  # no notification endpoint
    (dict(doel_brin="11AA"), "AfnemerNietBekend"),
])
def test_notificatie_refusals(register, kw, code):
    assert notify(register, **kw).resultaat == code


def test_terugkoppeling_by_koppelsleutel(register):
    """The SWV system (the notification's doel) gives feedback to the school's LAS (its bron); the koppelsleutel is
    valid for exactly that triple."""
    n = notify(register, doel_brin="11AA", doel_routeringskenmerk=DOEL_RK).notificatie
    register._aps[BRON_RK] = replace(register._aps[BRON_RK], notificatie_url="https://bron/notif")
    args = dict(bron_brin="11AA", bron_routeringskenmerk=DOEL_RK, doel_brin="00YY", doel_routeringskenmerk=BRON_RK,
                koppelsleutel=n.koppelsleutel, tekst="dossier ingelezen", now=NOW)
    o = tc.melden_terugkoppeling(register, DOEL_OIN, n, **args)
    assert o.resultaat == "Geslaagd" and o.endpoint == "https://bron/notif" and o.terugkoppeling.tekst
    assert tc.melden_terugkoppeling(register, OTHER_OIN, n, **args).resultaat == "LeverancierNietGeautoriseerd"
    assert tc.melden_terugkoppeling(register, DOEL_OIN, None, **args).resultaat == "KoppelsleutelOnbekend"
    swapped = {**args, "doel_routeringskenmerk": BRON_RK2}
    assert tc.melden_terugkoppeling(register, DOEL_OIN, n, **swapped).resultaat == "KoppelsleutelOnbekend"
    register._aps[BRON_RK] = replace(register._aps[BRON_RK], notificatie_url=None)
    assert tc.melden_terugkoppeling(register, DOEL_OIN, n, **args).resultaat == "AfnemerNietBekend"


def test_overzicht(register):
    o = tc.overzicht_aanleverpunt(register, DOEL_OIN, brin="00YY", routeringskenmerk=None)
    assert o.resultaat == "Geslaagd" and len(o.aanleverpunten) == 2
    assert tc.overzicht_aanleverpunt(register, DOEL_OIN, brin="00YY", routeringskenmerk=BRON_RK2).aanleverpunten[0] \
        .document_url == "https://bron/ap2"
    assert tc.overzicht_aanleverpunt(register, "00000001999999999999", brin="00YY", routeringskenmerk=None) \
        .resultaat == "LeverancierNietGeautoriseerd"
    assert tc.overzicht_aanleverpunt(register, DOEL_OIN, brin="99ZZ", routeringskenmerk=None).resultaat == \
        "VerstrekkerNietBekend"
    assert tc.overzicht_aanleverpunt(register, DOEL_OIN, brin="22BB", routeringskenmerk=None).resultaat == \
        "GeenAanleverpunt"


@pytest.mark.parametrize("make", [
    lambda: School("0YY", "00", "PO", "x"), lambda: School("00YY", "0", "PO", "x"),
    lambda: School("00YY", "00", "MBO", "x"), lambda: Vendor("123", "x"), lambda: Vendor("0" * 20, ""),
    lambda: Aanleverpunt("short", "00YY", "00", "0" * 20, "https://x"),
    lambda: Aanleverpunt("0" * 20, "00YY", "00", "0" * 20, "ftp://x"),
])
def test_register_values_refuse_bad_input(make):
    with pytest.raises(RegisterError):
        make()


def test_docs_table_equals_the_code():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "resultaatcodes.md").read_text(encoding="utf-8")
    assert resultaat.markdown_table() in doc
