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
    r = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(cfg)], cwd=tmp_path,
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and b"nope.pem" in r.stderr and b"Traceback" not in r.stderr
    cfg.write_text('[gateway]\nprot = 1\n')
    r = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(cfg)], cwd=tmp_path,
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and b"unknown setting 'prot'" in r.stderr


def _serve(folder: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    from .serve_process import clean_env

    return subprocess.run([sys.executable, "-m", "gateway", "serve", *args], cwd=folder, capture_output=True,
                          text=True, timeout=60, env=clean_env(**(env or {})))


def _one_line_no_banner(r: subprocess.CompletedProcess, status: int, *fragments: str) -> None:
    assert r.returncode == status, r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("serve: "), r.stderr
    assert "OSO gateway on" not in r.stderr + r.stdout and "Traceback" not in r.stderr + r.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def dev_pki_folder(tmp_path):
    """A folder with a test PKI under var/pki (as serve --dev makes it) and another, unrelated PKI beside it."""
    from gateway.pki import init_pki

    init_pki(tmp_path / "var" / "pki")
    init_pki(tmp_path / "other")
    return tmp_path


def test_a_crl_whose_signature_does_not_match_is_one_line_before_any_worker(dev_pki_folder):
    r = _serve(dev_pki_folder, env={"OSO_GATEWAY_CRL": str(dev_pki_folder / "other" / "crl.pem"),
                                    "OSO_GATEWAY_PORT": str(free_port())})
    _one_line_no_banner(r, 2, "cannot use the trust anchors var/pki/ca.pem", "other/crl.pem")


def test_a_certificate_file_that_is_no_pem_is_named(dev_pki_folder):
    (dev_pki_folder / "junk.pem").write_text("not a certificate\n")
    r = _serve(dev_pki_folder, env={"OSO_GATEWAY_CERT": "junk.pem", "OSO_GATEWAY_PORT": str(free_port())})
    _one_line_no_banner(r, 2, "junk.pem: not a PEM certificate")


def test_a_port_in_use_is_one_line(dev_pki_folder):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        r = _serve(dev_pki_folder, "--dev", env={"OSO_GATEWAY_PORT": str(port)})
    finally:
        busy.close()
    _one_line_no_banner(r, 2, f"port {port} on 127.0.0.1 is in use", "--port")


def test_a_database_that_cannot_be_reached_is_exit_3(dev_pki_folder):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2"
    r = _serve(dev_pki_folder, env={"OSO_GATEWAY_DATABASE_URL": url, "OSO_GATEWAY_PORT": str(free_port())})
    _one_line_no_banner(r, 3, "cannot be used")


def test_dev_never_writes_outside_its_dev_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    work = tmp_path / "work"
    work.mkdir()
    r = _serve(work, "--dev", env={"OSO_GATEWAY_CA": str(elsewhere / "ca.pem"),
                                   "OSO_GATEWAY_PORT": str(free_port())})
    _one_line_no_banner(r, 2, "serve --dev makes files only under var/", f"ca is {elsewhere / 'ca.pem'}")
    assert not elsewhere.exists()  # no CA key was written there
    assert list(work.iterdir()) == []  # nor anything in the working folder


def test_the_commands_serve_prints_carry_its_port(tmp_path):
    port = free_port()
    proc, log = start_serve(tmp_path, "--dev", env={**os.environ, "OSO_GATEWAY_PORT": str(port),
                                                    "OSO_GATEWAY_WORKERS": "1"})
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log, timeout=30)
        text = log.read_text(errors="replace")
        # the printed demo command, run as printed, finds this gateway rather than starting one of its own
        line = next(x.strip() for x in text.splitlines() if x.strip().endswith("oso-gateway demo"))
        demo = subprocess.run(line.replace("oso-gateway", f"{sys.executable} -m gateway"), shell=True,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    finally:
        stop(proc)
    assert f"OSO gateway on http://127.0.0.1:{port}" in text
    assert line == f"OSO_GATEWAY_PORT={port} oso-gateway demo"
    assert f"OSO_GATEWAY_PORT={port} oso-gateway transfer --bsn 127095823" in text
    assert demo.returncode == 0 and f"using the running gateway at http://127.0.0.1:{port}" in demo.stdout, \
        demo.stdout + demo.stderr
