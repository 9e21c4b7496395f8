"""The store on SQLite and PostgreSQL: models round-trip, migrations, transactions, optimistic concurrency."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from gateway.oso.register import Aanleverpunt, School, Sector, Vendor
from gateway.oso.sessie import Sessie, Status
from gateway.oso.trafficcenter import Notificatie, Terugkoppeling
from gateway.store import ConcurrentUpdate, Database, DatabaseUrlError, DuplicateEntry, UnknownEntry, normalize_url
from gateway.store.testschool import TEST_ROUTERINGSKENMERK, register_test_school

T0 = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=timezone.utc)
CEST = timezone(timedelta(hours=2))
V1 = Vendor("00000001234567890000", "Voorbeeld LAS B.V.", True, date(2024, 8, 1))
V2 = Vendor("00000001555555550000", "Ander LAS", False, None)
S1 = School("12AB", "00", Sector.PO, "Basisschool De Voorbeeld")
S2 = School("12AB", "01", Sector.VO, "De Voorbeeld, vestiging Noord")
S3 = School("34CD", "00", Sector.SWV, "SWV Passend Onderwijs")
AP1 = Aanleverpunt("000000070000012AB001", "12AB", "00", V1.oin, "https://las.example/aanleverpunt",
                   "https://las.example/doelsysteem")
AP2 = Aanleverpunt("000000070000012AB002", "12AB", "01", V2.oin, "http://las2.example/ap", None, False)


def fill_register(repo) -> None:
    for v in (V1, V2):
        repo.add_vendor(v)
    for s in (S1, S2, S3):
        repo.add_school(s)
    for a in (AP1, AP2):
        repo.add_aanleverpunt(a)


def full_sessie(**changes) -> Sessie:
    s = Sessie(
        sessie_id=Sessie.new_id(),
        doel_brin="34CD",
        doel_routeringskenmerk="000000070000034CD001",
        doel_vendor_oin=V2.oin,
        bron_brin="12AB",
        overdrachtsoort="overdrachtpovo",
        aanleverpunten=(AP2.routeringskenmerk, AP1.routeringskenmerk),  # order matters
        geopend=T0.astimezone(CEST),  # another zone: the store gives it back in UTC
        verloopt=T0 + timedelta(hours=1),
        zoeksleutel="zs-" + "ab" * 20,
        pgnfrag="823",
        koppelsleutel=None,
        status=Status.AFGEMELD,
        controles=(AP1.routeringskenmerk, AP2.routeringskenmerk, AP1.routeringskenmerk),
        resultaat="OverdrachtGeslaagd",
        afgemeld=T0 + timedelta(minutes=5, microseconds=7),
    )
    return replace(s, **changes)


def counts(db: Database) -> dict[str, int]:
    tables = ("vendor", "school", "aanleverpunt", "sessie", "notificatie", "terugkoppeling", "replay")
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}


# ---- schema and set-up ---------------------------------------------------------------------------------------------

def _head() -> str:
    from alembic.script import ScriptDirectory

    from gateway.store.database import _alembic_config

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def test_migrations_run_twice_are_a_no_op(database):
    head = _head()
    assert database.revision() == head
    with database.unit_of_work() as repo:
        repo.add_vendor(V1)
    database.migrate()
    database.migrate()
    assert database.revision() == head
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    with database.unit_of_work(readonly=True) as repo:
        assert repo.vendor(V1.oin) == V1


def test_the_migrations_make_the_schema_of_the_models(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateway.store.models import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_sqlite_settings_and_its_folder(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'a' / 'b' / 'gw.db'}")
    db.migrate()
    assert (tmp_path / "a" / "b" / "gw.db").exists()
    with db.engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 10_000
        assert pragma("synchronous") == 1  # NORMAL
    db.dispose()


def test_foreign_keys_are_enforced(database):
    with pytest.raises(IntegrityError):
        with database.unit_of_work() as repo:
            repo.session.execute(text(
                "INSERT INTO aanleverpunt (routeringskenmerk, brin, vestiging, vendor_oin, document_url, actief) "
                "VALUES ('000000070000099ZZ001', '99ZZ', '00', '00000001000000000000', 'http://x', true)"))
    assert counts(database)["aanleverpunt"] == 0


def test_urls_are_normalised():
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u:pw@h:5433/db") == "postgresql+psycopg://u:pw@h:5433/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///var/gateway.db") == "sqlite:///var/gateway.db"
    assert "pw" not in repr(Database("postgresql://u:pw@h/db"))
    with pytest.raises(DatabaseUrlError):
        Database("mysql://u@h/db")
    with pytest.raises(DatabaseUrlError):
        Database("not a url")


def test_health(database):
    assert database.health() is True
    assert Database("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2").health() is False


# ---- the register --------------------------------------------------------------------------------------------------

def test_register_round_trip(database):
    with database.unit_of_work() as repo:
        fill_register(repo)
    with database.unit_of_work(readonly=True) as repo:
        assert repo.vendor(V1.oin) == V1 and repo.vendor(V2.oin) == V2
        assert repo.vendor("00000001000000000000") is None
        assert repo.schools("12AB") == [S1, S2]
        assert repo.schools("34CD") == [S3] and repo.schools("56EF") == []
        assert repo.school("12AB", "01") == S2 and repo.school("12AB", "02") is None
        assert repo.aanleverpunt(AP1.routeringskenmerk) == AP1
        assert repo.aanleverpunt(AP2.routeringskenmerk) == AP2
        assert repo.aanleverpunten("12AB") == [AP1, AP2]
        assert repo.aanleverpunten("34CD") == []
        assert repo.list_vendors() == [V1, V2]
        assert repo.list_schools() == [S1, S2, S3]
        assert repo.list_aanleverpunten() == [AP1, AP2]
        assert isinstance(repo.schools("12AB")[0].sector, Sector)


def test_register_changes(database):
    with database.unit_of_work() as repo:
        fill_register(repo)
        assert repo.schools("12AB") == [S1, S2]  # read (and kept for the transaction) ...
        repo.update_school(replace(S1, naam="Nieuwe naam", sector=Sector.VO))
        assert repo.schools("12AB")[0].naam == "Nieuwe naam"  # ... and read again after a change
    with database.unit_of_work() as repo:
        repo.update_vendor(replace(V2, naam="Ander LAS B.V.", gekwalificeerd=True,
                                   gekwalificeerd_sinds=date(2025, 1, 2)))
        assert repo.unqualify_vendor(V1.oin) == replace(V1, gekwalificeerd=False, gekwalificeerd_sinds=None)
        repo.update_aanleverpunt(replace(AP2, actief=True, notificatie_url="https://n.example/"))
        assert repo.deactivate_aanleverpunt(AP1.routeringskenmerk).actief is False
    with database.unit_of_work(readonly=True) as repo:
        assert repo.vendor(V2.oin) == Vendor(V2.oin, "Ander LAS B.V.", True, date(2025, 1, 2))
        assert repo.vendor(V1.oin).gekwalificeerd is False
        assert repo.school("12AB", "00") == School("12AB", "00", Sector.VO, "Nieuwe naam")
        assert repo.aanleverpunt(AP1.routeringskenmerk).actief is False
        assert repo.aanleverpunt(AP2.routeringskenmerk) == replace(AP2, actief=True,
                                                                    notificatie_url="https://n.example/")


@pytest.mark.parametrize("write, error", [
    (lambda r: r.add_vendor(V1), DuplicateEntry),
    (lambda r: r.add_school(S1), DuplicateEntry),
    (lambda r: r.add_aanleverpunt(AP1), DuplicateEntry),
    (lambda r: r.update_vendor(replace(V1, oin="00000001000000000000")), UnknownEntry),
    (lambda r: r.update_school(replace(S1, brin="99ZZ")), UnknownEntry),
    (lambda r: r.unqualify_vendor("00000001000000000000"), UnknownEntry),
    (lambda r: r.deactivate_aanleverpunt("000000070000099ZZ001"), UnknownEntry),
    (lambda r: r.add_aanleverpunt(replace(AP1, routeringskenmerk="000000070000012AB009",
                                          vendor_oin="00000001000000000000")), UnknownEntry),
    (lambda r: r.add_aanleverpunt(replace(AP1, routeringskenmerk="000000070000012AB009", vestiging="07")),
     UnknownEntry),
    (lambda r: r.update_aanleverpunt(replace(AP1, vendor_oin="00000001000000000000")), UnknownEntry),
], ids=["vendor", "school", "aanleverpunt", "update-vendor", "update-school", "unqualify", "deactivate",
        "unknown-vendor", "unknown-school", "update-unknown-vendor"])
def test_register_refuses_conflicts(database, write, error):
    with database.unit_of_work() as repo:
        fill_register(repo)
    before = counts(database)
    with pytest.raises(error):
        with database.unit_of_work() as repo:
            write(repo)
    assert counts(database) == before
    with database.unit_of_work(readonly=True) as repo:
        assert repo.list_aanleverpunten() == [AP1, AP2] and repo.list_vendors() == [V1, V2]


def test_test_school_is_registered_idempotently(database):
    with database.unit_of_work() as repo:
        first = register_test_school(repo, gateway_base_url="http://127.0.0.1:8080/")
    with database.unit_of_work() as repo:
        assert register_test_school(repo, gateway_base_url="http://127.0.0.1:8080") == first
    with database.unit_of_work(readonly=True) as repo:
        ap = repo.aanleverpunt(TEST_ROUTERINGSKENMERK)
        assert ap.document_url == "http://127.0.0.1:8080/school/aanleverpunt"
        assert ap.notificatie_url == "http://127.0.0.1:8080/school/doelsysteem"
        assert repo.schools("00YY") == [School("00YY", "00", Sector.PO, "OSO Testschool (TEST ONLY)")]
        assert repo.vendor(ap.vendor_oin).gekwalificeerd
        from gateway.pki import DEFAULT_GATEWAY_OIN
        assert ap.vendor_oin == DEFAULT_GATEWAY_OIN
    assert counts(database)["aanleverpunt"] == 1
    with database.unit_of_work() as repo:  # another address: the aanleverpunt follows it
        repo.unqualify_vendor(DEFAULT_GATEWAY_OIN)
        register_test_school(repo, gateway_base_url="https://gw.example")
    with database.unit_of_work(readonly=True) as repo:
        assert repo.aanleverpunt(TEST_ROUTERINGSKENMERK).document_url == "https://gw.example/school/aanleverpunt"
        assert repo.vendor(DEFAULT_GATEWAY_OIN).gekwalificeerd
    assert counts(database)["vendor"] == counts(database)["school"] == 1


# ---- sessions, notifications, feedback ---------------------------------------------------------------------------

def test_sessie_round_trip_with_every_field(database):
    full = full_sessie()
    bare = Sessie(Sessie.new_id(), "34CD", "000000070000034CD001", V2.oin, "12AB", "overdrachtpopo",
                  (AP1.routeringskenmerk,), T0, T0 + timedelta(hours=1), koppelsleutel="k-1")
    with database.unit_of_work() as repo:
        repo.add_sessie(full)
        repo.add_sessie(bare)
    with database.unit_of_work(readonly=True) as repo:
        got, got_bare = repo.sessie(full.sessie_id), repo.sessie(bare.sessie_id)
        assert repo.sessie("00000000-0000-4000-8000-000000000000") is None
        assert repo.sessies(status=Status.AFGEMELD) == [full]
    for field in full.__dataclass_fields__:
        assert getattr(got, field) == getattr(full, field), field
    assert got == full and got_bare == bare
    assert got.geopend.tzinfo == timezone.utc and got.geopend == T0 and got.geopend.microsecond == 123456
    assert got.afgemeld.tzinfo == timezone.utc and got.verloopt.tzinfo == timezone.utc
    assert isinstance(got.status, Status) and isinstance(got.aanleverpunten, tuple)
    assert got.controles == full.controles and got.versie == 0
    assert got_bare.controles == () and got_bare.zoeksleutel is None and got_bare.status is Status.OPEN


def test_sessie_steps_are_saved_with_a_new_version(database):
    s = full_sessie(status=Status.OPEN, controles=(), resultaat=None, afgemeld=None)
    with database.unit_of_work() as repo:
        repo.add_sessie(s)
    now = T0 + timedelta(minutes=1)
    with database.unit_of_work() as repo:
        stored = repo.sessie(s.sessie_id, for_update=True)
        saved = repo.save_sessie(stored.sessiecontrole(AP1.routeringskenmerk, now))
        assert saved.versie == 1
        assert repo.sessie(s.sessie_id).controles == (AP1.routeringskenmerk,)  # this transaction sees its write
        saved = repo.save_sessie(saved.afmelding("OverdrachtGeslaagd", AP1.routeringskenmerk, now))
    with database.unit_of_work(readonly=True) as repo:
        got = repo.sessie(s.sessie_id)
    assert got.versie == 2 and got.status is Status.AFGEMELD and got.afgemeld == now
    assert got.resultaat == "OverdrachtGeslaagd"


def test_the_second_of_two_updates_gets_concurrent_update(database):
    s = full_sessie(status=Status.OPEN, controles=(), resultaat=None, afgemeld=None)
    with database.unit_of_work() as repo:
        repo.add_sessie(s)
    with database.unit_of_work() as repo:
        first = repo.sessie(s.sessie_id)
    with database.unit_of_work() as repo:
        second = repo.sessie(s.sessie_id)
    now = T0 + timedelta(minutes=1)
    with database.unit_of_work() as repo:
        repo.save_sessie(first.afmelding("OverdrachtGeslaagd", AP1.routeringskenmerk, now))
    with pytest.raises(ConcurrentUpdate):
        with database.unit_of_work() as repo:
            repo.add_vendor(V1)  # rolled back with it
            repo.save_sessie(second.afmelding("LeveringGeweigerd", AP1.routeringskenmerk, now))
    with database.unit_of_work(readonly=True) as repo:
        got = repo.sessie(s.sessie_id)
        assert repo.vendor(V1.oin) is None
    assert got.resultaat == "OverdrachtGeslaagd" and got.versie == 1
    with pytest.raises(ConcurrentUpdate):  # a session that is not stored
        with database.unit_of_work() as repo:
            repo.save_sessie(full_sessie())


def test_concurrent_transactions_on_postgresql(pg_database):
    """Two live transactions update the same session: the one that waited on the row gets ConcurrentUpdate."""
    db = pg_database
    s = full_sessie(status=Status.OPEN, controles=(), resultaat=None, afgemeld=None)
    with db.unit_of_work() as repo:
        repo.add_sessie(s)
    now = T0 + timedelta(minutes=1)
    both_read, first_saved, outcome = threading.Barrier(2), threading.Event(), {}

    def first():
        with db.unit_of_work() as repo:
            current = repo.sessie(s.sessie_id)
            both_read.wait(5)
            repo.save_sessie(current.afmelding("OverdrachtGeslaagd", AP1.routeringskenmerk, now))
            first_saved.set()
            time.sleep(0.3)  # the second is now waiting on the row lock

    def second():
        with db.unit_of_work() as repo:
            current = repo.sessie(s.sessie_id)
            both_read.wait(5)
            first_saved.wait(5)
            try:
                repo.save_sessie(current.afmelding("LeveringGeweigerd", AP1.routeringskenmerk, now))
                outcome["second"] = "saved"
            except ConcurrentUpdate:
                outcome["second"] = "ConcurrentUpdate"

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert outcome == {"second": "ConcurrentUpdate"}
    with db.unit_of_work(readonly=True) as repo:
        assert repo.sessie(s.sessie_id).resultaat == "OverdrachtGeslaagd"


def test_for_update_holds_the_row_on_postgresql(pg_database):
    db = pg_database
    s = full_sessie(status=Status.OPEN, controles=(), resultaat=None, afgemeld=None)
    with db.unit_of_work() as repo:
        repo.add_sessie(s)
    locked, order = threading.Event(), []

    def holder():
        with db.unit_of_work() as repo:
            repo.sessie(s.sessie_id, for_update=True)
            locked.set()
            time.sleep(0.3)
            order.append("holder done")

    def waiter():
        locked.wait(5)
        with db.unit_of_work() as repo:
            repo.sessie(s.sessie_id, for_update=True)
            order.append("waiter got it")

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["holder done", "waiter got it"]


def test_naive_datetimes_are_refused(database):
    with pytest.raises(StatementError, match="naive datetime"):
        with database.unit_of_work() as repo:
            repo.add_sessie(full_sessie(geopend=datetime(2026, 1, 1)))
    assert counts(database)["sessie"] == 0


def test_notificatie_and_terugkoppeling_round_trip(database):
    n = Notificatie("6F1C2D4E-0000-4000-8000-000000000001", AP1.routeringskenmerk, "12AB", "34CD",
                    "000000070000034CD001", "overstapdossier", "OV", T0.astimezone(CEST), T0 + timedelta(days=14),
                    "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", T0 - timedelta(days=1))
    t1 = Terugkoppeling("000000070000034CD001", AP1.routeringskenmerk, n.koppelsleutel, "Dossier is klaargezet", T0)
    t2 = Terugkoppeling("000000070000034CD001", AP1.routeringskenmerk, "6F1C2D4E-0000-4000-8000-000000000002",
                        "Ontvangen ✓ (ä)", T0 + timedelta(seconds=1))
    with database.unit_of_work() as repo:
        repo.add_notificatie(n)
        id1, id2 = repo.add_terugkoppeling(t1), repo.add_terugkoppeling(t2)
    assert id2 > id1
    with database.unit_of_work(readonly=True) as repo:
        got = repo.notificatie(n.koppelsleutel)
        assert got == n and got.aangemaakt.tzinfo == timezone.utc
        assert repo.notificatie("onbekend") is None
        assert repo.terugkoppelingen() == [t1, t2]
        assert repo.terugkoppelingen(koppelsleutel=n.koppelsleutel) == [t1]


def test_a_rollback_leaves_nothing_half_written(database):
    with database.unit_of_work() as repo:
        repo.add_vendor(V2)
    before = counts(database)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with database.unit_of_work() as repo:
            repo.add_vendor(V1)
            repo.add_school(S1)
            repo.add_school(S2)
            repo.add_aanleverpunt(AP1)
            repo.unqualify_vendor(V2.oin)
            repo.add_sessie(full_sessie())
            repo.add_notificatie(Notificatie("k", "r", "12AB", "34CD", "d", "o", "SWV", T0, T0))
            repo.add_terugkoppeling(Terugkoppeling("r", "d", "k", "t", T0))
            assert repo.remember("urn:uuid:boom", T0 + timedelta(minutes=5), T0)
            raise Boom()
    assert counts(database) == before
    with database.unit_of_work() as repo:
        assert repo.vendor(V2.oin) == V2
        assert repo.remember("urn:uuid:boom", T0 + timedelta(minutes=5), T0)  # forgotten with the rest


# ---- fork safety -------------------------------------------------------------------------------------------------

def test_a_forked_child_makes_its_own_connections(database):
    with database.unit_of_work() as repo:  # the parent has a pooled connection now
        repo.add_vendor(V1)
    pid = os.fork()
    if pid == 0:  # the child: must not use the parent's connection
        code = 1
        try:
            with database.unit_of_work() as repo:
                repo.add_school(S1)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with database.unit_of_work() as repo:  # and the parent's own connection still works
        repo.add_vendor(V2)
        assert repo.school("12AB", "00") == S1


def test_several_processes_may_migrate_at_once(database_url):
    """Gateway workers that start together all migrate: one makes the schema, the others find it made."""
    databases = [Database(database_url) for _ in range(4)]
    start, errors = threading.Barrier(4), []

    def migrate(db):
        start.wait(10)
        try:
            db.migrate()
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert {db.revision() for db in databases} == {_head()}
    for db in databases:
        db.dispose()
