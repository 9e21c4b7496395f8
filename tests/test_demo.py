"""The main job as a newcomer meets it, in fresh folders: ``oso-gateway demo`` on its own (it starts a gateway for
the duration), and ``oso-gateway serve --dev`` followed by ``demo`` and ``transfer`` against it, with the exit codes
the help promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import free_port
from .serve_process import clean_env, start_serve, stop, wait_healthy

TIMEOUT = 60


def cli(*args, cwd, env, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_on_its_own_from_a_fresh_folder(tmp_path):
    # nothing listens on the configured port, so the demo starts a gateway of its own
    r = cli("demo", "--out", "dossier.xml", cwd=tmp_path, env=clean_env(OSO_GATEWAY_PORT=str(free_port())))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "starting one for the duration" in r.stdout
    assert "OverdrachtGeslaagd (confirmed by the TC)" in r.stdout
    assert re.search(r"1\. overdracht .* Geslaagd", r.stdout) and "2. document" in r.stdout
    assert "127095823" not in r.stdout  # the account names the pupil by its zoeksleutel only
    assert b"<bsn>127095823</bsn>" in (tmp_path / "dossier.xml").read_bytes()
    folder = re.search(r"\(folder (\S+)\)", r.stdout).group(1)
    assert not Path(folder).exists(), "the demo's gateway folder is removed afterwards"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dossier.xml"]  # nothing else left behind


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dev")
    port = free_port()
    env = clean_env(OSO_GATEWAY_PORT=str(port), OSO_GATEWAY_WORKERS="1", OSO_GATEWAY_LOG_LEVEL="warning")
    proc, log = start_serve(folder, "--dev", env=env)
    import os

    (folder / "real.xml").write_bytes(b"<keep/>")
    (folder / "link.xml").symlink_to("real.xml")  # --out at a link or a pipe must be refused, never replaced
    os.mkfifo(folder / "fifo.xml")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        yield folder, env, log
    finally:
        stop(proc)


def test_serve_dev_says_what_to_do_next_and_the_demo_uses_it(dev_server):
    folder, env, log = dev_server
    text = log.read_text(errors="replace")
    assert "oso-gateway demo" in text and "oso-gateway transfer --bsn 127095823" in text
    r = cli("demo", cwd=folder, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "using the running gateway" in r.stdout and "OverdrachtGeslaagd" in r.stdout


def test_transfer_exit_codes_against_the_running_gateway(dev_server):
    folder, env, _ = dev_server
    common = ("--bron-brin", "00YY", "--doel-brin", "00ZZ", "--doel-routeringskenmerk", "0000000700000ZZ00000")
    r = cli("transfer", "--bsn", "127095824", *common, "--out", "vovo.xml", cwd=folder, env=env)
    assert r.returncode == 0 and (folder / "vovo.xml").is_file(), r.stdout + r.stderr
    r = cli("transfer", "--bsn", "127095825", *common, "--out", "refused.xml", cwd=folder, env=env)
    assert r.returncode == 1 and "LeveringGeweigerd" in r.stdout and not (folder / "refused.xml").exists()
    # the doel's routeringskenmerk is looked up at the TC when not given (00ZZ has one aanleverpunt)
    r = cli("transfer", "--bsn", "127095823", "--bron-brin", "00YY", "--doel-brin", "00ZZ", "--out", "looked-up.xml",
            cwd=folder, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # usage: a BSN that fails the elfproef and is no test number; no pupil at all; a missing chain key
    r = cli("transfer", "--bsn", "123456789", *common, "--out", "x.xml", cwd=folder, env=env)
    assert r.returncode == 2 and "elfproef" in r.stderr
    r = cli("transfer", *common, "--out", "x.xml", cwd=folder, env=env)
    assert r.returncode == 2
    r = cli("transfer", "--bsn", "127095823", *common, "--zoeksleutel-key", "nowhere.key", "--out", "x.xml",
            cwd=folder, env=env)
    assert r.returncode == 2 and "chain key" in r.stderr
    # transport: a Traffic Center that cannot be reached (tried twice, then exit 3)
    r = cli("transfer", "--bsn", "127095823", *common, "--tc", f"http://127.0.0.1:{free_port()}/tc", "--out", "x.xml",
            cwd=folder, env=env)
    assert r.returncode == 3 and "attempt 2" in r.stdout and "TrafficCenterNietBeschikbaar" in r.stdout


class Listener:
    """A loopback port that counts the connections made to it (and answers none): proof that nothing was sent."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


COMMON = ("--bron-brin", "00YY", "--doel-brin", "00ZZ", "--doel-routeringskenmerk", "0000000700000ZZ00000")


@pytest.mark.parametrize("args,message", [
    (("--bron-brin", "0YY", "--doel-brin", "00ZZ"), "bron-brin '0YY' is not a BRIN"),
    (("--bron-brin", "00YY", "--doel-brin", "00ZZ", "--doel-routeringskenmerk", "short"),
     "doel-routeringskenmerk 'short' is not a routeringskenmerk"),
    ((*COMMON, "--bron-routeringskenmerk", "x" * 20), "bron-routeringskenmerk"),
    ((*COMMON, "--out", "no-such-folder/dossier.xml"), "--out no-such-folder/dossier.xml cannot be written"),
    ((*COMMON, "--out", "."), "--out . cannot be written"),
    ((*COMMON, "--ca", "missing-ca.pem"), "the trust anchors (ca) file missing-ca.pem does not exist"),
    ((*COMMON, "--cert", "/etc/hostname"), "cannot set up the target: /etc/hostname: not a PEM certificate"),
    ((*COMMON, "--out", "link.xml"), "--out link.xml cannot be written: is a symbolic link"),
    ((*COMMON, "--out", "fifo.xml"), "--out fifo.xml cannot be written: is not a regular file"),
    ((*COMMON, "--timeout", "0"), "argument --timeout: 0 is not from 1 to 600 seconds"),
    ((*COMMON, "--tc", "ftp://example/tc"), "tc_url must be an http:// or https:// address"),
])
def test_transfer_checks_everything_before_it_sends_anything(dev_server, listener, args, message):
    folder, env, _ = dev_server
    if "--out" not in args:
        args = (*args, "--out", "unsent.xml")
    tc = () if "--tc" in args else ("--tc", f"http://127.0.0.1:{listener.port}/tc")
    r = cli("transfer", "--bsn", "127095823", *args, *tc, cwd=folder, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    if not message.startswith("argument"):  # argparse's own: the usage line, then the one line
        assert r.stderr.strip().splitlines() == [f"transfer: {r.stderr.strip()[len('transfer: '):]}"]
    assert listener.connections == 0  # nothing was sent, not even a lookup
    assert (folder / "link.xml").is_symlink() and (folder / "real.xml").read_bytes() == b"<keep/>"


def test_a_tc_that_cannot_be_asked_for_the_doel_aanleverpunt_is_exit_3(dev_server):
    folder, env, _ = dev_server
    r = cli("transfer", "--bsn", "127095823", "--bron-brin", "00YY", "--doel-brin", "00ZZ", "--tc",
            f"http://127.0.0.1:{free_port()}/tc", "--out", "x.xml", cwd=folder, env=env)
    assert r.returncode == 3 and "cannot ask the TC for 00ZZ's aanleverpunten" in r.stderr


def test_a_dossier_that_cannot_be_kept_is_not_reported_to_the_tc(dev_server, monkeypatch, capsys):
    """The disk fills up between the check of --out and the dossier's arrival: the transfer says so, exits 3, the
    --out file is not there half-written, and the TC never hears OverdrachtGeslaagd (no afmelding)."""
    import errno
    import json
    import os

    from gateway.commands import main

    folder, env, _ = dev_server
    monkeypatch.chdir(folder)
    for k, v in env.items():
        if k.startswith("OSO_GATEWAY_"):
            monkeypatch.setenv(k, v)
    real_replace = os.replace

    def disk_full(src, dst, *a, **kw):
        if str(dst).endswith("kept.xml"):
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", disk_full)
    code = main(["transfer", "--bsn", "127095824", *COMMON, "--out", "kept.xml"])
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert "transfer: cannot write the dossier: kept.xml: No space left on device; the TC was not told" in err
    assert "NOT KEPT" in out and "not confirmed by the TC" in out
    assert not (folder / "kept.xml").exists() and not list(folder.glob(".kept.xml.*"))
    sessie = re.search(r"sessie:\s+(\S+)", out).group(1)
    monkeypatch.setattr(os, "replace", real_replace)
    assert main(["trace", sessie, "--json"]) in (0, 1)
    traced = json.loads(capsys.readouterr().out)
    operations = [m["operation"] for m in traced["messages"]]
    assert "overdracht" in operations and "document" in operations
    assert "afmelding" not in operations  # the chain does not believe it arrived


def test_the_kept_dossier_is_complete_on_disk_when_transfer_says_0(dev_server):
    folder, env, _ = dev_server
    r = cli("transfer", "--bsn", "127095824", *COMMON, "--out", "whole.xml", cwd=folder, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = (folder / "whole.xml").read_bytes()
    assert f"{len(data):,} bytes" in r.stdout and "written to whole.xml" in r.stdout
    assert not list(folder.glob(".whole.xml.*"))  # no temporary file left beside it
