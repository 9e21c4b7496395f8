"""The servicedesk under a real ``oso-gateway serve`` (gunicorn, two worker processes): /metrics adds up the workers'
counts; the logs are JSON lines with the MessageID; and an acknowledged message is in the journal even when the
whole server is killed (SIGKILL) while requests are still arriving — the entry commits with the message, before the
answer leaves."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time

import requests
from lxml import etree
from sqlalchemy import text

from gateway.store import Database
from gateway.wsse import Credentials, ns, sign_request

from .conftest import free_port
from .serve_process import wait_healthy

OSO = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
PING = f"{OSO}/ping"


def ping_body(i: int) -> bytes:
    """A ping (the contract's pingRequest is empty: each message differs by its MessageID, not by ``i``)."""
    return (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body>'
            f'<tc:pingRequest xmlns:tc="{OSO}"/></soapenv:Body></soapenv:Envelope>').encode()


def metric(text_: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text_.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return 0.0


def test_serve_journals_before_it_answers_counts_across_workers_and_logs_json(tmp_path):
    port = free_port()
    env = {**os.environ, "OSO_GATEWAY_PORT": str(port), "OSO_GATEWAY_WORKERS": "2"}
    stderr = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--dev"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, tmp_path / "stderr.log", timeout=30)
        gw = tmp_path / "var" / "pki"
        creds = Credentials.from_files(gw / "gateway.cert.pem", gw / "gateway.key.pem")  # the dev test vendor

        def send(i: int) -> tuple[str, requests.Response]:
            data = sign_request(ping_body(i), creds, to=url + "/tc", action=PING)
            mid = etree.fromstring(data).findtext(f".//{{{ns.WSA}}}MessageID")
            return mid, requests.post(url + "/tc", data=data, timeout=10,
                                      headers={"Content-Type": "text/xml", "SOAPAction": PING})

        # /metrics adds up both workers
        labels = dict(service="trafficcenter", operation="ping", outcome="accepted")
        before = metric(requests.get(url + "/metrics", timeout=5).text, "oso_gateway_messages_total", **labels)
        for i in range(12):
            _, r = send(i)
            assert r.status_code == 200
        after = requests.get(url + "/metrics", timeout=5).text
        assert metric(after, "oso_gateway_messages_total", **labels) - before == 12
        assert metric(after, "oso_gateway_message_duration_seconds_count", service="trafficcenter",
                      operation="ping") >= 12
        assert stat.S_IMODE((tmp_path / "var" / "dashboard.key").stat().st_mode) == 0o600

        # crash consistency: four clients send pings until the server is killed outright
        answered, stop = [], threading.Event()

        def client(k: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    mid, r = send(1000 * k + i)
                except requests.RequestException:
                    return
                if r.status_code == 200:
                    answered.append(mid)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGKILL)  # master and workers, mid-flight
        stop.set()
        for t in threads:
            t.join(timeout=15)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        stderr.close()

    assert len(answered) > 20, "the clients got answers before the kill"
    db = Database(f"sqlite:///{tmp_path / 'var' / 'gateway.db'}")
    try:
        with db.unit_of_work(readonly=True) as repo:
            kept = {m for (m,) in repo.session.execute(text("SELECT message_id FROM journal WHERE verdict = "
                                                            "'accepted' AND operation = 'ping'"))}
    finally:
        db.dispose()
    missing = [m for m in answered if m not in kept]
    assert not missing, f"{len(missing)} of {len(answered)} acknowledged pings are not in the journal"

    lines = (tmp_path / "stderr.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    exchanges = [r for r in records if r["logger"] == "oso.gateway.exchange"]
    assert len(exchanges) >= len(answered) and all(r["message_id"].startswith("urn:uuid:") for r in exchanges)
    assert len({r["pid"] for r in exchanges}) == 2  # both workers answered, and both logged
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert access and all("?" not in r["message"] for r in access)  # no query strings in the access log
