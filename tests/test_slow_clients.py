"""Slow and greedy clients against a real `serve` (gateway/web/worker.py): connections that send half a request and
then nothing are closed after read_timeout_s, one address holds only max_connections_per_client connections, and
meanwhile /health and a signed ping from another client keep answering. A kept-alive connection is closed after
max_requests_per_connection requests, so load spreads over the workers again."""

from __future__ import annotations

import os
import socket
import time

import pytest
import requests

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.wsse import Credentials, TrustStore

from .conftest import free_port
from .serve_process import start_serve, stop, wait_healthy

ATTACKER = "127.0.0.2"  # another loopback address: another client, as far as the server can tell
READ_TIMEOUT = 2
PER_CLIENT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slow")
    port = free_port()
    env = {**os.environ, "OSO_GATEWAY_PORT": str(port), "OSO_GATEWAY_WORKERS": "1", "OSO_GATEWAY_THREADS": "4",
           "OSO_GATEWAY_READ_TIMEOUT_S": str(READ_TIMEOUT), "OSO_GATEWAY_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
           "OSO_GATEWAY_MAX_REQUESTS_PER_CONNECTION": "3", "OSO_GATEWAY_LOG_LEVEL": "warning"}
    proc, log = start_serve(folder, "--dev", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout=40)
        yield url, port, folder, log
    finally:
        stop(proc)


def _half_request(port: int, source: str = ATTACKER, body: bool = False) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    if body:  # the headers whole, the body a tenth of what they announce
        s.sendall(b"POST /tc HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<a>")
    else:  # the request line and half the headers
        s.sendall(b"POST /tc HTTP/1.1\r\nHost: x\r\nContent-Le")
    return s


def _closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``s`` (recv returns b"" or a reset), or None when it stayed open."""
    s.settimeout(seconds)
    t0 = time.monotonic()
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return time.monotonic() - t0
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    except TimeoutError:
        return None


def _signed_ping(url: str, folder) -> str:
    from gateway.pki import issue

    pki = folder / "var" / "pki"
    name = "slowtest-vendor"
    if not (pki / f"{name}.cert.pem").exists():
        issue(pki, name, "00000001234567890077")
    plugin = WusSignature(Credentials.from_files(pki / f"{name}.cert.pem", pki / f"{name}.key.pem"),
                          TrustStore.from_files(pki / "ca.pem", pki / "crl.pem"))
    _, service = client_for(contracts.wsdl_path("trafficcenter"), plugin, address=url + "/tc")
    return service.ping().afzenderOin


def test_half_requests_hold_no_thread_for_long_and_others_keep_being_served(server):
    url, port, folder, log = server
    held = [_half_request(port, body=i % 2 == 1) for i in range(8)]  # twice the threads of the worker
    try:
        t0 = time.monotonic()
        answered = []
        while time.monotonic() - t0 < 2 * READ_TIMEOUT + 1:
            start = time.monotonic()
            assert requests.get(url + "/health", timeout=5).status_code == 200
            answered.append(time.monotonic() - start)
            time.sleep(0.2)
        assert max(answered) < 1.5, str([round(a, 2) for a in answered])  # never stuck behind the slow clients
        assert _signed_ping(url, folder) == "00000001234567890077"
        # the connections beyond the per-client cap were refused at once; the others closed after the read timeout
        closed = [_closed_within(s, READ_TIMEOUT + 5) for s in held]
        assert all(c is not None for c in closed), closed
    finally:
        for s in held:
            s.close()
    text = log.read_text(errors="replace")
    assert "sent nothing for" in text and "already holds" in text
    assert "Traceback" not in text


def test_a_slow_client_is_cut_off_after_the_read_timeout(server):
    _, port, _, _ = server
    s = _half_request(port, source="127.0.0.3")
    try:
        waited = _closed_within(s, READ_TIMEOUT + 6)
        assert waited is not None and waited < READ_TIMEOUT + 4, waited
    finally:
        s.close()


def test_a_kept_alive_connection_is_closed_after_max_requests(server):
    url, _, _, _ = server
    with requests.Session() as session:
        answers = [session.get(url + "/health", timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers.get("Connection", "").lower() for a in answers][:2] != ["close", "close"]
    assert answers[2].headers.get("Connection", "").lower() == "close"  # the third of three on one connection
