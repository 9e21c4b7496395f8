"""What a new vendor's probing of the CLI found, each pinned: a bad argument or setting is one line and exit 2 before
anything is made or sent; verify judges the Action against the contract as the gateway does; read-only and
irreversible steps keep their promises."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from gateway.commands import main
from gateway.config import ConfigError, load_config

from .test_cli_wsse import ACTION, TO, UNSIGNED, cli_pki, run  # noqa: F401  (the module's PKI fixture)

OSO = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"


@pytest.mark.parametrize("settings,message", [
    ({"port": True}, "port must be a whole number"),
    ({"port": 70000}, "port must be from 1 to 65535"),
    ({"workers": 0}, "workers must be from 1 to 64"),
    ({"threads": 0}, "threads must be from 1 to 256"),
    ({"log_level": "loud"}, "log_level must be one of"),
    ({"log_format": "xml"}, "log_format must be one of json, text"),
    ({"max_age_s": -5}, "max_age_s must be from 1"),
    ({"journal_retention_days": -1}, "journal_retention_days must be 0 or more"),
    ({"max_bytes": 0}, "max_bytes must be"),
    ({"public_url": "not a url"}, "public_url must be an http:// or https:// address"),
    ({"tls_key": "k.pem"}, "tls_key is set but tls_cert is not"),
])
def test_a_setting_out_of_its_range_is_refused_by_name(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_config(**settings)


def test_serve_refuses_a_bad_setting_before_its_banner(tmp_path):
    (tmp_path / "g.toml").write_text("[gateway]\nworkers = 0\n")
    r = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", "g.toml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "serve: workers must be from 1 to 64, not 0"
    assert list(tmp_path.iterdir()) == [tmp_path / "g.toml"]


def test_an_ipv6_host_makes_a_url():
    assert load_config(host="::1", port=8443).base_url == "http://[::1]:8443"


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(0.2)
    yield s
    s.close()


def _connections(s: socket.socket) -> int:
    n = 0
    while True:
        try:
            conn, _ = s.accept()
        except OSError:
            return n
        n += 1
        conn.close()


CONFORMANCE = ["conformance", "source", "--vendor-oin", "00000001234567890000", "--routeringskenmerk",
               "0000000700000AB00001", "--brin", "12AB", "--ca", "ca.pem", "--quiet"]


@pytest.mark.parametrize("change,message", [
    (("--vendor-oin", "123"), "--vendor-oin '123' is not 20 digits"),
    (("--routeringskenmerk", "bad"), "--routeringskenmerk 'bad' is not 20 digits or capitals"),
    (("--brin", "1"), "--brin '1' is not two digits and two capitals"),
    (("--endpoint", "not a url"), "--endpoint 'not a url' is not an http:// or https:// address"),
    (("--junit", "no-such-folder/r.xml"), "--junit no-such-folder/r.xml cannot be written"),
    (("--html", "."), "--html . cannot be written"),
    (("--tc-port", "99999"), "port 99999 is not from 1 to 65535"),
])
def test_conformance_checks_its_arguments_before_it_makes_or_sends_anything(tmp_path, monkeypatch, capsys,
                                                                            listener, change, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("")
    args = [*CONFORMANCE, "--endpoint", f"http://127.0.0.1:{listener.getsockname()[1]}/ap"]
    option, value = change
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.pem"]  # no var/conformance, no PKI made
    assert _connections(listener) == 0


def test_conformance_refuses_a_port_in_use(tmp_path, monkeypatch, capsys, listener):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("")
    busy = listener.getsockname()[1]
    args = [*CONFORMANCE, "--endpoint", "http://127.0.0.1:9/ap", "--tc-port", str(busy)]
    assert main(args) == 2
    assert f"port {busy} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_verify_judges_the_action_against_the_body_as_the_gateway_does(cli_pki, tmp_path):
    r = run("sign", "--cert", str(cli_pki / "school.cert.pem"), "--key", str(cli_pki / "school.key.pem"),
            "--to", TO, "--action", f"{OSO}/overdracht", stdin=UNSIGNED)  # a ping Body under overdracht's Action
    assert r.returncode == 0
    (tmp_path / "m.xml").write_bytes(r.stdout)
    v = run("verify", str(tmp_path / "m.xml"), "--ca", str(cli_pki / "ca.pem"), "--crl", str(cli_pki / "crl.pem"))
    d = run("diagnose", str(tmp_path / "m.xml"), "--ca", str(cli_pki / "ca.pem"), "--crl", str(cli_pki / "crl.pem"))
    assert v.returncode == 1 and b"INVALID WSA-ACTION" in v.stdout and b"takes overdrachtRequest" in v.stdout
    assert d.returncode == 1 and b"WSA-ACTION" in d.stdout


def test_sign_refuses_a_response_as_the_request_it_answers(cli_pki, tmp_path):
    request = run("sign", "--cert", str(cli_pki / "school.cert.pem"), "--key", str(cli_pki / "school.key.pem"),
                  "--to", TO, "--action", ACTION, stdin=UNSIGNED).stdout
    (tmp_path / "req.xml").write_bytes(request)
    response = run("sign", "--cert", str(cli_pki / "gateway.cert.pem"), "--key", str(cli_pki / "gateway.key.pem"),
                   "--action", f"{OSO}/pingResponse", "--response-to", str(tmp_path / "req.xml"), stdin=UNSIGNED)
    assert response.returncode == 0
    (tmp_path / "resp.xml").write_bytes(response.stdout)
    again = run("sign", "--cert", str(cli_pki / "gateway.cert.pem"), "--key", str(cli_pki / "gateway.key.pem"),
                "--action", f"{OSO}/pingResponse", "--response-to", str(tmp_path / "resp.xml"), stdin=UNSIGNED)
    assert again.returncode == 2 and b"is itself a response" in again.stderr


@pytest.mark.parametrize("args,message", [
    (["verify", "-", "-", "--ca", "ca.pem"], "'-' (stdin) can be given once"),
    (["diagnose", "-", "-"], "'-' (stdin) can be given once"),
    (["verify", "x.xml", "--ca", "ca.pem", "--skew", "99999999999999999999"], "is not from 0 to 86400"),
    (["pki", "init", "--dir", ""], "--dir names the folder"),
    (["pki", "issue", "--dir", "d", "--name", "n", "--oin", "1", "--key-size", "512"], "invalid choice: 512"),
    (["school", "testleerlingen", "--extra", "5000"], "5000 is not from 0 to 1000"),
    (["school", "log", "--laatste", "-1"], "-1 is not 1 or more"),
])
def test_out_of_range_arguments_are_one_line_and_exit_2(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "gateway", *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_operator_add_without_a_terminal_says_how(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    r = subprocess.run([sys.executable, "-m", "gateway", "operator", "add", "anna", "--database", url],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip() == ("operator add: there is no terminal to ask the password on: give it on stdin with "
                                "--password-stdin")


def test_a_crl_belongs_to_the_ca_that_signed_it_not_to_one_of_the_same_name(tmp_path):
    """Two test PKIs, whose CAs bear the same names: the CRL of the one never stands in for the other's."""
    from gateway.pki import init_pki, issue

    mine, other = tmp_path / "mine", tmp_path / "other"
    init_pki(mine)
    init_pki(other)
    issue(mine, "gone", "00000001234567890001", revoked=True)
    both = tmp_path / "both.pem"
    both.write_bytes((mine / "ca.pem").read_bytes() + (other / "ca.pem").read_bytes())
    crls = tmp_path / "crls.pem"
    crls.write_bytes((mine / "crl.pem").read_bytes() + (other / "crl.pem").read_bytes())
    r = run("sign", "--cert", str(mine / "gone.cert.pem"), "--key", str(mine / "gone.key.pem"), "--to", TO,
            "--action", ACTION, stdin=UNSIGNED)
    (tmp_path / "m.xml").write_bytes(r.stdout)
    for crl, reason in ((other / "crl.pem", b"no revocation list is configured for the certificate's issuer"),
                        (crls, b"has been revoked")):
        v = run("verify", str(tmp_path / "m.xml"), "--ca", str(both), "--crl", str(crl))
        assert v.returncode == 1 and b"INVALID PKI002" in v.stdout and reason in v.stdout, v.stdout + v.stderr
