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
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=cwd, env=env, capture_output=True,
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
    r = cli("transfer", "--bsn", "127095823", "--bron-brin", "00YY", "--doel-brin", "00ZZ", cwd=folder, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # usage: a BSN that fails the elfproef and is no test number; no pupil at all; a missing chain key
    r = cli("transfer", "--bsn", "123456789", *common, cwd=folder, env=env)
    assert r.returncode == 2 and "elfproef" in r.stderr
    r = cli("transfer", *common, cwd=folder, env=env)
    assert r.returncode == 2
    r = cli("transfer", "--bsn", "127095823", *common, "--zoeksleutel-key", "nowhere.key", cwd=folder, env=env)
    assert r.returncode == 2 and "chain key" in r.stderr
    # transport: a Traffic Center that cannot be reached (tried twice, then exit 3)
    r = cli("transfer", "--bsn", "127095823", *common, "--tc", f"http://127.0.0.1:{free_port()}/tc", cwd=folder,
            env=env)
    assert r.returncode == 3 and "attempt 2" in r.stdout and "TrafficCenterNietBeschikbaar" in r.stdout
