"""Commands that only read (or remove from) the journal never create a database; a reader that goes away
(`| head`) is not reported as a database failure."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.commands import main
from gateway.store import Database

from .serve_process import clean_env


@pytest.mark.parametrize("args", [["trace", "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"], ["purge"], ["operator", "list"],
                                  ["operator", "remove", "someone"], ["register", "list"], ["school", "lijst"],
                                  ["school", "log"]])
def test_a_reader_in_another_folder_says_there_is_no_database_and_leaves_none(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    for name in ("OSO_GATEWAY_DATABASE_URL",):
        monkeypatch.delenv(name, raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "there is no database at var/gateway.db" in err[0], err
    assert list(tmp_path.iterdir()) == []  # no var/, no empty gateway.db


def test_a_database_without_the_gateways_tables_is_named_and_not_changed(tmp_path, capsys):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    assert main(["trace", "x", "--database", f"sqlite:///{path}"]) == 2
    assert "holds no gateway tables" in capsys.readouterr().err
    assert path.read_bytes() == b""  # not migrated by a reader


def test_a_reader_finds_the_database_it_is_given(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    db = Database(url)
    db.migrate()
    db.dispose()
    assert main(["trace", "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "--database", url]) == 2  # known to nobody
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == ("trace: no message in the journal names 0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b "
                                         "(a sessieId, koppelsleutel or wsa:MessageID)")


@pytest.mark.parametrize("args", [["trace", "x"], ["purge"], ["operator", "list"], ["register", "list"],
                                  ["school", "lijst"]])
def test_a_database_that_cannot_be_reached_is_exit_3(args, capsys):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    assert main([*args, "--database", url]) == 3
    assert "the database cannot be reached" in capsys.readouterr().err


def test_a_reader_that_goes_away_is_not_a_database_failure(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    env = clean_env()
    toml = tmp_path / "register.toml"
    toml.write_text("".join(f'[[vendor]]\noin = "{i:020d}"\nnaam = "Leverancier {i} met een lange naam"\n'
                            f'gekwalificeerd = true\n' for i in range(1, 3000)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gateway", "register", "import", str(toml), "--database", url],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    piped = subprocess.run(f"{sys.executable} -m gateway register list vendors --database {url} | head -1",
                           shell=True, env=env, capture_output=True, text=True, timeout=120)
    assert len(piped.stdout.splitlines()) == 1  # head took its line and went
    assert "database failed" not in piped.stderr and "Traceback" not in piped.stderr, piped.stderr
