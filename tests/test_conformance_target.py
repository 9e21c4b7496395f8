"""The conformance suite, role target, tested on itself: our reference target (gateway.client.target.Doelsysteem)
runs the transfers the suite lists and every scenario passes; broken variants of it (each one defect, made by
wrapping the reference in this process) fail the scenario meant to catch them. Every target scenario is failed by
some variant."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import requests
from lxml import etree

from gateway.conformance import mutations as m
from gateway.conformance.catalogue import TARGET, for_role
from gateway.conformance.report import html_report, junit_xml
from gateway.conformance.results import FAILED, PASSED
from gateway.oso.zoeksleutel import ChainKey

from .conformance_bench import start_target_bench

FAILED_BY: dict[str, set[str]] = {}


@pytest.fixture(scope="module")
def bench(pki, tmp_path_factory):
    b = start_target_bench(pki, tmp_path_factory.mktemp("conformance-target"))
    yield b
    b.stop()


def test_reference_target_passes_every_scenario(bench):
    bench.suite.reset()
    out = {}
    watcher = threading.Thread(target=lambda: out.setdefault("report", bench.suite.run()))
    watcher.start()  # the suite waits for the transfers, as it does for a vendor
    bench.run_transfers(bench.doelsysteem(), surfaced=bench.tmp / "surfaced.txt")
    watcher.join(60)
    report = out["report"]
    not_passed = {r.scenario.id: f"{r.verdict}: {r.finding}" for r in report.results if r.verdict != PASSED}
    assert not not_passed, not_passed
    assert [r.scenario.id for r in report.results] == [s.id for s in for_role(TARGET)]
    assert report.exit_code == 0
    assert "127095823" in bench.suite.instructions() and "01YY" in bench.suite.instructions()


# ------------------------------------------------------------------------------------------------ variants
def _wrap_invoke(doel, fn):
    real = doel.invoke
    doel.invoke = lambda call: fn(real, call)


def _sign_mutated(doel, vendor, operation: str, mutate):
    """The target's WUS plug-in, with ``mutate(bytes) -> bytes`` applied to the signed ``operation`` request."""
    plugin = doel.signature
    real = plugin.apply

    def apply(envelope, headers):
        env, headers = real(envelope, headers)
        payload = env.find(f"{{{m.NS['soap']}}}Body")[0]
        if etree.QName(payload).localname != operation:
            return env, headers
        root = etree.fromstring(mutate(etree.tostring(env)))
        mid, _ = plugin._local.request
        plugin._local.request = (mid, "".join(m.one(root, "//ds:SignatureValue").text.split()))
        return root, headers
    plugin.apply = apply


def v_afmelding_lies(bench, doel, ctx):
    def fn(real, call):
        if call.operation == "afmelding":
            call = replace(call, args={**call.args, "resultaat": "OverdrachtGeslaagd"})
        return real(call)
    _wrap_invoke(doel, fn)


def v_retry_storm(bench, doel, ctx):
    doel.caller.backoff_s = 0.0  # a storm: no pause between attempts
    def fn(real, call):
        reply, steps = real(call)
        n = 1
        while call.operation == "overdracht" and reply.failure is not None and n < 8:
            reply, more = real(call)
            steps, n = steps + more, n + 1
        return reply, steps
    _wrap_invoke(doel, fn)


def v_no_afmelding(bench, doel, ctx):
    from gateway.client.antwoorden import Antwoord
    from gateway.client.call import Reply

    def fn(real, call):
        if call.operation == "afmelding":
            return Reply(Antwoord("OverdrachtGeslaagd")), []
        return real(call)
    _wrap_invoke(doel, fn)


def v_document_fields(bench, doel, ctx):
    def fn(real, call):
        if call.operation == "document":
            call = replace(call, args={**call.args, "overdrachtsoort": "swv-dossier"})
        return real(call)
    _wrap_invoke(doel, fn)


def v_unsigned_body_afmelding(bench, doel, ctx):
    _sign_mutated(doel, bench.vendor, "afmeldingRequest",
                  lambda data: m.drop_reference_to(data, "Body", bench.vendor.private_key))


def v_sha1_overdracht(bench, doel, ctx):
    _sign_mutated(doel, bench.vendor, "overdrachtRequest", lambda data: m.with_sha1(data, bench.vendor.private_key))


def v_document_to_the_tc(bench, doel, ctx):
    _sign_mutated(doel, bench.vendor, "documentRequest",
                  lambda data: m.set_header_text(data, "To", bench.suite.tc.url, bench.vendor.private_key))


def _lax_answers(bench, doel, repair):
    """The reference target's verifier with ``repair(root, message_id, signature_value) -> bool`` applied to every
    answer first (re-signed with the suite's key when it changed anything): a verifier that skips one check."""
    plugin = doel.signature
    real = plugin.verify_bytes
    key = bench.suite.creds.private_key

    def verify_bytes(data):
        mid, sv = plugin.last_request
        root = m.tree(data)
        if m.xp(root, "//wsse:Security/ds:Signature") and repair(root, mid, sv):
            data = m.to_bytes(m.resign(root, key))
        return real(data)
    plugin.verify_bytes = verify_bytes


def v_no_digest_check(bench, doel, ctx):
    _lax_answers(bench, doel, lambda root, mid, sv: True)  # digests made to match whatever arrived


def v_body_need_not_be_covered(bench, doel, ctx):
    def repair(root, mid, sv):
        body = m.body(root)
        ident = body.get(m.WSU_ID)
        if ident and m.xp(root, "//ds:Reference[@URI=$u]", u="#" + ident):
            return False
        m.add_reference(root, body, ident or "Body-added-by-the-lax-target")
        return True
    _lax_answers(bench, doel, repair)


def v_ignores_answer_expiry(bench, doel, ctx):
    from datetime import datetime, timedelta, timezone

    def repair(root, mid, sv):
        created = m.xp(root, "//wsse:Security/wsu:Timestamp/wsu:Created")
        now = datetime.now(timezone.utc)
        if not created or datetime.fromisoformat(created[0].text.replace("Z", "+00:00")) > now - timedelta(minutes=5):
            return False
        created[0].text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for expires in m.xp(root, "//wsse:Security/wsu:Timestamp/wsu:Expires"):
            expires.text = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return True
    _lax_answers(bench, doel, repair)


def v_no_confirmation_needed(bench, doel, ctx):
    from gateway.wsse import ns

    def repair(root, mid, sv):
        security = m.security(root)
        if m.xp(security, "wsse11:SignatureConfirmation"):
            return False
        conf = etree.SubElement(security, m.q(ns.WSSE11, "SignatureConfirmation"), Value=sv)
        m.add_reference(root, conf, "SC-added-by-the-lax-target")
        return True
    _lax_answers(bench, doel, repair)


def v_relatesto_not_compared(bench, doel, ctx):
    def repair(root, mid, sv):
        relates = m.xp(root, "/soap:Envelope/soap:Header/wsa:RelatesTo")
        if not relates or relates[0].text == mid:
            return False
        relates[0].text = mid
        return True
    _lax_answers(bench, doel, repair)


def v_trusts_any_signer(bench, doel, ctx):
    from gateway.wsse import TrustStore, oin_of

    class AnyCertificate(TrustStore):
        def check(self, cert, at=None):
            return oin_of(cert)

    doel.signature.trust = AnyCertificate.from_files(bench.pki.ca, bench.pki.crl)


VARIANTS = {
    # name: (catches, defect, how to build the target, after the transfers)
    "afmelding-lies": ("OSO-DOEL-AFMELDING-BEST-RESULT", "reports OverdrachtGeslaagd whatever was answered",
                       v_afmelding_lies, None),
    "retry-storm": ("OSO-DOEL-FAULT-NO-RETRY-STORM", "retries a Fault 7 times at once", v_retry_storm, None),
    "no-afmelding": ("OSO-DOEL-AFMELDING-SENT", "never closes a session", v_no_afmelding, None),
    "document-fields": ("OSO-DOEL-SESSIE-FIELDS", "asks the source with another overdrachtsoort than the session's",
                        v_document_fields, None),
    "afmelding-body-unsigned": ("WUS-DOEL-AFMELDING-SIGNED", "signs afmelding without the Body",
                                v_unsigned_body_afmelding, None),
    "sha1-overdracht": ("WUS-DOEL-OVERDRACHT-SIGNED", "signs overdracht with SHA-1", v_sha1_overdracht, None),
    "document-to-the-tc": ("WUS-DOEL-DOCUMENTREQUEST-SIGNED", "addresses its documentRequest (wsa:To) to the TC",
                           v_document_to_the_tc, None),
    "other-chain-key": ("OSO-DOEL-ZOEKSLEUTEL", "computes zoeksleutels with a key of its own", None, None),
    "bsn-in-header": ("OSO-DOEL-PGN-NOT-IN-CLEAR", "sends the pupil's BSN in an HTTP header", None, None),
    "resends-a-message": ("WUS-DOEL-NO-REPLAY", "sends a stored overdrachtRequest again, as it was", None, "resend"),
    "findings-not-shown": ("OSO-DOEL-FINDINGS-SURFACED", "shows the school no findings", None, "quiet"),
    "runs-one-transfer": ("OSO-DOEL-TRANSFERS-SEEN", "runs only the first transfer", None, "first-only"),
    "no-digest-check": ("WUS-DOEL-ANSWER-TAMPERED", "does not compare the digests of answers", v_no_digest_check,
                        None),
    "body-need-not-be-covered": ("WUS-DOEL-ANSWER-BODY-UNSIGNED", "accepts an answer whose Body is not signed",
                                 v_body_need_not_be_covered, None),
    "ignores-answer-expiry": ("WUS-DOEL-ANSWER-EXPIRED", "does not check an answer's Timestamp",
                              v_ignores_answer_expiry, None),
    "no-confirmation-needed": ("WUS-DOEL-ANSWER-NO-CONFIRMATION", "does not require SignatureConfirmation",
                               v_no_confirmation_needed, None),
    "relatesto-not-compared": ("WUS-DOEL-ANSWER-RELATESTO", "does not compare RelatesTo with its MessageID",
                               v_relatesto_not_compared, None),
    "trusts-any-signer": ("WUS-DOEL-ANSWER-UNTRUSTED", "takes the certificate in an answer as trusted",
                          v_trusts_any_signer, None),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_broken_target_fails_the_scenario_meant_to_catch_it(bench, name):
    catches, defect, build, after = VARIANTS[name]
    bench.suite.reset()
    session = requests.Session()
    overrides = {"session": session} if name == "bsn-in-header" else {}
    if name == "other-chain-key":
        overrides["chain_key"] = ChainKey.generate("test")
    doel = bench.doelsysteem(**overrides)
    if build is not None:
        build(bench, doel, None)
    surfaced = bench.tmp / "surfaced.txt"
    transfers = bench.suite.transfers[:1] if after == "first-only" else bench.suite.transfers
    accounts = []
    for t in transfers:
        if name == "bsn-in-header":
            session.headers["X-Leerling"] = t.pgn
        accounts.append(doel.transfer(bron_brin=t.bron_brin, doel_brin=bench.suite.o.brin,
                                      doel_routeringskenmerk=bench.suite.o.routeringskenmerk, pgn=t.pgn,
                                      overdrachtsoort=t.overdrachtsoort))
    if after == "quiet":
        surfaced.write_text("\n".join(a.render().split("\n  checked:")[0] for a in accounts), encoding="utf-8")
    else:
        surfaced.write_text("\n\n".join(a.render() for a in accounts), encoding="utf-8")
    if after == "resend":
        first = next(ex for ex in bench.suite.tc.recorder.snapshot() if b"overdrachtRequest" in ex.request)
        requests.post(bench.suite.tc.url, data=first.request, headers=first.request_headers, timeout=10)
    report = bench.suite.run(wait=False)
    failed = report.failed_ids
    for scenario_id in failed:
        FAILED_BY.setdefault(scenario_id, set()).add(name)
    assert catches in failed, f"{name} ({defect}): {catches} did not fail; failed: {failed}"
    assert report.result(catches).verdict == FAILED
    junit = etree.fromstring(junit_xml(report))
    assert any(c.get("name").startswith(catches + ":") and c.find("failure") is not None
               for c in junit.iter("testcase"))
    page = html_report(report)
    assert f'id="{catches}" open>' in page
    assert not any(t.pgn in page or t.pgn.encode() in junit_xml(report) for t in bench.suite.transfers)


def test_every_target_scenario_has_a_variant_meant_for_it():
    meant = {catches for catches, *_ in VARIANTS.values()}
    assert {s.id for s in for_role(TARGET)} <= meant, sorted({s.id for s in for_role(TARGET)} - meant)


def test_every_target_scenario_is_failed_by_some_variant():
    if not FAILED_BY:
        pytest.skip("run with the variant tests (the whole module)")
    unproven = {s.id for s in for_role(TARGET)} - set(FAILED_BY)
    for scenario_id in sorted(FAILED_BY):  # shown with -rP: which variants each scenario caught
        print(f"{scenario_id}: {', '.join(sorted(FAILED_BY[scenario_id]))}")
    assert not unproven, f"scenarios that no variant fails (they prove nothing): {sorted(unproven)}"


# ------------------------------------------------------------------------------------------------ the preflight
def test_the_preflight_says_when_nothing_of_the_target_arrived(bench):
    from gateway.conformance.source import PreflightFailed

    bench.suite.reset()
    with pytest.raises(PreflightFailed, match="no message of your target reached the suite's Traffic Center"):
        bench.suite.run(wait=False)


def test_the_preflight_says_when_the_targets_certificate_is_not_one_the_suite_was_given(bench, pki):
    """A target that signs with a certificate of a CA the suite was not told to trust: every message refused for
    that one reason, and the run stops with what to fix instead of failing every scenario."""
    from gateway.client.target import Doelsysteem
    from gateway.conformance.source import PreflightFailed

    from .conformance_bench import TARGET_VENDOR_OIN, bundles

    bench.suite.reset()
    stranger = pki.credentials("conformance-doel-untrusted", TARGET_VENDOR_OIN, untrusted=True)
    doel = Doelsysteem(stranger, pki.trust(), tc_url=bench.suite.tc.url, chain_key=bench.key, bundles=bundles())
    t = bench.suite.transfers[0]
    doel.transfer(bron_brin=t.bron_brin, doel_brin=bench.suite.o.brin,
                  doel_routeringskenmerk=bench.suite.o.routeringskenmerk, pgn=t.pgn, overdrachtsoort=t.overdrachtsoort)
    with pytest.raises(PreflightFailed, match="could not accept your target's certificate.*give --ca"):
        bench.suite.run(wait=False)
