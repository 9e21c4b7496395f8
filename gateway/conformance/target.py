"""Role *target*: the suite plays Traffic Center and test school; the vendor's target runs the transfers it lists.

The suite serves one gateway app (its own SQLite in the run's folder) on a local port: the TC at ``/tc``, the
reference source as the chain's test school at ``/school/aanleverpunt`` (BRIN 00YY with the fixed test pupils, and
the binnen-BRIN test pupil at the vendor's own BRIN), and two schools made for grading:

- the *storing* school (BRIN 01YY): the TC answers every overdrachtRequest for it with a signed Server Fault
  (Digikoppeling 0051), so the suite can count how the vendor's target handles a Fault (no retry storm);
- the *bevindingen* school (BRIN 02YY), served at ``/conformance/bevindingen`` by the suite itself: it releases a
  dossier with a known finding (data of a category marked VERBODEN: OS.cat10 / DOS-CAT-VERBODEN), so that the
  vendor's report of the run (``--surfaced FILE``) can show it surfaced the finding. **Decision**: nothing in the
  chain carries a target's findings back (afmelding has only result codes), so this is judged from what the vendor's
  system shows its user; without that file the scenario is *not applicable* and the report says to check by hand;
- six *vijandige* (hostile) schools (BRIN 03YY … 08YY, ``HOSTILE_ANSWERS``), each served by the test school: it
  releases the PO-PO test pupil's dossier, and ``HostileAnswers`` alters that answer after it was signed (Body
  changed, Body not covered, expired, no SignatureConfirmation, another RelatesTo, signed by an untrusted CA). A
  target that verifies every answer does not believe it, so its afmelding for that session reports no success.

The vendor registers nothing: the suite registers the vendor (its OIN), its school (BRIN) and its target
aanleverpunt (routeringskenmerk). Every message that reaches the suite is recorded twice: raw (bytes and HTTP
headers, for evidence and the PGN scan) and as the security middleware judged it (an observer on each
SecuredEndpoint). The run ends when every transfer was seen to its end (afmelding, or the Fault's attempts), after a
quiet period, or at ``--timeout``; then every scenario of the target role gets a verdict.

For binnen-BRIN the TC hands out every active aanleverpunt of the school: the suite's (which releases the test
pupil's dossier) and the vendor's own target aanleverpunt, whose address in the suite's register is the suite's test
school too (it answers OnbekendAanleverpunt: that aanleverpunt is not the suite's). That answer is signed by the
suite, not by the vendor the TC names for the aanleverpunt (``leverancierOin``), so a target that checks the signer
does not believe it and reports it as an answer that did not verify. So that transfer also shows whether afmelding
reports the best result over both aanleverpunten, with the aanleverpunt that gave it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from .. import contracts
from ..oso import trafficcenter as rules
from ..oso import zoeksleutel as zs
from ..oso.register import Aanleverpunt, School, Sector, Vendor
from ..oso.resultaat import CODES, SUCCESS, best_index
from ..oso.trafficcenter import Leerling
from ..wsse import Credentials, MemoryReplayStore
from .catalogue import TARGET
from .evidence import HttpExchange, find_pgns
from .live import LiveView
from .results import ERROR, FAILED, NOT_APPLICABLE, PASSED, Result, RunReport
from .serving import TlsSettings, request_body, rewrite_answer
from .tc import SuiteTc, TcObservation, body_fields

TEST_BRIN, TEST_RK = "00YY", "0000000700000YY00931"
STORING_BRIN, STORING_RK = "01YY", "0000000700000YY01931"
BEVINDINGEN_BRIN, BEVINDINGEN_RK = "02YY", "0000000700000YY02931"
BEVINDINGEN_PATH = "/conformance/bevindingen"
AP_PATH = "/school/aanleverpunt"
OVERSTAP, BINNENBRIN = "overstapdossier", "overdrachtbinnenbrin"
SUITE_NAME = "OSO conformance suite (TEST ONLY)"
FINDING_RULES = ("DOS-CAT-VERBODEN", "OS.cat10")  # what the bevindingen dossier's validation finds
HOSTILE_PGN = "127095823"  # the PO-PO test pupil, whose dossier each hostile school releases in an answer that
# does not verify: scenario id -> (the school's BRIN, what is wrong with its answer)
HOSTILE_ANSWERS: dict[str, tuple[str, str]] = {
    "WUS-DOEL-ANSWER-TAMPERED": ("03YY", "its Body was changed after signing"),
    "WUS-DOEL-ANSWER-BODY-UNSIGNED": ("04YY", "its signature does not cover the Body"),
    "WUS-DOEL-ANSWER-EXPIRED": ("05YY", "its Timestamp expired an hour ago"),
    "WUS-DOEL-ANSWER-NO-CONFIRMATION": ("06YY", "it carries no SignatureConfirmation"),
    "WUS-DOEL-ANSWER-RELATESTO": ("07YY", "its RelatesTo names another message"),
    "WUS-DOEL-ANSWER-UNTRUSTED": ("08YY", "it is signed with a certificate of a CA nobody trusts"),
}


def hostile_rk(brin: str) -> str:
    return f"0000000700000YY{brin[:2]}931"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass(frozen=True)
class Transfer:
    key: str
    pgn: str = field(repr=False)
    bron_brin: str
    overdrachtsoort: str
    expect: str  # what the vendor's target should end with, for the instructions

    def zoeksleutel(self, chain_key: zs.ChainKey, doel_brin: str) -> tuple[str, str]:
        return zs.maak(chain_key, pgn=self.pgn, bron_brin=self.bron_brin, doel_brin=doel_brin)


@dataclass
class TargetOptions:
    vendor_oin: str
    routeringskenmerk: str  # the vendor's target aanleverpunt
    brin: str
    cert: str
    key: str
    ca: str
    crl: str | None
    chain_key: zs.ChainKey
    workdir: Path
    chain_key_path: str | None = None  # given to the suite's test school (it matches zoeksleutels with it)
    vestiging: str = "00"
    sector: str = "VO"
    bundles: object | None = None
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    tls: TlsSettings | None = None
    timeout_s: float = 600.0
    settle_s: float = 3.0  # quiet time after the last transfer ended (late retries are counted too)
    surfaced: str | None = None
    max_attempts: int = 4  # overdracht attempts allowed for the storing transfer (1 + 3 retries)
    waived: frozenset[str] = frozenset()  # musts whose "not applicable" the vendor accepts (--waive)
    min_interval_s: float = 1.0  # retries faster than this are a storm


class LocalSessiecontrole:
    """The suite's test school asks the suite's own TC in-process (the same rules and store as over HTTP)."""

    def __init__(self, tc: SuiteTc, oin: str):
        self.tc, self.oin = tc, oin

    def sessiecontrole(self, verzoek):
        from ..school.uitlevering import Sessiecontrole

        now = datetime.now(timezone.utc)
        with self.tc.database.unit_of_work() as repo:
            outcome = rules.sessiecontrole(
                repo, self.oin, repo.sessie(verzoek.sessie_id, for_update=True), bron_brin=verzoek.bron_brin,
                bron_routeringskenmerk=verzoek.bron_routeringskenmerk, doel_brin=verzoek.doel_brin,
                doel_routeringskenmerk=verzoek.doel_routeringskenmerk,
                leerling=Leerling(verzoek.zoeksleutel, verzoek.pgnfrag, verzoek.koppelsleutel),
                overdrachtsoort=verzoek.overdrachtsoort, now=now)
            if outcome.sessie is not None:
                repo.save_sessie(outcome.sessie)
        return Sessiecontrole(outcome.resultaat, outcome.doel_sector)


class BevindingenSchool:
    """A WSGI service (behind the security middleware) that releases one dossier with a known finding."""

    def __init__(self, suite: "TargetSuite", pgn: str, dossier: bytes):
        self.suite, self.pgn, self.dossier = suite, pgn, dossier

    def __call__(self, environ, start_response):
        from ..school.uitlevering import Verzoek

        vm = environ["oso.verified"]
        f = body_fields(vm.body)
        verzoek = Verzoek(f.get("sessieId", ""), f.get("bronRouteringsKenmerk", ""), f.get("bronBrin", ""),
                          f.get("doelBrin", ""), f.get("doelRouteringsKenmerk", ""), f.get("overdrachtsoort", ""),
                          vm.oin, f.get("zoeksleutel"), f.get("pgnfrag"), f.get("koppelsleutel"))
        controle = LocalSessiecontrole(self.suite.tc, self.suite.creds.oin).sessiecontrole(verzoek)
        resultaat, dossier = controle.resultaat, None
        with self.suite.tc.database.unit_of_work(readonly=True) as repo:
            doel = repo.aanleverpunt(verzoek.doel_routeringskenmerk)
        if controle.geslaagd and (doel is None or doel.vendor_oin != vm.oin):
            resultaat = "LeverancierNietGeautoriseerd"
        elif controle.geslaagd:
            found = zs.zoek([self.suite.o.chain_key], verzoek.zoeksleutel or "", verzoek.pgnfrag or "",
                            bron_brin=verzoek.bron_brin, doel_brin=verzoek.doel_brin, pupils=[(self.pgn, self.pgn)])
            resultaat, dossier = ("OverdrachtGeslaagd", self.dossier) if found else ("LeerlingOnbekend", None)
        response = etree.Element(f"{{{_SOAP}}}Envelope", nsmap={"soapenv": _SOAP})
        body = etree.SubElement(response, f"{{{_SOAP}}}Body")
        answer = etree.SubElement(body, contracts.q("documentResponse"), nsmap={"oso": contracts.OSO_NS})
        etree.SubElement(answer, contracts.q("resultaat")).text = resultaat
        if dossier is not None:
            etree.SubElement(answer, contracts.q("dossier")).append(etree.fromstring(dossier))
        data = etree.tostring(response, xml_declaration=True, encoding="UTF-8")
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]


class HostileAnswers:
    """In front of the test school (outside its security middleware): the answer to a documentRequest whose bronBrin
    is a hostile school's is altered as that school's mutation says (``HOSTILE_ANSWERS``), after it was signed."""

    def __init__(self, app, mutations: dict):
        self.app, self.mutations = app, mutations

    def __call__(self, environ, start_response):
        import re

        found = re.search(rb"<(?:[A-Za-z_][\w.-]*:)?bronBrin>\s*([0-9]{2}[A-Z]{2})\s*<", request_body(environ))
        mutate = self.mutations.get(found.group(1).decode()) if found else None
        if mutate is None:
            return self.app(environ, start_response)
        return rewrite_answer(self.app, environ, start_response, mutate)


class TargetSuite:
    def __init__(self, options: TargetOptions, view: LiveView | None = None):
        self.o = options
        self.view = view or LiveView(quiet=True)
        self.creds = Credentials.from_files(options.cert, options.key)
        if self.creds.oin is None:
            raise ValueError("the suite's certificate carries no OIN in subject.serialNumber")
        if self.creds.oin == options.vendor_oin:
            raise ValueError("the suite must sign with another certificate (OIN) than the vendor's")
        rng = random.Random("oso-conformance/bevindingen")
        from ..school.synthetisch import test_bsn

        self.bevindingen_pgn = test_bsn(rng)
        self.transfers = (
            Transfer("popo", "127095823", TEST_BRIN, OVERSTAP, "OverdrachtGeslaagd: a PO-PO dossier"),
            Transfer("vovo", "127095824", TEST_BRIN, OVERSTAP, "OverdrachtGeslaagd: a VO-VO dossier"),
            Transfer("geweigerd", "127095825", TEST_BRIN, OVERSTAP, "LeveringGeweigerd: no dossier"),
            Transfer("binnenbrin", "118716943", options.brin, BINNENBRIN,
                     "OverdrachtGeslaagd from the suite's aanleverpunt (your own answers OnbekendAanleverpunt, "
                     "signed by the suite: not your leverancierOin)"),
            Transfer("storing", "127095823", STORING_BRIN, OVERSTAP,
                     "the TC answers a signed Fault: report it, retry at most "
                     f"{options.max_attempts - 1} times with back-off"),
            Transfer("bevindingen", self.bevindingen_pgn, BEVINDINGEN_BRIN, OVERSTAP,
                     "OverdrachtGeslaagd with a dossier that has a finding (" + " / ".join(FINDING_RULES)
                     + "): show it to the school"),
        ) + tuple(Transfer(f"vijandig-{brin}", HOSTILE_PGN, brin, OVERSTAP,
                           f"an answer that does not verify ({what}): do not believe it, report no success")
                  for brin, what in HOSTILE_ANSWERS.values())
        self.tc = SuiteTc(options.workdir / "target", options.cert, options.key, options.ca, options.crl,
                          host=options.host, port=options.port, public_url=options.public_url, tls=options.tls,
                          settings={"zoeksleutel_key": options.chain_key_path or "",
                                    "bundles_dir": ""})
        self.injector = None

    # ------------------------------------------------------------------------------------------------- set-up
    @property
    def base_url(self) -> str:
        return self.tc.base_url

    def start(self) -> str:
        self.tc.start(mount=self._mount)
        o, suite = self.o, self.creds.oin
        ap_url = self.base_url + AP_PATH
        self.tc.register(
            vendors=[Vendor(o.vendor_oin, "Vendor under test", gekwalificeerd=True),
                     Vendor(suite, SUITE_NAME, gekwalificeerd=True)],
            schools=[School(TEST_BRIN, "00", Sector.PO, "OSO Testschool (TEST ONLY)"),
                     School(o.brin, o.vestiging, Sector(o.sector), "School under test"),
                     School(STORING_BRIN, "00", Sector.PO, "Storingsschool (TEST ONLY)"),
                     School(BEVINDINGEN_BRIN, "00", Sector.PO, "Bevindingenschool (TEST ONLY)")]
            + [School(brin, "00", Sector.PO, f"Vijandige school {brin} (TEST ONLY)")
               for brin, _ in HOSTILE_ANSWERS.values()],
            aanleverpunten=[
                Aanleverpunt(TEST_RK, TEST_BRIN, "00", suite, ap_url),
                Aanleverpunt(o.routeringskenmerk, o.brin, o.vestiging, o.vendor_oin, ap_url),
                Aanleverpunt(self.suite_bb_rk, o.brin, o.vestiging, suite, ap_url),
                Aanleverpunt(STORING_RK, STORING_BRIN, "00", suite, ap_url),
                Aanleverpunt(BEVINDINGEN_RK, BEVINDINGEN_BRIN, "00", suite, self.base_url + BEVINDINGEN_PATH)]
            + [Aanleverpunt(hostile_rk(brin), brin, "00", suite, ap_url) for brin, _ in HOSTILE_ANSWERS.values()])
        self._load_pupils()
        self.injector = self.tc.inject_faults(
            lambda body: etree.QName(body).localname == "overdrachtRequest"
            and body.findtext(contracts.q("bronBrin")) == STORING_BRIN)
        return self.tc.url

    @property
    def suite_bb_rk(self) -> str:
        return f"0000000700000{self.o.brin[2:]}{self.o.brin[:2]}997"

    def _mount(self, app, config) -> None:
        """The reference source as the suite's test school (its sessiecontrole asks the suite's TC in-process), and
        the bevindingen school; all observed."""
        from ..services import aanleverpunt
        from ..school.uitlevering import Controle
        from ..web.mounts import Mounted, aanleverpunt_mount
        from ..web.security import SecuredEndpoint, SecurityMiddleware

        trust = config.trust()
        tls = self.o.tls is not None
        from ..dossier import DossierPolicy, IdentityPolicy, KENNISNET_TEST_SCHOOL, TestSchool

        # the chain's test numbers fail the elfproef: let them through at the test school, and the PO-PO test pupil
        # at each hostile school (so that what is altered is a release, not a refusal)
        policy = DossierPolicy(identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,) + tuple(
            TestSchool(brin, frozenset({HOSTILE_PGN})) for brin, _ in HOSTILE_ANSWERS.values())))
        bron = aanleverpunt.Bron(self.tc.database, LocalSessiecontrole(self.tc, self.creds.oin),
                                 lambda: (self.o.chain_key,), Controle(self.o.bundles, policy))
        app.services[AP_PATH] = aanleverpunt_mount(config, self.creds, trust, self.tc.database, tls=tls, bron=bron)
        from ..school.synthetisch import genereer_leerling, bouw_dossier

        today = datetime.now(timezone.utc).date()
        ll = genereer_leerling(random.Random("oso-conformance/bevindingen/leerling"), pgn=self.bevindingen_pgn)
        dossier = bouw_dossier(ll, "POPO", brin=BEVINDINGEN_BRIN, datum=today, inzage=today,
                               verboden=("cat_verzuim",), schoolnaam="Bevindingenschool (TEST ONLY)")
        self.bevindingen_dossier = dossier
        contract = contracts.service("aanleverpunt")
        endpoint = SecuredEndpoint(
            self.creds, trust, config.policy(BEVINDINGEN_PATH, own_oin=self.creds.oin, actions=contract.actions),
            replay=MemoryReplayStore(), service=contract, require_tls_client=tls, name="bevindingen")
        app.services[BEVINDINGEN_PATH] = Mounted(
            SecurityMiddleware(BevindingenSchool(self, self.bevindingen_pgn, dossier), endpoint), contract)
        for path in (AP_PATH, BEVINDINGEN_PATH):
            self.tc.observe(path)
        # after the observer (which sees each answer as it was signed): the hostile schools' answers are altered
        mounted = app.services[AP_PATH]
        app.services[AP_PATH] = Mounted(HostileAnswers(mounted.app, self._hostile_mutations()), mounted.service)

    def _hostile_mutations(self) -> dict:
        """bron BRIN -> how its answer is altered (bytes -> bytes)."""
        from datetime import timedelta

        from . import mutations as m
        from .source import _untrusted_credentials

        key = self.creds.private_key
        untrusted = _untrusted_credentials(self.o.workdir, self.creds.oin)
        from cryptography.hazmat.primitives.serialization import Encoding

        der = untrusted.certificate.public_bytes(Encoding.DER)

        def expired(data):
            now = datetime.now(timezone.utc)
            return m.set_timestamp(data, now - timedelta(hours=1), now - timedelta(minutes=55), key)

        how = {
            "WUS-DOEL-ANSWER-TAMPERED": m.change_after_signing,
            "WUS-DOEL-ANSWER-BODY-UNSIGNED": lambda data: m.drop_reference_to(data, "Body", key),
            "WUS-DOEL-ANSWER-EXPIRED": expired,
            "WUS-DOEL-ANSWER-NO-CONFIRMATION": lambda data: m.drop_confirmation(data, key),
            "WUS-DOEL-ANSWER-RELATESTO": lambda data: m.set_header_text(
                data, "RelatesTo", "urn:uuid:00000000-0000-4000-8000-00000000c0de", key),
            "WUS-DOEL-ANSWER-UNTRUSTED": lambda data: m.resign_as(data, der, untrusted.private_key),
        }
        return {brin: how[sid] for sid, (brin, _) in HOSTILE_ANSWERS.items()}

    def _load_pupils(self) -> None:
        from ..school.testleerlingen import laad_testleerlingen
        from ..store.school_repository import SchoolRepository

        now = datetime.now(timezone.utc)
        with self.tc.database.unit_of_work() as repo:
            school = SchoolRepository.of(repo)
            laad_testleerlingen(school, datum=now.date(), now=now, brin=TEST_BRIN)

            class OnlyBinnenBrin:  # the binnen-BRIN test pupil, at the vendor's own school
                def put_dossier(self, record):
                    if record.pgn == "118716943":
                        school.put_dossier(record)

            laad_testleerlingen(OnlyBinnenBrin(), datum=now.date(), now=now, brin=self.o.brin)

            class OnlyHostilePupil:  # the PO-PO test pupil, at each hostile school
                def put_dossier(self, record):
                    if record.pgn == HOSTILE_PGN:
                        school.put_dossier(record)

            for brin, _ in HOSTILE_ANSWERS.values():
                laad_testleerlingen(OnlyHostilePupil(), datum=now.date(), now=now, brin=brin)

    def instructions(self) -> str:
        lines = [f"The suite's Traffic Center: {self.tc.url}  (test school: {self.base_url + AP_PATH})",
                 f"Run these transfers with your target (doel BRIN {self.o.brin}, doel aanleverpunt "
                 f"{self.o.routeringskenmerk}), against that TC:"]
        for n, t in enumerate(self.transfers, 1):
            lines.append(f"  {n}. {t.key:<12} PGN {t.pgn}  bron {t.bron_brin} → doel {self.o.brin}  "
                         f"{t.overdrachtsoort:<21} expect {t.expect}")
        lines.append(f"Waiting up to {self.o.timeout_s:.0f} s for them …")
        return "\n".join(lines)

    def close(self) -> None:
        self.tc.stop()

    def reset(self) -> None:
        """Forget what was seen (for another run against the same running suite)."""
        with self.tc._lock:
            self.tc.observations.clear()
        if self.tc.recorder is not None:
            with self.tc.recorder._lock:
                self.tc.recorder.exchanges.clear()

    # ------------------------------------------------------------------------------------------------- watching
    def expected_keys(self) -> dict[str, Transfer]:
        return {t.zoeksleutel(self.o.chain_key, self.o.brin)[0]: t for t in self.transfers}

    def vendor_messages(self) -> list[TcObservation]:
        """Every message that reached the suite, except those of the suite's own parts."""
        return [o for o in self.tc.snapshot() if o.signer_oin != self.creds.oin
                and not (o.signer_oin is None and o.from_oin == self.creds.oin)]

    def overdrachten(self, transfer: Transfer) -> list[TcObservation]:
        key = transfer.zoeksleutel(self.o.chain_key, self.o.brin)[0]
        return [o for o in self.vendor_messages() if o.operation == "overdrachtRequest"
                and o.fields.get("zoeksleutel") == key]

    def sessions_of(self, transfer: Transfer) -> list[str]:
        return [o.answer_fields["sessieId"] for o in self.overdrachten(transfer) if o.answer_fields.get("sessieId")]

    def _done(self, transfer: Transfer) -> bool:
        seen = self.overdrachten(transfer)
        if not seen:
            return False
        if transfer.key == "storing":
            return True
        sessions = set(self.sessions_of(transfer))
        if not sessions:
            return True  # the TC refused to open one: nothing more will come
        closed = {o.fields.get("sessieId") for o in self.vendor_messages() if o.operation == "afmeldingRequest"}
        return sessions <= closed

    def wait(self) -> None:
        deadline = time.monotonic() + self.o.timeout_s
        done: set[str] = set()
        self.view.begin("transfers seen", len(self.transfers))
        last_count, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            for t in self.transfers:
                if t.key not in done and self._done(t):
                    done.add(t.key)
                    self.view.step(t.key)
            count = len(self.tc.snapshot())
            if count != last_count:
                last_count, quiet_since = count, time.monotonic()
            if len(done) == len(self.transfers) and time.monotonic() - quiet_since >= self.o.settle_s:
                break
            time.sleep(0.1)
        self.view.end()

    def run(self, *, wait: bool = True) -> RunReport:
        report = RunReport(TARGET, {
            "under test": f"target of OIN {self.o.vendor_oin}", "vendor OIN": self.o.vendor_oin,
            "doel BRIN": self.o.brin, "doel routeringskenmerk": self.o.routeringskenmerk,
            "suite Traffic Center": self.tc.url, "suite test school": self.base_url + AP_PATH,
            "suite OIN": self.creds.oin}, secrets=[t.pgn for t in self.transfers], waived=self.o.waived)
        if wait:
            self.wait()
        self.preflight()
        report.judge(_GRADERS, self, self.view)
        return report

    def preflight(self) -> None:
        """Before any scenario is judged: something of the vendor's target reached the suite, and the suite could
        verify it (its certificate is one of ``--ca``, its OIN ``--vendor-oin``). Raises ``PreflightFailed`` with one
        line saying what to fix."""
        from .source import PreflightFailed

        theirs = [o for o in self.tc.snapshot() if o.signer_oin != self.creds.oin and o.from_oin != self.creds.oin]
        if not theirs:
            raise PreflightFailed(f"no message of your target reached the suite's Traffic Center ({self.tc.url}) in "
                                  f"{self.o.timeout_s:.0f} s: configure that URL as your TC, and run the transfers "
                                  "the suite printed")
        if any(o.verified for o in theirs):
            return
        trust = [o for o in theirs if o.error and o.error.split(":", 1)[0] in ("PKI001", "PKI002", "WT001")]
        if len(trust) == len(theirs):
            raise PreflightFailed(f"the suite could not accept your target's certificate on any of its "
                                  f"{len(theirs)} messages ({trust[0].error[:160]}): give --ca the CA that issued "
                                  "your signing certificate, --vendor-oin its OIN, and sign with it")
        if all(o.from_oin not in (None, self.o.vendor_oin) for o in theirs):
            raise PreflightFailed(f"your target's messages name OIN {theirs[0].from_oin} in wsa:From, not "
                                  f"--vendor-oin {self.o.vendor_oin}")

    def evidence(self, observations: list[TcObservation]) -> list[HttpExchange]:
        out = []
        for obs in observations:
            ex = HttpExchange(f"vendor → suite {obs.service}: {obs.operation or 'message'}", obs.service,
                              obs.request, status=200 if obs.error is None else 500, response=obs.response,
                              direction="vendor → suite")
            ex.t0 = ex.t1 = obs.t
            out.append(ex)
        return out


# ================================================================================================== grading

_GRADERS: dict = {}


def grader(*ids):
    def register(fn):
        for i in ids:
            _GRADERS[i] = fn
        return fn
    return register


def _by_op(suite: TargetSuite, operation: str, services: tuple[str, ...]) -> list[TcObservation]:
    return [o for o in suite.vendor_messages() if o.service in services
            and (o.operation == operation or o.operation is None)]


def _signed(suite, s, operation: str, services: tuple[str, ...], what: str) -> Result:
    seen = _by_op(suite, operation, services)
    if not seen:
        return Result(s, NOT_APPLICABLE if operation != "overdrachtRequest" else FAILED,
                      f"no {what} from the vendor reached the suite")
    # a replay refused is judged by WUS-DOEL-NO-REPLAY, not here
    refused = [o for o in seen if not o.verified and not (o.error or "").startswith("GW-REPLAY")]
    if refused:
        return Result(s, FAILED, f"{len(refused)} of {len(seen)} {what}s refused: {refused[0].error}",
                      suite.evidence(refused[:2]), [o.error for o in refused])
    return Result(s, PASSED, f"{len(seen)} {what}s verified: signed and addressed per the profile",
                  suite.evidence(seen[:1]))


@grader("WUS-DOEL-OVERDRACHT-SIGNED")
def _overdracht_signed(suite, s):
    return _signed(suite, s, "overdrachtRequest", ("trafficcenter",), "overdrachtRequest")


@grader("WUS-DOEL-DOCUMENTREQUEST-SIGNED")
def _document_signed(suite, s):
    return _signed(suite, s, "documentRequest", ("aanleverpunt", "bevindingen"), "documentRequest")


@grader("WUS-DOEL-AFMELDING-SIGNED")
def _afmelding_signed(suite, s):
    return _signed(suite, s, "afmeldingRequest", ("trafficcenter",), "afmeldingRequest")


@grader("OSO-DOEL-TRANSFERS-SEEN")
def _seen(suite, s):
    missing, notes = [], []
    documents = [o for o in suite.vendor_messages() if o.operation == "documentRequest"]
    for t in suite.transfers:
        over = suite.overdrachten(t)
        sessions = set(suite.sessions_of(t))
        asked = [o for o in documents if o.fields.get("sessieId") in sessions]
        if not over:
            missing.append(f"{t.key} (no overdrachtRequest for the pupil from {t.bron_brin})")
        elif sessions and not asked:
            missing.append(f"{t.key} (a session was opened, but no documentRequest followed)")
        else:
            notes.append(f"{t.key}: {len(over)} overdracht, {len(asked)} documentRequest")
    others = [o for o in suite.vendor_messages() if o.operation == "overdrachtRequest"
              and o.fields.get("zoeksleutel") not in suite.expected_keys()]
    if others:
        notes.append(f"{len(others)} overdrachtRequests named no listed pupil (zoeksleutel of another scheme or "
                     "chain key, or other BRINs)")
    if missing:
        return Result(s, FAILED, f"{len(missing)} of {len(suite.transfers)} transfers not seen: "
                      + "; ".join(missing), suite.evidence(others[:1]), notes)
    seen = [o for t in suite.transfers for o in suite.overdrachten(t)[:1]]
    return Result(s, PASSED, f"all {len(suite.transfers)} transfers seen", suite.evidence(seen[:1]), notes)


def _session(suite, sessie_id):
    return suite.tc.sessie(sessie_id) if sessie_id else None


@grader("OSO-DOEL-SESSIE-FIELDS")
def _fields(suite, s):
    documents = [o for o in suite.vendor_messages() if o.operation == "documentRequest" and o.verified]
    if not documents:
        return Result(s, NOT_APPLICABLE, "no verified documentRequest to judge")
    problems = []
    for o in documents:
        f = o.fields
        sessie = _session(suite, f.get("sessieId"))
        if sessie is None:
            problems.append((o, "the sessieId is not one the suite's TC issued"))
            continue
        diffs = [name for name, mine, theirs in (
            ("bronBrin", sessie.bron_brin, f.get("bronBrin")), ("doelBrin", sessie.doel_brin, f.get("doelBrin")),
            ("doelRouteringsKenmerk", sessie.doel_routeringskenmerk, f.get("doelRouteringsKenmerk")),
            ("overdrachtsoort", sessie.overdrachtsoort, f.get("overdrachtsoort")),
            ("zoeksleutel", sessie.zoeksleutel, f.get("zoeksleutel")), ("pgnfrag", sessie.pgnfrag, f.get("pgnfrag")),
            ("koppelsleutel", sessie.koppelsleutel, f.get("koppelsleutel"))) if mine != theirs]
        if f.get("bronRouteringsKenmerk") not in sessie.aanleverpunten:
            diffs.append("bronRouteringsKenmerk (not one the TC handed out)")
        if diffs:
            problems.append((o, "differs from the session in " + ", ".join(diffs)))
    if problems:
        return Result(s, FAILED, problems[0][1] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                      suite.evidence([problems[0][0]]), [p for _, p in problems])
    return Result(s, PASSED, f"{len(documents)} documentRequests repeat their session's fields",
                  suite.evidence(documents[:1]))


def _opened(suite) -> list[str]:
    return [o.answer_fields["sessieId"] for o in suite.vendor_messages()
            if o.operation == "overdrachtRequest" and o.answer_fields.get("sessieId")]


@grader("OSO-DOEL-AFMELDING-SENT")
def _afmelding_sent(suite, s):
    opened = _opened(suite)
    if not opened:
        return Result(s, NOT_APPLICABLE, "the vendor opened no session")
    closes = {o.fields.get("sessieId"): o for o in suite.vendor_messages() if o.operation == "afmeldingRequest"}
    open_ = [sid for sid in opened if sid not in closes]
    refused = [closes[sid] for sid in opened
               if sid in closes and closes[sid].resultaat not in ("OverdrachtGeslaagd", None)]
    if open_:
        return Result(s, FAILED, f"{len(open_)} of {len(opened)} sessions were never closed with afmelding")
    if refused:
        return Result(s, FAILED, f"the TC refused an afmelding: {refused[0].resultaat}", suite.evidence(refused[:1]))
    return Result(s, PASSED, f"all {len(opened)} sessions closed with afmelding",
                  suite.evidence(list(closes.values())[:1]))


@grader("OSO-DOEL-AFMELDING-BEST-RESULT")
def _best(suite, s):
    closes = [o for o in suite.vendor_messages() if o.operation == "afmeldingRequest" and o.verified]
    if not closes:
        return Result(s, NOT_APPLICABLE, "no verified afmelding to judge")
    answers = [o for o in suite.tc.snapshot() if o.operation == "documentRequest" and o.service in (
        "aanleverpunt", "bevindingen") and o.signer_oin == suite.o.vendor_oin]
    # the suite's services sign every answer with the suite's certificate: an answer for an aanleverpunt registered
    # to another vendor (the vendor's own, at binnen-BRIN) is not to be believed (leverancierOin), so a target
    # counts it as an answer that did not verify (OngeldigVerzoek), not as what it said
    own_rk = suite.o.routeringskenmerk
    hostile = {hostile_rk(brin) for brin, _ in HOSTILE_ANSWERS.values()}  # altered after signing: not believed
    problems, notes = [], []
    for close in closes:
        sid = close.fields.get("sessieId")
        asked = [(a.fields.get("bronRouteringsKenmerk"), a.answer_fields.get("resultaat")) for a in answers
                 if a.fields.get("sessieId") == sid and a.answer_fields.get("resultaat") in CODES]
        if not asked:
            continue
        counted = [(rk, "OngeldigVerzoek" if rk == own_rk or rk in hostile else code) for rk, code in asked]
        best_rk, best_code = counted[best_index([code for _, code in counted])]
        reported = (close.fields.get("bronRouteringsKenmerk"), close.fields.get("resultaat"))
        if reported[1] in SUCCESS and reported[0] in hostile:
            continue  # judged by the WUS-DOEL-ANSWER-… scenarios
        if reported[1] in SUCCESS and reported[0] == own_rk:
            problems.append((close, f"afmelding reports {reported[1]} of {own_rk}, whose answer was signed by the "
                             "suite, not by your leverancierOin"))
        elif reported != (best_rk, best_code):
            problems.append((close, f"afmelding reports {reported[1]} of {reported[0]}; the aanleverpunten answered "
                             f"{[c for _, c in asked]} in this order, so the best is {best_code} of {best_rk} "
                             "(ties: the last one asked)"))
        else:
            notes.append(f"session {sid}: {best_code} of {best_rk} = best of {[c for _, c in counted]}")
    if problems:
        return Result(s, FAILED, problems[0][1], suite.evidence([problems[0][0]]), [p for _, p in problems])
    return Result(s, PASSED, f"{len(closes)} afmeldingen report the best result and its aanleverpunt",
                  suite.evidence(closes[:1]), notes)


@grader("OSO-DOEL-ZOEKSLEUTEL")
def _zoeksleutel(suite, s):
    expected = suite.expected_keys()
    named = [o for o in suite.vendor_messages() if o.operation in ("overdrachtRequest", "documentRequest")
             and (o.fields.get("zoeksleutel") or o.fields.get("pgnfrag"))]
    if not named:
        return Result(s, FAILED, "no overdracht or documentRequest named a pupil by zoeksleutel")
    problems = []
    for o in named:
        key = o.fields.get("zoeksleutel")
        t = expected.get(key)
        if t is None:
            problems.append((o, f"a zoeksleutel that is none of the listed pupils' (scheme version 1, chain key "
                                f"{suite.o.chain_key.kid!r}, BRINs bron then doel)"))
        elif o.fields.get("pgnfrag") != t.zoeksleutel(suite.o.chain_key, suite.o.brin)[1]:
            problems.append((o, "the pgnfrag is not the one of the chain's scheme for that pupil"))
    if problems:
        return Result(s, FAILED, problems[0][1] + (f" ({len(problems)} messages)" if len(problems) > 1 else ""),
                      suite.evidence([problems[0][0]]))
    return Result(s, PASSED, f"{len(named)} requests name the pupil by the chain's zoeksleutel",
                  suite.evidence(named[:1]))


@grader("OSO-DOEL-PGN-NOT-IN-CLEAR")
def _pgn(suite, s):
    pgns = [t.pgn for t in suite.transfers]
    own = suite.creds.oin
    leaks, scanned = [], 0
    theirs = []
    for ex in suite.tc.recorder.snapshot():
        if f"oin={own}".encode() in ex.request:  # the suite's own messages (its test school asking its TC)
            continue
        theirs.append(ex)
        headers = "\n".join(f"{k}: {v}" for k, v in ex.request_headers.items()).encode()
        for where, data in (("HTTP headers", headers), ("message", ex.request)):
            scanned += len(data)
            for n, form in find_pgns(data, pgns):
                leaks.append((ex, f"a message to {ex.url}: the PGN of transfer {suite.transfers[n].key} in the "
                                  f"{where} ({form})"))
    if not scanned:
        return Result(s, NOT_APPLICABLE, "nothing from the vendor to scan")
    if leaks:
        return Result(s, FAILED, leaks[0][1] + (f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""),
                      [ex for ex, _ in leaks[:2]])
    return Result(s, PASSED, f"no test PGN in {scanned} bytes the vendor sent (messages and HTTP headers)",
                  theirs[:1])


@grader("OSO-DOEL-FAULT-NO-RETRY-STORM")
def _storm(suite, s):
    t = next(t for t in suite.transfers if t.key == "storing")
    attempts = suite.overdrachten(t)
    if not attempts:
        return Result(s, NOT_APPLICABLE, "the storing transfer was not run: the Fault could not be observed")
    gaps = [b.t - a.t for a, b in zip(attempts, attempts[1:])]
    notes = [f"{len(attempts)} attempts" + (f", gaps {', '.join(f'{g:.2f} s' for g in gaps)}" if gaps else "")]
    if len(attempts) > suite.o.max_attempts:
        return Result(s, FAILED, f"{len(attempts)} overdracht attempts after a signed Fault (at most "
                      f"{suite.o.max_attempts} allowed)", suite.evidence(attempts[:2]), notes)
    fast = [g for g in gaps if g < suite.o.min_interval_s]
    if fast:
        return Result(s, FAILED, f"retried {len(fast)} times within {suite.o.min_interval_s:.0f} s of a Fault (no "
                      "back-off)", suite.evidence(attempts[:2]), notes)
    return Result(s, PASSED, f"{len(attempts)} attempt(s) for the transfer the TC answered with a Fault",
                  suite.evidence(attempts[:1]), notes)


@grader("WUS-DOEL-NO-REPLAY")
def _replay(suite, s):
    messages = suite.vendor_messages()
    if not messages:
        return Result(s, NOT_APPLICABLE, "no message of the vendor reached the suite")
    seen_ids: dict[str, TcObservation] = {}
    seen_bytes: set[bytes] = set()
    problems = []
    for o in messages:
        if o.error and o.error.startswith("GW-REPLAY"):
            problems.append((o, "a message was refused as a replay"))
        if o.request in seen_bytes:
            problems.append((o, "the same bytes were sent twice (a stored message resent)"))
        seen_bytes.add(o.request)
        if o.message_id:
            if o.message_id in seen_ids:
                problems.append((o, "a wsa:MessageID was used twice"))
            seen_ids[o.message_id] = o
    if problems:
        return Result(s, FAILED, problems[0][1], suite.evidence([problems[0][0]]), [p for _, p in problems])
    return Result(s, PASSED, f"{len(messages)} messages, each with its own MessageID", suite.evidence(messages[:1]))


def _hostile_answer(suite, s, brin: str, what: str) -> Result:
    t = next(t for t in suite.transfers if t.bron_brin == brin)
    if not suite.overdrachten(t):
        return Result(s, NOT_APPLICABLE, f"the transfer from {brin} was not run (see OSO-DOEL-TRANSFERS-SEEN)")
    sessions = set(suite.sessions_of(t))
    served = [o for o in suite.tc.snapshot() if o.operation == "documentRequest" and o.service == "aanleverpunt"
              and o.fields.get("sessieId") in sessions and o.signer_oin == suite.o.vendor_oin]
    if not served:
        return Result(s, ERROR, f"no documentRequest for the transfer from {brin} reached the suite's test school: "
                      "the altered answer was never served", suite.evidence(suite.overdrachten(t)[:1]))
    closes = [o for o in suite.vendor_messages() if o.operation == "afmeldingRequest"
              and o.fields.get("sessieId") in sessions]
    if not closes:
        return Result(s, ERROR, f"no afmelding for the transfer from {brin}: whether the answer ({what}) was "
                      "believed cannot be seen", suite.evidence(served[:1]))
    released = [o for o in served if o.answer_fields.get("resultaat") == "OverdrachtGeslaagd"]
    if not released:
        return Result(s, ERROR, f"the suite's test school did not release the dossier for the transfer from {brin} "
                      f"as planned ({served[0].answer_fields.get('resultaat')}): there was nothing to believe",
                      suite.evidence(served[:1]))
    reported = closes[-1].fields.get("resultaat")
    evidence = suite.evidence([released[0], closes[-1]])
    if reported in SUCCESS:
        return Result(s, FAILED, f"afmelding reports {reported}: the answer was believed although {what}", evidence)
    return Result(s, PASSED, f"afmelding reports {reported}: the answer ({what}) was not believed", evidence)


for _sid, (_brin, _what) in HOSTILE_ANSWERS.items():
    _GRADERS[_sid] = (lambda brin, what: lambda suite, s: _hostile_answer(suite, s, brin, what))(_brin, _what)


@grader("OSO-DOEL-FINDINGS-SURFACED")
def _surfaced(suite, s):
    t = next(t for t in suite.transfers if t.key == "bevindingen")
    sessions = set(suite.sessions_of(t))
    delivered = [o for o in suite.tc.snapshot() if o.service == "bevindingen" and o.fields.get("sessieId") in sessions
                 and o.answer_fields.get("resultaat") == "OverdrachtGeslaagd"]
    if not delivered:
        return Result(s, NOT_APPLICABLE, "the bevindingen transfer did not receive its dossier")
    if not suite.o.surfaced:
        return Result(s, NOT_APPLICABLE, "manual check: the dossier with a finding ("
                      + " / ".join(FINDING_RULES) + ") was delivered; pass --surfaced FILE (what your system showed "
                      "the school) to have it judged", suite.evidence(delivered[:1]))
    try:
        text = Path(suite.o.surfaced).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return Result(s, ERROR, f"--surfaced {suite.o.surfaced}: {exc.strerror}")
    named = [r for r in FINDING_RULES if r in text]
    if not named:
        return Result(s, FAILED, "the dossier with a finding was delivered, but the vendor's report names none of "
                      + ", ".join(FINDING_RULES), suite.evidence(delivered[:1]))
    return Result(s, PASSED, f"the vendor's report names {', '.join(named)}", suite.evidence(delivered[:1]))
