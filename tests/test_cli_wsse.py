"""`oso-gateway pki`, `sign` and `verify` as a vendor uses them: real files, real processes' exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.commands import main
from gateway.wsse import ns

UNSIGNED = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            b'<p:pingRequest xmlns:p="http://xml.kennisnet.nl/schemas/Overstapservice/20200910"/>'
            b"</soapenv:Body></soapenv:Envelope>")
TO, ACTION = "http://localhost:8080/tc", "http://xml.kennisnet.nl/schemas/Overstapservice/20200910/ping"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], input=stdin, capture_output=True,
                          timeout=60)


@pytest.fixture(scope="module")
def cli_pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli") / "pki"  # does not exist yet: init creates it
    r = run("pki", "init", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    for name, flags in [("school", []), ("old", ["--expired"]), ("gone", ["--revoked"]),
                        ("stranger", ["--untrusted"]), ("nosig", ["--no-digital-signature"])]:
        r = run("pki", "issue", "--dir", str(d), "--name", name, "--oin", "00000001234567890000", *flags)
        assert r.returncode == 0, r.stderr
    return d


def test_pki_files(cli_pki):
    for f in ("ca.pem", "crl.pem", "gateway.cert.pem", "gateway.key.pem", "school.cert.pem", "school.key.pem"):
        assert (cli_pki / f).is_file()
    r = run("pki", "init", "--dir", str(cli_pki))
    assert r.returncode == 2 and "already" in r.stderr.decode().lower()
    r = run("pki", "issue", "--dir", str(cli_pki), "--name", "x", "--oin", "123")
    assert r.returncode == 2 and "OIN" in r.stderr.decode()


def sign(pki: Path, name: str, *extra: str, stdin: bytes = UNSIGNED) -> bytes:
    r = run("sign", "--cert", str(pki / f"{name}.cert.pem"), "--key", str(pki / f"{name}.key.pem"),
            "--to", TO, "--action", ACTION, *extra, stdin=stdin)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_sign_then_verify(cli_pki, tmp_path):
    msg = tmp_path / "request.xml"
    msg.write_bytes(sign(cli_pki, "school"))
    r = run("verify", str(msg), "--ca", str(cli_pki / "ca.pem"), "--crl", str(cli_pki / "crl.pem"), "--to", TO)
    assert r.returncode == 0, r.stdout
    assert b"VALID" in r.stdout and b"00000001234567890000" in r.stdout


def test_verify_several_files_one_line_each(cli_pki, tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(sign(cli_pki, "school"))
    files = {"good": good}
    for name in ("old", "gone", "stranger", "nosig"):
        files[name] = tmp_path / f"{name}.xml"
        files[name].write_bytes(sign(cli_pki, name))
    tampered = etree.fromstring(good.read_bytes())
    tampered.find(f".//{{{ns.WSA}}}Action").text = "urn:evil"
    files["tampered"] = tmp_path / "tampered.xml"
    files["tampered"].write_bytes(etree.tostring(tampered))
    r = run("verify", *map(str, files.values()), "--ca", str(cli_pki / "ca.pem"), "--crl", str(cli_pki / "crl.pem"))
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 1
    assert len(lines) == len(files)
    verdicts = dict(zip(files, lines))
    assert "VALID" in verdicts["good"] and "INVALID" not in verdicts["good"]
    assert "INVALID PKI002" in verdicts["old"] and "expired" in verdicts["old"]
    assert "INVALID PKI002" in verdicts["gone"] and "revoked" in verdicts["gone"]
    assert "INVALID PKI002" in verdicts["stranger"]
    assert "INVALID GW-KEYUSAGE" in verdicts["nosig"]
    assert "INVALID WB013" in verdicts["tampered"]


def test_verify_is_stateless_and_judges_at_a_time(cli_pki, tmp_path):
    msg = tmp_path / "m.xml"
    msg.write_bytes(sign(cli_pki, "school"))
    args = ["--ca", str(cli_pki / "ca.pem"), "--crl", str(cli_pki / "crl.pem")]
    assert main(["verify", str(msg), *args]) == 0
    assert main(["verify", str(msg), *args]) == 0  # no replay store between runs
    r = run("verify", str(msg), *args, "--at", "2099-01-01T00:00:00Z")
    assert r.returncode == 1 and b"PKI002" in r.stdout  # by then the certificate has expired


def test_sign_response_to_request(cli_pki, tmp_path):
    request = tmp_path / "req.xml"
    request.write_bytes(sign(cli_pki, "school"))
    response = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
                b'<p:pingResponse xmlns:p="http://xml.kennisnet.nl/schemas/Overstapservice/20200910"/>'
                b"</soapenv:Body></soapenv:Envelope>")
    r = run("sign", "--cert", str(cli_pki / "gateway.cert.pem"), "--key", str(cli_pki / "gateway.key.pem"),
            "--action", ACTION + "Response", "--response-to", str(request), stdin=response)
    assert r.returncode == 0, r.stderr
    from gateway.wsse import Policy, TrustStore, verify_response

    req = etree.fromstring(request.read_bytes())
    vm = verify_response(r.stdout, request_message_id=req.findtext(f".//{{{ns.WSA}}}MessageID"),
                         request_signature_value="".join(req.findtext(f".//{{{ns.DS}}}SignatureValue").split()),
                         policy=Policy(), trust=TrustStore.from_files(cli_pki / "ca.pem", cli_pki / "crl.pem"))
    assert vm.oin and vm.action == ACTION + "Response"


def test_sign_usage_errors(cli_pki):
    r = run("sign", "--cert", str(cli_pki / "school.cert.pem"), "--key", str(cli_pki / "school.key.pem"),
            stdin=UNSIGNED)
    assert r.returncode == 2 and b"--to" in r.stderr
    r = run("sign", "--cert", str(cli_pki / "school.cert.pem"), "--key", str(cli_pki / "gateway.key.pem"),
            "--to", TO, "--action", ACTION, stdin=UNSIGNED)
    assert r.returncode == 2 and b"does not belong" in r.stderr
    r = run("sign", "--cert", str(cli_pki / "school.cert.pem"), "--key", str(cli_pki / "school.key.pem"),
            "--to", TO, "--action", ACTION, stdin=b"<!DOCTYPE x><x/>")
    assert r.returncode == 2 and b"R1008" in r.stderr
    assert b"Traceback" not in r.stderr
