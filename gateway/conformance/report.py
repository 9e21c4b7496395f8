"""The run's report as JUnit XML (for a vendor's Jenkins or GitLab CI) and as one self-contained HTML page.

JUnit: one <testsuite> per role, one <testcase> per scenario (classname ``oso.conformance.<role>.<severity>``). A
failed *must* or *should* is a <failure> (type ``must`` / ``should``: a CI may mark the build unstable on the
latter; the suite's exit code only counts the former), a scenario that could not be judged an <error>, one that does
not apply <skipped>.

HTML: no external assets (inline CSS, no scripts needed: every scenario is a <details> element, open when it
failed). Per scenario: the verdict, the rule(s) with their text, what was sent and expected, the finding, how to
fix it, and the evidence: each message exchanged, redacted (``evidence.redact``), with HTTP status and headers.
"""

from __future__ import annotations

import html
from datetime import timezone

from lxml import etree

from .catalogue import MUST, SHOULD, rule_text
from .evidence import HttpExchange, redact, redact_headers, redact_text
from .results import ERROR, FAILED, NOT_APPLICABLE, PASSED, Result, RunReport

_ORDER = {FAILED: 0, ERROR: 1, NOT_APPLICABLE: 3, PASSED: 4}


def junit_xml(report: RunReport) -> bytes:
    s = report.secrets
    counts = {v: sum(1 for r in report.results if r.verdict == v) for v in (FAILED, ERROR, NOT_APPLICABLE)}
    suites = etree.Element("testsuites", name="OSO conformance")
    suite = etree.SubElement(
        suites, "testsuite", name=f"oso.conformance.{report.role}", tests=str(len(report.results)),
        failures=str(counts[FAILED]), errors=str(counts[ERROR]), skipped=str(counts[NOT_APPLICABLE]),
        time=f"{report.duration_s:.3f}",
        timestamp=report.started.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    props = etree.SubElement(suite, "properties")
    etree.SubElement(props, "property", name="outcome", value=report.outcome)
    etree.SubElement(props, "property", name="headline", value=redact_text(report.headline, s))
    for k, v in report.context.items():
        etree.SubElement(props, "property", name=k, value=redact_text(str(v), s))
    for r in report.results:
        sc = r.scenario
        case = etree.SubElement(suite, "testcase", classname=f"oso.conformance.{report.role}.{sc.severity}",
                                name=f"{sc.id}: {sc.title}", time="0")
        text = _case_text(r, s)
        if r.verdict == FAILED:
            el = etree.SubElement(case, "failure", type=sc.severity,
                                  message=redact_text(f"[{sc.severity.upper()} {' '.join(sc.rules)}] {r.finding}", s))
            el.text = text
        elif r.verdict == ERROR:
            el = etree.SubElement(case, "error", type="suite", message=redact_text(r.finding, s))
            el.text = text
        elif r.verdict == NOT_APPLICABLE:
            etree.SubElement(case, "skipped", message=redact_text(r.finding, s))
        etree.SubElement(case, "system-out").text = text
    return etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _case_text(r: Result, secrets) -> str:
    sc = r.scenario
    lines = [f"scenario: {sc.id} ({sc.severity})", f"rules: " + "; ".join(f"{x}: {rule_text(x)}" for x in sc.rules),
             f"sends: {sc.sends}", f"expects: {sc.expects}", f"verdict: {r.verdict}", f"finding: {r.finding}"]
    lines += [f"note: {n}" for n in r.notes]
    if r.verdict in (FAILED, ERROR):
        lines.append(f"how to fix: {sc.fix}")
    for ex in r.evidence[:2]:
        lines.append(f"--- {ex.label} ({ex.url}) HTTP {ex.status}")
        lines.append(redact(ex.request, secrets, limit=4000))
        lines.append("--- answer")
        lines.append(redact(ex.response, secrets, limit=4000))
    return redact_text("\n".join(lines), secrets)


# ------------------------------------------------------------------------------------------------------ HTML

_CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--na:#9a6700;--err:#8250df;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;max-width:1200px;padding:1.5rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid var(--line);padding:.3rem .6rem;text-align:left;
vertical-align:top}th{background:#f6f8fa}
.v{display:inline-block;min-width:7.5em;padding:.05rem .45rem;border-radius:1rem;color:#fff;font-weight:600;
font-size:.85rem;text-align:center}
.v.passed{background:var(--pass)}.v.failed{background:var(--fail)}.v.error{background:var(--err)}
.v.not-applicable{background:var(--na)}
details.sc{border:1px solid var(--line);border-radius:.4rem;margin:.4rem 0;padding:.2rem .7rem}
details.sc[open]{padding-bottom:.7rem}details.sc.failed,details.sc.error{border-left:6px solid var(--fail)}
summary{cursor:pointer;padding:.35rem 0}summary code{font-weight:600}
.sev{font-size:.8rem;color:var(--muted);text-transform:uppercase;margin:0 .4rem}
dl{display:grid;grid-template-columns:9rem 1fr;gap:.25rem .8rem;margin:.5rem 0}dt{color:var(--muted)}dd{margin:0}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:.3rem;padding:.6rem;overflow:auto;max-height:28rem;
font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.ex{margin:.6rem 0;border-top:1px dashed var(--line);padding-top:.4rem}.ex h4{margin:.2rem 0;font-size:.95rem}
.muted{color:var(--muted)}.finding{font-weight:600}.fix{background:#fff8c5;padding:.4rem .6rem;border-radius:.3rem}
.exit-ok{color:var(--pass);font-weight:700}.exit-bad{color:var(--fail);font-weight:700}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _exchange_html(ex: HttpExchange, n: int, secrets) -> str:
    took = f", {ex.elapsed_ms:.0f} ms" if ex.elapsed_ms is not None and ex.elapsed_ms > 0 else ""
    head = f"{_e(ex.label)} <span class=muted>→ {_e(ex.url)}{_e(took)}</span>"
    parts = [f'<div class="ex"><h4>Message {n}: {head}</h4>']
    if ex.request_headers:
        parts.append(f"<pre>{_e(redact_headers(ex.request_headers, secrets))}</pre>")
    parts.append(f"<pre>{_e(redact(ex.request, secrets))}</pre>")
    if ex.error:
        parts.append(f"<p class=finding>No answer: {_e(redact_text(ex.error, secrets))}</p>")
    else:
        parts.append(f"<h4>Answer: HTTP {_e(ex.status)}</h4>")
        if ex.response_headers:
            parts.append(f"<pre>{_e(redact_headers(ex.response_headers, secrets))}</pre>")
        parts.append(f"<pre>{_e(redact(ex.response, secrets))}</pre>")
    parts.append("</div>")
    return "".join(parts)


def _scenario_html(r: Result, secrets) -> str:
    sc = r.scenario
    cls = r.verdict.replace(" ", "-")
    opened = " open" if r.verdict in (FAILED, ERROR) else ""
    rules = "".join(f"<li><code>{_e(x)}</code> {_e(rule_text(x))}</li>" for x in sc.rules)
    notes = "".join(f"<li>{_e(redact_text(n, secrets))}</li>" for n in r.notes)
    evidence = "".join(_exchange_html(ex, i + 1, secrets) for i, ex in enumerate(r.evidence[:3]))
    fix = (f"<dt>how to fix</dt><dd class=fix>{_e(sc.fix)}</dd>" if r.verdict in (FAILED, ERROR)
           else f"<dt>how to fix</dt><dd class=muted>{_e(sc.fix)}</dd>")
    return (
        f'<details class="sc {cls}" id="{_e(sc.id)}"{opened}><summary><span class="v {cls}">{_e(r.verdict)}</span>'
        f'<span class=sev>{_e(sc.severity)}</span><code>{_e(sc.id)}</code> — {_e(sc.title)}</summary>'
        f"<dl><dt>finding</dt><dd class=finding>{_e(redact_text(r.finding, secrets))}</dd>"
        f"<dt>rules</dt><dd><ul>{rules}</ul></dd>"
        f"<dt>sends</dt><dd>{_e(sc.sends)}</dd><dt>expects</dt><dd>{_e(sc.expects)}</dd>{fix}"
        + (f"<dt>notes</dt><dd><ul>{notes}</ul></dd>" if notes else "")
        + "</dl>"
        + (f"<h3>Evidence</h3>{evidence}" if evidence else "<p class=muted>No messages to show.</p>")
        + "</details>")


def html_report(report: RunReport) -> str:
    s = report.secrets
    counts = report.summary()
    rows = "".join(
        f"<tr><th>{sev}</th>" + "".join(f"<td>{counts[sev][v]}</td>" for v in (PASSED, FAILED, NOT_APPLICABLE, ERROR))
        + "</tr>" for sev in (MUST, SHOULD))
    context = "".join(f"<tr><th>{_e(k)}</th><td>{_e(redact_text(str(v), s))}</td></tr>"
                      for k, v in report.context.items())
    ordered = sorted(report.results, key=lambda r: (_ORDER[r.verdict], r.scenario.severity != MUST))
    index = "".join(
        f'<tr><td><span class="v {r.verdict.replace(" ", "-")}">{_e(r.verdict)}</span></td>'
        f'<td>{_e(r.scenario.severity)}</td>'
        f'<td><a href="#{_e(r.scenario.id)}"><code>{_e(r.scenario.id)}</code></a></td>'
        f"<td>{_e(' '.join(r.scenario.rules))}</td><td>{_e(redact_text(r.finding, s)[:180])}</td></tr>"
        for r in ordered)
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
    ok = report.exit_code == 0
    verdict = f"<span class={'exit-ok' if ok else 'exit-bad'}>{_e(report.headline.replace(': ', ' — ', 1))}</span>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>OSO conformance report — {_e(report.role)}</title><style>{_CSS}</style></head>
<body><header><p class=muted>OSO gateway conformance suite · role <b>{_e(report.role)}</b> ·
{_e(report.started.strftime('%Y-%m-%d %H:%M:%S UTC'))} · {report.duration_s:.1f} s</p>
<h1>Conformance report: {verdict}</h1></header>
<p class=muted>Pupil data is redacted throughout: PGNs, zoeksleutels and dossier content never appear in this
report.</p>
<h2>Summary</h2><table><tr><th>severity</th><th>passed</th><th>failed</th><th>not applicable</th><th>error</th></tr>
{rows}</table>
<h2>Under test</h2><table>{context}</table>
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<h2>Scenarios</h2><table><tr><th>verdict</th><th>severity</th><th>scenario</th><th>rules</th><th>finding</th></tr>
{index}</table>
<h2>Details and evidence</h2>
{''.join(_scenario_html(r, s) for r in ordered)}
</body></html>
"""
