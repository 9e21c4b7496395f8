"""``oso-gateway register …`` on SQLite and PostgreSQL: the commands, the imports, and bad input (exit 2, a clear
message, nothing changed)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from gateway.commands import main
from gateway.oso.register import Aanleverpunt, School, Sector, Vendor
from gateway.store import Database

OIN_A = "00000001234567890000"
OIN_B = "00000001555555550000"
RK_1 = "000000070000012AB001"
RK_2 = "000000070000034CD001"

GOOD_TOML = f"""
[[vendor]]
oin = "{OIN_A}"
naam = "Voorbeeld LAS B.V."
gekwalificeerd = true
gekwalificeerd_sinds = 2024-08-01

[[vendor]]
oin = "{OIN_B}"
naam = "Ander LAS"

[[school]]
brin = "12AB"
vestiging = "00"
sector = "PO"
naam = "Basisschool De Voorbeeld"

[[school]]
brin = "34CD"
vestiging = "00"
sector = "VO"
naam = "Lyceum Voorbeeld"

[[aanleverpunt]]
routeringskenmerk = "{RK_1}"
brin = "12AB"
vestiging = "00"
vendor_oin = "{OIN_A}"
document_url = "https://las.example/oso/aanleverpunt"
notificatie_url = "https://las.example/oso/doelsysteem"

[[aanleverpunt]]
routeringskenmerk = "{RK_2}"
brin = "34CD"
vestiging = "00"
vendor_oin = "{OIN_B}"
document_url = "https://las2.example/ap"
actief = false
"""

CSV_HEADER = ("kind,oin,naam,gekwalificeerd,gekwalificeerd_sinds,brin,vestiging,sector,routeringskenmerk,vendor_oin,"
              "document_url,notificatie_url,actief")
GOOD_CSV = CSV_HEADER + f"""
vendor,{OIN_A},Voorbeeld LAS B.V.,ja,2024-08-01,,,,,,,,
vendor,{OIN_B},Ander LAS,,,,,,,,,,
school,,Basisschool De Voorbeeld,,,12AB,00,PO,,,,,
school,,Lyceum Voorbeeld,,,34CD,00,VO,,,,,
aanleverpunt,,,,,12AB,00,,{RK_1},{OIN_A},https://las.example/oso/aanleverpunt,https://las.example/oso/doelsysteem,
aanleverpunt,,,,,34CD,00,,{RK_2},{OIN_B},https://las2.example/ap,,nee
"""

EXPECTED = (
    [Vendor(OIN_A, "Voorbeeld LAS B.V.", True, date(2024, 8, 1)), Vendor(OIN_B, "Ander LAS", False, None)],
    [School("12AB", "00", Sector.PO, "Basisschool De Voorbeeld"), School("34CD", "00", Sector.VO, "Lyceum Voorbeeld")],
    [Aanleverpunt(RK_1, "12AB", "00", OIN_A, "https://las.example/oso/aanleverpunt",
                  "https://las.example/oso/doelsysteem"),
     Aanleverpunt(RK_2, "34CD", "00", OIN_B, "https://las2.example/ap", None, False)],
)


def snapshot(url: str):
    db = Database(url)
    try:
        db.migrate()
        with db.unit_of_work(readonly=True) as repo:
            return repo.list_vendors(), repo.list_schools(), repo.list_aanleverpunten()
    finally:
        db.dispose()


@pytest.fixture
def run(database_url, capsys):
    """Run ``oso-gateway register …`` against this test's database; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        code = main(["register", *args, "--database", database_url])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def seeded(run, database_url):
    """A register with one vendor and one school (so a failed import has something to leave alone)."""
    assert run("vendor", "add", "--oin", "00000001999999990000", "--naam", "Seed")[0] == 0
    assert run("school", "add", "--brin", "99ZZ", "--vestiging", "00", "--sector", "PO", "--naam", "Seed")[0] == 0
    return snapshot(database_url)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- the commands ------------------------------------------------------------------------------------------------

def test_add_change_list_deactivate(run, database_url):
    assert run("vendor", "add", "--oin", OIN_A, "--naam", "Voorbeeld LAS", "--gekwalificeerd",
               "--sinds", "2024-08-01") == (0, f"vendor {OIN_A} added (qualified since 2024-08-01)\n", "")
    code, out, _ = run("vendor", "add", "--oin", OIN_B, "--naam", "Ander LAS", "--gekwalificeerd")
    assert code == 0 and str(datetime.now(timezone.utc).date()) in out  # qualified since today
    assert run("school", "add", "--brin", "12AB", "--vestiging", "00", "--sector", "PO",
               "--naam", "De Voorbeeld")[0] == 0
    assert run("aanleverpunt", "add", "--routeringskenmerk", RK_1, "--brin", "12AB", "--vestiging", "00",
               "--vendor-oin", OIN_A, "--document-url", "https://las.example/ap")[0] == 0

    assert run("vendor", "change", "--oin", OIN_A, "--naam", "Voorbeeld LAS B.V.")[0] == 0
    assert run("school", "change", "--brin", "12AB", "--vestiging", "00", "--sector", "SWV")[0] == 0
    assert run("aanleverpunt", "change", "--routeringskenmerk", RK_1, "--vendor-oin", OIN_B,
               "--notificatie-url", "https://las2.example/doel")[0] == 0
    vendors, schools, aps = snapshot(database_url)
    assert vendors[0] == Vendor(OIN_A, "Voorbeeld LAS B.V.", True, date(2024, 8, 1))
    assert schools == [School("12AB", "00", Sector.SWV, "De Voorbeeld")]
    assert aps == [Aanleverpunt(RK_1, "12AB", "00", OIN_B, "https://las.example/ap", "https://las2.example/doel")]

    code, out, err = run("list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "vendors (2)"
    assert lines[1].split() == ["OIN", "NAAM", "GEKWALIFICEERD", "SINDS"]
    assert lines[3].split() == [OIN_A, "Voorbeeld", "LAS", "B.V.", "ja", "2024-08-01"]
    assert "schools (1)" in lines and "aanleverpunten (1)" in lines
    assert any(line.startswith(RK_1) and "https://las2.example/doel" in line for line in lines)
    code, out, _ = run("list", "schools")
    assert code == 0 and out.splitlines()[0] == "schools (1)" and "vendors" not in out
    assert "12AB  00         SWV     De Voorbeeld" in out  # columns line up

    assert run("vendor", "deactivate", "--oin", OIN_A)[0] == 0
    assert run("aanleverpunt", "deactivate", "--routeringskenmerk", RK_1)[0] == 0
    assert run("aanleverpunt", "change", "--routeringskenmerk", RK_1, "--notificatie-url", "")[0] == 0
    vendors, _, aps = snapshot(database_url)
    assert vendors[0] == Vendor(OIN_A, "Voorbeeld LAS B.V.", False, None)
    assert aps[0].actief is False and aps[0].notificatie_url is None
    assert run("vendor", "change", "--oin", OIN_A, "--gekwalificeerd", "--sinds", "2026-01-01")[0] == 0
    assert run("aanleverpunt", "change", "--routeringskenmerk", RK_1, "--actief")[0] == 0
    vendors, _, aps = snapshot(database_url)
    assert vendors[0].gekwalificeerd_sinds == date(2026, 1, 1) and aps[0].actief is True


def test_an_empty_register_lists_empty_tables(run, database_url):
    code, _, err = run("list", "vendors")  # a list never makes the database it reads
    assert code == 2 and ("holds no gateway tables" in err or "there is no database at" in err)
    db = Database(database_url)
    db.migrate()
    db.dispose()
    code, out, _ = run("list", "vendors")
    assert code == 0 and out.splitlines()[:2] == ["vendors (0)", "OIN  NAAM  GEKWALIFICEERD  SINDS"]


@pytest.mark.parametrize("args, message", [
    (["vendor", "add", "--oin", "1234", "--naam", "X"], "OIN '1234' is malformed"),
    (["vendor", "add", "--oin", OIN_A, "--naam", "X", "--sinds", "2024-01-01"], "--sinds is only for a qualified"),
    (["vendor", "add", "--oin", OIN_A, "--naam", "X", "--gekwalificeerd", "--sinds", "gisteren"], "not a date"),
    (["vendor", "add", "--oin", "00000001999999990000", "--naam", "X"], "already registered"),
    (["vendor", "change", "--oin", OIN_A, "--naam", "X"], f"no vendor with OIN {OIN_A}"),
    (["vendor", "deactivate", "--oin", "12"], "OIN '12' is malformed"),
    (["school", "add", "--brin", "0YY", "--vestiging", "00", "--sector", "PO", "--naam", "X"],
     "BRIN '0YY' is malformed"),
    (["school", "add", "--brin", "12AB", "--vestiging", "00", "--sector", "HBO", "--naam", "X"],
     "sector 'HBO' is not PO, VO or SWV"),
    (["school", "add", "--brin", "99ZZ", "--vestiging", "00", "--sector", "PO", "--naam", "X"],
     "school 99ZZ vestiging 00 is already registered"),
    (["school", "change", "--brin", "12AB", "--vestiging", "00", "--naam", "X"], "is not registered"),
    (["aanleverpunt", "add", "--routeringskenmerk", RK_1, "--brin", "99ZZ", "--vestiging", "00",
      "--vendor-oin", OIN_A, "--document-url", "https://x.example"], f"vendor {OIN_A} is not registered"),
    (["aanleverpunt", "add", "--routeringskenmerk", RK_1, "--brin", "99ZZ", "--vestiging", "00",
      "--vendor-oin", "00000001999999990000", "--document-url", "ftp://x"], "must be an http(s) URL"),
    (["aanleverpunt", "deactivate", "--routeringskenmerk", RK_1], f"no aanleverpunt with routeringskenmerk {RK_1}"),
])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(run, database_url, seeded, args, message):
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert message in one_line(err)
    assert one_line(err).startswith(f"register {args[0]} {args[1]}: ")
    assert snapshot(database_url) == seeded


def test_an_unreachable_database_exits_3_without_a_traceback(capsys):
    code = main(["register", "list", "--database", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"])
    _, err = capsys.readouterr()
    assert code == 3 and "the database cannot be reached" in one_line(err)
    code = main(["register", "list", "--database", "mysql://u@h/db"])
    _, err = capsys.readouterr()
    assert code == 2 and "unsupported database" in one_line(err)


def test_the_database_comes_from_the_configuration(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'from-env' / 'gw.db'}"
    monkeypatch.setenv("OSO_GATEWAY_DATABASE_URL", url)
    assert main(["register", "vendor", "add", "--oin", OIN_A, "--naam", "Env"]) == 0
    assert snapshot(url)[0] == [Vendor(OIN_A, "Env")]
    monkeypatch.delenv("OSO_GATEWAY_DATABASE_URL")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\ndatabase_url = "{url}"\n')
    assert main(["register", "list", "vendors", "--config", str(config)]) == 0
    assert OIN_A in capsys.readouterr().out


def test_the_installed_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    exe = Path(sys.executable).with_name("oso-gateway")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "gateway"]
    env = {**os.environ, "OSO_GATEWAY_DATABASE_URL": url}
    done = subprocess.run([*command, "register", "school", "add", "--brin", "12AB", "--vestiging", "00",
                           "--sector", "PO", "--naam", "Via de shell"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*command, "register", "list", "schools"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0 and "Via de shell" in done.stdout


# ---- import ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, content", [(".toml", GOOD_TOML), (".csv", GOOD_CSV),
                                             (".csv", GOOD_CSV.replace(",", ";"))], ids=["toml", "csv", "csv;"])
def test_import(run, database_url, tmp_path, suffix, content):
    path = tmp_path / f"register{suffix}"
    path.write_text(content, encoding="utf-8")
    code, out, err = run("import", str(path))
    assert (code, err) == (0, "")
    assert "6 added, 0 updated, 0 unchanged (2 vendor, 2 school, 2 aanleverpunt)" in out
    assert snapshot(database_url) == EXPECTED
    code, out, _ = run("import", str(path))  # again: nothing to do
    assert code == 0 and "0 added, 0 updated, 6 unchanged" in out
    assert snapshot(database_url) == EXPECTED


def test_import_refuses_changes_unless_update(run, database_url, tmp_path):
    path = tmp_path / "register.toml"
    path.write_text(GOOD_TOML)
    assert run("import", str(path))[0] == 0
    path.write_text(GOOD_TOML.replace('naam = "Ander LAS"', 'naam = "Ander LAS B.V."'))
    code, out, err = run("import", str(path))
    assert code == 2
    assert f"register.toml [[vendor]] #2: vendor {OIN_B} is already registered with other values" in err
    assert snapshot(database_url) == EXPECTED
    code, out, _ = run("import", str(path), "--update")
    assert code == 0 and "0 added, 1 updated, 5 unchanged" in out
    assert snapshot(database_url)[0][1].naam == "Ander LAS B.V."


def _bad(kind: str, text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


BAD_TOML = {
    "malformed-brin": (_bad("toml", GOOD_TOML, 'brin = "34CD"', 'brin = "3CD"'),
                       ["register.toml [[school]] #2: brin: BRIN '3CD' is malformed"]),
    "malformed-oin": (_bad("toml", GOOD_TOML, f'oin = "{OIN_B}"', 'oin = "0000000155555555000X"'),
                      ["register.toml [[vendor]] #2: oin: OIN '0000000155555555000X' is malformed"]),
    "oin-as-number": (_bad("toml", GOOD_TOML, f'oin = "{OIN_B}"', "oin = 1555555550000"),
                      ["register.toml [[vendor]] #2: oin: 1555555550000 must be text: put it in quotes"]),
    "unknown-vendor": (_bad("toml", GOOD_TOML, f'vendor_oin = "{OIN_B}"', 'vendor_oin = "00000001777777770000"'),
                       ["register.toml [[aanleverpunt]] #2: vendor_oin: unknown vendor 00000001777777770000"]),
    "unknown-school": (_bad("toml", GOOD_TOML, 'brin = "34CD"\nvestiging = "00"\nvendor_oin',
                            'brin = "34CD"\nvestiging = "01"\nvendor_oin'),
                       ["register.toml [[aanleverpunt]] #2: brin/vestiging: unknown school 34CD vestiging 01"]),
    "duplicate": (GOOD_TOML + f'\n[[vendor]]\noin = "{OIN_A}"\nnaam = "Nog eens"\n',
                  [f"register.toml [[vendor]] #3: duplicate: vendor {OIN_A} is also at register.toml [[vendor]] #1"]),
    "bad-sector": (_bad("toml", GOOD_TOML, 'sector = "VO"', 'sector = "HBO"'),
                   ["register.toml [[school]] #2: sector: sector 'HBO' is not PO, VO or SWV"]),
    "unknown-field": (_bad("toml", GOOD_TOML, 'sector = "VO"', 'sector = "VO"\nadres = "Dorpsstraat 1"'),
                      ["register.toml [[school]] #2: adres: unknown field for a school"]),
    "missing-field": (_bad("toml", GOOD_TOML, 'naam = "Lyceum Voorbeeld"\n', ""),
                      ["register.toml [[school]] #2: naam: missing"]),
    "bad-url": (_bad("toml", GOOD_TOML, '"https://las2.example/ap"', '"las2.example/ap"'),
                ["register.toml [[aanleverpunt]] #2: document_url: 'las2.example/ap' is not an http(s) URL"]),
    "not-toml": ("[[vendor]\noin = 1", ["register.toml: not valid TOML"]),
    "two-problems": (_bad("toml", _bad("toml", GOOD_TOML, 'brin = "34CD"', 'brin = "3CD"'),
                          f'oin = "{OIN_B}"', 'oin = "1"'),
                     ["register.toml [[vendor]] #2: oin: OIN '1' is malformed",
                      "register.toml [[school]] #2: brin: BRIN '3CD' is malformed"]),
}

BAD_CSV = {
    "malformed-brin": (_bad("csv", GOOD_CSV, "34CD,00,VO", "34C,00,VO"),
                       ["register.csv:5: brin: BRIN '34C' is malformed"]),
    "malformed-oin": (_bad("csv", GOOD_CSV, f"vendor,{OIN_B}", "vendor,123"),
                      ["register.csv:3: oin: OIN '123' is malformed"]),
    "unknown-vendor": (_bad("csv", GOOD_CSV, f"{RK_2},{OIN_B}", f"{RK_2},00000001777777770000"),
                       ["register.csv:7: vendor_oin: unknown vendor 00000001777777770000"]),
    "duplicate": (GOOD_CSV + "school,,Nog eens,,,12AB,00,PO,,,,,\n",
                  ["register.csv:8: duplicate: school 12AB vestiging 00 is also at register.csv:4"]),
    "bad-sector": (_bad("csv", GOOD_CSV, "34CD,00,VO", "34CD,00,MBO"),
                   ["register.csv:5: sector: sector 'MBO' is not PO, VO or SWV"]),
    "bad-kind": (_bad("csv", GOOD_CSV, "school,,Lyceum", "scholen,,Lyceum"),
                 ["register.csv:5: kind: 'scholen' is not vendor, school or aanleverpunt"]),
    "field-of-another-kind": (_bad("csv", GOOD_CSV, "school,,Lyceum Voorbeeld,,", "school,,Lyceum Voorbeeld,ja,"),
                              ["register.csv:5: gekwalificeerd: does not apply to a school"]),
    "bad-boolean": (_bad("csv", GOOD_CSV, "Voorbeeld LAS B.V.,ja", "Voorbeeld LAS B.V.,misschien"),
                    ["register.csv:2: gekwalificeerd: 'misschien' is not true or false"]),
    "bad-date": (_bad("csv", GOOD_CSV, "2024-08-01", "1-8-2024"),
                 ["register.csv:2: gekwalificeerd_sinds: '1-8-2024' is not a date (YYYY-MM-DD)"]),
    "no-kind-column": (GOOD_CSV.replace("kind,", "soort,", 1), ["register.csv:1: column 'soort' is unknown"]),
}


@pytest.mark.parametrize("suffix, content, problems",
                         [(".toml", *v) for v in BAD_TOML.values()] + [(".csv", *v) for v in BAD_CSV.values()],
                         ids=[f"toml-{k}" for k in BAD_TOML] + [f"csv-{k}" for k in BAD_CSV])
def test_bad_imports_exit_2_name_the_problem_and_import_nothing(run, database_url, seeded, tmp_path, suffix,
                                                               content, problems):
    path = tmp_path / f"register{suffix}"
    path.write_text(content, encoding="utf-8")
    code, out, err = run("import", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    for expected, line in zip(problems, lines, strict=False):
        assert line.startswith(expected), (expected, err)
    assert len(lines) >= len(problems) + 1
    assert lines[-1].startswith("register import: ") and lines[-1].endswith("nothing imported")
    assert snapshot(database_url) == seeded


def test_import_of_a_missing_or_unknown_file(run, tmp_path, seeded, database_url):
    code, _, err = run("import", str(tmp_path / "nope.toml"))
    assert code == 2 and "cannot read it" in err
    (tmp_path / "register.json").write_text("{}")
    code, _, err = run("import", str(tmp_path / "register.json"))
    assert code == 2 and "register.json: unknown format '.json': use a .toml or .csv file" in err
    assert snapshot(database_url) == seeded
