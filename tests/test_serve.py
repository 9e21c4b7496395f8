"""`oso-gateway serve` as the README runs it: a real gunicorn with two workers, in a fresh folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway.client import WusSignature, client_for
from gateway.wsse import Credentials, TrustStore

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve did not become healthy")


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    env = {**os.environ, "OSO_GATEWAY_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--dev"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_dev_serve_from_a_fresh_folder(dev_server, pki):
    url, folder = dev_server
    dev_pki = folder / "var" / "pki"
    assert (dev_pki / "ca.pem").is_file(), "serve --dev makes its test PKI"
    # A vendor with a certificate from the dev PKI calls ping through the real server, signed both ways.
    from gateway.pki import issue

    vendor = issue(dev_pki, "vendor", "00000001234567890000")
    plugin = WusSignature(Credentials.from_files(vendor.cert_path, vendor.key_path),
                          TrustStore.from_files(dev_pki / "ca.pem", dev_pki / "crl.pem"))
    _, service = client_for(ROOT / "wsdl" / "trafficcenter-1.wsdl", plugin, address=url + "/tc")
    for _ in range(4):  # reaches both workers
        assert service.ping(echo="x").afzenderOin == "00000001234567890000"
    # a certificate of the session's other PKI is not trusted by this gateway
    stranger = WusSignature(pki.credentials("vendor"), TrustStore.from_files(dev_pki / "ca.pem"))
    _, service = client_for(ROOT / "wsdl" / "trafficcenter-1.wsdl", stranger, address=url + "/tc")
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
