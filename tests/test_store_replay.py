"""The replay store in the database (GW-REPLAY): in a unit of work, standalone, and raced between connections."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, text

from gateway.oso.register import Vendor
from gateway.store import DatabaseReplayStore
from gateway.store.models import ReplayRow
from gateway.store.repository import MAX_REPLAY_KEY
from gateway.wsse import ReplayStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(minutes=6)
VENDOR = Vendor("00000001234567890000", "Voorbeeld LAS", True)


def replay_rows(db) -> dict[str, datetime]:
    with db.unit_of_work(readonly=True) as repo:
        return {r.message_id: r.until for r in repo.session.scalars(select(ReplayRow))}


def test_in_a_unit_of_work_the_second_remember_is_false_and_the_rest_commits(database):
    with database.unit_of_work() as repo:
        assert repo.remember("urn:uuid:1", LATER, NOW) is True
        assert repo.remember("urn:uuid:1", LATER, NOW) is False  # the transaction stays usable after this ...
        repo.add_vendor(VENDOR)  # ... so what it writes next commits
        assert repo.remember("urn:uuid:2", LATER, NOW) is True
    with database.unit_of_work() as repo:
        assert repo.vendor(VENDOR.oin) == VENDOR
        assert repo.remember("urn:uuid:1", LATER, NOW + timedelta(minutes=1)) is False
    assert set(replay_rows(database)) == {"urn:uuid:1", "urn:uuid:2"}


def test_a_rolled_back_unit_of_work_forgets_its_message_id(database):
    try:
        with database.unit_of_work() as repo:
            assert repo.remember("urn:uuid:gone", LATER, NOW)
            raise RuntimeError("the service failed")
    except RuntimeError:
        pass
    with database.unit_of_work() as repo:
        assert repo.remember("urn:uuid:gone", LATER, NOW) is True


def test_an_expired_message_id_may_be_remembered_again(database):
    with database.unit_of_work() as repo:
        assert repo.remember("urn:uuid:old", NOW + timedelta(seconds=1), NOW)
    with database.unit_of_work() as repo:
        assert repo.remember("urn:uuid:old", LATER, NOW + timedelta(seconds=1)) is False  # until is inclusive
        assert repo.remember("urn:uuid:old", LATER + timedelta(hours=1), NOW + timedelta(seconds=2)) is True
    assert replay_rows(database)["urn:uuid:old"] == LATER + timedelta(hours=1)


def test_purge_expired_and_housekeeping(database, monkeypatch):
    with database.unit_of_work() as repo:
        for i in range(10):
            repo.remember(f"urn:uuid:{i}", NOW + timedelta(seconds=i), NOW)
    with database.unit_of_work() as repo:
        assert repo.purge_expired(NOW + timedelta(seconds=5)) == 5  # 0..4 are past
    assert sorted(replay_rows(database)) == [f"urn:uuid:{i}" for i in range(5, 10)]
    # every so many remember() calls a unit of work also removes a batch of expired ids, by itself
    monkeypatch.setattr(database, "_housekeeping_due", lambda: True)
    with database.unit_of_work() as repo:
        assert repo.remember("urn:uuid:new", LATER + timedelta(hours=1), LATER)
    assert list(replay_rows(database)) == ["urn:uuid:new"]


def test_housekeeping_comes_round_now_and_then(database):
    due = [database._housekeeping_due() for _ in range(100)]
    assert 2 <= sum(due) <= 5


def test_long_message_ids_are_kept_by_their_hash(database):
    long_id = "urn:example:" + "x" * 5000
    with database.unit_of_work() as repo:
        assert repo.remember(long_id, LATER, NOW) is True
        assert repo.remember(long_id, LATER, NOW) is False
        assert repo.remember(long_id + "y", LATER, NOW) is True
    assert all(len(k) <= MAX_REPLAY_KEY for k in replay_rows(database))


def test_the_standalone_store_has_its_own_transactions(database):
    store: ReplayStore = DatabaseReplayStore(database)
    assert store.remember("urn:uuid:s", LATER, NOW) is True
    assert store.remember("urn:uuid:s", LATER, NOW) is False
    other_process_view = DatabaseReplayStore(type(database)(database.url))
    assert other_process_view.remember("urn:uuid:s", LATER, NOW) is False
    other_process_view.database.dispose()


def test_stored_times_are_aware_utc(database):
    cest = timezone(timedelta(hours=2))
    with database.unit_of_work() as repo:
        repo.remember("urn:uuid:tz", LATER.astimezone(cest), NOW.astimezone(cest))
    until = replay_rows(database)["urn:uuid:tz"]
    assert until == LATER and until.tzinfo == timezone.utc
    with database.engine.connect() as conn:
        raw = conn.execute(text("SELECT until FROM replay")).scalar()
    if database.backend == "sqlite":  # UTC wall time as fixed-width text: sorts in time order
        assert raw == "2026-11-28 12:06:00.000000"
    else:
        assert raw == LATER


def test_a_waiting_transaction_gets_false_when_the_first_commits(pg_database):
    """PostgreSQL: the second insert of the same key waits for the first transaction, then is refused."""
    db = pg_database
    first_in, results = threading.Event(), {}

    def first():
        with db.unit_of_work() as repo:
            results["first"] = repo.remember("urn:uuid:race", LATER, NOW)
            first_in.set()
            time.sleep(0.3)  # hold the uncommitted row while the second tries

    def second():
        first_in.wait(5)
        started = time.monotonic()
        with db.unit_of_work() as repo:
            results["second"] = repo.remember("urn:uuid:race", LATER, NOW)
            repo.add_vendor(VENDOR)  # its transaction is still usable
        results["waited"] = time.monotonic() - started

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["first"] is True and results["second"] is False
    assert results["waited"] >= 0.2
    with db.unit_of_work(readonly=True) as repo:
        assert repo.vendor(VENDOR.oin) == VENDOR


def test_a_rolled_back_first_lets_the_waiting_one_in(pg_database):
    db = pg_database
    first_in, results = threading.Event(), {}

    def first():
        try:
            with db.unit_of_work() as repo:
                results["first"] = repo.remember("urn:uuid:rb", LATER, NOW)
                first_in.set()
                time.sleep(0.3)
                raise RuntimeError("refused after all")
        except RuntimeError:
            pass

    def second():
        first_in.wait(5)
        with db.unit_of_work() as repo:
            results["second"] = repo.remember("urn:uuid:rb", LATER, NOW)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {"first": True, "second": True}


def test_many_connections_racing_the_same_keys_accept_each_once(database):
    """Eight threads (eight connections) each try the same 25 MessageIDs at the same moment."""
    keys = [f"urn:uuid:k{i}" for i in range(25)]
    start, accepted, errors = threading.Barrier(8), [], []
    lock = threading.Lock()

    def worker():
        store = DatabaseReplayStore(database)
        start.wait(10)
        for key in keys:
            try:
                if store.remember(key, LATER, NOW):
                    with lock:
                        accepted.append(key)
            except Exception as exc:  # pragma: no cover - shown in the assertion
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(accepted) == sorted(keys)
