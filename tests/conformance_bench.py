"""The conformance suite's self-test bench: the suite's own TC and, as the vendor under test, our reference source
(the gateway app with its /school/aanleverpunt, own SQLite, the test school's pupils) or our reference target
(``gateway.client.target.Doelsysteem``), all on real HTTP ports in this process.

A broken variant of the reference is made by a small WSGI wrapper in front of it (``front.wrap``: rewriting the
answers or the requests with the mutation tools of ``gateway.conformance.mutations``) or by monkeypatching one
rule of the reference in this process; see tests/conformance_variants.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from gateway.conformance import reference
from gateway.conformance.reference import (OTHER_VENDOR_OIN, SUITE_OIN, TARGET_BRIN, TARGET_RK,  # noqa: F401
                                           TARGET_VENDOR_OIN, ReferenceSource)
from gateway.conformance.serving import Running, TlsSettings, request_body, rewrite_answer
from gateway.conformance.source import SourceOptions, SourceSuite, TestPupils
from gateway.conformance.target import TargetOptions, TargetSuite
from gateway.dossier import load_bundles
from gateway.oso.zoeksleutel import ChainKey
from gateway.store import Database
from gateway.store.testschool import TEST_ROUTERINGSKENMERK
from gateway.wsse import Credentials

from .bundles_location import BUNDLES_DIR

AP_PATH = reference.AP_PATH

_BUNDLES = None


def bundles():
    global _BUNDLES
    if _BUNDLES is None:
        _BUNDLES = load_bundles(BUNDLES_DIR)
    return _BUNDLES


class Front:
    """A WSGI app that passes everything to ``app``, or to ``wrap`` when a variant set one."""

    def __init__(self, app):
        self.app = app
        self.wrap = None

    def __call__(self, environ, start_response):
        return (self.wrap or self.app)(environ, start_response)


class RewriteAnswers:
    """Rewrite the answers of the aanleverpunt (``fn(body, environ) -> body``), as a proxy or a broken stack would."""

    def __init__(self, app, fn):
        self.app, self.fn = app, fn

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != AP_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        return rewrite_answer(self.app, environ, start_response, lambda body: self.fn(body, environ))


class RewriteRequests:
    """Rewrite the requests to the aanleverpunt before the reference sees them (``fn(data, environ) -> data``)."""

    def __init__(self, app, fn):
        self.app, self.fn = app, fn

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == AP_PATH and environ.get("REQUEST_METHOD") == "POST":
            data = self.fn(request_body(environ), environ)
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
        return self.app(environ, start_response)


@dataclass
class SourceBench:
    suite: SourceSuite
    ref_app: object
    server: Running
    front: Front
    vendor: Credentials  # the reference source's signing credentials
    suite_creds: Credentials
    pupils: TestPupils
    tmp: Path
    database: Database

    @property
    def aanleverpunt(self):
        """The reference's SecurityMiddleware for /school/aanleverpunt."""
        return self.ref_app.services[AP_PATH][0]

    @property
    def bron(self):
        from gateway.services.aanleverpunt import BRON_KEY

        return self.aanleverpunt.endpoint.environ[BRON_KEY]

    def run(self):
        self.suite.reset()
        return self.suite.run()

    def stop(self):
        self.suite.close()
        self.server.stop()
        self.database.dispose()


def reference_source(pki, tmp: Path, *, tls: bool = False) -> ReferenceSource:
    """Our reference source, bound (not yet serving: ``start_reference``), with the test school's pupils and two
    more (gateway/conformance/reference.py)."""
    gw = pki.gateway
    return reference.reference_source(
        tmp, tls=TlsSettings(str(gw.cert_path), str(gw.key_path), str(pki.ca)) if tls else None)


def start_reference(pki, ref: ReferenceSource, tmp: Path, tc_url: str) -> Front:
    """Serve the reference source behind a ``Front`` (where a variant puts its wrapper), its sessiecontrole going to
    ``tc_url`` (answers signed by the suite's OIN)."""
    gw = pki.gateway
    return reference.start_reference_source(ref, cert=gw.cert_path, key=gw.key_path, ca=pki.ca, crl=pki.crl,
                                            tc_url=tc_url, tc_oin=SUITE_OIN, bundles_dir=str(BUNDLES_DIR),
                                            folder=tmp, wrap=Front)


def bad_certs(pki) -> dict[str, Credentials]:
    """Certificates of the trusted test CA that a receiver must refuse (the suite's BAD_CERTS kinds)."""
    out = {}
    for kind, flag in reference.BAD_CERT_FLAGS.items():
        party = pki.party(f"conformance-{kind}", SUITE_OIN, **flag)
        out[kind] = Credentials.from_files(party.cert_path, party.key_path)
    return out


def start_source_bench(pki, tmp: Path, *, tls: bool = False) -> SourceBench:
    suite_party = pki.party("conformance-suite", SUITE_OIN)
    gw = pki.gateway
    ref = reference_source(pki, tmp, tls=tls)
    options = SourceOptions(
        endpoint=ref.url, vendor_oin=gw.oin, routeringskenmerk=TEST_ROUTERINGSKENMERK, brin="00YY",
        cert=str(suite_party.cert_path), key=str(suite_party.key_path), ca=str(pki.ca), crl=str(pki.crl),
        chain_key=ref.key, workdir=tmp / "suite", bundles=bundles(), pupils=ref.pupils,
        tls_client_cert=str(suite_party.cert_path) if tls else None,
        tls_client_key=str(suite_party.key_path) if tls else None,
        other_cert=str(pki.party("conformance-other", OTHER_VENDOR_OIN).cert_path),
        other_key=str(pki.party("conformance-other", OTHER_VENDOR_OIN).key_path), bad_certs=bad_certs(pki))
    suite = SourceSuite(options)
    front = start_reference(pki, ref, tmp, suite.start())
    return SourceBench(suite, ref.app, ref.server, front, Credentials.from_files(gw.cert_path, gw.key_path),
                       Credentials.from_files(suite_party.cert_path, suite_party.key_path), ref.pupils, tmp,
                       ref.database)


# ------------------------------------------------------------------------------------------------------ target
@dataclass
class TargetBench:
    suite: TargetSuite
    key: ChainKey
    vendor: Credentials
    pki: object
    tmp: Path

    def doelsysteem(self, **overrides):
        from gateway.client.target import Doelsysteem

        args = dict(tc_url=self.suite.tc.url, chain_key=self.key, bundles=bundles())
        args.update(overrides)
        doel = Doelsysteem(self.vendor, self.pki.trust(), **args)
        # time scaled down with the suite's min_interval_s (below): a retry after 0.25 s, not 1 s (the CLI tests keep
        # the real second)
        doel.caller.backoff_s = 0.25
        return doel

    def run_transfers(self, doel, *, surfaced: Path | None = None) -> list:
        accounts = []
        for t in self.suite.transfers:
            accounts.append(doel.transfer(bron_brin=t.bron_brin, doel_brin=TARGET_BRIN,
                                          doel_routeringskenmerk=TARGET_RK, pgn=t.pgn,
                                          overdrachtsoort=t.overdrachtsoort))
        if surfaced is not None:
            surfaced.write_text("\n\n".join(a.render() for a in accounts), encoding="utf-8")
        return accounts

    def stop(self):
        self.suite.close()


def start_target_bench(pki, tmp: Path, **options) -> TargetBench:
    key = ChainKey.generate("test")
    key_path = tmp / "zoeksleutel.key"
    key_path.write_text(key.to_text())
    suite_party = pki.party("conformance-suite", SUITE_OIN)
    vendor = pki.credentials("conformance-doel", TARGET_VENDOR_OIN)
    opts = TargetOptions(vendor_oin=TARGET_VENDOR_OIN, routeringskenmerk=TARGET_RK, brin=TARGET_BRIN,
                         cert=str(suite_party.cert_path), key=str(suite_party.key_path), ca=str(pki.ca),
                         crl=str(pki.crl), chain_key=key, chain_key_path=str(key_path), workdir=tmp / "suite",
                         bundles=bundles(), timeout_s=30, settle_s=0.3, surfaced=str(tmp / "surfaced.txt"),
                         min_interval_s=0.2,
                         **options)
    suite = TargetSuite(opts)
    suite.start()
    return TargetBench(suite, key, vendor, pki, tmp)
