"""validate() over the official 2019.1 bundle: the 12 examples are valid; dossiers broken here from them are not.

The official files are read from the bundles dir that tests/bundles_location.py names (never copied into the
project). The bundle is compiled once for the whole session.
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.dossier import (BUSINESS_RULE, CANNOT_VALIDATE, ERROR, GATEWAY, INFO, INVALID, SCHEMA, VALID, WARNING,
                             DossierPolicy, IdentityPolicy, KENNISNET_TEST_SCHOOL, NoBundle, Transfer, load_bundle,
                             load_bundles, validate)
from gateway.dossier.bundles import OV, PAO, rule_ids_of_stylesheet

from .bundles_location import BUNDLES_DIR, GEGEVENSSET

EXAMPLES = sorted((GEGEVENSSET / "OV" / "examples").glob("*.xml")) + sorted(
    (GEGEVENSSET / "PaO" / "examples").glob("*.xml"))
NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
MiB = 1024 * 1024


def example(name: str) -> Path:
    sub = "PaO" if name.startswith("PaO_") else "OV"
    return GEGEVENSSET / sub / "examples" / f"Voorbeelddossier_{name}.xml"


@pytest.fixture(scope="session")
def bundles():
    registry = load_bundles(BUNDLES_DIR)
    registry.get("2019.1")  # compile the XSD and both stylesheets once, now
    return registry


def edit(name: str, change) -> bytes:
    """An official example with `change(root, q)` applied (q: local path -> Clark-notation path)."""
    root = etree.parse(str(example(name))).getroot()
    q = lambda path: "/".join(f"{{{NS}}}{s}" for s in path.split("/"))  # noqa: E731
    change(root, q)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def found(report, source=None, severity=None):
    return [(f.source, f.severity, f.rule) for f in report.findings
            if (source is None or f.source == source) and (severity is None or f.severity == severity)]


def b64zip(entries: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in entries.items():
            zf.writestr(n, d)
    return base64.b64encode(buf.getvalue()).decode()


def set_attachment(root, q, filename: str, content: str) -> None:
    doc = next(d for d in root.iter(f"{{{NS}}}document") if d.findtext(q("bestandsnaam")) == filename)
    doc.find(q("bestandsinhoud")).text = content


# ---------------------------------------------------------------------------------------------------- the examples

def test_the_bundles_dir_holds_the_official_bundle():
    assert len(EXAMPLES) == 12
    assert load_bundles(BUNDLES_DIR).versions == ("2019.1",)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem.removeprefix("Voorbeelddossier_"))
def test_every_official_example_is_valid(bundles, path):
    report = validate(path.read_bytes(), bundles)
    assert report.status == VALID, [f for f in report.findings if f.severity == ERROR]
    assert report.errors == ()
    assert report.bundle == "2019.1" and report.standaardversie == "2019.1" and report.namespace == NS
    assert report.profile == (PAO if "_PaO_" in path.name else OV)
    # What is left are warnings about attachment stubs the examples carry (ZIPs cut short: 162 bytes of 3,5 KB).
    assert {(f.source, f.severity, f.rule) for f in report.findings} <= {(GATEWAY, WARNING, "DOS-ATT-TRUNCATED")}
    if path.stem.endswith("_full"):
        assert len(report.warnings) == 5


def test_the_examples_bsns_need_no_exception(bundles):
    # They all pass the elfproef: no test-number info, nothing accepted on the side.
    for path in EXAMPLES:
        report = validate(path.read_bytes(), bundles, policy=DossierPolicy(
            identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,))))
        assert found(report, severity=INFO) == []


def test_rule_ids_are_read_from_the_stylesheets():
    ov = rule_ids_of_stylesheet(GEGEVENSSET / "OV" / "ValideerOverstapprofielen.xsl")
    assert ov["Een overstapdossier moet het gegevensblok 'Inzage' bevatten."] == ("OVa.IZ01",)
    assert ov["Het veld 'Toestemming' is verplicht bij een VOVO-overstap."] == ("OVa.IZ05",)
    assert ov["In een overstapdossier is de geboortemaand verboden bij een leerling."] == ("OVa.LL03",)
    # from the included code-list / category file
    assert ov['Een dossier mag geen gegevens uit de categorie "Schoolloopbaan" bevatten wanneer deze categorie is '
              'verboden.'] == ("OS.cat07",)
    # code-list checks carry no id
    assert "Het veld 'Soort overdracht' bevat een waarde die niet voorkomt in codelijst 29." not in ov
    pao = rule_ids_of_stylesheet(GEGEVENSSET / "PaO" / "ValideerSwvPaO-profielen.xsl")
    assert pao['Een SWV-dossier moet de aanduiding "swv-dossier" voor soort overdracht bevatten.'] == ("PaO.SO03",)


# --------------------------------------------------------------------------------------------- broken dossiers

def test_bad_bsn(bundles):
    data = edit("OV_POVO_opt_out", lambda r, q: setattr(r.find(q("huidigeschool/leerling/bsn")), "text",
                                                          "123456789"))
    report = validate(data, bundles)
    assert report.status == INVALID
    assert found(report, severity=ERROR) == [(GATEWAY, ERROR, "DOS-BSN")]
    f = report.errors[0]
    assert f.location == "/dossier[1]/huidigeschool[1]/leerling[1]/bsn[1]" and "elfproef" in f.text
    assert "123456789" not in f.text


def test_test_school_bsn_is_an_error_unless_the_test_school_is_configured(bundles):
    data = edit("OV_POPO_opt_out", lambda r, q: setattr(r.find(q("huidigeschool/leerling/bsn")), "text",
                                                          "127095823"))
    assert found(validate(data, bundles), severity=ERROR) == [(GATEWAY, ERROR, "DOS-BSN")]
    policy = DossierPolicy(identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,)))
    report = validate(data, bundles, policy=policy)
    assert report.status == VALID and found(report, severity=INFO) == [(GATEWAY, INFO, "DOS-TESTNUMBER")]


def test_verboden_category_with_data(bundles):
    data = edit("OV_POVO_opt_out", lambda r, q: setattr(r.find(q("metadata/categorie_uitlevering/cat_schoolloopbaan")),
                                                          "text", "VERBODEN"))
    report = validate(data, bundles)
    assert report.status == INVALID
    assert found(report, GATEWAY, ERROR) == [(GATEWAY, ERROR, "DOS-CAT-VERBODEN")]
    assert report.errors[-1].location == "/dossier[1]/huidigeschool[1]/leerling[1]/schoolloopbaanlijst[1]"
    assert (BUSINESS_RULE, ERROR, "OS.cat07") in found(report, BUSINESS_RULE)


def test_opt_uit_category_with_data(bundles):
    data = edit("OV_VOVO_full", lambda r, q: setattr(r.find(q("metadata/categorie_uitlevering/cat_verzuim")),
                                                       "text", "OPT-UIT"))
    report = validate(data, bundles)
    assert (GATEWAY, ERROR, "DOS-CAT-OPTUIT") in found(report)
    assert (BUSINESS_RULE, ERROR, "OS.cat10") in found(report)


def test_missing_inzage_for_povo(bundles):
    def drop(r, q):
        r.remove(r.find(q("inzage")))
        r.find(q("metadata/categorie_uitlevering/cat_ouderinzage")).text = "OPTIONEEL"
    report = validate(edit("OV_POVO_full", drop), bundles)
    assert report.status == INVALID
    assert found(report, GATEWAY, ERROR) == [(GATEWAY, ERROR, "DOS-INZAGE")]
    assert found(report, BUSINESS_RULE) == [(BUSINESS_RULE, ERROR, "OVa.IZ01")]
    rule = next(f for f in report.findings if f.rule == "OVa.IZ01")
    assert rule.location == "/dossier[1]" and "Inzage" in rule.text


def test_inzage_false_for_popo(bundles):
    report = validate(edit("OV_POPO_opt_out", lambda r, q: setattr(r.find(q("inzage/inzage")), "text", "false")),
                      bundles)
    assert (GATEWAY, ERROR, "DOS-INZAGE") in found(report)
    assert (BUSINESS_RULE, ERROR, "OVa.IZ02") in found(report)


def test_vovo_without_consent(bundles):
    report = validate(edit("OV_VOVO_opt_out", lambda r, q: r.find(q("inzage")).remove(r.find(q("inzage/toestemming")))),
                      bundles)
    assert found(report, GATEWAY, ERROR) == [(GATEWAY, ERROR, "DOS-TOESTEMMING")]
    assert found(report, BUSINESS_RULE) == [(BUSINESS_RULE, ERROR, "OVa.IZ05")]
    report = validate(edit("OV_VOVO_opt_out", lambda r, q: setattr(r.find(q("inzage/toestemming")), "text", "Nee")),
                      bundles)
    assert found(report, severity=ERROR) == [(GATEWAY, ERROR, "DOS-TOESTEMMING")]


def test_binnen_brin_needs_neither_inzage_nor_consent(bundles):
    report = validate(example("OV_BB_opt_out").read_bytes(), bundles)
    assert report.status == VALID  # it has no inzage block at all


def test_wrong_brin(bundles):
    report = validate(edit("OV_POVO_opt_out", lambda r, q: setattr(r.find(q("huidigeschool/brincode")), "text",
                                                                     "0YYY")), bundles)
    assert report.status == INVALID
    assert found(report, GATEWAY, ERROR) == [(GATEWAY, ERROR, "DOS-BRIN")]
    assert found(report, SCHEMA) == [(SCHEMA, ERROR, "xsd:cvc-pattern-valid")]
    assert {f.location for f in report.errors} == {"/dossier[1]/huidigeschool[1]/brincode[1]"}


def test_schema_violation(bundles):
    def damage(r, q):
        leerling = r.find(q("huidigeschool/leerling"))
        leerling.remove(leerling.find(q("achternaam")))
        r.find(q("metadata")).append(etree.Element(f"{{{NS}}}onbekend"))
    report = validate(edit("OV_VOVO_opt_out", damage), bundles)
    assert report.status == INVALID
    schema = [f for f in report.findings if f.source == SCHEMA]
    assert [(f.severity, f.rule) for f in schema] == [(ERROR, "xsd:element-content")] * 2
    assert {f.location for f in schema} == {"/dossier[1]/metadata[1]/onbekend[1]",
                                            "/dossier[1]/huidigeschool[1]/leerling[1]/roepnaam[1]"}
    assert any("onbekend" in f.text and "not expected" in f.text for f in schema)
    assert not any(f.source == GATEWAY and f.severity == ERROR for f in report.findings)


def test_impossible_date(bundles):
    report = validate(edit("OV_POVO_opt_out", lambda r, q: setattr(
        r.find(q("huidigeschool/leerling/gba/gbageboortedatum")), "text", "31-02-2003")), bundles)
    # the XSD only checks the pattern DD-MM-EEJJ here; the gateway knows February has no 31st
    assert found(report, severity=ERROR) == [(GATEWAY, ERROR, "DOS-DATE")]


def test_zip_bomb(bundles):
    # 200 MB of zeros, deflated (streamed into the ZIP one MB at a time)
    zinfo = zipfile.ZipInfo("nullen.txt")
    zinfo.compress_type = zipfile.ZIP_DEFLATED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(zinfo, "w", force_zip64=True) as fh:
            for _ in range(200):
                fh.write(bytes(MiB))
    assert len(buf.getvalue()) < 1_000_000
    bomb = base64.b64encode(buf.getvalue()).decode()
    report = validate(edit("OV_POVO_full", lambda r, q: set_attachment(r, q, "opp.docx", bomb)), bundles)
    assert report.status == INVALID
    bombs = [f for f in report.errors]
    assert {(f.source, f.rule, f.document) for f in bombs} == {(GATEWAY, "DOS-ATT-BOMB", "opp.docx")}
    assert "zip bomb" in bombs[0].text and bombs[0].location.endswith("/document[1]")


def test_path_traversal_entry(bundles):
    evil = b64zip({"../../../../home/school/.bashrc": b"echo pwned"})
    report = validate(edit("OV_POVO_full", lambda r, q: set_attachment(r, q, "verzuimrapport.txt", evil)), bundles)
    errors = [(f.source, f.severity, f.rule, f.document) for f in report.errors]
    assert errors == [(GATEWAY, ERROR, "DOS-ATT-PATH", "verzuimrapport.txt")]
    assert "'..'" in report.errors[0].text


def test_attachment_that_is_not_a_zip(bundles):
    pdf = base64.b64encode(b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n").decode()
    report = validate(edit("OV_POVO_full", lambda r, q: set_attachment(r, q, "drem8.jpg", pdf)), bundles)
    assert [(f.source, f.severity, f.rule, f.document) for f in report.errors] == [
        (GATEWAY, ERROR, "DOS-ATT-NOTZIP", "drem8.jpg")]
    assert "PDF" in report.errors[0].text
    report = validate(edit("OV_POVO_full", lambda r, q: set_attachment(r, q, "drem8.jpg", "dit is geen base64!")),
                      bundles)
    assert [(f.rule, f.document) for f in report.errors] == [("DOS-ATT-BASE64", "drem8.jpg")]


def test_encrypted_entry(bundles):
    raw = bytearray(base64.b64decode(b64zip({"geheim.txt": b"x" * 50})))
    raw[6] |= 1  # local header: encrypted
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 8] |= 1  # central directory: encrypted
    enc = base64.b64encode(bytes(raw)).decode()
    report = validate(edit("OV_POVO_full", lambda r, q: set_attachment(r, q, "diagram.png", enc)), bundles)
    assert [(f.rule, f.document) for f in report.errors] == [("DOS-ATT-ENCRYPTED", "diagram.png")]


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE dossier [<!ENTITY naam "Berg">]>',
    '<!DOCTYPE dossier [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
    '<!DOCTYPE dossier SYSTEM "file:///etc/passwd">',
])
def test_dtd_with_entities(bundles, doctype):
    text = example("OV_POVO_opt_out").read_text(encoding="utf-8")
    head, rest = text.split("\n", 1)
    if "ENTITY naam" in doctype:
        rest = rest.replace("<achternaam>Berg</achternaam>", "<achternaam>&naam;</achternaam>")
    elif "ENTITY c" in doctype:
        rest = rest.replace("<achternaam>Berg</achternaam>", "<achternaam>&c;</achternaam>")
    report = validate((head + "\n" + doctype + "\n" + rest).encode("utf-8"), bundles)
    assert report.status == INVALID and not report.is_dossier
    assert found(report) == [(GATEWAY, ERROR, "R1008")]
    assert "DTD" in report.findings[0].text


def test_not_xml_and_not_a_dossier(bundles):
    assert found(validate(b"<dossier><open>", bundles)) == [(GATEWAY, ERROR, "GW-XML")]
    assert found(validate(b"\xff\xfe<\x00a\x00/\x00>\x00", bundles)) == [(GATEWAY, ERROR, "WS006")]
    report = validate(b'<?xml version="1.0"?><Envelope xmlns="urn:x"/>', bundles)
    assert report.status == INVALID and found(report) == [(GATEWAY, ERROR, "DOS-ROOT")]
    big = validate(example("OV_POVO_full").read_bytes(), bundles, policy=DossierPolicy(max_bytes=100_000))
    assert found(big) == [(GATEWAY, ERROR, "GW-SIZE")]


def test_an_attachment_beyond_the_parsers_text_limit_is_refused_with_the_reason(bundles):
    # The one safe parser (no XML_PARSE_HUGE) refuses a text node of more than 10,000,000 characters.
    huge = "A" * 10_000_004
    report = validate(edit("OV_POVO_full", lambda r, q: set_attachment(r, q, "opp.docx", huge)), bundles)
    assert found(report) == [(GATEWAY, ERROR, "GW-XML")]
    assert "more than 10,000,000 characters" in report.findings[0].text


def test_overdrachtsoort_inconsistent(bundles):
    report = validate(edit("OV_POVO_opt_out", lambda r, q: setattr(r.find(q("overdrachtsoort")), "text",
                                                                     "swv-dossier")), bundles)
    assert report.profile == PAO  # the dossier says swv-dossier: the PaO rules judge it
    assert (GATEWAY, ERROR, "DOS-OVERDRACHTSOORT") in found(report)
    assert (BUSINESS_RULE, ERROR, "PaO.SO02") in found(report)  # POVO is not an SWV overstap


def test_transfer_it_travels_in(bundles):
    data = example("OV_POVO_opt_out").read_bytes()
    assert validate(data, bundles, transfer=Transfer("overstapdossier", "POVO", "00YY")).status == VALID
    report = validate(data, bundles, transfer=Transfer(overdrachtsoort="overdrachtbinnenbrin", bron_brin="14AI"))
    assert found(report, severity=ERROR) == [(GATEWAY, ERROR, "DOS-OVERDRACHTSOORT"), (GATEWAY, ERROR, "DOS-BRON")]


# ---------------------------------------------------------------------------------------------- no bundle fits

def test_no_bundle_for_the_standaardversie(bundles):
    data = edit("OV_POVO_opt_out", lambda r, q: setattr(r.find(q("metadata/standaardversie")), "text", "2030.1"))
    report = validate(data, bundles)
    assert report.status == CANNOT_VALIDATE and report.bundle is None
    assert "no bundle for standaardversie '2030.1'" in report.problem and "2019.1" in report.problem
    assert report.errors == ()  # the gateway's own checks still ran, and found nothing


def test_standaardversie_is_never_a_path(bundles):
    data = edit("OV_POVO_opt_out", lambda r, q: setattr(r.find(q("metadata/standaardversie")), "text",
                                                          "../oso-gegevensset/2019.1"))
    report = validate(data, bundles)
    assert report.status == CANNOT_VALIDATE and "no bundle" in report.problem


def test_no_bundle_for_another_years_namespace(bundles):
    text = example("OV_POVO_opt_out").read_text(encoding="utf-8").replace("/2019/dossier", "/2024/dossier")
    report = validate(text.encode(), bundles)
    assert report.status == CANNOT_VALIDATE
    assert "namespace" in report.problem
    # the gateway's checks know no year: a broken BSN is still found
    bad = text.replace("<bsn>246263738</bsn>", "<bsn>246263739</bsn>")
    assert found(validate(bad.encode(), bundles), severity=ERROR) == [(GATEWAY, ERROR, "DOS-BSN")]


def test_without_bundles_only_the_gateway_checks_run():
    report = validate(example("OV_POVO_opt_out").read_bytes(), None)
    assert report.status == CANNOT_VALIDATE and "no bundles" in report.problem


def test_a_single_bundle_can_be_passed(bundles):
    bundle = bundles.get("2019.1")
    assert validate(example("PaO_POSWV_opt_out").read_bytes(), bundle).status == VALID
    with pytest.raises(NoBundle):
        bundles.get("2018.1")


def test_bundle_folder_without_stylesheets(tmp_path):
    (tmp_path / "x.xsd").write_bytes((GEGEVENSSET / "OSO_gegevensset_2019.1.xsd").read_bytes())
    from gateway.dossier import BundleError
    with pytest.raises(BundleError):
        load_bundle(tmp_path)


# ------------------------------------------------------------------------------------------- nothing crashes

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_dossiers_never_crash(bundles, data):
    base = bytearray(example("OV_POVO_opt_out").read_bytes())
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(base) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            base[pos] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del base[pos: pos + data.draw(st.integers(1, 50))]
        else:
            base[pos:pos] = data.draw(st.sampled_from([b"<x>", b"</inzage>", b"&amp;", b"<!--", b"\x00", b"]]>",
                                                       b"<bsn>1</bsn>", b"\xc3"]))
    report = validate(bytes(base), bundles)
    assert report.status in (VALID, INVALID, CANNOT_VALIDATE)
    for f in report.findings:
        assert f.text
