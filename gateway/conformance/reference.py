"""Our own reference source and reference target as the systems under test: the whole suite against them in one
command (``oso-gateway conformance reference``), so that a vendor sees what a passing run looks like, and checks
this installation, before pointing the suite at their own system. The suite's self-tests use the same pieces.

Everything runs in this process on loopback ports of its own, with a TEST PKI made in the work folder (its CAs named
"OSO Conformance Reference", never the names of another PKI): the reference source is the gateway app with the test
school (the chain's fixed test pupils and two more: a PO dossier without inzage, a VO-VO dossier without toestemming);
the reference target is ``gateway.client.target.Doelsysteem`` running the transfers the suite prints.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..oso.zoeksleutel import ChainKey
from ..wsse import Credentials
from .serving import Running, TlsSettings, bind
from .source import BAD_CERTS, TestPupils

SUITE_OIN = "00000001888888880000"  # the suite's own TEST certificate
OTHER_VENDOR_OIN = "00000001777777770000"  # another vendor, for OSO-BRON-ANDERE-LEVERANCIER
REFERENCE_OIN = "00000001999999990000"  # our reference source, as the vendor under test
TARGET_VENDOR_OIN = "00000001000000000044"  # our reference target, as the vendor under test
TARGET_BRIN, TARGET_RK = "11AA", "0000000700000AA00000"
SOURCE_BRIN = "00YY"  # the test school
AP_PATH = "/school/aanleverpunt"
BAD_CERT_FLAGS = {"expired": {"expired": True}, "not-yet-valid": {"not_yet_valid": True},
                  "revoked": {"revoked": True}, "no-signing": {"no_digital_signature": True},
                  "no-oin": {"no_oin": True}}
assert set(BAD_CERT_FLAGS) == set(BAD_CERTS)


@dataclass
class Party:
    cert: Path
    key: Path
    oin: str

    def credentials(self) -> Credentials:
        return Credentials.from_files(self.cert, self.key)


@dataclass
class ReferencePki:
    """The TEST PKI of a reference run: the reference source's certificate (the PKI's own), the suite's, another
    vendor's, the reference target's, and the certificates a receiver must refuse."""

    folder: Path
    source: Party
    suite: Party
    other: Party
    target: Party
    bad: dict[str, Party] = field(default_factory=dict)

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def crl(self) -> Path:
        return self.folder / "crl.pem"


def reference_pki(folder: Path) -> ReferencePki:
    """Made once in ``folder`` (kept for the next run)."""
    from ..pki import init_pki, issue

    def party(name: str, oin: str, **flags) -> Party:
        if not (folder / f"{name}.cert.pem").exists():
            issue(folder, name, oin, **flags)
        return Party(folder / f"{name}.cert.pem", folder / f"{name}.key.pem", oin)

    if not (folder / "ca.pem").exists():
        init_pki(folder, gateway_name="reference-source", gateway_oin=REFERENCE_OIN, label="OSO Conformance Reference")
    pki = ReferencePki(folder, Party(folder / "reference-source.cert.pem", folder / "reference-source.key.pem",
                                     REFERENCE_OIN),
                       party("conformance-suite", SUITE_OIN), party("conformance-other", OTHER_VENDOR_OIN),
                       party("reference-target", TARGET_VENDOR_OIN))
    pki.bad = {kind: party(f"conformance-{kind}", SUITE_OIN, **flags) for kind, flags in BAD_CERT_FLAGS.items()}
    return pki


# ------------------------------------------------------------------------------------------------ the source
def _extra_pupils(school, today, now, rng) -> tuple[str, str]:
    """A PO-PO dossier without inzage and a VO-VO dossier without toestemming, made like the test school's own."""
    from ..school.synthetisch import bouw_dossier, genereer_leerling, test_bsn
    from ..school.uitlevering import DossierRecord

    zonder_inzage, zonder_toestemming = test_bsn(rng), test_bsn(rng)
    for pgn, profiel, inzage in ((zonder_inzage, "POPO", None), (zonder_toestemming, "VOVO", today)):
        data = bouw_dossier(genereer_leerling(rng, pgn=pgn), profiel, brin=SOURCE_BRIN, datum=today, inzage=inzage,
                            toestemming=False)
        school.put_dossier(DossierRecord(SOURCE_BRIN, pgn, "BSN", "overstapdossier", profiel, data, today, True,
                                         inzage, None, bijgewerkt=now))
    return zonder_inzage, zonder_toestemming


@dataclass
class ReferenceSource:
    """Our reference source, as a vendor's system under test: the gateway app on a port of its own."""

    server: Running
    database: object
    pupils: TestPupils
    key: ChainKey
    key_path: Path
    url: str  # its documentRequest endpoint
    app: object = None

    def stop(self) -> None:
        self.server.stop()
        self.database.dispose()


def reference_source(folder: Path, *, tls: TlsSettings | None = None) -> ReferenceSource:
    """Bound (not yet serving: ``start_reference_source``), with its own SQLite, chain key and pupils."""
    from ..school.testleerlingen import laad_testleerlingen
    from ..store import Database
    from ..store.school_repository import SchoolRepository

    folder.mkdir(parents=True, exist_ok=True)
    key = ChainKey.generate("reference")
    key_path = folder / "zoeksleutel.key"
    key_path.write_text(key.to_text(), encoding="ascii")
    db_path = folder / "reference.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    database = Database(f"sqlite:///{db_path}")
    database.migrate()
    now = datetime.now(timezone.utc)
    with database.unit_of_work() as repo:
        school = SchoolRepository.of(repo)
        laad_testleerlingen(school, datum=now.date(), now=now)
        zonder_inzage, zonder_toestemming = _extra_pupils(school, now.date(), now, random.Random("reference"))
    server = bind(tls=tls)
    return ReferenceSource(server, database, TestPupils(zonder_inzage=zonder_inzage,
                                                        zonder_toestemming=zonder_toestemming),
                           key, key_path, server.url + AP_PATH)


def start_reference_source(ref: ReferenceSource, *, cert: Path, key: Path, ca: Path, crl: Path, tc_url: str,
                           tc_oin: str, bundles_dir: str, folder: Path, wrap=None):
    """Serve the reference source, its sessiecontrole going to ``tc_url`` (answers signed by ``tc_oin``), the vendors
    of the doel aanleverpunten looked up at the OSR-style register beside it. ``wrap(app)`` may put a WSGI app in
    front (the self-tests' broken variants). Returns what serves."""
    from ..config import Config
    from ..store.testschool import register_test_school
    from ..web.app import GatewayApp

    tls = ref.server.url.startswith("https")
    config = Config(port=ref.server.port, cert=str(cert), key=str(key), ca=str(ca), crl=str(crl),
                    database_url=ref.database.url, zoeksleutel_key=str(ref.key_path), bundles_dir=bundles_dir,
                    tc_url=tc_url, tc_oin=tc_oin, osr_url=tc_url.rsplit("/tc", 1)[0] + "/osr",
                    dashboard_key=str(folder / "dashboard.key"),
                    tls_cert=str(cert) if tls else "", tls_key=str(key) if tls else "",
                    tls_client_ca=str(ca) if tls else "")
    with ref.database.unit_of_work() as repo:
        register_test_school(repo, gateway_base_url=config.base_url)
    ref.app = GatewayApp(config, database=ref.database)
    served = wrap(ref.app) if wrap is not None else ref.app
    ref.server.start(served)
    return served


def run_source(folder: Path, pki: ReferencePki, *, bundles, bundles_dir: str, view=None):
    """The source role against our reference source: the RunReport."""
    from .source import SourceOptions, SourceSuite

    ref = reference_source(folder / "source")
    options = SourceOptions(
        endpoint=ref.url, vendor_oin=REFERENCE_OIN, routeringskenmerk=_test_school_rk(), brin=SOURCE_BRIN,
        cert=str(pki.suite.cert), key=str(pki.suite.key), ca=str(pki.ca), crl=str(pki.crl), chain_key=ref.key,
        workdir=folder / "source-suite", bundles=bundles, pupils=ref.pupils, other_cert=str(pki.other.cert),
        other_key=str(pki.other.key), bad_certs={k: p.credentials() for k, p in pki.bad.items()},
        suite_ca=str(pki.ca))
    suite = SourceSuite(options, view)
    try:
        start_reference_source(ref, cert=pki.source.cert, key=pki.source.key, ca=pki.ca, crl=pki.crl,
                               tc_url=suite.start(), tc_oin=SUITE_OIN, bundles_dir=bundles_dir,
                               folder=folder / "source")
        return suite.run()
    finally:
        suite.close()
        ref.stop()


def _test_school_rk() -> str:
    from ..store.testschool import TEST_ROUTERINGSKENMERK

    return TEST_ROUTERINGSKENMERK


# ------------------------------------------------------------------------------------------------ the target
def run_target(folder: Path, pki: ReferencePki, *, bundles, view=None, timeout_s: float = 120):
    """The target role against our reference target (``Doelsysteem``), which runs every transfer the suite lists
    and writes what it showed the school to the file the suite reads: the RunReport."""
    from ..client.target import Doelsysteem
    from ..wsse import TrustStore
    from .target import TargetOptions, TargetSuite

    folder.mkdir(parents=True, exist_ok=True)
    key = ChainKey.generate("reference")
    key_path = folder / "zoeksleutel.key"
    key_path.write_text(key.to_text(), encoding="ascii")
    surfaced = folder / "surfaced.txt"
    options = TargetOptions(vendor_oin=TARGET_VENDOR_OIN, routeringskenmerk=TARGET_RK, brin=TARGET_BRIN,
                            cert=str(pki.suite.cert), key=str(pki.suite.key), ca=str(pki.ca), crl=str(pki.crl),
                            chain_key=key, chain_key_path=str(key_path), workdir=folder / "target-suite",
                            bundles=bundles, timeout_s=timeout_s, settle_s=0.5, surfaced=str(surfaced))
    suite = TargetSuite(options, view)
    try:
        suite.start()
        doel = Doelsysteem(pki.target.credentials(), TrustStore.from_files(pki.ca, pki.crl), tc_url=suite.tc.url,
                           chain_key=key, bundles=bundles)
        accounts = [doel.transfer(bron_brin=t.bron_brin, doel_brin=TARGET_BRIN, doel_routeringskenmerk=TARGET_RK,
                                  pgn=t.pgn, overdrachtsoort=t.overdrachtsoort) for t in suite.transfers]
        surfaced.write_text("\n\n".join(a.render() for a in accounts), encoding="utf-8")
        return suite.run()
    finally:
        suite.close()
