"""Identity checks as plain functions: BSN elfproef, onderwijsnummer, BRIN, vestiging, dates that exist."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.dossier.findings import ERROR, GATEWAY, INFO
from gateway.dossier.identity import (KENNISNET_TEST_SCHOOL, IdentityPolicy, TestSchool, brin_valid, bsn_valid,
                                      check_identity, date_exists, onderwijsnummer_valid, vestiging_valid)

NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"

# the BSNs of the 8 official OV example dossiers (the PaO examples carry none): all pass the elfproef
EXAMPLE_BSNS = ["229854382", "003389261", "297816238", "210724894", "269326728", "246263738", "274497451",
                "210191879"]


@pytest.mark.parametrize("bsn", EXAMPLE_BSNS + ["118716943"])
def test_real_bsns_pass(bsn):
    assert bsn_valid(bsn)


@pytest.mark.parametrize("bsn", ["127095823", "127095824", "127095825", "123456789", "000000000", "12345678",
                                 "1234567890", "12345678a", "", " 269326728", "٢٦٩٣٢٦٧٢٨"])
def test_bad_bsns_fail(bsn):
    assert not bsn_valid(bsn)


def _bsn_from(prefix: str) -> str | None:
    """The check digit that makes a BSN of these 8 digits, or None when there is none."""
    s = sum((9 - i) * int(d) for i, d in enumerate(prefix)) % 11
    return prefix + str(s) if s < 10 else None


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_elfproef_matches_its_definition(prefix):
    bsn = _bsn_from(prefix)
    if bsn is not None and bsn != "000000000":
        assert bsn_valid(bsn)
        wrong = bsn[:8] + str((int(bsn[8]) + 1) % 10)
        assert not bsn_valid(wrong)


def test_onderwijsnummer():
    # 1000000 0 ?: weights 9..2 over 1,0,0,0,0,0,0,0 -> 9; 9 mod 11 = 9 = d9 + 5 -> d9 = 4
    assert onderwijsnummer_valid("100000004")
    assert not onderwijsnummer_valid("100000005")
    assert not onderwijsnummer_valid("200000004")  # must start with 1
    assert not onderwijsnummer_valid("10000004")


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_onderwijsnummer_matches_its_definition(rest):
    prefix = "1" + rest
    s = sum((9 - i) * int(d) for i, d in enumerate(prefix)) % 11
    for d9 in range(10):
        assert onderwijsnummer_valid(prefix + str(d9)) == (s == d9 + 5)


def test_brin_and_vestiging():
    assert brin_valid("00YY") and brin_valid("14AI")
    for bad in ("0YYY", "00yy", "00Y", "00YYY", "AA00", ""):
        assert not brin_valid(bad)
    assert vestiging_valid("00") and vestiging_valid("02")
    for bad in ("0", "000", "a1", ""):
        assert not vestiging_valid(bad)


def test_dates():
    assert date_exists("2016-02-29") and date_exists("2019-07-31Z") and date_exists("2019-07-31+02:00")
    assert date_exists("17-03-2003")  # gbageboortedatum: DD-MM-EEJJ
    assert date_exists("2019-02-29") is False and date_exists("2019-13-01") is False
    assert date_exists("31-04-2003") is False and date_exists("0000-01-01") is False
    assert date_exists("yesterday") is None and date_exists("") is None


def _dossier(brin: str, inner: str) -> etree._Element:
    return etree.fromstring(
        f'<dossier xmlns="{NS}"><huidigeschool><brincode>{brin}</brincode><vestigingscode>00</vestigingscode>'
        f"<leerling>{inner}</leerling></huidigeschool></dossier>")


def test_findings_never_echo_the_number():
    out = check_identity(_dossier("00YY", "<bsn>123456789</bsn>"))
    assert [(f.severity, f.source, f.rule) for f in out] == [(ERROR, GATEWAY, "DOS-BSN")]
    assert "123456789" not in out[0].text
    assert out[0].location == "/dossier[1]/huidigeschool[1]/leerling[1]/bsn[1]"


def test_test_school_numbers_only_when_configured_and_only_at_that_school():
    root = _dossier("00YY", "<bsn>127095823</bsn>")
    assert [f.rule for f in check_identity(root)] == ["DOS-BSN"]  # not configured: the real check
    policy = IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,))
    out = check_identity(root, policy)
    assert [(f.severity, f.rule) for f in out] == [(INFO, "DOS-TESTNUMBER")]
    other_school = _dossier("14AI", "<bsn>127095823</bsn>")
    assert [f.rule for f in check_identity(other_school, policy)] == ["DOS-BSN"]
    not_a_test_number = _dossier("00YY", "<bsn>123456789</bsn>")
    assert [f.rule for f in check_identity(not_a_test_number, policy)] == ["DOS-BSN"]
    own = IdentityPolicy(test_schools=(TestSchool("99ZZ", frozenset({"100000005"})),))
    assert [f.rule for f in check_identity(_dossier("99ZZ", "<onderwijsnummer>100000005</onderwijsnummer>"),
                                           own)] == ["DOS-TESTNUMBER"]


def test_brin_vestiging_and_dates_in_a_tree():
    root = etree.fromstring(
        f'<dossier xmlns="{NS}"><huidigeschool><brincode>0YYY</brincode><vestigingscode>0</vestigingscode>'
        "<leerling><geboortedatum>2003-02-30</geboortedatum><geboortemaand>2003-13</geboortemaand>"
        "<gba><gbageboortedatum>31-02-2003</gbageboortedatum></gba><datuminschrijving>morgen</datuminschrijving>"
        "</leerling></huidigeschool></dossier>")
    got = [(f.rule, f.location.rsplit("/", 1)[-1]) for f in check_identity(root)]
    assert got == [("DOS-BRIN", "brincode[1]"), ("DOS-VESTIGING", "vestigingscode[1]"),
                   ("DOS-DATE", "geboortedatum[1]"), ("DOS-DATE", "geboortemaand[1]"),
                   ("DOS-DATE", "gbageboortedatum[1]"), ("DOS-DATE", "datuminschrijving[1]")]
