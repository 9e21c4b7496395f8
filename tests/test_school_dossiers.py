"""Synthetic dossiers (``gateway.school.synthetisch``) and the test school's pupils (``gateway.school.testleerlingen``)
against the official 2019.1 bundle: the XSD and the business-rule XSLTs of the bundles dir (tests/bundles_location.py), through
gateway.dossier.validate."""

from __future__ import annotations

import random
from datetime import date, datetime, timezone

import pytest
from lxml import etree

from gateway.dossier import DEFAULT_POLICY, Transfer, load_bundles, validate
from gateway.oso import identifiers as ids
from gateway.oso.zoeksleutel import pgn_kind
from gateway.school import synthetisch as syn
from gateway.school.testleerlingen import TEST_LEERLINGEN, school_records
from gateway.school.uitlevering import SCHOOL_POLICY, verwijder_categorieen

from .conftest import GEGEVENSSET

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
NS = {"d": syn.NS}


@pytest.fixture(scope="module")
def bundles():
    return load_bundles(GEGEVENSSET.parent)


def assert_valid(data: bytes, bundles, policy=DEFAULT_POLICY, transfer=None):
    report = validate(data, bundles, policy=policy, transfer=transfer)
    assert report.bundle == "2019.1" and report.profile in ("OV", "PaO")
    assert report.valid, [(f.source, f.rule, f.location, f.text[:120]) for f in report.errors]
    return report


@pytest.mark.parametrize("profile", list(syn.PROFIELEN))
@pytest.mark.parametrize("onderwijsnummer", [False, True], ids=["bsn", "onderwijsnummer"])
def test_every_profile_passes_the_official_xsd_and_business_rules(bundles, profile, onderwijsnummer):
    rng = random.Random(f"{profile}/{onderwijsnummer}")
    for datum in (TODAY, date(2025, 8, 1), date(2026, 7, 31)):  # the school year's first and last day too
        ll = syn.genereer_leerling(rng, onderwijsnummer=onderwijsnummer)
        data = syn.bouw_dossier(ll, profile, datum=datum, inzage=datum, toestemming=True)
        report = assert_valid(data, bundles)  # generated numbers need no test-school exception
        assert report.profile == ("PaO" if profile.endswith("SWV") else "OV")
        root = etree.fromstring(data)
        number = root.findtext("d:huidigeschool/d:leerling/d:bsn", namespaces=NS) or root.findtext(
            "d:huidigeschool/d:leerling/d:onderwijsnummer", namespaces=NS)
        assert number == (None if profile.endswith("SWV") else ll.pgn)  # an SWV dossier carries none (PaO.LL12)


def test_swv_is_pre_swv():
    assert syn.profiel("SWV") == "POSWV" and syn.profiel("po-swv") == "POSWV"
    with pytest.raises(syn.ProfielError):
        syn.profiel("VOMBO")


def test_the_numbers_are_test_numbers():
    rng = random.Random(7)
    for _ in range(200):
        bsn = syn.test_bsn(rng)
        assert bsn.startswith("99999") and ids.bsn_elfproef(bsn) and pgn_kind(bsn) == "BSN"
        onr = syn.test_onderwijsnummer(rng)
        assert ids.onderwijsnummer_check(onr) and not ids.bsn_elfproef(onr) and pgn_kind(onr) == "ONR"


def test_the_pupils_are_synthetic_and_the_same_seed_makes_the_same_dossiers():
    a = school_records(datum=TODAY, now=NOW, extra=12, seed=4)
    b = school_records(datum=TODAY, now=NOW, extra=12, seed=4)
    assert [r.dossier for r in a] == [r.dossier for r in b]
    assert len({r.pgn for r in a}) == 16
    for r in a:
        surname = etree.fromstring(r.dossier).findtext("d:huidigeschool/d:leerling/d:achternaam", namespaces=NS)
        assert surname in syn._ACHTERNAMEN  # invented surnames only
    assert {r.pgn_kind for r in a} == {"BSN", "ONR"}
    assert {r.overdrachtsoort for r in a} == {"overstapdossier", "overdrachtbinnenbrin", "swv-dossier"}
    assert school_records(datum=TODAY, now=NOW, extra=3, seed=5)[4].pgn != a[4].pgn


def test_each_generated_pupil_passes_as_it_would_be_released(bundles):
    for r in school_records(datum=TODAY, now=NOW, extra=10, seed=9)[4:]:
        released, removed = verwijder_categorieen(r.dossier)
        assert removed == () and released is r.dossier
        assert_valid(released, bundles, transfer=Transfer(overdrachtsoort=r.overdrachtsoort, bron_brin="00YY"))


@pytest.mark.parametrize("t", TEST_LEERLINGEN, ids=lambda t: t.pgn)
def test_each_test_pupils_dossier_passes_as_it_is_released(bundles, t):
    (r,) = [r for r in school_records(datum=TODAY, now=NOW) if r.pgn == t.pgn]
    released, removed = verwijder_categorieen(r.dossier)
    report = assert_valid(released, bundles, policy=SCHOOL_POLICY,
                          transfer=Transfer(overdrachtsoort=r.overdrachtsoort, bron_brin="00YY"))
    assert [f.rule for f in report.findings if f.rule == "DOS-TESTNUMBER"] == (
        [] if ids.bsn_elfproef(t.pgn) else ["DOS-TESTNUMBER"])  # 127095823-25 fail the elfproef; 118716943 passes
    root = etree.fromstring(released)
    assert root.findtext("d:huidigeschool/d:leerling/d:bsn", namespaces=NS) == t.pgn
    assert root.findtext("d:huidigeschool/d:brincode", namespaces=NS) == "00YY"
    if t.verboden:  # 118716943: the stored dossier carries data of VERBODEN categories, the released one does not
        assert set(removed) == set(t.verboden)
        assert not validate(r.dossier, bundles, policy=SCHOOL_POLICY).valid
        assert root.find("d:huidigeschool/d:leerling/d:verzuim", namespaces=NS) is None
        assert root.find("d:huidigeschool/d:leerling/d:onderwijsondersteuning", namespaces=NS) is None
        assert root.findtext("d:metadata/d:categorie_uitlevering/d:cat_verzuim", namespaces=NS) == "VERBODEN"
    else:
        assert removed == ()


def test_the_test_pupils_are_what_the_domain_notes_say():
    by_pgn = {r.pgn: r for r in school_records(datum=TODAY, now=NOW)}
    assert (by_pgn["127095823"].overstap, by_pgn["127095823"].geweigerd) == ("POPO", False)
    assert (by_pgn["127095824"].overstap, by_pgn["127095824"].toestemming) == ("VOVO", TODAY)
    assert by_pgn["127095825"].geweigerd is True
    assert by_pgn["118716943"].overdrachtsoort == "overdrachtbinnenbrin"
    assert etree.fromstring(by_pgn["118716943"].dossier).find(
        "d:metadata/d:categorie_uitlevering", namespaces=NS) is not None
