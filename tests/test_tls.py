"""`oso-gateway serve` with two-way TLS (WT001): a real gunicorn (2 workers) with the test PKI's gateway certificate,
client certificates required from the test CA, TLS 1.2 at least. The TLS client certificate must belong to the OIN
that signed the message; without one (or with one we do not trust, or on TLS 1.1) there is no connection at all."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway import contracts

from .conftest import free_port
from .harness import https_as
from .serve_process import start_serve, stop, wait_healthy
from .tc_harness import DOEL_OIN, STRANGER_OIN

ROOT = Path(__file__).resolve().parents[1]
TC_WSDL = contracts.wsdl_path("trafficcenter")
TIMEOUT = 10  # s, for one call


@dataclass
class TlsServe:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path


def _start(folder: Path, config_text: str) -> tuple[subprocess.Popen, Path]:
    config = folder / "gateway.toml"
    config.write_text(config_text, encoding="utf-8")
    return start_serve(folder, "--config", str(config))


def _https(pki, party) -> requests.Session:
    """A requests session that presents ``party``'s certificate and trusts only the test CA."""
    return https_as(party, pki.ca)


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    gw, port = pki.gateway, free_port()
    proc, log = _start(folder, (
        "[gateway]\n"
        f'host = "127.0.0.1"\nport = {port}\nworkers = 2\nlog_level = "warning"\n'
        f'cert = "{gw.cert_path}"\nkey = "{gw.key_path}"\nca = "{pki.ca}"\ncrl = "{pki.crl}"\n'
        f'tls_cert = "{gw.cert_path}"\ntls_key = "{gw.key_path}"\ntls_client_ca = "{pki.ca}"\n'
        f'database_url = "sqlite:///{folder / "gateway.db"}"\n'))
    url = f"https://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, session=_https(pki, pki.party("doel-las", DOEL_OIN)))
        yield TlsServe(url, port, proc, log)
    finally:
        stop(proc)


def _tc(pki, server: TlsServe, signer: tuple[str, str], tls_party):
    """A zeep TC client signing as ``signer`` (name, OIN) over HTTPS with ``tls_party``'s client certificate."""
    from zeep.transports import Transport

    from gateway.client import WusSignature, client_for

    plugin = WusSignature(pki.credentials(*signer), pki.trust())
    transport = Transport(session=_https(pki, tls_party), timeout=TIMEOUT, operation_timeout=TIMEOUT)
    _, service = client_for(TC_WSDL, plugin, address=server.url + "/tc", transport=transport)
    return service, plugin


def _client_context(pki, party=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if party is not None:
        context.load_cert_chain(str(party.cert_path), str(party.key_path))
    return context


def _exchange(context: ssl.SSLContext, port: int) -> tuple[str | None, bytes]:
    """Handshake, send GET /health, read the answer: (TLS version, first bytes of the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return tls.version(), tls.recv(64)


def test_ping_over_two_way_tls_with_the_signers_certificate(pki, tls_server):
    doel = pki.party("doel-las", DOEL_OIN)
    service, plugin = _tc(pki, tls_server, ("doel-las", DOEL_OIN), doel)
    for _ in range(4):  # both workers
        answer = service.ping()
        assert (answer.afzenderOin, answer.resultaat) == (DOEL_OIN, "Geslaagd")
        assert plugin.last_response.oin == pki.gateway.oin  # the answer is signed by the gateway
    version, head = _exchange(_client_context(pki, doel), tls_server.port)
    assert version == "TLSv1.3" and head.startswith(b"HTTP/1.1 200")  # 1.3 preferred
    # the binding is by OIN: another certificate of the same OIN (a separate TLS certificate) is fine too
    service, _ = _tc(pki, tls_server, ("doel-las", DOEL_OIN), pki.party("doel-las-tls", DOEL_OIN))
    assert service.ping().afzenderOin == DOEL_OIN


def test_a_tls_certificate_of_another_oin_than_the_signature_is_wt001(pki, tls_server):
    import zeep.exceptions

    stranger = pki.party("ander-las", STRANGER_OIN)
    service, plugin = _tc(pki, tls_server, ("doel-las", DOEL_OIN), stranger)
    with pytest.raises(zeep.exceptions.Fault) as info:
        service.ping()
    assert info.value.message.startswith("WT001"), info.value.message
    assert "FailedAuthentication" in str(info.value.code)
    # zeep raised it only after our plug-in verified the Fault's signature (the gateway signs every answer)
    assert plugin.last_response is not None and plugin.last_response.is_fault
    assert plugin.last_response.relates_to == plugin.last_request[0]


def test_without_a_client_certificate_there_is_no_connection(pki, tls_server):
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)) as info:
        version, head = _exchange(_client_context(pki), tls_server.port)
        if not head:  # TLS 1.3: the server's refusal may arrive as a closed connection
            raise ConnectionResetError("closed without an answer")
    assert isinstance(info.value, (ConnectionResetError, BrokenPipeError)) or \
        re.search(r"CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE", str(info.value)), info.value
    with pytest.raises(requests.exceptions.ConnectionError):  # SSLError is one
        session = requests.Session()
        session.trust_env = False
        session.get(tls_server.url + "/health", verify=str(pki.ca), timeout=TIMEOUT)


def test_a_client_certificate_from_another_ca_is_refused(pki, tls_server):
    untrusted = pki.party("untrusted-las", DOEL_OIN, untrusted=True)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)) as info:
        version, head = _exchange(_client_context(pki, untrusted), tls_server.port)
        if not head:
            raise ConnectionResetError("closed without an answer")
    assert isinstance(info.value, (ConnectionResetError, BrokenPipeError)) or \
        re.search(r"UNKNOWN_CA|BAD_CERTIFICATE|HANDSHAKE_FAILURE", str(info.value)), info.value


def test_tls_1_1_is_refused_and_1_2_accepted(pki, tls_server):
    doel = pki.party("doel-las", DOEL_OIN)
    old = _client_context(pki, doel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1_1 itself is deprecated
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OUR side offer TLS 1.1, so that the refusal is the server's
    with pytest.raises(ssl.SSLError) as info:
        _exchange(old, tls_server.port)
    assert "NO_PROTOCOLS_AVAILABLE" not in str(info.value), "the client could not even offer TLS 1.1"
    assert re.search(r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION", str(info.value)), info.value
    tls12 = _client_context(pki, doel)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, head = _exchange(tls12, tls_server.port)
    assert version == "TLSv1.2" and head.startswith(b"HTTP/1.1 200")


def _readme_config() -> str:
    """The TOML block of the README's "Running it for real" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running it for real", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block, "the README's 'Running it for real' section has no TOML example"
    return block.group(1)


def test_the_readme_run_for_real_config_serves(pki, tmp_path):
    """The README's example config, with its file paths pointed at the test PKI, a free port and a SQLite file,
    starts `serve` as written (host and all), and the gateway answers over its TLS with a client certificate."""
    from gateway.config import load_config

    example = tomllib.loads(_readme_config())
    settings = example.get("gateway", example)
    config_path = tmp_path / "readme.toml"
    config_path.write_text(_readme_config(), encoding="utf-8")
    load_config(config_path, environ={})  # every setting it names is a known one
    gw = pki.gateway
    files = {"cert": gw.cert_path, "key": gw.key_path, "ca": pki.ca, "crl": pki.crl, "tls_cert": gw.cert_path,
             "tls_key": gw.key_path, "tls_client_ca": pki.ca}
    port = free_port()
    lines = ["[gateway]"]
    for key, value in settings.items():
        if key in files:
            value = str(files[key])
        elif key == "port":
            value = port
        elif key == "database_url":
            value = f"sqlite:///{tmp_path / 'gateway.db'}"
        lines.append(f"{key} = {json.dumps(value)}")  # a JSON string or number is a TOML one
    proc, log = _start(tmp_path, "\n".join(lines) + "\n")
    tls = bool(settings.get("tls_cert"))
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        session = _https(pki, pki.party("doel-las", DOEL_OIN)) if tls else requests.Session()
        wait_healthy(base, proc, log, session=session)
    finally:
        stop(proc)


REVOKED = r"CERTIFICATE_REVOKED|closed without|Reset|Broken"


def _refusal(context: ssl.SSLContext, port: int) -> str:
    """What the server's refusal of this handshake looked like (AssertionError when it answered). A refusal of the
    client certificate arrives as an alert (or, in TLS 1.3, may arrive as a closed connection)."""
    try:
        version, head = _exchange(context, port)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    assert not head, f"the server answered over {version}: {head!r}"
    return "closed without an answer"  # TLS 1.3: the refusal may arrive as a closed connection


def test_a_revoked_client_certificate_gets_no_connection_and_an_out_of_date_crl_refuses_all(tmp_path):
    """With a CRL configured, the handshake checks the client certificate against it (fail closed): a revoked one is
    refused; so is a certificate revoked after serve started (each connection reads crl.pem again); and once the CRL
    is past its nextUpdate, every client certificate is refused, as the signature's check refuses every signer."""
    from datetime import datetime, timedelta, timezone

    from gateway.pki import init_pki, issue, revoke

    pki_dir = tmp_path / "pki"  # a PKI of its own: revoking rewrites crl.pem, and the session's is shared
    gw = init_pki(pki_dir)
    good = issue(pki_dir, "doel-las", DOEL_OIN)
    revoked = issue(pki_dir, "revoked-las", DOEL_OIN, revoked=True)
    later = issue(pki_dir, "later-las", DOEL_OIN)
    issue(pki_dir, "spare-las", DOEL_OIN)
    port = free_port()
    proc, log = _start(tmp_path, (
        "[gateway]\n"
        f'host = "127.0.0.1"\nport = {port}\nworkers = 1\nlog_level = "warning"\n'
        f'cert = "{gw.cert_path}"\nkey = "{gw.key_path}"\nca = "{pki_dir / "ca.pem"}"\n'
        f'crl = "{pki_dir / "crl.pem"}"\ntls_cert = "{gw.cert_path}"\n'
        f'database_url = "sqlite:///{tmp_path / "gateway.db"}"\n'))

    def context(party) -> ssl.SSLContext:
        c = ssl.create_default_context(cafile=str(pki_dir / "ca.pem"))
        c.load_cert_chain(str(party.cert_path), str(party.key_path))
        return c

    def answers(party) -> bool:
        version, head = _exchange(context(party), port)
        return head.startswith(b"HTTP/1.1 200")

    session = https_as(good, pki_dir / "ca.pem")
    try:
        wait_healthy(f"https://127.0.0.1:{port}", proc, log, session=session)
        assert answers(good) and answers(later)
        assert re.search(REVOKED, _refusal(context(revoked), port))
        revoke(pki_dir, "later-las")  # after serve started: the next connection knows
        assert re.search(REVOKED, _refusal(context(later), port))
        assert answers(good)
        # a CRL past its nextUpdate (issued 40 days ago, valid 30): fail closed, nobody gets a connection
        revoke(pki_dir, "spare-las", now=datetime.now(timezone.utc) - timedelta(days=40))
        assert re.search(r"CERTIFICATE_EXPIRED|CRL|closed without|Reset|Broken", _refusal(context(good), port))
        session.close()  # a connection kept alive was judged at its handshake: only new ones are refused
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(f"https://127.0.0.1:{port}/health", timeout=TIMEOUT)
    finally:
        stop(proc)
