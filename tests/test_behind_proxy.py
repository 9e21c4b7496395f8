"""The documented deployment behind nginx (docs/deploy.md, docs/deploy/nginx.conf), run for real: Debian's nginx
with that very file, terminating two-way TLS in front of a real `serve` on plain HTTP.

- a signed ping through nginx over two-way TLS is answered (WT001 judged on the certificate nginx passes on);
- a TLS client certificate of another OIN than the signature's is refused with WT001;
- a client that reaches the gateway directly cannot claim a certificate or an address in the proxy's headers;
- many clients that send half a request hold nginx, not the gateway: /health and a signed ping keep answering while
  they hang on, with fewer gateway threads than slow clients;
- the journal records the client's address as nginx passed it on, not nginx's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.wsse import Credentials, TrustStore

from .conftest import free_port
from .serve_process import start_serve, stop, tail, wait_healthy

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[1] / "docs" / "deploy" / "nginx.conf"
VENDOR_OIN, OTHER_OIN = "00000001234567890066", "00000001234567890067"
SLOW = "127.0.0.4"  # the slow clients' own loopback address


def render(prefix: Path, **places: str) -> Path:
    text = CONF.read_text(encoding="utf-8").replace("@PREFIX@", str(prefix))
    for name, value in places.items():
        text = text.replace(f"@{name}@", value)
    assert "@" not in "".join(line.split("#")[0] for line in text.splitlines()), "a place left unfilled"
    out = prefix / "nginx.conf"
    out.write_text(text, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    assert os.path.exists(NGINX), "Debian's nginx is needed (make system-deps installs it)"
    from gateway.pki import init_pki, issue

    folder = tmp_path_factory.mktemp("proxied")
    pki = folder / "var" / "pki"
    init_pki(pki)
    vendor = issue(pki, "proxy-vendor", VENDOR_OIN)
    other = issue(pki, "proxy-other", OTHER_OIN)
    up, port = free_port(), free_port()
    public = f"https://127.0.0.1:{port}"
    env = {**os.environ, "OSO_GATEWAY_PORT": str(up), "OSO_GATEWAY_WORKERS": "1", "OSO_GATEWAY_THREADS": "2",
           "OSO_GATEWAY_PUBLIC_URL": public, "OSO_GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
           "OSO_GATEWAY_PROXY_CLIENT_CERT_HEADER": "X-Client-Cert", "OSO_GATEWAY_LOG_LEVEL": "warning",
           "OSO_GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "2"}
    proc, log = start_serve(folder, "--dev", env=env)
    prefix = folder / "nginx"
    prefix.mkdir()
    conf = render(prefix, LISTEN=f"127.0.0.1:{port}", UPSTREAM=f"127.0.0.1:{up}",
                  TLS_CERT=str(pki / "gateway.cert.pem"), TLS_KEY=str(pki / "gateway.key.pem"),
                  CLIENT_CA=str(pki / "ca.pem"), CRL=str(pki / "crl.pem"))
    nginx = None
    try:
        wait_healthy(f"http://127.0.0.1:{up}", proc, log, timeout=40)
        checked = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"),
                                  "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        session = _https(vendor, pki)
        wait_healthy(public, proc, log, session=session, timeout=20)
        yield {"public": public, "up": up, "port": port, "pki": pki, "vendor": vendor, "other": other,
               "folder": folder, "log": log}
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        stop(proc)


def _https(party, pki: Path, source: str | None = None):
    session = requests.Session()
    session.trust_env = False
    session.cert = (str(party.cert_path), str(party.key_path))
    session.verify = str(pki / "ca.pem")
    if source:
        from requests.adapters import HTTPAdapter

        class FromSource(HTTPAdapter):
            def init_poolmanager(self, *a, **kw):
                kw["source_address"] = (source, 0)
                return super().init_poolmanager(*a, **kw)
        session.mount("https://", FromSource())
    return session


def _ping(env, signer, tls_party):
    """A signed ping through nginx, signed as ``signer``, over TLS as ``tls_party``: (afzenderOin or None, Fault)."""
    from zeep.exceptions import Fault
    from zeep.transports import Transport

    pki = env["pki"]
    plugin = WusSignature(Credentials.from_files(signer.cert_path, signer.key_path),
                          TrustStore.from_files(pki / "ca.pem", pki / "crl.pem"))
    transport = Transport(session=_https(tls_party, pki), timeout=10)
    _, service = client_for(contracts.wsdl_path("trafficcenter"), plugin, address=env["public"] + "/tc",
                            transport=transport)
    try:
        return service.ping().afzenderOin, None
    except Fault as fault:
        return None, fault


def test_a_signed_ping_through_nginx_over_two_way_tls(proxied):
    assert _ping(proxied, proxied["vendor"], proxied["vendor"]) == (VENDOR_OIN, None)


def test_a_tls_client_certificate_of_another_oin_is_refused_with_wt001(proxied):
    oin, fault = _ping(proxied, proxied["vendor"], proxied["other"])
    assert oin is None and fault is not None and "WT001" in fault.message


def test_a_client_that_bypasses_nginx_cannot_claim_a_certificate_or_an_address(proxied):
    """From another address than the proxy's, X-Client-Cert and X-Forwarded-For are dropped: the signed ping that
    passes through nginx is refused (no TLS client certificate: WT001) when sent straight to the gateway with the
    vendor's own certificate in the header."""
    from gateway.wsse import sign_envelope

    vendor = proxied["vendor"]
    op = contracts.service("trafficcenter").operation("ping")
    envelope = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/>'
                b'<soapenv:Body><oso:pingRequest xmlns:oso="' + contracts.OSO_NS.encode() + b'"/></soapenv:Body>'
                b"</soapenv:Envelope>")
    signed = sign_envelope(envelope, Credentials.from_files(vendor.cert_path, vendor.key_path),
                           to=proxied["public"] + "/tc", action=op.action).to_bytes()
    cert = quote(Path(vendor.cert_path).read_text())
    s = requests.Session()
    s.trust_env = False
    from requests.adapters import HTTPAdapter

    class FromSource(HTTPAdapter):
        def init_poolmanager(self, *a, **kw):
            kw["source_address"] = ("127.0.0.5", 0)
            return super().init_poolmanager(*a, **kw)
    s.mount("http://", FromSource())
    r = s.post(f"http://127.0.0.1:{proxied['up']}/tc", data=signed,
               headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{op.action}"',
                        "X-Client-Cert": cert, "X-Forwarded-For": "10.9.8.7"}, timeout=10)
    assert r.status_code == 500 and b"WT001" in r.content and b"no TLS client certificate" in r.content


def _half_request(env, n: int):
    """Over two-way TLS (the vendor's certificate), half a request: the headers whole and a tenth of the body they
    announce (every other one), or half the headers."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(env["pki"] / "ca.pem"))
    ctx.load_cert_chain(str(env["vendor"].cert_path), str(env["vendor"].key_path))
    raw = socket.create_connection(("127.0.0.1", env["port"]), timeout=10, source_address=(SLOW, 0))
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    if n % 2:
        s.sendall(b"POST /tc HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<a>")
    else:
        s.sendall(b"POST /tc HTTP/1.1\r\nHost: x\r\nContent-Le")
    return s


def test_slow_clients_wait_in_nginx_while_health_and_a_signed_ping_answer(proxied):
    """Twelve connections from one address that never finish (six times the gateway's two threads, and six times
    its per-client cap) are held by nginx: the gateway never sees them, so it keeps answering."""
    held = [_half_request(proxied, n) for n in range(12)]
    try:
        session = _https(proxied["vendor"], proxied["pki"])
        t0 = time.monotonic()
        answered = []
        while time.monotonic() - t0 < 3:
            start = time.monotonic()
            assert session.get(proxied["public"] + "/health", timeout=5).status_code == 200
            answered.append(time.monotonic() - start)
            time.sleep(0.2)
        assert max(answered) < 1.5, [round(a, 2) for a in answered]
        assert _ping(proxied, proxied["vendor"], proxied["vendor"]) == (VENDOR_OIN, None)
    finally:
        for s in held:
            s.close()
    assert "Traceback" not in tail(proxied["log"], 20000)


def test_the_journal_records_the_clients_address_not_the_proxys(proxied):
    """An unsigned message posted through nginx from 127.0.0.6: its refusal is tallied under that address."""
    from gateway.store import Database

    session = _https(proxied["vendor"], proxied["pki"], source="127.0.0.6")
    r = session.post(proxied["public"] + "/tc", data=b"<not-a-soap-message/>",
                     headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
    assert r.status_code == 500 and b"Fault" in r.content
    db = Database(f"sqlite:///{proxied['folder'] / 'var' / 'gateway.db'}")
    try:
        from sqlalchemy import text

        deadline = time.monotonic() + 5
        rows = []
        while time.monotonic() < deadline and not rows:
            with db.engine.connect() as conn:
                rows = [r[0] for r in conn.execute(text("SELECT peer FROM journal WHERE peer IS NOT NULL"))]
            time.sleep(0.2)
    finally:
        db.dispose()
    assert "127.0.0.6" in rows, rows  # without the proxy's X-Forwarded-For it would be nginx's 127.0.0.1
