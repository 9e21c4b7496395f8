"""`oso-gateway serve` as the README runs it: a real gunicorn with two workers, in a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.wsse import Credentials, TrustStore

from .conftest import free_port
from .serve_process import start_serve, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    env = {**os.environ, "OSO_GATEWAY_PORT": str(port)}
    proc, log = start_serve(tmp_path, "--dev", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout=30)
        yield url, tmp_path
    finally:
        stop(proc)


def test_dev_serve_from_a_fresh_folder(dev_server, pki):
    url, folder = dev_server
    dev_pki = folder / "var" / "pki"
    assert (dev_pki / "ca.pem").is_file(), "serve --dev makes its test PKI"
    # A vendor with a certificate from the dev PKI calls ping through the real server, signed both ways.
    from gateway.pki import issue

    vendor = issue(dev_pki, "vendor", "00000001234567890000")
    plugin = WusSignature(Credentials.from_files(vendor.cert_path, vendor.key_path),
                          TrustStore.from_files(dev_pki / "ca.pem", dev_pki / "crl.pem"))
    _, service = client_for(contracts.wsdl_path("trafficcenter"), plugin, address=url + "/tc")
    for _ in range(4):  # reaches both workers
        assert service.ping().afzenderOin == "00000001234567890000"
    # a certificate of the session's other PKI is not trusted by this gateway
    stranger = WusSignature(pki.credentials("vendor"), TrustStore.from_files(dev_pki / "ca.pem"))
    _, service = client_for(contracts.wsdl_path("trafficcenter"), stranger, address=url + "/tc")
    import zeep.exceptions

    with pytest.raises(zeep.exceptions.Fault) as info:
        service.ping()
    assert "PKI002" in info.value.message


def test_serve_refuses_missing_keys(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[gateway]\ncert = "nope.pem"\nkey = "nope.key"\nca = "ca.pem"\n')
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg)], cwd=tmp_path,
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and b"nope.pem" in r.stderr and b"Traceback" not in r.stderr
    cfg.write_text('[gateway]\nprot = 1\n')
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg)], cwd=tmp_path,
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and b"unknown setting 'prot'" in r.stderr
