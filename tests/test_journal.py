"""The message journal: an entry for every accepted and every refused message (on SQLite and PostgreSQL), written
in the message's own transaction, with only the contract's named, well-shaped values; trace and diagnose name the
cause of a failing transfer first; purge, metrics, JSON logs."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree

from gateway.commands import main
from gateway.journal.entry import JournalEntry, body_fields, entry_from_exchange
from gateway.store.journal import add_entry, purge_journal, stats, transfer
from gateway.web.jsonlog import JsonFormatter
from gateway.web.observers import JournalObserver
from gateway.web.security import Exchange
from gateway.wsse import ns, sign_request
from gateway.wsse.errors import SchemaInvalid

from .conftest import free_port
from .tc_harness import (BRON_BRIN, BRON_OIN, BRON_RK, DOEL_BRIN, DOEL_OIN, DOEL_RK, PGNFRAG, ZOEKSLEUTEL,
                         register_parties, start_tc)

TC = OSO = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
BSN = "123456782"  # passes the elfproef: a PGN must never reach the journal


def envelope(body: str) -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body>{body}</soapenv:Body>'
            "</soapenv:Envelope>").encode()


def _leerling(zoeksleutel=ZOEKSLEUTEL) -> str:
    return (f"<tc:zoeksleutelPgnfrag><tc:zoeksleutel>{zoeksleutel}</tc:zoeksleutel><tc:pgnfrag>{PGNFRAG}"
            "</tc:pgnfrag></tc:zoeksleutelPgnfrag>")


def overdracht(doel_brin=DOEL_BRIN, zoeksleutel=ZOEKSLEUTEL) -> bytes:
    return envelope(
        f'<tc:overdrachtRequest xmlns:tc="{TC}"><tc:bronBrin>{BRON_BRIN}</tc:bronBrin>'
        f'<tc:doelBrin>{doel_brin}</tc:doelBrin><tc:doelRouteringsKenmerk>{DOEL_RK}</tc:doelRouteringsKenmerk>'
        f'{_leerling(zoeksleutel)}<tc:overdrachtsoort>overstapdossier</tc:overdrachtsoort></tc:overdrachtRequest>')


def sessiecontrole(sessie_id: str) -> bytes:
    return envelope(
        f'<tc:sessiecontroleRequest xmlns:tc="{TC}"><tc:bronBrin>{BRON_BRIN}</tc:bronBrin>'
        f'<tc:bronRouteringsKenmerk>{BRON_RK}</tc:bronRouteringsKenmerk><tc:doelBrin>{DOEL_BRIN}</tc:doelBrin>'
        f'<tc:doelRouteringsKenmerk>{DOEL_RK}</tc:doelRouteringsKenmerk>{_leerling()}'
        f'<tc:overdrachtsoort>overstapdossier</tc:overdrachtsoort><tc:sessieId>{sessie_id}</tc:sessieId>'
        "</tc:sessiecontroleRequest>")


def afmelding(sessie_id: str, resultaat: str = "OverdrachtGeslaagd") -> bytes:
    return envelope(
        f'<tc:afmeldingRequest xmlns:tc="{TC}"><tc:bronBrin>{BRON_BRIN}</tc:bronBrin>'
        f'<tc:bronRouteringsKenmerk>{BRON_RK}</tc:bronRouteringsKenmerk><tc:doelBrin>{DOEL_BRIN}</tc:doelBrin>'
        f'<tc:doelRouteringsKenmerk>{DOEL_RK}</tc:doelRouteringsKenmerk><tc:sessieId>{sessie_id}</tc:sessieId>'
        f'<tc:resultaat>{resultaat}</tc:resultaat></tc:afmeldingRequest>')


@pytest.fixture
def tc(pki, database, tmp_path):
    register_parties(database)
    running = start_tc(pki, database, free_port(), dashboard_key=str(tmp_path / "dashboard.key"))
    yield running
    running.stop()


def post(tc, data: bytes, action: str | None = None) -> requests.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action or ""}"'}
    return requests.post(tc.url + "/tc", data=data, headers=headers, timeout=10)


def signed(tc, body: bytes, op: str, who=("doel-las", DOEL_OIN)) -> bytes:
    return sign_request(body, tc.pki.credentials(*who), to=tc.url + "/tc", action=f"{TC}/{op}")


def journal(tc) -> list[JournalEntry]:
    from gateway.store.journal_models import JournalRow
    from sqlalchemy import select

    with tc.database.unit_of_work(readonly=True) as repo:
        rows = repo.session.scalars(select(JournalRow).order_by(JournalRow.id))
        return [JournalEntry(**{k: getattr(r, k) for k in JournalEntry.__dataclass_fields__}) for r in rows]


def mid(data: bytes) -> str:
    return etree.fromstring(data).findtext(f".//{{{ns.WSA}}}MessageID")


def test_accepted_and_refused_messages_are_journalled(tc):
    ok = signed(tc, overdracht(), "overdracht")
    r = post(tc, ok)
    assert r.status_code == 200
    tampered = signed(tc, overdracht(), "overdracht").replace(BRON_BRIN.encode(), b"99ZZ")
    assert post(tc, tampered).status_code == 500
    not_in_contract = signed(tc, overdracht(doel_brin=BSN), "overdracht")  # a PGN where a BRIN belongs
    assert post(tc, not_in_contract).status_code == 500
    assert post(tc, b"<not xml").status_code == 500

    accepted, wb013, xsd, garbage = journal(tc)
    sessie_id = etree.fromstring(r.content).findtext(f".//{{{TC}}}sessieId")
    assert (accepted.verdict, accepted.service, accepted.operation, accepted.resultaat) == (
        "accepted", "trafficcenter", "overdracht", "Geslaagd")
    assert accepted.sessie_id == sessie_id and accepted.message_id == mid(ok)
    assert (accepted.signer_oin, accepted.signer_verified, accepted.vendor) == (DOEL_OIN, True, "Doel LAS")
    assert accepted.brins == (f"bronBrin={BRON_BRIN}", f"doelBrin={DOEL_BRIN}")
    assert accepted.routeringskenmerken == (f"doelRouteringsKenmerk={DOEL_RK}",
                                            f"aanleverpunt.routeringsKenmerk={BRON_RK}")
    assert accepted.request_sha256 == hashlib.sha256(ok).hexdigest() and accepted.request_size == len(ok)
    assert accepted.response_sha256 == hashlib.sha256(r.content).hexdigest()
    assert accepted.response_message_id == mid(r.content) and accepted.latency_ms > 0

    assert (wb013.verdict, wb013.rule, wb013.faultcode, wb013.party) == ("refused", "WB013", "wsse:FailedCheck",
                                                                         "Client")
    # it did not verify: it names no sender and no vendor; the OIN of the certificate it carried is only a claim
    assert (wb013.signer_oin, wb013.signer_verified, wb013.vendor) == (None, False, None)
    assert wb013.claimed_oin == DOEL_OIN and wb013.brins == () and wb013.sessie_id is None
    assert wb013.message_id == mid(tampered) and wb013.operation == "overdracht"
    assert wb013.resultaat is None and wb013.response_sha256

    assert (xsd.rule, xsd.dk_code) == ("GW-XSD", "0004")
    assert xsd.brins == (f"bronBrin={BRON_BRIN}",)  # the malformed doelBrin is not kept
    assert (xsd.signer_oin, xsd.signer_verified) == (DOEL_OIN, True)  # signed: outside the contract, but verified
    assert (garbage.rule, garbage.message_id, garbage.operation, garbage.signer_oin) == ("GW-XML", None, None, None)
    for e in (accepted, wb013, xsd, garbage):
        text = json.dumps(asdict(e), default=str)
        assert BSN not in text and ZOEKSLEUTEL not in text
        # the pgnfrag (four digits) is pupil data too: no field holds it
        values = {str(x) for v in asdict(e).values() for x in (v if isinstance(v, tuple) else (v,))}
        assert PGNFRAG not in values and not any(v.endswith("=" + PGNFRAG) for v in values)


def test_an_afmelding_is_journalled_with_the_result_the_target_reported(tc):
    """afmeldingRequest carries the session's result (the best over the aanleverpunten asked); the TC acknowledges
    with OverdrachtGeslaagd. The journal keeps both: the reported result as the session's, the answer's as its own."""
    r = post(tc, signed(tc, overdracht(), "overdracht"))
    sessie_id = etree.fromstring(r.content).findtext(f".//{{{TC}}}sessieId")
    assert post(tc, signed(tc, afmelding(sessie_id, "LeveringGeweigerd"), "afmelding")).status_code == 200
    closing = journal(tc)[-1]
    assert (closing.operation, closing.sessie_id) == ("afmelding", sessie_id)
    assert (closing.resultaat, closing.sessie_resultaat) == ("OverdrachtGeslaagd", "LeveringGeweigerd")
    assert closing.failed and closing.outcome == "LeveringGeweigerd"


def test_only_the_contracts_named_values_in_their_shape_are_read():
    """Unverified Bodies say anything: only BRINs, routeringskenmerken, sessieId, koppelsleutel and result codes
    in the contract's namespace and shape are kept, and nothing inside a dossier."""
    body = etree.fromstring(
        f'<ap:documentResponse xmlns:ap="{OSO}" xmlns:x="urn:other">'
        f"<ap:resultaat>OverdrachtGeslaagd</ap:resultaat><ap:bronBrin>{BSN}</ap:bronBrin>"
        f"<ap:brin>00yy</ap:brin><ap:doelBrin> 11AA </ap:doelBrin><x:brin>22BB</x:brin>"
        f"<ap:sessieId>not-a-uuid</ap:sessieId><ap:koppelsleutel>0B8F6A2E-3C1D-4E5F-8A9B-0C1D2E3F4A5B"
        f"</ap:koppelsleutel><ap:zoeksleutelPgnfrag><ap:zoeksleutel>{ZOEKSLEUTEL}</ap:zoeksleutel>"
        f"<ap:pgnfrag>{PGNFRAG}</ap:pgnfrag></ap:zoeksleutelPgnfrag><ap:terugkoppeling>{BSN}</ap:terugkoppeling>"
        f"<ap:dossier><ap:brin>33CC</ap:brin><ap:sessieId>0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5c</ap:sessieId>"
        f"</ap:dossier></ap:documentResponse>")
    fields = body_fields(None, body)
    assert fields.brins == ["doelBrin=11AA"]
    assert fields.resultaat == "OverdrachtGeslaagd" and fields.sessie_id is None
    assert fields.koppelsleutel == "0B8F6A2E-3C1D-4E5F-8A9B-0C1D2E3F4A5B"
    # a lower-case koppelsleutel (another contract's) is not in the contract's shape: not kept
    body.find(f"{{{OSO}}}koppelsleutel").text = "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"
    assert body_fields(None, body).koppelsleutel is None
    # the same elements in a request: its resultaat is the one it reports (afmelding's), not an answer's
    as_request = body_fields(body)
    assert (as_request.resultaat, as_request.sessie_resultaat) == (None, "OverdrachtGeslaagd")
    # a refusal's reason is kept without quoted values or long digit runs
    ex = Exchange("aanleverpunt", datetime.now(timezone.utc), envelope(etree.tostring(body).decode()),
                  error=SchemaInvalid("GW-XSD", f"the value '{ZOEKSLEUTEL}' of {BSN} is wrong"))
    entry = entry_from_exchange(ex)
    assert ZOEKSLEUTEL not in entry.reason and BSN not in entry.reason
    # a refused message has no result; one that did not verify (no VerifiedMessage here) keeps no BRIN either
    assert entry.brins == () and entry.resultaat is None and not entry.signer_verified


def test_an_answer_whose_entry_cannot_be_written_is_not_acknowledged(tc, monkeypatch):
    """The entry is written in the message's transaction: when it fails, the message is refused (GW-INTERNAL) and
    nothing of it is kept; the refusal is journalled in a transaction of its own."""
    real = JournalObserver.__call__
    calls = []

    def failing_once(self, ex, repo):
        calls.append(repo is not None)
        if repo is not None:
            raise RuntimeError("disk full")
        return real(self, ex, repo)

    monkeypatch.setattr(JournalObserver, "__call__", failing_once)
    r = post(tc, signed(tc, overdracht(), "overdracht"))
    assert r.status_code == 500 and b"GW-INTERNAL" in r.content
    assert calls == [True, False]
    with tc.database.unit_of_work(readonly=True) as repo:
        assert repo.sessies() == []
    [entry] = journal(tc)
    assert (entry.verdict, entry.rule, entry.party) == ("refused", "GW-INTERNAL", "Server")


def test_trace_and_diagnose_name_the_cause_first(tc, capsys, tmp_path):
    """A failing transfer: the session is opened, then the source's sessiecontrole arrives signed but outside the
    contract (GW-XSD), and another copy changed after signing. trace (by sessieId or by the MessageID) and diagnose
    (on the raw message) name the cause in their first lines. The changed copy did not verify: it is no part of the
    session's story (the sessieId it names is a claim), and found by its own MessageID it names no vendor."""
    opened = post(tc, signed(tc, overdracht(), "overdracht"))
    sessie_id = etree.fromstring(opened.content).findtext(f".//{{{TC}}}sessieId")
    good = signed(tc, sessiecontrole(sessie_id), "sessiecontrole", ("bron-las", BRON_OIN))
    bad = good.replace(b"<tc:overdrachtsoort>overstapdossier", b"<tc:overdrachtsoort>swv-dossier")
    assert post(tc, bad).status_code == 500
    db = ["--database", tc.database.url]
    assert main(["trace", sessie_id, *db]) == 0  # an unverified refusal changes nothing: still open
    assert capsys.readouterr().out.splitlines()[0].startswith(f"{sessie_id}: OPEN")
    assert main(["trace", mid(bad), *db]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{mid(bad)}: REFUSED, UNVERIFIED: trafficcenter.sessiecontrole was refused: WB013")
    assert out[1].startswith("  who must act: the sender at 127.0.0.1: the message did not verify, so no vendor can "
                             f"be named (its certificate named {BRON_OIN}")

    outside = signed(tc, sessiecontrole(sessie_id).replace(b">overstapdossier<", b">verhuisdossier<"),
                     "sessiecontrole", ("bron-las", BRON_OIN))
    assert post(tc, outside).status_code == 500
    assert main(["trace", sessie_id, *db]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{sessie_id}: FAILED: trafficcenter.sessiecontrole was refused: GW-XSD")
    assert out[1] == f"  who must act: the sending vendor Bron LAS ({BRON_OIN})"
    assert out[2].startswith("  what to do: make the Body conform")
    assert main(["trace", mid(outside), *db]) == 1
    assert "GW-XSD" in capsys.readouterr().out.splitlines()[0]

    f = tmp_path / "sessiecontrole.xml"  # the message as the servicedesk receives it: a file
    f.write_bytes(bad)
    assert main(["diagnose", str(f), "--ca", str(tc.pki.ca), "--crl", str(tc.pki.crl), "--to", tc.url + "/tc"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{f}: REFUSED WB013 [wsse:FailedCheck] the digest of Body does not match: the element "
                        "was changed after signing")
    assert lines[1].startswith("  cause: every digest and the SignatureValue verify; to fix: sign last")
    fails = [line for line in lines if line.startswith("FAIL")]
    assert len(fails) == 1 and "digest of Body" in fails[0]  # everything else was checked and passed
    assert any("ok   WB013 SignatureValue" in line for line in lines)
    assert any("ok   GW-XSD the Body against the contract (overstapservice-20200910.xsd)" in line for line in lines)


def test_diagnose_reports_every_problem_not_only_the_first(tc, capsys, tmp_path):
    """Changed after signing AND sent to the wrong address AND outside the contract: all three, each with its
    rule and how to fix it; without --ca, trust is said to be unchecked."""
    data = signed(tc, overdracht(doel_brin="1aa"), "overdracht")
    data = data.replace(f"<tc:bronBrin>{BRON_BRIN}".encode(), b"<tc:bronBrin>11BB")
    f = tmp_path / "m.xml"
    f.write_bytes(data)
    assert main(["diagnose", str(f), "--to", "http://elsewhere/tc", "--soap-action", f"{TC}/afmelding"]) == 1
    out = capsys.readouterr().out
    fails = [line.split()[1] for line in out.splitlines() if line.startswith("FAIL")]
    assert fails == ["WB013", "WSA-TO", "WS002", "GW-XSD"], out
    assert out.count("     to fix: ") == len(fails)
    assert "skip PKI002 the certificate's chain and revocation: not checked: give --ca" in out


def test_purge_removes_what_is_older_than_the_retention(tc, capsys):
    post(tc, signed(tc, overdracht(), "overdracht"))
    [recent] = journal(tc)
    with tc.database.unit_of_work() as repo:
        for days in (10, 40, 400):
            add_entry(repo, JournalEntry(**{**asdict(recent), "received_at": recent.received_at
                                            - timedelta(days=days), "message_id": f"urn:uuid:old-{days}"}))
    assert purge_journal(tc.database, datetime.now(timezone.utc) - timedelta(days=365), batch=1) == 1
    assert main(["purge", "--days", "30", "--database", tc.database.url]) == 0
    assert "removed 1 journal entries" in capsys.readouterr().out
    with tc.database.unit_of_work(readonly=True) as repo:
        assert stats(repo)["entries"] == 2
        assert {e.message_id for e in transfer(repo, recent.sessie_id)} == {recent.message_id, "urn:uuid:old-10"}


def test_metrics_move_and_the_exchange_log_is_json(tc):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    labels = dict(service="trafficcenter", operation="overdracht", outcome="accepted")
    before = (value("oso_gateway_messages_total", **labels),
              value("oso_gateway_security_refusals_total", service="trafficcenter", faultcode="wsse:FailedCheck",
                    rule="WB013"),
              value("oso_gateway_sessions_opened_total", service="trafficcenter"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("oso.gateway.exchange")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        r = post(tc, signed(tc, overdracht(), "overdracht"))
        post(tc, signed(tc, overdracht(), "overdracht").replace(BRON_BRIN.encode(), b"99ZZ"))
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    after = (value("oso_gateway_messages_total", **labels),
             value("oso_gateway_security_refusals_total", service="trafficcenter", faultcode="wsse:FailedCheck",
                   rule="WB013"),
             value("oso_gateway_sessions_opened_total", service="trafficcenter"))
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1]
    text = requests.get(tc.url + "/metrics", timeout=5).text
    assert 'oso_gateway_message_duration_seconds_bucket{le="0.5",operation="overdracht"' in text

    accepted, refused = (json.loads(line) for line in stream.getvalue().splitlines())
    sessie_id = etree.fromstring(r.content).findtext(f".//{{{TC}}}sessieId")
    assert (accepted["message_id"], accepted["sessie_id"], accepted["verdict"]) == (
        mid(r.request.body), sessie_id, "accepted")
    assert (refused["verdict"], refused["rule"], refused["faultcode"]) == ("refused", "WB013", "wsse:FailedCheck")


def test_every_mounted_service_is_journalled(tc):
    app = tc.server.get_app()
    assert app.services, "the gateway mounts services"
    for path, (middleware, _) in app.services.items():
        assert any(isinstance(o, JournalObserver) for o in middleware.endpoint.observers), path


def test_serve_purges_hourly_in_each_worker(tc):
    """The housekeeping thread serve starts in each worker removes what is older than the retention."""
    from gateway.web.housekeeping import Housekeeper

    post(tc, signed(tc, overdracht(), "overdracht"))
    [recent] = journal(tc)
    with tc.database.unit_of_work() as repo:
        add_entry(repo, JournalEntry(**{**asdict(recent), "received_at": recent.received_at - timedelta(days=91)}))
    keeper = Housekeeper(tc.database, 90, interval_s=3600, first_delay_s=0.05).start()
    try:
        for _ in range(100):
            if keeper.last_run is not None:
                break
            threading.Event().wait(0.05)
    finally:
        keeper.stop()
    assert keeper.last_removed == 1 and [e.message_id for e in journal(tc)] == [recent.message_id]


def test_operator_accounts(tc, monkeypatch, capsys):
    db = ["--database", tc.database.url]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["operator", "add", "ops", "--password-stdin", *db]) == 2  # too short
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["operator", "add", "ops", "--password-stdin", *db]) == 0
    assert main(["operator", "add", "bad name", "--password-stdin", *db]) == 2
    assert main(["operator", "list", *db]) == 0
    out = capsys.readouterr().out
    assert "operator ops: added" in out and "ops\tsince" in out and "a long enough password" not in out
    from gateway.store.journal import operator_hash

    with tc.database.unit_of_work(readonly=True) as repo:
        assert operator_hash(repo, "ops").startswith("scrypt$32768$8$1$")
    assert main(["operator", "remove", "ops", *db]) == 0
    assert main(["operator", "remove", "ops", *db]) == 2
