"""The reference source's store on SQLite and PostgreSQL: dossiers round-trip, the release log keeps no PGN and no
dossier, koppelsleutels, and the migration makes the models' schema (tests/test_store.py compares the whole)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from gateway.school.testleerlingen import laad_testleerlingen, school_records
from gateway.school.uitlevering import Uitlevering
from gateway.store import UnknownEntry
from gateway.store.school_repository import SchoolRepository

NOW = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=timezone.utc)
TODAY = NOW.date()
SID = "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"


def test_dossiers_round_trip(database):
    records = school_records(datum=TODAY, now=NOW, extra=4)
    with database.unit_of_work() as repo:
        laad_testleerlingen(SchoolRepository.of(repo), datum=TODAY, now=NOW, extra=4)
    with database.unit_of_work(readonly=True) as repo:
        school = SchoolRepository.of(repo)
        for r in records:
            assert school.dossier(r.brin, r.pgn) == r
        assert school.dossier("00YY", "999999999") is None
        assert sorted(p for p, _ in school.pupils("00YY")) == sorted(r.pgn for r in records)
        assert school.pupils("11AA") == []
        listed = school.overzicht()
        assert [(r.pgn, size) for r, size in listed] == sorted((r.pgn, len(r.dossier)) for r in records)
        assert all(r.dossier == b"" for r, _ in listed)  # the list reads no dossier
        assert school.brins_of("127095823") == ["00YY"]


def test_loading_again_changes_nothing_and_changes_are_kept(database):
    with database.unit_of_work() as repo:
        laad_testleerlingen(SchoolRepository.of(repo), datum=TODAY, now=NOW)
    with database.unit_of_work() as repo:
        school = SchoolRepository.of(repo)
        changed = school.update("00YY", "127095823", klaargezet=False, inzage=None, dossier=b"<dossier/>")
        with pytest.raises(UnknownEntry):
            school.update("00YY", "999999999", klaargezet=False)
    with database.unit_of_work(readonly=True) as repo:
        assert SchoolRepository.of(repo).dossier("00YY", "127095823") == changed
    with database.unit_of_work() as repo:
        laad_testleerlingen(SchoolRepository.of(repo), datum=TODAY, now=NOW)
    with database.unit_of_work(readonly=True) as repo:
        school = SchoolRepository.of(repo)
        assert school.dossier("00YY", "127095823").klaargezet is True
        assert len(school.pupils("00YY")) == 4


def test_the_release_log_keeps_who_asked_and_a_digest_never_the_pgn_or_the_dossier(database):
    records = school_records(datum=TODAY, now=NOW)
    with database.unit_of_work() as repo:
        laad_testleerlingen(SchoolRepository.of(repo), datum=TODAY, now=NOW)
    entry = Uitlevering(NOW, SID, "0000000700000YY00931", "00YY", "11AA", "overstapdossier",
                        "00000001000000000011", "urn:uuid:1", "Geslaagd", "OverdrachtGeslaagd", "released",
                        "ab" * 32, 8184)
    with database.unit_of_work() as repo:
        school = SchoolRepository.of(repo)
        first = school.add_uitlevering(entry)
        school.add_uitlevering(replace(entry, tijdstip=NOW + timedelta(seconds=1), sessie_id=SID[:-1] + "c",
                                       resultaat="SessieAfwijkend", sessiecontrole="SessieAfwijkend", sha256=None,
                                       grootte=None))
    with database.unit_of_work(readonly=True) as repo:
        school = SchoolRepository.of(repo)
        assert school.uitleveringen(sessie_id=SID) == [replace(entry, id=first)]
        assert [u.resultaat for u in school.uitleveringen()] == ["OverdrachtGeslaagd", "SessieAfwijkend"]
        assert [u.resultaat for u in school.uitleveringen(limit=1)] == ["SessieAfwijkend"]
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM school_uitlevering")).all()
    dump = repr(rows)
    for r in records:
        assert r.pgn not in dump and r.pgn[-6:] not in dump


def test_koppelsleutels(database):
    k = "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    with database.unit_of_work() as repo:
        school = SchoolRepository.of(repo)
        school.koppel(k, brin="00YY", pgn="127095823", now=NOW)
        school.koppel(k, brin="00YY", pgn="127095823", now=NOW)  # told twice: one entry
    with database.unit_of_work(readonly=True) as repo:
        school = SchoolRepository.of(repo)
        assert school.koppeling(k) == ("00YY", "127095823")
        assert school.koppeling(k[:-1] + "0") is None


def test_a_pgn_kind_is_bsn_or_onr(database):
    from sqlalchemy.exc import IntegrityError

    r = school_records(datum=TODAY, now=NOW)[0]
    with pytest.raises(IntegrityError):
        with database.unit_of_work() as repo:
            SchoolRepository.of(repo).put_dossier(replace(r, pgn_kind="XYZ"))


def test_the_schema_is_at_the_newest_migration(database):
    from alembic.script import ScriptDirectory

    from gateway.store.database import _alembic_config

    assert database.revision() == ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with database.engine.connect() as conn:
        for table in ("school_dossier", "school_uitlevering", "school_koppeling"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
