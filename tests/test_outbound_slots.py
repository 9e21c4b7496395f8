"""The reference source calls out on a bounded number of slots (gateway/client/bron.py): while its calls to a slow TC
fill them, a further documentRequest is answered TrafficCenterNietBeschikbaar within the slot wait, instead of
queueing behind them into a time-out; a slot is free again when a call ends. And serve's reference source keeps one
thread of each worker for what the gateway answers itself."""

from __future__ import annotations

import threading
import time

from gateway.client.bron import UNAVAILABLE, BronClient
from gateway.school.uitlevering import Verzoek

from .conftest import free_port
from .harness import serve, stop


def _slow_tc(seconds: float, started: threading.Event):
    def app(environ, start_response):
        started.set()
        time.sleep(seconds)
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"slow\n"]
    return app


def _verzoek() -> Verzoek:
    return Verzoek("00000000-0000-4000-8000-000000000001", "0000000700000YY00931", "00YY", "11AA",
                   "0000000700000AA00000", "overstapdossier", "00000001000000000044", "a2V5", "1234", None)


def test_a_call_that_finds_no_free_slot_is_not_made_and_says_so_quickly(pki):
    started = threading.Event()
    port = free_port()
    httpd = serve(_slow_tc(1.5, started), port)
    try:
        client = BronClient(pki.credentials("gateway"), pki.trust(), tc_url=f"http://127.0.0.1:{port}/tc",
                            timeout_s=10, max_concurrent=1, slot_wait_s=0.2)
        client.caller.backoff_s = 0.0
        first = {}
        holder = threading.Thread(target=lambda: first.setdefault("answer", client.sessiecontrole(_verzoek())))
        holder.start()
        assert started.wait(5)
        t0 = time.monotonic()
        second = client.sessiecontrole(_verzoek())
        waited = time.monotonic() - t0
        assert second.resultaat == UNAVAILABLE and "busy" in second.reden
        assert waited < 1.0, waited  # the slot wait, not the slow call
        holder.join(20)
        assert first["answer"].resultaat == UNAVAILABLE and "busy" not in first["answer"].reden  # it was made
        started.clear()
        third = client.sessiecontrole(_verzoek())  # the slot is free again: this call is made
        assert started.is_set() and "busy" not in third.reden
    finally:
        stop(httpd)


def test_serve_keeps_a_thread_of_each_worker_free_of_outbound_calls(pki, tmp_path):
    from gateway.config import Config
    from gateway.services.aanleverpunt import bron_for
    from gateway.store import Database

    database = Database(f"sqlite:///{tmp_path / 'g.db'}")
    gw = pki.gateway
    try:
        for threads, slots in ((4, 3), (2, 1), (1, 1)):
            config = Config(cert=str(gw.cert_path), key=str(gw.key_path), ca=str(pki.ca), crl=str(pki.crl),
                            threads=threads, zoeksleutel_key=str(tmp_path / "k"))
            tc = bron_for(config, pki.credentials("gateway"), pki.trust(), database).tc
            assert tc._slots._value == slots  # noqa: SLF001 - the semaphore's count is what is configured
    finally:
        database.dispose()
