"""An honest journal: a message that did not verify is journalled as unverified — tied to no session, koppelsleutel or
vendor, changing no session's state in ``trace``, the dashboard or the timeline's assessment — and such refusals are
limited per source address (a tally counts the rest), so junk neither fills the journal nor pushes real transfers
off the dashboard; a refusal that cannot reach the journal (the database is down) is logged in full instead, without
pupil data."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select, text

from gateway.commands import main
from gateway.journal.entry import JournalEntry
from gateway.journal.limit import OTHER, RefusalLimiter, address_key
from gateway.journal.timeline import assess
from gateway.store.journal import recent_sessions, stats, transfer, unverified_by_peer, unverified_refusals
from gateway.store.journal_models import JournalRow, RefusalTallyRow
from gateway.web.jsonlog import JsonFormatter
from gateway.web.observers import JournalObserver
from gateway.wsse import sign_request

from .conftest import free_port
from .tc_harness import BRON_OIN, DOEL_OIN, PGNFRAG, ZOEKSLEUTEL, register_parties, start_tc
from .test_dashboard import add_operator, login
from .test_journal import BSN, TC, afmelding, overdracht, post, sessiecontrole, signed

UNTRUSTED_OIN = "00000001000000000099"


@pytest.fixture
def tc(pki, database, tmp_path):
    register_parties(database)
    running = start_tc(pki, database, free_port(), dashboard_key=str(tmp_path / "dashboard.key"))
    yield running
    running.stop()


def gate_of(tc):
    app = tc.server.get_app()
    middleware, _ = app.services["/tc"]
    [observer] = [o for o in middleware.endpoint.observers if isinstance(o, JournalObserver)]
    return observer.gate


def rows(tc) -> list[JournalEntry]:
    with tc.database.unit_of_work(readonly=True) as repo:
        return [JournalEntry(**{k: getattr(r, k) for k in JournalEntry.__dataclass_fields__})
                for r in repo.session.scalars(select(JournalRow).order_by(JournalRow.id))]


def open_session(tc) -> str:
    r = post(tc, signed(tc, overdracht(), "overdracht"))
    assert r.status_code == 200, r.text[:300]
    sessie_id = etree.fromstring(r.content).findtext(f".//{{{TC}}}sessieId")
    good = post(tc, signed(tc, sessiecontrole(sessie_id), "sessiecontrole", ("bron-las", BRON_OIN)))
    assert good.status_code == 200 and b"Geslaagd" in good.content
    return sessie_id


def story(tc, sessie_id: str, capsys) -> tuple:
    """What every view says of the session: its state in the TC, trace's exit status and first lines, the
    timeline's assessment and messages, and its row on the dashboard's list."""
    with tc.database.unit_of_work(readonly=True) as repo:
        sessie = repo.sessie(sessie_id)
        entries = transfer(repo, sessie_id)
        listed = {g[0].sessie_id: assess(g) for g in recent_sessions(repo)}
    capsys.readouterr()
    status = main(["trace", sessie_id, "--database", tc.database.url])
    lines = capsys.readouterr().out.splitlines()
    head = [line for line in lines[:6] if line.strip()]
    a = assess(entries)
    return (sessie.status, sessie.resultaat, sessie.controles, status, head, a.status, a.headline,
            tuple((e.operation, e.verdict, e.message_id) for e in entries),
            (listed[sessie_id].status, listed[sessie_id].headline))


def _spoofs(tc, sessie_id: str) -> dict[str, bytes]:
    """An afmelding that closes the session as failed, in three forms that do not verify."""
    body = afmelding(sessie_id, "LeveringGeweigerd")
    untrusted = sign_request(body, tc.pki.credentials("untrusted-las", UNTRUSTED_OIN, untrusted=True),
                             to=tc.url + "/tc", action=f"{TC}/afmelding")
    # the genuine target's signature, on an afmelding whose result was changed after signing
    tampered = signed(tc, afmelding(sessie_id, "OverdrachtGeslaagd"), "afmelding").replace(
        b">OverdrachtGeslaagd<", b">LeveringGeweigerd<")
    return {"unsigned": body, "untrusted": untrusted, "tampered": tampered}


@pytest.mark.parametrize("form", ["unsigned", "untrusted", "tampered"])
def test_a_spoofed_afmelding_leaves_the_session_its_trace_and_its_timeline_untouched(tc, capsys, monkeypatch, form):
    sessie_id = open_session(tc)
    before = story(tc, sessie_id, capsys)
    assert before[0].value == "open" and before[1] is None
    assert before[3] == 0 and before[4][0].startswith(f"{sessie_id}: OPEN") and before[5] == "open"

    spoof = _spoofs(tc, sessie_id)[form]
    r = post(tc, spoof, f"{TC}/afmelding")
    assert r.status_code == 500 and b"Fault" in r.content

    assert story(tc, sessie_id, capsys) == before  # the TC's state, trace, the timeline, the dashboard's list
    spoofed = rows(tc)[-1]
    assert (spoofed.verdict, spoofed.signer_verified, spoofed.operation) == ("refused", False, "afmelding")
    # nothing ties the row to the session or a vendor; the id and the certificate's OIN are kept as claims only
    assert (spoofed.sessie_id, spoofed.koppelsleutel, spoofed.signer_oin, spoofed.vendor) == (None, None, None, None)
    assert spoofed.brins == () and spoofed.routeringskenmerken == () and spoofed.sessie_resultaat is None
    assert spoofed.claimed_id == sessie_id
    assert spoofed.claimed_oin == {"unsigned": None, "untrusted": UNTRUSTED_OIN, "tampered": DOEL_OIN}[form]
    with tc.database.unit_of_work(readonly=True) as repo:
        [apart] = unverified_refusals(repo, sessie_id)
    assert apart.request_sha256 == spoofed.request_sha256

    # the dashboard: the session is still open, its timeline shows the spoof apart, and nobody is named for it
    add_operator(tc, monkeypatch)
    s = login(tc)
    page = s.get(tc.url + "/dashboard/", timeout=10).text
    row = page.split(f">{sessie_id}<", 1)[1].split("</tr>", 1)[0]
    assert 'badge open">open' in row and "FAILED" not in row
    timeline = s.get(tc.url + "/dashboard/trace", params={"id": sessie_id}, timeout=10).text
    story_part, apart_part = timeline.split("Messages that only named", 1)
    assert "OPEN: no failure recorded" in story_part and "afmelding" not in story_part
    assert "afmelding" in apart_part and "unverified sender" in apart_part
    assert "Doel LAS" not in apart_part  # the genuine vendor whose signature was abused is not named

    # the genuine target can still close the session as it sees fit
    assert post(tc, signed(tc, afmelding(sessie_id), "afmelding")).status_code == 200
    capsys.readouterr()
    assert main(["trace", sessie_id, "--database", tc.database.url]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(f"{sessie_id}: SUCCEEDED")


def test_a_replayed_genuine_message_is_unverified_too(tc, capsys):
    """A captured afmelding sent again: refused as a replay (GW-REPLAY happens inside verify), so its row is
    unverified and it cannot make a session look failed twice, or fail another."""
    sessie_id = open_session(tc)
    closing = signed(tc, afmelding(sessie_id, "LeerlingOnbekend"), "afmelding")
    assert post(tc, closing).status_code == 200
    before = story(tc, sessie_id, capsys)
    r = post(tc, closing)
    assert r.status_code == 500 and b"GW-REPLAY" in r.content
    assert story(tc, sessie_id, capsys) == before
    replay = rows(tc)[-1]
    assert (replay.rule, replay.signer_verified, replay.sessie_id, replay.claimed_id) == (
        "GW-REPLAY", False, None, sessie_id)


def test_a_request_the_tc_answers_sessie_onbekend_names_no_session(tc):
    """A verified vendor that names a made-up sessieId gets SessieOnbekend: the id is kept as a claim, so it makes
    no "session" on the dashboard."""
    made_up = str(uuid.uuid4())
    r = post(tc, signed(tc, afmelding(made_up), "afmelding"))
    assert r.status_code == 200 and b"SessieOnbekend" in r.content
    row = rows(tc)[-1]
    assert (row.verdict, row.resultaat, row.sessie_id, row.claimed_id, row.signer_oin) == (
        "accepted", "SessieOnbekend", None, made_up, DOEL_OIN)
    with tc.database.unit_of_work(readonly=True) as repo:
        assert recent_sessions(repo) == [] and transfer(repo, made_up) == []
        assert [e.resultaat for e in unverified_refusals(repo, made_up)] == ["SessieOnbekend"]


def test_two_thousand_junk_posts_from_one_address_leave_a_bounded_number_of_rows(tc, monkeypatch):
    """2,000 refused messages that do not verify, from one address (garbage, and unsigned afmeldingen and
    sessiecontroles naming invented sessieIds): at most 10 rows of their own per minute window (per worker: one here)
    and one tally per window hold them all; the real transfer, before and after, keeps every row and stays on the
    dashboard's list."""
    from prometheus_client import REGISTRY

    counted_before = REGISTRY.get_sample_value("oso_gateway_unverified_refusals_counted_total",
                                               {"service": "trafficcenter"}) or 0.0
    sessie_id = open_session(tc)
    gate = gate_of(tc)
    window = gate.limiter.window_s
    junk = [b"<not xml", b"\x00\xff" * 50, afmelding(str(uuid.uuid4()), "LeveringGeweigerd"),
            sessiecontrole(str(uuid.uuid4()))]
    n, errors = 2000, []
    started = time.monotonic()

    def sender(k: int) -> None:
        with requests.Session() as s:
            for i in range(k, n, 8):
                body = junk[i % len(junk)]
                if i % len(junk) >= 2:  # a fresh invented sessieId each time
                    body = body.replace(body.split(b"<tc:sessieId>")[1].split(b"<")[0], str(uuid.uuid4()).encode())
                r = s.post(tc.url + "/tc", data=body, headers={"Content-Type": "text/xml"}, timeout=30)
                if r.status_code != 500 or b"Fault" not in r.content:
                    errors.append(r.status_code)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = time.monotonic()
    assert not errors, errors[:5]
    windows = int(ended // window) - int(started // window) + 1  # the limiter's minute windows the flood spanned
    # the real transfer goes on, and is journalled in full
    assert post(tc, signed(tc, afmelding(sessie_id), "afmelding")).status_code == 200
    gate.flush(everything=True)  # what the worker does when a minute ends (or at exit)

    with tc.database.unit_of_work(readonly=True) as repo:
        unverified = repo.session.execute(select(func.count()).select_from(JournalRow).where(
            JournalRow.signer_verified.is_(False))).scalar()
        tallies = list(repo.session.scalars(select(RefusalTallyRow)))
        verified = repo.session.execute(select(func.count()).select_from(JournalRow).where(
            JournalRow.signer_verified.is_(True))).scalar()
        listed = [g[0].sessie_id for g in recent_sessions(repo)]
        by_peer = unverified_by_peer(repo, datetime.now(timezone.utc) - timedelta(hours=1))
        journal_stats = stats(repo)
    # the bound: 10 rows per address per window (+ at most one tally per address per window)
    assert unverified <= 10 * windows and len(tallies) <= windows, (unverified, len(tallies), windows)
    assert unverified + sum(t.refused for t in tallies) == n  # every refusal is journalled or counted
    assert all(t.peer == "127.0.0.1" for t in tallies)
    assert sum(int(p.split("=")[1]) for t in tallies for p in t.rules) == n - unverified
    assert verified == 3  # overdracht, sessiecontrole, afmelding: every real exchange has its row
    assert listed == [sessie_id]  # no invented sessieId made a "session"; the real one is still shown
    assert [(p.peer, p.total) for p in by_peer] == [("127.0.0.1", n)]
    assert journal_stats["unverified"] == unverified and journal_stats["counted"] == n - unverified
    counted = (REGISTRY.get_sample_value("oso_gateway_unverified_refusals_counted_total",
                                         {"service": "trafficcenter"}) or 0.0) - counted_before
    assert counted == n - unverified

    add_operator(tc, monkeypatch)
    s = login(tc)
    page = s.get(tc.url + "/dashboard/", timeout=10).text
    assert sessie_id in page and "Refused messages that did not verify" in page
    assert page.count('<tr class="') == 1  # one session row: the real one
    assert f'<td class="num">{n}</td>' in page.split('id="unverified"')[1]  # per address: all 2,000
    failures = s.get(tc.url + "/dashboard/failures", timeout=10).text
    assert f"{n} in the last 14 days" in failures and "No failures." in failures  # no vendor's failure among them
    health = s.get(tc.url + "/dashboard/health", timeout=10).text
    assert f"{unverified} journalled, {n - unverified} more counted in {len(tallies)} tallies" in health
    assert str(tc.pki.crl) in health and "looked at every 5.0 s" in health
    print(f"\n2,000 junk posts: {unverified} rows of their own + {len(tallies)} tally row(s) "
          f"(over {windows} window(s)) in {ended - started:.1f} s")


def test_a_refusal_that_cannot_reach_the_journal_is_logged_without_pupil_data(tc, monkeypatch):
    """The database fails while a refusal is journalled: the refusal is answered, and its entry goes to the
    structured log (journal "unwritten", with the rule), with no pupil data; the exchange log line is written too.
    A tally that cannot be written is logged likewise."""
    import gateway.web.observers as observers

    def down(repo, entry):
        raise RuntimeError("connection to server at 127.0.0.1, port 5432 failed: the database system is starting up")

    monkeypatch.setattr(observers, "add_entry", down)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        sessie_id = str(uuid.uuid4())
        bad = signed(tc, sessiecontrole(sessie_id), "sessiecontrole", ("bron-las", BRON_OIN))
        tampered = bad.replace(b"overstapdossier", b"swv-dossier", 1)  # WB013, carrying a zoeksleutel and pgnfrag
        r = post(tc, tampered)
        assert r.status_code == 500 and b"WB013" in r.content
        verified_bad = signed(tc, overdracht(doel_brin=BSN), "overdracht")  # a PGN where a BRIN belongs: GW-XSD
        r = post(tc, verified_bad)
        assert r.status_code == 500 and b"GW-XSD" in r.content
        monkeypatch.setattr(observers, "add_tally", lambda repo, t: down(repo, t))
        gate = gate_of(tc)
        gate.limiter.per_address = 0  # from now on every unverified refusal is only counted
        post(tc, b"<not xml")
        gate.flush(everything=True)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    unwritten = [x for x in lines if x.get("journal") == "unwritten"]
    assert [(x["rule"], x["verdict"], x["service"], x["signer_verified"]) for x in unwritten if "rule" in x] == [
        ("WB013", "refused", "trafficcenter", False), ("GW-XSD", "refused", "trafficcenter", True)]
    wb013, xsd = (x for x in unwritten if "rule" in x)
    assert wb013["claimed_id"] == sessie_id and "sessie_id" not in wb013 and wb013["peer"] == "127.0.0.1"
    assert xsd["signer_oin"] == DOEL_OIN and "RuntimeError" in xsd["error"]
    assert wb013["message_id"] and wb013["request_sha256"] and wb013["faultcode"] == "wsse:FailedCheck"
    [tally] = [x for x in unwritten if "refused" in x]
    assert (tally["peer"], tally["refused"], tally["rules"]) == ("127.0.0.1", 1, ["GW-XML=1"])
    exchange = [x for x in lines if x.get("logger") == "oso.gateway.exchange" and x.get("verdict") == "refused"]
    assert {x["rule"] for x in exchange} >= {"WB013", "GW-XSD"}
    text_ = stream.getvalue()
    for secret in (BSN, ZOEKSLEUTEL, f">{PGNFRAG}<", f'"{PGNFRAG}"'):
        assert secret not in text_
    assert rows(tc) == []  # nothing reached the journal


def test_the_migration_moves_what_unverified_rows_claimed(database_url):
    """Rows journalled before 0006 for refused messages that did not verify held the sessieId and OIN they claimed
    as if true: the migration keeps those as claims and unties the rows."""
    from alembic import command

    from gateway.store import Database
    from gateway.store.database import _alembic_config

    db = Database(database_url)
    with db.migration_connection() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    sessie_id = str(uuid.uuid4())
    common = ("'2026-01-01 10:00:00', 'in', 'trafficcenter', 'afmelding', 'urn:uuid:x', NULL, NULL, "
              f"'{sessie_id}', NULL, '{DOEL_OIN}', %s, 'Doel LAS', '[\"doelBrin=11AA\"]', '[]', 'refused', NULL, "
              "NULL, 'wsse:FailedCheck', 'WB013', NULL, 'Client', 'r', 1.0, 10, 10, 'aa', 'bb', '127.0.0.1'")
    with db.engine.begin() as conn:
        for verified in ("false", "true"):
            conn.execute(text(
                "INSERT INTO journal (received_at, direction, service, operation, message_id, relates_to, "
                "response_message_id, sessie_id, koppelsleutel, signer_oin, signer_verified, vendor, brins, "
                "routeringskenmerken, verdict, resultaat, sessie_resultaat, faultcode, rule, dk_code, party, reason, "
                f"latency_ms, request_size, response_size, request_sha256, response_sha256, peer) VALUES "
                f"({common % verified})"))
    db.migrate()
    with db.unit_of_work(readonly=True) as repo:
        old_unverified, old_verified = [JournalEntry(**{k: getattr(r, k) for k in JournalEntry.__dataclass_fields__})
                                        for r in repo.session.scalars(select(JournalRow).order_by(JournalRow.id))]
        assert [e.signer_verified for e in transfer(repo, sessie_id)] == [True]
    assert (old_unverified.sessie_id, old_unverified.signer_oin, old_unverified.vendor, old_unverified.brins) == (
        None, None, None, ())
    assert (old_unverified.claimed_id, old_unverified.claimed_oin) == (sessie_id, DOEL_OIN)
    assert (old_verified.sessie_id, old_verified.signer_oin, old_verified.claimed_id) == (sessie_id, DOEL_OIN, None)
    db.dispose()


# ---- the limiter on its own ------------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0 * 60

    def __call__(self):
        return self.t


def test_the_limiter_keeps_rows_per_address_and_overall_and_tallies_the_rest():
    clock = Clock()
    lim = RefusalLimiter(per_address=3, total=5, window_s=60, max_tallies=2, clock=clock)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    admitted = [lim.admit("10.0.0.1", rule="GW-XML", service="trafficcenter", at=at) for _ in range(10)]
    assert admitted == [True] * 3 + [False] * 7
    assert [lim.admit("10.0.0.2", at=at) for _ in range(3)] == [True, True, False]  # the overall budget: 5
    assert lim.admit("10.0.0.3", at=at) is False
    assert lim.due() == []  # the window has not ended
    clock.t += 60
    tallies = lim.due()
    assert [(t.peer, t.refused) for t in tallies] == [("10.0.0.1", 7), ("10.0.0.2", 1), (OTHER, 1)]
    assert tallies[0].rules == ("GW-XML=7",) and tallies[0].services == ("trafficcenter=7",)
    assert lim.due() == [] and not lim.pending  # each tally is handed out once
    assert lim.admit("10.0.0.1", at=at) is True  # a new window, a new budget


def test_the_limiter_counts_an_ipv6_host_by_its_slash_64_and_bounds_its_memory():
    clock = Clock()
    lim = RefusalLimiter(per_address=1, total=1000, window_s=60, max_addresses=3, max_tallies=10, clock=clock)
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert [lim.admit(f"2001:db8:1:2::{i:x}") for i in range(1, 5)] == [True, False, False, False]
    for i in range(10):  # many addresses, each over its budget: only max_addresses are told apart
        lim.admit(f"10.0.0.{i}")
        lim.admit(f"10.0.0.{i}")
    tallies = lim.drain()
    assert len({t.peer for t in tallies}) == 4 and OTHER in {t.peer for t in tallies}
    assert sum(t.refused for t in tallies) == 3 + 10


def test_a_verified_refusal_always_gets_its_row(tc):
    """Messages that verified are never limited: a vendor's signed messages outside the contract each leave a row,
    even once the address's budget for unverified ones is spent."""
    gate = gate_of(tc)
    gate.limiter.per_address = 0
    for _ in range(12):
        assert post(tc, signed(tc, overdracht(doel_brin="1aa"), "overdracht")).status_code == 500
    assert post(tc, b"<junk/>").status_code == 500
    kept = rows(tc)
    assert [(e.rule, e.signer_verified) for e in kept] == [("GW-XSD", True)] * 12
    [tally] = gate.flush(everything=True)
    assert (tally.peer, tally.refused, tally.rules) == ("127.0.0.1", 1, ("GW-ENVELOPE=1",))
