"""Bundles made here (a tiny XSD and stylesheets of a made-up year): discovery, selection, rule ids, message types,
stylesheets that fail, and threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway.dossier import (BUSINESS_RULE, CANNOT_VALIDATE, ERROR, GATEWAY, INFO, VALID, WARNING, BundleError,
                             NoBundle, load_bundles, validate)
from gateway.dossier.bundles import PAO

NS = "http://www.edustandaard.nl/oso_gegevensset/2099/dossier"
MELDINGEN = "http://www.edustandaard.nl/oso_gegevensset/2019/schemas/Meldingen"

XSD = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{NS}" xmlns="{NS}"
           elementFormDefault="qualified">
  <xs:element name="dossier">
    <xs:complexType><xs:sequence>
      <xs:element name="metadata"><xs:complexType><xs:sequence>
        <xs:element name="standaardversie" type="xs:string" minOccurs="0"/>
        <xs:element name="overstap" type="xs:string" minOccurs="0"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:element name="overdrachtsoort" type="xs:string"/>
      <xs:element name="boom" type="xs:string" minOccurs="0"/>
    </xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>
"""

OV_XSL = f"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:od="{NS}" xmlns="{MELDINGEN}" version="2.0">
  <xsl:include href="include/codes.xsl"/>
  <xsl:template match="/">
    <meldingen>
      <!-- Afspraak test, business rule OVa.TT01 -->
      <!-- a description of the rule -->
      <xsl:call-template name="melding">
        <xsl:with-param name="type">Waarschuwing</xsl:with-param>
        <xsl:with-param name="tekst">Een waarschuwing uit de test.</xsl:with-param>
      </xsl:call-template>
      <!-- Afspraak test: no id here -->
      <xsl:call-template name="melding">
        <xsl:with-param name="type">Informatie</xsl:with-param>
        <xsl:with-param name="tekst">Ter informatie.</xsl:with-param>
      </xsl:call-template>
      <xsl:call-template name="melding">
        <xsl:with-param name="type">Fout</xsl:with-param>
        <xsl:with-param name="tekst">Regel OG.77 zegt het zelf.</xsl:with-param>
      </xsl:call-template>
      <xsl:call-template name="codes"/>
      <xsl:if test="//od:boom">
        <xsl:value-of select="error(xs:QName('od:BOOM'), 'boom')" xmlns:xs="http://www.w3.org/2001/XMLSchema"/>
      </xsl:if>
    </meldingen>
  </xsl:template>
  <xsl:template name="melding">
    <xsl:param name="type"/>
    <xsl:param name="tekst"/>
    <melding><type><xsl:value-of select="$type"/></type><locatie>/dossier[1]</locatie>
      <tekst><xsl:value-of select="$tekst"/></tekst></melding>
  </xsl:template>
</xsl:stylesheet>
"""

CODES_XSL = f"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:od="{NS}" xmlns="{MELDINGEN}" version="2.0">
  <xsl:template name="codes">
    <!-- Afspraak test, business rule OVa.TT02 -->
    <!-- Afspraak test, business rule OVb.TT02 -->
    <xsl:if test="//od:overdrachtsoort = 'overdrachtbinnenbrin'">
      <xsl:call-template name="melding">
        <xsl:with-param name="type">Fout</xsl:with-param>
        <xsl:with-param name="tekst">Binnen-BRIN in de test.</xsl:with-param>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
"""

PAO_XSL = f"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns="{MELDINGEN}" version="2.0">
  <xsl:template match="/"><meldingen/></xsl:template>
</xsl:stylesheet>
"""


def make_bundle(folder: Path, *, pao: bool = True, ov: str = OV_XSL) -> Path:
    (folder / "OV" / "include").mkdir(parents=True)
    (folder / "test.xsd").write_text(XSD)
    (folder / "OV" / "Valideer.xsl").write_text(ov)
    (folder / "OV" / "include" / "codes.xsl").write_text(CODES_XSL)
    if pao:
        (folder / "PaO").mkdir()
        (folder / "PaO" / "Valideer.xsl").write_text(PAO_XSL)
    return folder


def dossier(versie: str | None = "2099.1", soort: str = "overstapdossier", overstap: str = "POPO",
            extra: str = "") -> bytes:
    v = f"<standaardversie>{versie}</standaardversie>" if versie else ""
    return (f'<dossier xmlns="{NS}"><metadata>{v}<overstap>{overstap}</overstap></metadata>'
            f"<overdrachtsoort>{soort}</overdrachtsoort>{extra}</dossier>").encode()


@pytest.fixture
def bundles_dir(tmp_path) -> Path:
    make_bundle(tmp_path / "2099.1")
    (tmp_path / "not-a-bundle").mkdir()
    return tmp_path


def rows(report, source=None):
    return [(f.source, f.severity, f.rule, f.text) for f in report.findings if source in (None, f.source)]


def test_messages_become_findings_with_their_rule_ids(bundles_dir):
    reg = load_bundles(bundles_dir)
    assert reg.versions == ("2099.1",)
    popo = dossier(extra="")
    # (a POPO overstapdossier without inzage: the gateway says so too)
    report = validate(popo, reg)
    assert rows(report, BUSINESS_RULE) == [
        (BUSINESS_RULE, WARNING, "OVa.TT01", "Een waarschuwing uit de test."),
        (BUSINESS_RULE, INFO, None, "Ter informatie."),
        (BUSINESS_RULE, ERROR, "OG.77", "Regel OG.77 zegt het zelf."),
    ]
    assert [r[2] for r in rows(report, GATEWAY)] == ["DOS-INZAGE"]


def test_the_rule_id_follows_the_profile_of_the_dossier(bundles_dir):
    reg = load_bundles(bundles_dir)
    report = validate(dossier(soort="overdrachtbinnenbrin"), reg)
    assert (BUSINESS_RULE, ERROR, "OVb.TT02", "Binnen-BRIN in de test.") in rows(report)


def test_swv_dossiers_go_to_the_pao_rules(bundles_dir):
    report = validate(dossier(soort="swv-dossier", overstap="POSWV"), load_bundles(bundles_dir))
    assert report.profile == PAO and report.status == VALID and report.findings == ()


def test_a_failing_stylesheet_is_a_finding_not_a_crash(bundles_dir):
    report = validate(dossier(extra="<boom>x</boom>"), load_bundles(bundles_dir))
    assert (GATEWAY, ERROR, "DOS-XSLT") in [r[:3] for r in rows(report)]
    assert "could not be evaluated" in next(f.text for f in report.findings if f.rule == "DOS-XSLT")


def test_selection_without_standaardversie(bundles_dir, tmp_path):
    reg = load_bundles(bundles_dir)
    assert validate(dossier(versie=None, soort="swv-dossier", overstap="VOSWV"), reg).bundle == "2099.1"
    make_bundle(bundles_dir / "2099.2")
    reg = load_bundles(bundles_dir)
    report = validate(dossier(versie=None, soort="swv-dossier", overstap="VOSWV"), reg)
    assert report.status == CANNOT_VALIDATE and "several bundles" in report.problem
    assert validate(dossier(versie="2099.2", soort="swv-dossier", overstap="VOSWV"), reg).bundle == "2099.2"


def test_missing_profile_and_broken_stylesheet(tmp_path):
    make_bundle(tmp_path / "2099.1", pao=False)
    report = validate(dossier(soort="swv-dossier", overstap="POSWV"), load_bundles(tmp_path))
    assert report.status == CANNOT_VALIDATE and "no PaO business rules" in report.problem
    broken = tmp_path / "broken"
    make_bundle(broken / "2099.1", ov=OV_XSL.replace("</xsl:stylesheet>", "<xsl:nonsense/></xsl:stylesheet>"))
    reg = load_bundles(broken)
    with pytest.raises(BundleError, match="does not compile"):
        reg.get("2099.1")
    with pytest.raises(NoBundle):
        reg.get("2099.3")
    with pytest.raises(BundleError):
        load_bundles(tmp_path / "nowhere")


def test_broken_bundle_in_the_cli_exits_2(tmp_path, capsys):
    from gateway.commands import main

    make_bundle(tmp_path / "b" / "2099.1", ov="<not xslt/>")
    f = tmp_path / "d.xml"
    f.write_bytes(dossier(soort="overdrachtbinnenbrin"))
    assert main(["validate", str(f), "--bundles", str(tmp_path / "b")]) == 2
    assert "CANNOT VALIDATE" in capsys.readouterr().out


def test_threads_share_one_registry(bundles_dir):
    reg = load_bundles(bundles_dir)
    inputs = [dossier(soort="swv-dossier", overstap="POSWV"), dossier(soort="overdrachtbinnenbrin")] * 20
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda d: validate(d, reg).status, inputs))
    assert statuses == ["valid", "invalid"] * 20
