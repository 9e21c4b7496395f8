"""The reference source's release rules (``gateway.school.uitlevering.beslis``), values in and values out: every
refusal code, categories left out, binnen-BRIN and SWV without inzage, validation before release; and what the
school writes into a dossier file when it records inzage or toestemming (``gateway.school.dossierbestand``)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from lxml import etree

from gateway.dossier import load_bundles, validate
from gateway.school.dossierbestand import DossierFileError, lees, met_inzage, met_toestemming
from gateway.school.synthetisch import PROFIELEN, bouw_dossier, genereer_leerling
from gateway.school.uitlevering import (SCHOOL_POLICY, Besluit, Controle, DossierRecord, Sessiecontrole, Uitlevering,
                                        Verzoek, mask, verwijder_categorieen)
from gateway.school.uitlevering import beslis as release_rules
from gateway.oso.zoeksleutel import pgn_kind

from .conftest import GEGEVENSSET, POVO_FULL

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
OK = Sessiecontrole("Geslaagd", "VO")
DOEL_OIN, OTHER_OIN = "00000001000000000011", "00000001000000000033"


@pytest.fixture(scope="module")
def controle() -> Controle:
    return Controle(load_bundles(GEGEVENSSET.parent))


def record(profile: str = "POPO", *, inzage: bool = True, toestemming: bool = True, seed: int = 1,
           verboden: tuple[str, ...] = (), **changes) -> DossierRecord:
    ll = genereer_leerling(random.Random(seed))
    overdrachtsoort, overstap = PROFIELEN[profile]
    data = bouw_dossier(ll, profile, datum=TODAY, inzage=TODAY if inzage else None, toestemming=toestemming,
                        verboden=verboden)
    r = DossierRecord(brin="00YY", pgn=ll.pgn, pgn_kind=pgn_kind(ll.pgn), overdrachtsoort=overdrachtsoort,
                      overstap=overstap, dossier=data, verzameldatum=TODAY, inzage=TODAY if inzage else None,
                      toestemming=TODAY if toestemming else None, bijgewerkt=NOW)
    return replace(r, **changes)


def verzoek(overdrachtsoort: str = "overstapdossier", **kw) -> Verzoek:
    args = dict(sessie_id="0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", bron_routeringskenmerk="0000000700000YY00931",
                bron_brin="00YY", doel_brin="00YY" if overdrachtsoort == "overdrachtbinnenbrin" else "11AA",
                doel_routeringskenmerk="0000000700000AA00000", overdrachtsoort=overdrachtsoort,
                aanvrager_oin=DOEL_OIN, zoeksleutel="AQR0ZXN0" + "A" * 40, pgnfrag="0823")
    args.update(kw)
    return Verzoek(**args)


def beslis(*args, doel_leverancier: str | None = DOEL_OIN, **kw) -> Besluit:
    """The release rules, for a request signed by the vendor registered for its doel aanleverpunt unless said."""
    return release_rules(*args, doel_leverancier=doel_leverancier, **kw)


def names(data: bytes) -> set[str]:
    return {etree.QName(el).localname for el in etree.fromstring(data).iter(etree.Element)}


# ---- released ------------------------------------------------------------------------------------------------------

def test_released_when_every_rule_holds(controle):
    r = record("POPO")
    b = beslis(r, verzoek(), OK, NOW, controle=controle)
    assert (b.resultaat, b.verzameldatum, b.verwijderd) == ("OverdrachtGeslaagd", TODAY, ())
    assert b.dossier is r.dossier  # nothing to leave out: the very bytes prepared
    assert b.sha256 and len(b.sha256) == 64


@pytest.mark.parametrize("profile, soort", [("POVO", "overstapdossier"), ("VOVO", "overstapdossier"),
                                            ("POSWV", "swv-dossier"), ("VOSWV", "swv-dossier")])
def test_every_profile_is_released_in_its_own_kind_of_transfer(controle, profile, soort):
    b = beslis(record(profile), verzoek(soort), OK, NOW, controle=controle)
    assert b.resultaat == "OverdrachtGeslaagd", b.reden


# ---- no sessiecontrole, no dossier ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tc", ["SessieAfwijkend", "SessieReedsAfgemeld", "SessieOnbekend", "SessieVerlopen",
                                "OnbekendAanleverpunt", "GeenRelatieMetDoel", "TrafficCenterNietBeschikbaar",
                                "Timeout"])
def test_without_a_successful_sessiecontrole_nothing_is_released(controle, tc):
    b = beslis(record("POPO"), verzoek(), Sessiecontrole(tc, reden="as told"), NOW, controle=controle)
    assert (b.resultaat, b.dossier) == (tc, None)
    assert b.reden.startswith(f"sessiecontrole: {tc}")


def test_an_unknown_answer_of_the_tc_counts_as_no_answer(controle):
    b = beslis(record("POPO"), verzoek(), Sessiecontrole("Prima"), NOW, controle=controle)
    assert (b.resultaat, b.dossier) == ("TrafficCenterNietBeschikbaar", None)


def test_only_the_doel_aanleverpunts_vendor_gets_the_dossier(controle):
    """The doel aanleverpunt binds the session to its requester: a documentRequest signed by anyone but the vendor
    the register names for it gets nothing, even when the TC confirmed the session."""
    b = beslis(record("POPO"), verzoek(aanvrager_oin=OTHER_OIN), OK, NOW, controle=controle)
    assert (b.resultaat, b.dossier) == ("LeverancierNietGeautoriseerd", None)
    b = beslis(record("POPO"), verzoek(), OK, NOW, doel_leverancier=None, controle=controle)
    assert (b.resultaat, b.dossier) == ("LeverancierNietGeautoriseerd", None)
    assert "register does not know" in b.reden


def test_the_sessiecontrole_is_judged_before_the_pupil():
    assert beslis(None, verzoek(), Sessiecontrole("SessieAfwijkend"), NOW).resultaat == "SessieAfwijkend"
    assert beslis(None, verzoek(), OK, NOW).resultaat == "LeerlingOnbekend"


# ---- each refusal --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, r, v, code", [
    ("withdrawn", dict(klaargezet=False), {}, "LeerlinginfoNietBeschikbaar"),
    ("binnen-BRIN dossier, overstap transfer", dict(profile="BB"), {}, "LeerlinginfoNietBeschikbaar"),
    ("overstapdossier, binnen-BRIN transfer", {}, dict(overdrachtsoort="overdrachtbinnenbrin"),
     "LeerlinginfoNietBeschikbaar"),
    ("overstapdossier, SWV transfer", {}, dict(overdrachtsoort="swv-dossier"), "LeerlinginfoNietBeschikbaar"),
    ("withheld", dict(geweigerd=True), {}, "LeveringGeweigerd"),
    ("PO-PO without inzage", dict(inzage=False), {}, "LeerlinginfoNietOpvraagbaar"),
    ("PO-VO without inzage", dict(profile="POVO", inzage=False), {}, "LeerlinginfoNietOpvraagbaar"),
    ("inzage recorded for a day to come", dict(inzage_op=TODAY + timedelta(days=1)), {}, "LeerlinginfoNietOpvraagbaar"),
    ("VO-VO without toestemming", dict(profile="VOVO", toestemming=False), {}, "LeerlinginfoNietOpvraagbaar"),
    ("gathered before the date asked", {}, dict(verzameldatum=TODAY + timedelta(days=1)),
     "VerzameldatumNietBereikt"),
])
def test_each_refusal(controle, case, r, v, code):
    r = dict(r)
    profile = r.pop("profile", "POPO")
    inzage_op = r.pop("inzage_op", None)
    rec = record(profile, inzage=r.pop("inzage", True), toestemming=r.pop("toestemming", True), **r)
    if inzage_op is not None:
        rec = replace(rec, inzage=inzage_op)
    b = beslis(rec, verzoek(**v), OK, NOW, controle=controle)
    assert (b.resultaat, b.dossier) == (code, None), case


def test_the_dossiers_verzameldatum_is_told_when_it_is_not_reached(controle):
    b = beslis(record(), verzoek(verzameldatum=TODAY + timedelta(days=3)), OK, NOW, controle=controle)
    assert (b.resultaat, b.verzameldatum) == ("VerzameldatumNietBereikt", TODAY)
    assert beslis(record(), verzoek(verzameldatum=TODAY), OK, NOW, controle=controle).resultaat == \
        "OverdrachtGeslaagd"


def test_binnen_brin_and_swv_need_neither_inzage_nor_toestemming(controle):
    bb = record("BB", inzage=False, toestemming=False)
    assert beslis(bb, verzoek("overdrachtbinnenbrin"), OK, NOW, controle=controle).resultaat == "OverdrachtGeslaagd"
    swv = record("POSWV", inzage=False, toestemming=False)
    assert beslis(swv, verzoek("swv-dossier"), OK, NOW, controle=controle).resultaat == "OverdrachtGeslaagd"


def test_vo_vo_needs_toestemming_not_the_stores_inzage(controle):
    # VO-VO: the school's consent record decides (the dossier itself still says inzage true: business rule OVa.IZ02)
    r = replace(record("VOVO"), inzage=None)
    assert beslis(r, verzoek(), OK, NOW, controle=controle).resultaat == "OverdrachtGeslaagd"


# ---- categories and validation -------------------------------------------------------------------------------------

def test_verboden_categories_are_left_out_of_what_is_released(controle):
    stored = record("BB", inzage=False, toestemming=False, verboden=("cat_verzuim", "cat_onderwijsondersteuning",
                                                                     "cat_vve"))
    assert {"verzuim", "onderwijsondersteuning", "vanpeuterspeelzaal"} <= names(stored.dossier)
    assert not validate(stored.dossier, controle.bundles, policy=SCHOOL_POLICY).valid  # not valid as stored
    b = beslis(stored, verzoek("overdrachtbinnenbrin"), OK, NOW, controle=controle)
    assert b.resultaat == "OverdrachtGeslaagd", b.reden
    assert set(b.verwijderd) == {"cat_verzuim", "cat_onderwijsondersteuning", "cat_vve"}
    left = names(b.dossier)
    assert not left & {"verzuim", "onderwijsondersteuning", "medicijngebruik", "vanpeuterspeelzaal",
                       "naampeuterspeelzaal"}
    assert {"schoolloopbaanlijst", "verzorger", "achternaam"} <= left  # the rest is all there
    assert validate(b.dossier, controle.bundles, policy=SCHOOL_POLICY).valid
    assert "left out: " in b.reden


def test_opt_uit_categories_are_left_out_too():
    data = bouw_dossier(genereer_leerling(random.Random(3)), "POPO", datum=TODAY, inzage=TODAY)
    data = data.replace(b"<cat_verzuim>VERPLICHT</cat_verzuim>", b"<cat_verzuim>OPT-UIT</cat_verzuim>")
    released, removed = verwijder_categorieen(data)
    assert removed == ("cat_verzuim",) and "verzuim" not in names(released)


def test_cat_metadata_is_never_stripped_and_a_dossier_that_forbids_it_is_refused(controle):
    r = record()
    r = replace(r, dossier=r.dossier.replace(b"<cat_metadata>VERPLICHT</cat_metadata>",
                                             b"<cat_metadata>VERBODEN</cat_metadata>"))
    b = beslis(r, verzoek(), OK, NOW, controle=controle)
    assert (b.resultaat, b.dossier) == ("LeveringGeweigerd", None)
    assert any(x.startswith("OS.cat01@") for x in b.bevindingen)


def test_an_invalid_dossier_is_refused_and_the_reason_names_rules_not_values(controle):
    r = record()
    ll_name = etree.fromstring(r.dossier).findtext(f"{{{NS}}}huidigeschool/{{{NS}}}leerling/{{{NS}}}achternaam")
    broken = r.dossier.replace(b"<geslacht>", b"<geslacht>x", 1)  # not an integer: XSD
    broken = broken.replace(r.pgn.encode(), b"123456789")  # fails the elfproef: the gateway's own check
    b = beslis(replace(r, dossier=broken), verzoek(), OK, NOW, controle=controle)
    assert (b.resultaat, b.dossier) == ("LeveringGeweigerd", None)
    assert "DOS-BSN" in b.reden and b.bevindingen
    said = b.reden + " ".join(b.bevindingen)
    assert "123456789" not in said and r.pgn not in said and ll_name not in said


def test_unreadable_stored_bytes_are_refused(controle):
    b = beslis(replace(record(), dossier=b"<!DOCTYPE x [<!ENTITY a 'b'>]><dossier/>"), verzoek(), OK, NOW,
               controle=controle)
    assert (b.resultaat, b.dossier) == ("LeveringGeweigerd", None)


def test_without_bundles_the_gateways_own_checks_decide_and_the_decision_says_so():
    b = beslis(record(), verzoek(), OK, NOW)  # Controle() : no bundles
    assert b.resultaat == "OverdrachtGeslaagd" and "own checks only" in b.reden
    r = record()
    b = beslis(replace(r, dossier=r.dossier.replace(r.pgn.encode(), b"123456789")), verzoek(), OK, NOW)
    assert b.resultaat == "LeveringGeweigerd"


def test_the_test_schools_numbers_pass_only_with_the_test_school_policy(controle):
    r = record()
    r = replace(r, pgn="127095823", dossier=r.dossier.replace(r.pgn.encode(), b"127095823"))
    assert beslis(r, verzoek(), OK, NOW, controle=controle).resultaat == "OverdrachtGeslaagd"
    strict = Controle(controle.bundles, policy=replace(SCHOOL_POLICY, identity=replace(SCHOOL_POLICY.identity,
                                                                                        test_schools=())))
    assert beslis(r, verzoek(), OK, NOW, controle=strict).resultaat == "LeveringGeweigerd"


# ---- the values ----------------------------------------------------------------------------------------------------

def test_a_decision_carries_a_dossier_with_overdracht_geslaagd_and_only_then():
    with pytest.raises(ValueError):
        Besluit("LeveringGeweigerd", b"<dossier/>")
    with pytest.raises(ValueError):
        Besluit("OverdrachtGeslaagd", None)
    with pytest.raises(ValueError):
        Besluit("Prima")


def test_the_log_entry_has_no_room_for_the_pgn_or_the_dossier(controle):
    r = record()
    b = beslis(r, verzoek(), OK, NOW, controle=controle)
    u = Uitlevering.van(verzoek(), OK, b, message_id="urn:uuid:x",
                        tijdstip=NOW)
    assert (u.sha256, u.grootte, u.resultaat, u.sessiecontrole) == (b.sha256, len(r.dossier), "OverdrachtGeslaagd",
                                                                     "Geslaagd")
    assert r.pgn not in repr(u) and r.pgn not in repr(r) and mask(r.pgn) == "*******" + r.pgn[-2:]


# ---- what the school writes into a dossier file --------------------------------------------------------------------

def test_lees_reads_an_official_example():
    info = lees(POVO_FULL.read_bytes())
    assert (info.brin, info.overdrachtsoort, info.overstap, info.datum, info.inzage, info.toestemming) == (
        "00YY", "overstapdossier", "POVO", date(2016, 1, 2), date(2016, 3, 31), True)
    assert info.pgn is not None and len(info.pgn) == 9
    swv = lees((GEGEVENSSET / "PaO" / "examples" / "Voorbeelddossier_PaO_POSWV_opt_out.xml").read_bytes())
    assert (swv.pgn, swv.overdrachtsoort, swv.overstap) == (None, "swv-dossier", "POSWV")


@pytest.mark.parametrize("data", [b"<x/>", b"not xml", b"<!DOCTYPE d [<!ENTITY e 'x'>]><dossier/>"])
def test_lees_refuses_what_is_not_a_dossier(data):
    with pytest.raises(DossierFileError):
        lees(data)


def test_recording_inzage_writes_it_into_the_dossier(controle):
    r = record("POPO", inzage=False)
    assert not validate(r.dossier, controle.bundles, policy=SCHOOL_POLICY).valid  # OVa.IZ02, DOS-INZAGE
    done = met_inzage(r.dossier, TODAY)
    assert lees(done).inzage == TODAY
    assert validate(done, controle.bundles, policy=SCHOOL_POLICY).valid
    assert met_inzage(done, TODAY + timedelta(days=9)) is done  # already recorded: unchanged


def test_recording_inzage_makes_the_block_in_its_place_when_there_is_none(controle):
    r = record("POPO")
    root = etree.fromstring(r.dossier)
    root.remove(root.find(f"{{{NS}}}inzage"))
    done = met_inzage(etree.tostring(root), TODAY)
    assert [etree.QName(c).localname for c in etree.fromstring(done)] == [
        "metadata", "overdrachtsoort", "inzage", "huidigeschool"]
    assert validate(done, controle.bundles, policy=SCHOOL_POLICY).valid


def test_recording_toestemming_writes_it_into_the_dossier(controle):
    r = record("VOVO", toestemming=False)
    assert lees(r.dossier).toestemming is False
    done = met_toestemming(r.dossier)
    assert lees(done).toestemming is True and validate(done, controle.bundles, policy=SCHOOL_POLICY).valid
    assert met_toestemming(done) is done


def test_a_dossier_that_keeps_inzage_out_is_left_as_it_is():
    bb = record("BB", inzage=False).dossier  # cat_ouderinzage OPT-UIT
    assert met_inzage(bb, TODAY) is bb and met_toestemming(bb) is bb
