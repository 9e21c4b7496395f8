"""``oso-gateway validate``: exit codes 0/1/2, text grouped per file and source, --format json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.commands import main

from .bundles_location import BUNDLES_DIR, GEGEVENSSET

OV_EXAMPLES = GEGEVENSSET / "OV" / "examples"
POVO = OV_EXAMPLES / "Voorbeelddossier_OV_POVO_opt_out.xml"
POPO = OV_EXAMPLES / "Voorbeelddossier_OV_POPO_full.xml"
NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"


@pytest.fixture(autouse=True)
def _no_env_bundles(monkeypatch):
    monkeypatch.delenv("OSO_GATEWAY_BUNDLES_DIR", raising=False)


def _changed(tmp_path: Path, name: str, path: str, value: str, src: Path = POVO) -> Path:
    root = etree.parse(str(src)).getroot()
    root.find("/".join(f"{{{NS}}}{s}" for s in path.split("/"))).text = value
    out = tmp_path / name
    out.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return out


def run(capsys, *args) -> tuple[int, str]:
    code = main(["validate", *map(str, args)])
    return code, capsys.readouterr().out


def test_valid_files_exit_0(capsys):
    code, out = run(capsys, POVO, POPO, "--bundles", BUNDLES_DIR)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{POVO}: VALID (bundle 2019.1, OV rules) — 0 error(s), 0 warning(s), 0 info"
    assert f"{POPO}: VALID (bundle 2019.1, OV rules) — 0 error(s), 5 warning(s), 0 info" in lines
    assert "  gateway (5)" in lines
    assert any(line.startswith("    WARNING DOS-ATT-TRUNCATED [document 'Toelichting.pdf'] at /dossier[1]/")
               for line in lines)


def test_an_invalid_file_exits_1_with_findings_grouped_by_source(tmp_path, capsys):
    bad = _changed(tmp_path, "brin.xml", "huidigeschool/brincode", "0YYY")
    code, out = run(capsys, POVO, bad, "--bundles", BUNDLES_DIR)
    assert code == 1
    block = out.split(f"{bad}: ", 1)[1].splitlines()
    assert block[0].startswith("NOT VALID (bundle 2019.1, OV rules) — 2 error(s)")
    assert block[1] == "  schema (1)"
    assert block[2].startswith("    ERROR xsd:cvc-pattern-valid at /dossier[1]/huidigeschool[1]/brincode[1]: ")
    assert block[3] == "  gateway (1)"
    assert block[4].startswith("    ERROR DOS-BRIN at /dossier[1]/huidigeschool[1]/brincode[1]: ")


def test_cannot_validate_exits_2(tmp_path, capsys):
    code, out = run(capsys, POVO, tmp_path / "missing.xml", "--bundles", BUNDLES_DIR)
    assert code == 2
    assert f"{tmp_path / 'missing.xml'}: UNREADABLE" in out
    future = _changed(tmp_path, "2030.xml", "metadata/standaardversie", "2030.1")
    code, out = run(capsys, future, "--bundles", BUNDLES_DIR)
    assert code == 2
    assert out.splitlines()[0].startswith(f"{future}: CANNOT VALIDATE")
    assert "no bundle for standaardversie '2030.1'" in out
    code, out = run(capsys, POVO)  # no bundles dir at all
    assert code == 2 and "no bundles: --bundles DIR" in out


def test_the_worst_file_decides(tmp_path, capsys):
    bad = _changed(tmp_path, "bsn.xml", "huidigeschool/leerling/bsn", "123456789")
    code, _ = run(capsys, bad, tmp_path / "nope.xml", "--bundles", BUNDLES_DIR)
    assert code == 2
    code, _ = run(capsys, bad, POVO, "--bundles", BUNDLES_DIR)
    assert code == 1


def test_json_format(tmp_path, capsys):
    bad = _changed(tmp_path, "bsn.xml", "huidigeschool/leerling/bsn", "123456789")
    code, out = run(capsys, POVO, bad, tmp_path / "nope.xml", "--bundles", BUNDLES_DIR, "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["exit"] == 2
    ok, broken, missing = doc["files"]
    assert ok["status"] == "valid" and ok["bundle"] == "2019.1" and ok["profile"] == "OV"
    assert ok["counts"] == {"error": 0, "warning": 0, "info": 0}
    assert broken["status"] == "invalid"
    assert set(broken["findings"]) == {"schema", "business-rule", "gateway"}
    assert broken["findings"]["schema"] == [] and broken["findings"]["business-rule"] == []
    assert broken["findings"]["gateway"] == [{
        "severity": "error", "source": "gateway", "rule": "DOS-BSN", "text": "the BSN does not pass the elfproef",
        "location": "/dossier[1]/huidigeschool[1]/leerling[1]/bsn[1]"}]
    assert missing == {"file": str(tmp_path / "nope.xml"), "status": "unreadable",
                       "problem": "No such file or directory"}


def test_test_school_flag(tmp_path, capsys):
    test_pupil = _changed(tmp_path, "testleerling.xml", "huidigeschool/leerling/bsn", "127095823")
    code, out = run(capsys, test_pupil, "--bundles", BUNDLES_DIR)
    assert code == 1 and "DOS-BSN" in out
    code, out = run(capsys, test_pupil, "--bundles", BUNDLES_DIR, "--test-school")
    assert code == 0 and "INFO DOS-TESTNUMBER" in out


def test_the_installed_command(tmp_path):
    """The real entry point in a fresh process, with the bundles dir from the environment."""
    bad = _changed(tmp_path, "brin.xml", "huidigeschool/brincode", "0YYY")
    cmd = [sys.executable, "-m", "gateway", "validate"]
    env = {"OSO_GATEWAY_BUNDLES_DIR": str(BUNDLES_DIR), "PATH": "/usr/bin:/bin"}
    cwd = Path(__file__).resolve().parents[1]
    ok = subprocess.run([*cmd, str(POVO)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "VALID (bundle 2019.1, OV rules)" in ok.stdout
    res = subprocess.run([*cmd, str(bad), "--format", "json"], capture_output=True, text=True, env=env, cwd=cwd,
                         timeout=120)
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["files"][0]["status"] == "invalid"
    res = subprocess.run([*cmd, str(tmp_path / "nope.xml")], capture_output=True, text=True, env=env, cwd=cwd,
                         timeout=120)
    assert res.returncode == 2 and "UNREADABLE" in res.stdout
