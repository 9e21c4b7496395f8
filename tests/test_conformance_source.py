"""The conformance suite, role source, tested on itself: against our reference source every scenario passes; against
each deliberately broken variant (tests/conformance_variants.py) the scenario meant to catch its defect fails, and
the JUnit and HTML reports name it. The whole catalogue of the source role is covered: a scenario no variant fails
would prove nothing (``PROVES_NOTHING`` lists those, with the reason; it is empty today)."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from gateway.conformance.catalogue import SOURCE, for_role
from gateway.conformance.report import html_report, junit_xml
from gateway.conformance.results import FAILED, PASSED

from .conformance_bench import start_source_bench
from .conformance_variants import PREFLIGHT, VARIANTS

# Source scenarios that no variant fails, each with the reason it is kept anyway. Empty: every scenario is proven.
PROVES_NOTHING: dict[str, str] = {}
FAILED_BY: dict[str, set[str]] = {}  # scenario id -> the variants that failed it (filled by the variant tests)


@pytest.fixture(scope="module")
def bench(pki, tmp_path_factory):
    b = start_source_bench(pki, tmp_path_factory.mktemp("conformance-source"))
    yield b
    b.stop()


def test_reference_source_passes_every_scenario_in_under_a_minute(bench):
    t0 = time.perf_counter()
    report = bench.run()
    took = time.perf_counter() - t0
    not_passed = {r.scenario.id: f"{r.verdict}: {r.finding}" for r in report.results if r.verdict != PASSED}
    assert not not_passed, not_passed
    assert [r.scenario.id for r in report.results] == [s.id for s in for_role(SOURCE)]
    assert report.exit_code == 0
    assert took < 60, f"a full run took {took:.1f} s"
    # what the suite's TC saw: a signed sessiecontrole from the reference for each answered request
    controls = bench.suite.tc.seen("sessiecontroleRequest")
    assert controls and all(c.signer_oin == bench.vendor.oin and c.error is None for c in controls)


@pytest.mark.parametrize("v", [v for v in VARIANTS if v.catches != PREFLIGHT],
                         ids=[v.name for v in VARIANTS if v.catches != PREFLIGHT])
def test_a_broken_variant_fails_the_scenario_meant_to_catch_it(bench, monkeypatch, v):
    v.apply(bench, monkeypatch)
    try:
        report = bench.run()
    finally:
        bench.front.wrap = None
    failed = report.failed_ids
    for scenario_id in failed:
        FAILED_BY.setdefault(scenario_id, set()).add(v.name)
    assert v.catches in failed, f"{v.name} ({v.defect}): {v.catches} did not fail; failed: {failed}"
    result = report.result(v.catches)
    assert result.verdict == FAILED and result.finding
    if result.scenario.severity == "must":
        assert report.exit_code == 1
    # the reports name it: a JUnit failure of that test case, and an open, failed <details> in the HTML page
    junit = etree.fromstring(junit_xml(report))
    case = [c for c in junit.iter("testcase") if c.get("name").startswith(v.catches + ":")]
    assert len(case) == 1 and case[0].find("failure") is not None
    page = html_report(report)
    assert f'<details class="sc failed" id="{v.catches}" open>' in page
    assert not any(pgn in page or pgn.encode() in junit_xml(report) for pgn in bench.pupils.all())


def test_every_source_scenario_has_a_variant_meant_for_it():
    """One broken variant per scenario (and so per rule): the catalogue and the variants move together."""
    meant = {v.catches for v in VARIANTS}
    assert {s.id for s in for_role(SOURCE)} <= meant, sorted({s.id for s in for_role(SOURCE)} - meant)


def test_every_source_scenario_is_failed_by_some_variant():
    if len({v for vs in FAILED_BY.values() for v in vs} | {"-"}) < 2:
        pytest.skip("run with the variant tests (the whole module)")
    unproven = {s.id for s in for_role(SOURCE)} - set(FAILED_BY) - set(PROVES_NOTHING)
    for scenario_id in sorted(FAILED_BY):  # shown with -rP: which variants each scenario caught
        print(f"{scenario_id}: {', '.join(sorted(FAILED_BY[scenario_id]))}")
    assert not unproven, f"scenarios that no variant fails (they prove nothing): {sorted(unproven)}"


def test_the_html_report_of_a_broken_variant_in_headless_chromium(bench, monkeypatch, tmp_path):
    """The page opens in a real browser (Debian's chromium over the DevTools protocol, tests/cdp.py); the failing
    scenario is open, scrolled to, on screen, with its evidence (the messages, redacted); a screenshot is written."""
    from .cdp import Chromium, chromium_path
    from .conformance_variants import BY_NAME

    assert chromium_path(), "Debian's chromium is needed (make system-deps installs it)"
    v = BY_NAME["skips-sessiecontrole"]
    v.apply(bench, monkeypatch)
    report = bench.run()
    page = html_report(report)
    assert not any(pgn in page for pgn in bench.pupils.all())
    assert "<script" not in page and "<link" not in page and "src=" not in page and "url(" not in page
    html_file = tmp_path / "report.html"
    html_file.write_text(page, encoding="utf-8")
    browser = Chromium(window="1280,1400")
    try:
        browser.goto(html_file.as_uri())
        assert browser.js("document.title").startswith("OSO conformance report")
        assert "FAILED" in browser.js("document.querySelector('h1').innerText")
        browser.js(f"document.querySelector(\"a[href='#{v.catches}']\").click()")  # from the index to it
        seen = browser.js(f"""(() => {{
            const d = document.getElementById({v.catches!r});
            const r = d.getBoundingClientRect();
            const evidence = [...d.querySelectorAll('pre')].filter(p => p.offsetHeight > 0
                && p.innerText.includes('Envelope'));
            return {{open: d.open, top: r.top, height: r.height, viewport: innerHeight, evidence: evidence.length,
                     badge: getComputedStyle(d.querySelector('.v')).backgroundColor,
                     finding: d.querySelector('.finding').innerText, fix: d.querySelector('.fix').innerText,
                     text: d.innerText}};
        }})()""")
        browser.screenshot(tmp_path / "conformance-report-full-page.png")
        import base64  # the viewport alone, scrolled to the failing scenario (the helper's shot is the whole page)

        viewport = browser.call("Page.captureScreenshot", session=True, format="png")["data"]
        shot = tmp_path / "conformance-report-failing-scenario.png"
        shot.write_bytes(base64.b64decode(viewport))
    finally:
        browser.close()
    assert seen["open"] is True
    assert -1 <= seen["top"] < seen["viewport"] and seen["height"] > 200  # on screen (to a pixel), not collapsed
    assert seen["evidence"] >= 2  # the documentRequest the suite sent and the vendor's answer
    assert seen["badge"] == "rgb(207, 34, 46)"  # the red 'failed' badge
    assert "sessiecontrole" in seen["finding"] and "TC URL" in seen["fix"]
    assert "Message 1: suite → vendor: documentRequest" in seen["text"]
    assert not any(pgn in seen["text"] for pgn in bench.pupils.all())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    (bench.tmp.parent / shot.name).write_bytes(shot.read_bytes())
    print(f"\nconformance report screenshot: {bench.tmp.parent / shot.name}")


# ------------------------------------------------------------------------------------------------ the preflight
def _preflight_says(bench) -> str:
    from gateway.conformance.source import PreflightFailed

    with pytest.raises(PreflightFailed) as caught:
        bench.run()
    assert not any(p.hostile for p in bench.suite.probes), "no hostile request before the preflight passed"
    return str(caught.value)


@pytest.mark.parametrize("v", [v for v in VARIANTS if v.catches == PREFLIGHT], ids=lambda v: v.name)
def test_a_variant_without_the_test_pupils_is_stopped_by_the_preflight(bench, monkeypatch, v):
    v.apply(bench, monkeypatch)
    try:
        said = _preflight_says(bench)
    finally:
        bench.front.wrap = None
    assert "is not in your system" in said and "docs/zoeksleutel.md" in said


def test_the_preflight_names_the_ca_to_trust_when_the_vendor_refuses_the_suite(bench, monkeypatch, pki):
    """Every request refused for one unrelated reason (the vendor does not trust the suite's CA) stops the run
    before any scenario, instead of passing the hostile scenarios."""
    monkeypatch.setattr(bench.suite, "creds", pki.credentials("conformance-untrusted-suite", "00000001888888880000",
                                                              untrusted=True))
    monkeypatch.setattr(bench.suite.o, "suite_ca", "/the/suite/ca.pem")
    said = _preflight_says(bench)
    assert "not trusted" in said and "add /the/suite/ca.pem" in said and "to its trust anchors" in said


def test_the_preflight_says_when_the_vendors_answers_are_signed_by_a_ca_it_was_not_given(bench, monkeypatch, tmp_path):
    from gateway.pki import init_pki
    from gateway.wsse import TrustStore

    init_pki(tmp_path / "another", label="Another Test PKI")
    monkeypatch.setattr(bench.suite, "trust", TrustStore.from_files(tmp_path / "another" / "ca.pem",
                                                                    tmp_path / "another" / "crl.pem"))
    said = _preflight_says(bench)
    assert "cannot accept" in said and "give --ca the CA that issued your signing certificate" in said


def test_the_preflight_says_when_the_endpoint_does_not_answer(bench, monkeypatch):
    from .conftest import free_port

    monkeypatch.setattr(bench.suite.o, "endpoint", f"http://127.0.0.1:{free_port()}/school/aanleverpunt")
    said = _preflight_says(bench)
    assert "does not answer" in said
