"""``oso-gateway school …`` against a SQLite file: prepare dossiers (official examples as they are, synthetic ones),
record inzage and toestemming, withdraw, withhold, list, the log, the test pupils; PGNs never printed in full."""

from __future__ import annotations

import random
import re
from datetime import date

import pytest

from gateway.commands import main
from gateway.school.dossierbestand import lees
from gateway.school.synthetisch import bouw_dossier, genereer_leerling
from gateway.store import Database
from gateway.store.school_repository import SchoolRepository

from .conftest import GEGEVENSSET, POVO_FULL

SWV_EXAMPLE = GEGEVENSSET / "PaO" / "examples" / "Voorbeelddossier_PaO_POSWV_opt_out.xml"
NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture
def run(db_url, capsys):
    def run(*args) -> tuple[int, str, str]:
        code = main(["school", *args, "--database", db_url])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def stored(db_url, pgn, brin="00YY"):
    db = Database(db_url)
    try:
        with db.unit_of_work(readonly=True) as repo:
            return SchoolRepository.of(repo).dossier(brin, pgn)
    finally:
        db.dispose()


def test_the_test_pupils_and_the_list_never_show_a_whole_pgn(run):
    code, out, _ = run("testleerlingen", "--extra", "3")
    assert code == 0 and "7 synthetic dossiers" in out and "*******23" in out
    code, listed, _ = run("lijst")
    assert code == 0 and "dossiers (7, 6 ready for release)" in listed
    assert not NINE_DIGITS.search(out + listed)
    assert "*******43" in listed and "overdrachtbinnenbrin" in listed


def test_an_official_example_is_prepared_as_it_is(run, db_url, tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nbundles_dir = "{GEGEVENSSET.parent}"\n')
    code, out, _ = run("klaarzetten", "--file", str(POVO_FULL), "--config", str(config))
    assert code == 0, out
    info = lees(POVO_FULL.read_bytes())
    assert f"*******{info.pgn[-2:]} at 00YY prepared: overstapdossier POVO" in out
    assert "validation: valid (bundle 2019.1)" in out and info.pgn not in out
    record = stored(db_url, info.pgn)
    assert record.dossier == POVO_FULL.read_bytes()  # byte for byte
    assert (record.verzameldatum, record.inzage, record.toestemming) == (date(2016, 1, 2), date(2016, 3, 31),
                                                                         date(2016, 3, 31))
    code, out, _ = run("klaarzetten", "--file", str(POVO_FULL), "--verzameldatum", "2026-02-01")
    assert code == 0 and stored(db_url, info.pgn).verzameldatum == date(2026, 2, 1)


def test_an_swv_dossier_names_no_pupil_so_the_pgn_is_given(run, db_url):
    code, _, err = run("klaarzetten", "--file", str(SWV_EXAMPLE))
    assert code == 2 and "give --pgn" in err
    code, out, _ = run("klaarzetten", "--file", str(SWV_EXAMPLE), "--pgn", "999990019")
    assert code == 0 and "swv-dossier POSWV" in out
    assert stored(db_url, "999990019").overdrachtsoort == "swv-dossier"


@pytest.mark.parametrize("args, message", [
    (["--pgn", "123456782"], "--pgn differs"),
    (["--brin", "11AA"], "--brin 11AA differs"),
    (["--pgn", "12345"], "nine digits"),
    (["--verzameldatum", "gisteren"], "is not a date"),
])
def test_klaarzetten_refuses_what_contradicts_the_file(run, args, message):
    code, _, err = run("klaarzetten", "--file", str(POVO_FULL), *args)
    assert code == 2 and message in err


def test_klaarzetten_refuses_what_is_not_a_dossier(run, tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_bytes(b"<x/>")
    assert run("klaarzetten", "--file", str(bad))[0] == 2
    assert run("klaarzetten", "--file", str(tmp_path / "missing.xml"))[0] == 2


def test_inzage_toestemming_withdraw_withhold(run, db_url, tmp_path):
    ll = genereer_leerling(random.Random(11))
    popo, vovo = tmp_path / "popo.xml", tmp_path / "vovo.xml"
    popo.write_bytes(bouw_dossier(ll, "POPO", datum=date(2026, 3, 2)))
    other = genereer_leerling(random.Random(12))
    vovo.write_bytes(bouw_dossier(other, "VOVO", datum=date(2026, 3, 2), inzage=date(2026, 3, 1)))
    assert run("klaarzetten", "--file", str(popo))[0] == 0
    assert run("klaarzetten", "--file", str(vovo))[0] == 0
    assert stored(db_url, ll.pgn).inzage is None and stored(db_url, other.pgn).toestemming is None

    code, out, _ = run("inzage", "--pgn", ll.pgn, "--datum", "2026-03-03")
    assert code == 0 and "inzage recorded on 2026-03-03" in out and ll.pgn not in out
    record = stored(db_url, ll.pgn)
    assert record.inzage == date(2026, 3, 3) and lees(record.dossier).inzage == date(2026, 3, 3)

    code, out, _ = run("toestemming", "--pgn", other.pgn)
    record = stored(db_url, other.pgn)
    assert code == 0 and record.toestemming is not None and lees(record.dossier).toestemming is True

    assert run("intrekken", "--pgn", ll.pgn)[0] == 0 and stored(db_url, ll.pgn).klaargezet is False
    assert run("weigeren", "--pgn", other.pgn)[0] == 0 and stored(db_url, other.pgn).geweigerd is True
    assert run("weigeren", "--pgn", other.pgn, "--opheffen")[0] == 0
    assert stored(db_url, other.pgn).geweigerd is False
    code, listed, _ = run("lijst")
    assert "dossiers (2, 1 ready for release)" in listed and not NINE_DIGITS.search(listed)


def test_a_pupil_without_a_dossier_or_a_bad_date(run):
    code, _, err = run("inzage", "--pgn", "999990019")
    assert code == 2 and "no dossier is prepared for pupil *******19" in err and "999990019" not in err
    run("testleerlingen")
    code, _, err = run("toestemming", "--pgn", "127095824", "--datum", "2026-13-01")
    assert code == 2 and "is not a date" in err


def test_the_log_is_empty_until_a_request_comes(run, db_url):
    code, _, err = run("log")  # reading never makes the database
    assert code == 2 and ("holds no gateway tables" in err or "there is no database at" in err)
    db = Database(db_url)
    db.migrate()
    db.dispose()
    code, out, _ = run("log")
    assert code == 0 and out.startswith("documentRequests (0)")


def test_a_bad_database_url(capsys):
    assert main(["school", "lijst", "--database", "mysql://x/y"]) == 2
