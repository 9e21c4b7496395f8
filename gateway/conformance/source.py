"""Role *source*: the suite plays target and Traffic Center, and drives a vendor's documentRequest endpoint.

The suite starts its own TC (the gateway app on a local port, own SQLite in the run's folder) and registers the
vendor's OIN, school and aanleverpunt beside its own target schools. The vendor configures that TC's URL for
sessiecontrole, and that TC's OSR-style register (``…/osr``) to find whose the suite's doel aanleverpunten are: a
documentRequest counts only when the vendor registered for its doel aanleverpunt signed it. Then the suite opens sessions in its TC (as the target it plays) and sends documentRequests: the
happy path for each test pupil, requests the chain's rules refuse, and hostile requests that the profile refuses.
Each answer is read part by part (``judge.read_answer``), what the TC saw is read from its observer, and every
scenario of the catalogue's source role gets a verdict with its evidence.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from lxml import etree

from .. import contracts
from ..oso import zoeksleutel as zs
from ..oso.register import Aanleverpunt, School, Sector, Vendor
from ..wsse import Credentials, TrustStore, sign_envelope
from . import mutations
from .catalogue import FAILED_AUTHENTICATION, INVALID_TOKEN, RULE_TEXTS, SOURCE
from .evidence import HttpExchange, find_pgns, without_dossier
from .judge import Answer, other_reason, read_answer, rules_named
from .live import LiveView
from .results import ERROR, FAILED, NOT_APPLICABLE, PASSED, Result, RunReport
from .serving import TlsSettings
from .tc import SuiteTc, TcObservation

_DOCUMENT = contracts.service("aanleverpunt").operation("document")
AP_ACTION, AP_RESPONSE_ACTION = _DOCUMENT.action, _DOCUMENT.response_action
SUITE_NAME = "OSO conformance suite (TEST ONLY)"
DOEL_PO, DOEL_VO = "99PO", "99VO"
OVERSTAP, BINNENBRIN = "overstapdossier", "overdrachtbinnenbrin"
OTHER_OIN = "00000001000000000999"  # an OIN nobody holds: for a wsa:From that lies
_ENVELOPE = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/>'
             b"<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>")


def _rk(brin: str, tail: str) -> str:
    """A routeringskenmerk of the suite's own (20 characters, the BRIN embedded as the chain does)."""
    return f"0000000700000{brin[2:]}{brin[:2]}{tail}"


@dataclass(frozen=True)
class TestPupils:
    """The pupils the vendor's source must have, by PGN. The first four are the chain's fixed test pupils."""

    popo: str = "127095823"  # a PO-PO dossier, released
    vovo: str = "127095824"  # a VO-VO dossier, released
    geweigerd: str = "127095825"  # release refused: LeveringGeweigerd
    binnenbrin: str = "118716943"  # a binnen-BRIN dossier (needs categorie_uitlevering)
    zonder_inzage: str | None = None  # a PO dossier, klaargezet, no inzage recorded
    zonder_toestemming: str | None = None  # a VO-VO dossier, klaargezet, no toestemming
    onbekend: str = "111111110"  # a valid BSN the source does not know

    __test__ = False

    def all(self) -> list[str]:
        return [p for p in (self.popo, self.vovo, self.geweigerd, self.binnenbrin, self.zonder_inzage,
                            self.zonder_toestemming, self.onbekend) if p]


@dataclass
class SourceOptions:
    endpoint: str  # the vendor's documentRequest endpoint (wsa:To)
    vendor_oin: str
    routeringskenmerk: str
    brin: str
    cert: str  # the suite's signing certificate and key (it signs as target and as TC)
    key: str
    ca: str  # trust anchors for the vendor's certificate (PEM)
    crl: str | None
    chain_key: zs.ChainKey
    workdir: Path
    vestiging: str = "00"
    sector: str = "PO"
    bundles: object | None = None  # a gateway.dossier BundleRegistry (None: the gateway's own checks only)
    pupils: TestPupils = TestPupils()
    tc_host: str = "127.0.0.1"
    tc_port: int = 0
    tc_public_url: str | None = None
    tc_tls: TlsSettings | None = None  # serve the suite's TC over two-way TLS
    tls_client_cert: str | None = None  # the suite's TLS client certificate towards the vendor (https)
    tls_client_key: str | None = None
    tls_ca: str | None = None  # CAs for the vendor's TLS server certificate (default: ca)
    timeout_s: float = 30.0
    untrusted: Credentials | None = None  # credentials from a CA the vendor does not trust (made when None)
    other_cert: str | None = None  # a second TRUSTED certificate of another OIN (another vendor), and its key: it
    other_key: str | None = None  # signs one request, and is the TLS client certificate for it on https
    waived: frozenset[str] = frozenset()  # musts whose "not applicable" the vendor accepts (--waive)
    # certificates of the suite's trusted CA that a receiver must refuse, by kind (BAD_CERTS): without one, its
    # scenario is not applicable
    bad_certs: dict = field(default_factory=dict)
    suite_ca: str | None = None  # the CA file of the suite's own TEST PKI (named in the preflight's advice)


@dataclass
class Probe:
    """One documentRequest the suite sent, and what came of it."""

    name: str
    purpose: str
    exchange: HttpExchange
    message_id: str
    signature_value: str
    sessie_id: str | None
    pupil: str | None
    overdrachtsoort: str
    doel_brin: str
    hostile: bool = False
    answer: Answer | None = None
    validation: object | None = None  # the dossier's validation Report, once made


def _untrusted_credentials(workdir: Path, oin: str) -> Credentials:
    """A certificate with the suite's OIN from a CA of its own that nobody was told to trust."""
    from ..pki import init_pki

    folder = workdir / "untrusted-pki"
    if not (folder / "gateway.cert.pem").exists():
        party = init_pki(folder, gateway_oin=oin, label="OSO Conformance Untrusted")
        return Credentials.from_files(party.cert_path, party.key_path)
    return Credentials.from_files(folder / "gateway.cert.pem", folder / "gateway.key.pem")


class SourceSuite:
    def __init__(self, options: SourceOptions, view: LiveView | None = None):
        self.o = options
        self.view = view or LiveView(quiet=True)
        self.view.secrets = options.pupils.all()
        self.creds = Credentials.from_files(options.cert, options.key)
        if self.creds.oin is None:
            raise ValueError("the suite's certificate carries no OIN in subject.serialNumber")
        if self.creds.oin == options.vendor_oin:
            raise ValueError("the suite must sign with another certificate (OIN) than the vendor's")
        self.trust = TrustStore.from_files(options.ca, options.crl)
        self.tc = SuiteTc(options.workdir / "tc", options.cert, options.key, options.ca, options.crl,
                          host=options.tc_host, port=options.tc_port, public_url=options.tc_public_url,
                          tls=options.tc_tls)
        self.other = Credentials.from_files(options.other_cert, options.other_key) if options.other_cert else None
        self.probes: list[Probe] = []
        self._http = None
        self.rk_po, self.rk_vo, self.rk_bb = _rk(DOEL_PO, "999"), _rk(DOEL_VO, "999"), _rk(options.brin, "998")

    # ---------------------------------------------------------------------------------------------- set-up
    def start(self) -> str:
        """Start the suite's TC and register the parties; returns the TC URL the vendor must configure."""
        self.tc.start()
        o = self.o
        suite = self.creds.oin
        doel_url = self.tc.base_url + "/conformance/doel"
        self.tc.register(
            vendors=[Vendor(o.vendor_oin, "Vendor under test", gekwalificeerd=True),
                     Vendor(suite, SUITE_NAME, gekwalificeerd=True)]
            + ([Vendor(self.other.oin, "Another vendor (conformance suite, TEST ONLY)", gekwalificeerd=True)]
               if self.other is not None and self.other.oin not in (suite, o.vendor_oin) else []),
            schools=[School(o.brin, o.vestiging, Sector(o.sector), "School under test"),
                     School(DOEL_PO, "00", Sector.PO, "Conformance doelschool PO (TEST ONLY)"),
                     School(DOEL_VO, "00", Sector.VO, "Conformance doelschool VO (TEST ONLY)")],
            aanleverpunten=[Aanleverpunt(o.routeringskenmerk, o.brin, o.vestiging, o.vendor_oin, o.endpoint),
                            Aanleverpunt(self.rk_po, DOEL_PO, "00", suite, doel_url),
                            Aanleverpunt(self.rk_vo, DOEL_VO, "00", suite, doel_url),
                            Aanleverpunt(self.rk_bb, o.brin, o.vestiging, suite, doel_url)])
        return self.tc.url

    @property
    def osr_url(self) -> str:
        """The suite's OSR-style register (its doel aanleverpunten, with their vendor): the vendor's source resolves
        whose a doel aanleverpunt is here."""
        return self.tc.base_url + "/osr"

    def close(self) -> None:
        self.tc.stop()
        if self._http is not None:
            self._http.close()

    def reset(self) -> None:
        """Forget the last run (for another run against the same running TC)."""
        self.probes = []
        with self.tc._lock:
            self.tc.observations.clear()
        if self.tc.recorder is not None:
            with self.tc.recorder._lock:
                self.tc.recorder.exchanges.clear()

    # ---------------------------------------------------------------------------------------------- messages
    def _http_session(self, cert: str | None, key: str | None):
        import requests

        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE and proxies of the environment must not change what is tested
        if cert:
            s.cert = (cert, key or cert)
        s.verify = (self.o.tls_ca or self.o.ca) if self.o.endpoint.startswith("https") else True
        return s

    @property
    def http(self):
        if self._http is None:
            self._http = self._http_session(self.o.tls_client_cert, self.o.tls_client_key)
        return self._http

    def _key(self, pgn: str, doel_brin: str, bron_brin: str | None = None) -> tuple[str, str]:
        return zs.maak(self.o.chain_key, pgn=pgn, bron_brin=bron_brin or self.o.brin, doel_brin=doel_brin)

    def doel_rk(self, doel_brin: str) -> str:
        return {DOEL_PO: self.rk_po, DOEL_VO: self.rk_vo}.get(doel_brin, self.rk_bb)

    def document_request(self, sessie_id: str, *, pgn: str, doel_brin: str, overdrachtsoort: str = OVERSTAP,
                         verzameldatum: datetime | None = None) -> bytes:
        """An unsigned envelope holding a documentRequest of the contract (xsd/overstapservice-20200910.xsd)."""
        key, frag = self._key(pgn, doel_brin)
        E = lambda name, text: f"<oso:{name}>{text}</oso:{name}>"  # noqa: E731
        body = ('<oso:documentRequest xmlns:oso="%s">' % contracts.OSO_NS + E("bronBrin", self.o.brin)
                + E("bronRouteringsKenmerk", self.o.routeringskenmerk) + E("doelBrin", doel_brin)
                + E("doelRouteringsKenmerk", self.doel_rk(doel_brin))
                + E("zoeksleutelPgnfrag", E("zoeksleutel", key) + E("pgnfrag", frag))
                + E("overdrachtsoort", overdrachtsoort) + E("sessieId", sessie_id)
                + (E("dossierVerzameldatum", verzameldatum.isoformat()) if verzameldatum else "")
                + "</oso:documentRequest>")
        return _ENVELOPE % body.encode()

    def sign(self, envelope: bytes, *, creds: Credentials | None = None, to: str | None = None, **kw):
        creds = creds or self.creds
        kw.setdefault("from_oin", creds.oin)
        kw.setdefault("action", AP_ACTION)
        signed = sign_envelope(envelope, creds, to=to or self.o.endpoint, **kw)
        return signed.to_bytes(), signed.message_id, signed.signature_value

    def post(self, label: str, data: bytes, *, soap_action: str = AP_ACTION, http=None) -> HttpExchange:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action}"'}
        ex = HttpExchange(label, self.o.endpoint, data, headers)
        try:
            r = (http or self.http).post(self.o.endpoint, data=data, headers=headers, timeout=self.o.timeout_s)
            ex.status, ex.response, ex.response_headers = r.status_code, r.content, dict(r.headers)
        except Exception as exc:  # the vendor's endpoint could not be reached: evidence, not a crash
            ex.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        ex.t1 = time.perf_counter()
        return ex

    def _session(self, pgn: str, doel_brin: str, overdrachtsoort: str = OVERSTAP) -> str:
        key, frag = self._key(pgn, doel_brin)
        return self.tc.open_session(self.creds.oin, doel_brin=doel_brin, doel_routeringskenmerk=self.doel_rk(doel_brin),
                                    bron_brin=self.o.brin, overdrachtsoort=overdrachtsoort, zoeksleutel=key,
                                    pgnfrag=frag)

    def _probe(self, name: str, purpose: str, data: bytes, mid: str, sv: str, *, sessie_id: str | None,
               pupil: str | None, doel_brin: str, overdrachtsoort: str = OVERSTAP, hostile: bool = False,
               soap_action: str = AP_ACTION, http=None) -> Probe:
        ex = self.post(f"suite → vendor: documentRequest ({purpose})", data, soap_action=soap_action, http=http)
        probe = Probe(name, purpose, ex, mid, sv, sessie_id, pupil, overdrachtsoort, doel_brin, hostile)
        if ex.error is None:
            probe.answer = read_answer(ex.response, status=ex.status, request_message_id=mid,
                                       request_signature_value=sv, trust=self.trust, vendor_oin=self.o.vendor_oin,
                                       check_contract=True)
        self.probes.append(probe)
        self.view.step(f"{name}: {_outcome(probe)}")
        return probe

    def _request(self, name: str, purpose: str, pgn: str, doel_brin: str, *, overdrachtsoort: str = OVERSTAP,
                 sessie_pgn: str | None = None, sessie_id: str | None = None, verzameldatum: datetime | None = None,
                 hostile: bool = False, mutate: Callable[[bytes], bytes] | None = None, **sign_kw) -> Probe:
        """Open a session (for ``sessie_pgn``, default the pupil asked for) and send a signed documentRequest."""
        if sessie_id is None:
            sessie_id = self._session(sessie_pgn or pgn, doel_brin, overdrachtsoort)
        env = self.document_request(sessie_id, pgn=pgn, doel_brin=doel_brin, overdrachtsoort=overdrachtsoort,
                                    verzameldatum=verzameldatum)
        soap_action = sign_kw.pop("soap_action", AP_ACTION)
        http = sign_kw.pop("http", None)
        data, mid, sv = self.sign(env, **sign_kw)
        if mutate is not None:
            data = mutate(data)
        return self._probe(name, purpose, data, mid, sv, sessie_id=sessie_id, pupil=pgn, doel_brin=doel_brin,
                           overdrachtsoort=overdrachtsoort, hostile=hostile, soap_action=soap_action, http=http)

    # ---------------------------------------------------------------------------------------------- the run
    def exchange_all(self) -> None:
        """The pupils' requests, the preflight over their answers (``PreflightFailed``), then every other request."""
        self.exchange_pupils()
        self.preflight()
        self.exchange_rest()

    def exchange_pupils(self) -> None:
        """One documentRequest per test pupil the vendor prepared: the happy paths and the pupils whose dossier is
        withheld. Their answers are what the preflight judges."""
        p, o = self.o.pupils, self.o
        planned = 35 + len(self.o.bad_certs) + sum(x is not None for x in (p.zonder_inzage, p.zonder_toestemming,
                                                                             self.other))
        self.view.begin("documentRequests to the vendor", planned)
        self._request("happy-popo", "PO-PO test pupil", p.popo, DOEL_PO)
        self._request("happy-vovo", "VO-VO test pupil", p.vovo, DOEL_VO)
        self._request("happy-binnenbrin", "binnen-BRIN test pupil", p.binnenbrin, o.brin, overdrachtsoort=BINNENBRIN)
        self._request("geweigerd", "LeveringGeweigerd test pupil", p.geweigerd, DOEL_PO)
        if p.zonder_inzage:
            self._request("zonder-inzage", "PO dossier without inzage", p.zonder_inzage, DOEL_PO)
        if p.zonder_toestemming:
            self._request("zonder-toestemming", "VO-VO dossier without toestemming", p.zonder_toestemming, DOEL_VO)

    def preflight(self) -> None:
        """Before any scenario is judged: the endpoint answers, the vendor accepts the suite's signed requests, the
        suite trusts the vendor's signing certificate, and every test pupil exists. Raises ``PreflightFailed`` with
        one line saying what to fix; the scenarios then judge defects, not a set-up that was never made."""
        suite_ca = self.o.suite_ca or f"the CA that issued {self.o.cert}"
        for probe in [pr for pr in self.probes if pr.name in _PUPIL_PROBES]:
            ex, a = probe.exchange, probe.answer
            if ex.error:
                raise PreflightFailed(f"the endpoint {self.o.endpoint} does not answer: {ex.error[:200]}")
            if a is None or a.parse_error:
                raise PreflightFailed(f"the endpoint {self.o.endpoint} answered HTTP {ex.status}, not a SOAP message "
                                      f"({a.parse_error if a else 'no answer'}): is it your aanleverpunt's "
                                      "documentRequest URL?")
            if a.is_fault:
                named = rules_named(a, RULE_TEXTS)
                if named & {"PKI002", "PKI001", "WT001"} or a.fault_code in _TRUST_CODES or "0002" in a.fault_text:
                    raise PreflightFailed(f"your system refused the suite's signed request as not trusted "
                                          f"({a.fault_code}: {(a.fault.get('faultstring') or '')[:120]}): add "
                                          f"{suite_ca} (OIN {self.creds.oin}) to its trust anchors")
                raise PreflightFailed(f"your system answered the suite's signed documentRequest for the "
                                      f"{probe.purpose} with a Fault ({a.fault_code}: "
                                      f"{(a.fault.get('faultstring') or '')[:160]}); it must answer a "
                                      "documentResponse (run with --html to see the messages)")
            if a.certificate is not None and a.certificate_problem:
                raise PreflightFailed(f"the answer to the {probe.purpose} is signed with a certificate the suite "
                                      f"cannot accept ({a.certificate_problem[:160]}): give --ca the CA that issued "
                                      f"your signing certificate, and --vendor-oin its OIN")
            if a.resultaat == "LeerlingOnbekend":
                raise PreflightFailed(f"the {probe.purpose} is not in your system (it answered LeerlingOnbekend): "
                                      "prepare the test pupils of docs/conformance.md, and compute zoeksleutels with "
                                      "the chain key the suite printed (docs/zoeksleutel.md)")

    def exchange_rest(self) -> None:
        p, o = self.o.pupils, self.o
        key = self.creds.private_key
        happy = self.probe("happy-popo")
        self._request("leerling-onbekend", "a pupil the source does not know", p.onbekend, DOEL_PO)
        # the TC check is made for every request: the session the PO-PO pupil's dossier was released in is closed
        # at the TC, then asked again (a new message): a source that remembered "Geslaagd" releases it once more
        self.tc.close_session(happy.sessie_id, self.creds.oin, bron_routeringskenmerk=o.routeringskenmerk)
        self._request("na-afmelding", "a session the target closed at the TC", p.popo, DOEL_PO,
                      sessie_id=happy.sessie_id)
        self._request("verzameldatum", "dossierVerzameldatum a year ahead", p.popo, DOEL_PO,
                      verzameldatum=datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365))
        self._request("sessie-afwijkend", "session opened for another pupil", p.popo, DOEL_PO, sessie_pgn=p.onbekend)
        self._request("sessie-onbekend", "a sessieId the TC never issued", p.popo, DOEL_PO,
                      sessie_id=str(uuid.uuid4()))
        forged = self._session(p.onbekend, DOEL_PO)  # the TC will say SessieAfwijkend, changed to Geslaagd in transit
        self.tc.forger.sessies.add(forged)
        try:
            self._request("tc-antwoord-vervalst", "the TC's answer changed in transit", p.popo, DOEL_PO,
                          sessie_id=forged)
        finally:
            self.tc.forger.sessies.discard(forged)
        if self.other is not None:  # over https its TLS client certificate is the other vendor's too (WT001)
            http = self._http_session(o.other_cert, o.other_key) if o.tls_client_cert else None
            try:
                self._request("andere-leverancier", "signed by another vendor", p.popo, DOEL_PO, creds=self.other,
                              http=http)
            finally:
                if http is not None:
                    http.close()
        # ---- hostile requests: each would fetch the PO-PO dossier if it were accepted
        self._request("unsigned", "no wsse:Security", p.popo, DOEL_PO, hostile=True, mutate=mutations.strip_security)
        other = self._session(p.popo, DOEL_PO)
        self._request("tampered", "sessieId changed after signing", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.tamper_text(d, "//b:sessieId", other))
        self._request("body-unsigned", "signature without the Body", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.drop_reference_to(d, "Body", key))
        self._request("to-unsigned", "signature without wsa:To", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.drop_reference_to(d, "To", key))
        evil_session = self._session(p.popo, DOEL_PO)
        evil = self.document_request(evil_session, pgn=p.popo, doel_brin=DOEL_PO)
        evil_payload = etree.tostring(mutations.tree(evil).find(f"{{{mutations.NS['soap']}}}Body")[0])
        self._request("wrapped", "XSW: signed Body hidden in wsa:ReplyTo", p.onbekend, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.wrap_body(d, evil_payload))
        now = datetime.now(timezone.utc)
        self._request("expired", "Timestamp an hour old", p.popo, DOEL_PO, hostile=True,
                      now=now - timedelta(hours=1))
        replayed = happy.exchange.request
        self._probe("replay", "the accepted PO-PO request again", replayed, happy.message_id, happy.signature_value,
                    sessie_id=happy.sessie_id, pupil=p.popo, doel_brin=DOEL_PO, hostile=True)
        parts = urlsplit(o.endpoint)
        wrong_to = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "-elders"))
        self._request("wrong-to", "wsa:To of another service", p.popo, DOEL_PO, hostile=True, to=wrong_to)
        untrusted = o.untrusted or _untrusted_credentials(o.workdir, self.creds.oin)
        self._request("untrusted", "certificate from an untrusted CA", p.popo, DOEL_PO, hostile=True, creds=untrusted)
        self._request("sha1", "SHA-1 digests, RSA-SHA1", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.with_sha1(d, key))
        self._request("from-mismatch", "wsa:From with another OIN", p.popo, DOEL_PO, hostile=True,
                      from_oin=OTHER_OIN)
        self._request("soapaction-mismatch", "SOAPAction differs from wsa:Action", p.popo, DOEL_PO, hostile=True,
                      soap_action=f"{contracts.OSO_NS}/iets-anders")
        # ---- every other check of a receiver (docs/faults.md, in order)
        self._request("dtd", "a DOCTYPE with an entity", p.popo, DOEL_PO, hostile=True, mutate=mutations.with_doctype)
        for name in ("Timestamp", "MessageID", "Action", "From"):
            self._request(f"{name.lower()}-unsigned", f"signature without {name}", p.popo, DOEL_PO, hostile=True,
                          mutate=lambda d, name=name: mutations.drop_reference_to(d, name, key))
        self._request("no-timestamp", "no wsu:Timestamp", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.drop_timestamp(d, key))
        self._request("future", "Timestamp an hour ahead", p.popo, DOEL_PO, hostile=True,
                      now=datetime.now(timezone.utc) + timedelta(hours=1))
        for kind, creds in self.o.bad_certs.items():
            self._request(f"cert-{kind}", f"a {kind} certificate of a trusted CA", p.popo, DOEL_PO, hostile=True,
                          creds=creds)
        self._request("action-other", "wsa:Action of another operation", p.popo, DOEL_PO, hostile=True,
                      action=AP_RESPONSE_ACTION, soap_action=AP_RESPONSE_ACTION)
        self._request("messageid-missing", "no wsa:MessageID", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.drop_header(d, "MessageID", key))
        self._request("action-missing", "no wsa:Action (and an empty SOAPAction)", p.popo, DOEL_PO, hostile=True,
                      soap_action="", mutate=lambda d: mutations.drop_header(d, "Action", key))
        self._request("to-missing", "no wsa:To", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.drop_header(d, "To", key))
        self._request("schema", "an element the contract does not know", p.popo, DOEL_PO, hostile=True,
                      mutate=lambda d: mutations.add_payload_element(d, "opmerking", "vrije tekst", key))
        self.view.end()

    def run(self) -> RunReport:
        report = RunReport(SOURCE, {
            "under test": self.o.endpoint, "vendor OIN": self.o.vendor_oin,
            "routeringskenmerk": self.o.routeringskenmerk, "BRIN": self.o.brin,
            "suite Traffic Center": self.tc.url, "suite OSR": self.osr_url, "suite OIN": self.creds.oin},
            secrets=self.o.pupils.all(), waived=self.o.waived)
        self.exchange_all()
        report.judge(_graders(), self, self.view)
        if self.o.bundles is None:
            report.notes.append("No official dossier bundles were given (--bundles): dossiers were checked with the "
                                "gateway's own rules only.")
        return report

    # ---------------------------------------------------------------------------------------------- helpers
    def probe(self, name: str) -> Probe | None:
        return next((p for p in self.probes if p.name == name), None)

    def controls_for(self, probe: Probe) -> list[TcObservation]:
        return [o for o in self.tc.seen("sessiecontroleRequest") if o.fields.get("sessieId") == probe.sessie_id
                and probe.sessie_id is not None]

    def tc_evidence(self, observations: list[TcObservation]) -> list[HttpExchange]:
        out = []
        for obs in observations:
            ex = HttpExchange(f"vendor → suite TC: {obs.operation or 'message'}", self.tc.url, obs.request,
                              status=200 if obs.error is None else 500, response=obs.response,
                              direction="vendor → suite TC")
            ex.t0 = ex.t1 = obs.t
            out.append(ex)
        return out


_PUPIL_PROBES = ("happy-popo", "happy-vovo", "happy-binnenbrin", "geweigerd", "zonder-inzage", "zonder-toestemming")
_TRUST_CODES = (FAILED_AUTHENTICATION, INVALID_TOKEN)


class PreflightFailed(Exception):
    """The run cannot judge the vendor's system: its set-up is not done. One line: what to fix."""


def _outcome(probe: Probe) -> str:
    if probe.exchange.error:
        return "no answer"
    a = probe.answer
    if a is None or a.parse_error:
        return f"HTTP {probe.exchange.status}, unreadable"
    if a.is_fault:
        return f"Fault {a.fault.get('faultcode')}"
    return f"{a.resultaat}{' + dossier' if a.dossier is not None else ''}"


# ================================================================================================== grading

_GRADERS: dict[str, Callable] = {}


def grader(*ids: str):
    def register(fn):
        for i in ids:
            _GRADERS[i] = fn
        return fn
    return register


def _graders() -> dict[str, Callable]:
    return _GRADERS


def _no_answer(scenario, probe: Probe | None) -> Result | None:
    if probe is None:
        return Result(scenario, NOT_APPLICABLE, "the suite did not send this request (the pupil it needs was not "
                      "configured)")
    if probe.exchange.error:
        return Result(scenario, ERROR, f"no answer from the vendor's endpoint: {probe.exchange.error}",
                      [probe.exchange])
    if probe.answer is None or probe.answer.parse_error:
        why = probe.answer.parse_error if probe.answer else "no answer"
        return Result(scenario, FAILED, f"the answer (HTTP {probe.exchange.status}) is not a SOAP message: {why}",
                      [probe.exchange])
    return None


def _describe(a: Answer) -> str:
    if a.is_fault:
        return f"a Fault ({a.fault.get('faultcode')}: {(a.fault.get('faultstring') or '')[:160]})"
    return f"a {a.payload} with resultaat {a.resultaat}" + (" and a dossier" if a.dossier is not None else "")


def _expect_result(suite: SourceSuite, scenario, name: str, code: str, *, release: bool) -> Result:
    probe = suite.probe(name)
    bad = _no_answer(scenario, probe)
    if bad:
        return bad
    a = probe.answer
    evidence = [probe.exchange]
    if a.is_fault:
        return Result(scenario, FAILED, f"answered {_describe(a)}; expected resultaat {code}", evidence)
    problems = []
    if a.resultaat != code:
        problems.append(f"answered resultaat {a.resultaat!r}; expected {code}")
    if release and a.dossier is None:
        problems.append("no dossier in the answer")
    if not release and a.dossier is not None:
        problems.append("a dossier was released")
    if problems:
        return Result(scenario, FAILED, "; ".join(problems), evidence)
    return Result(scenario, PASSED, f"answered resultaat {code}" + (" with the dossier" if release else
                                                                    ", no dossier"), evidence)


@grader("OSO-BRON-HAPPY-POPO")
def _happy_popo(suite, s):
    return _expect_result(suite, s, "happy-popo", "OverdrachtGeslaagd", release=True)


@grader("OSO-BRON-HAPPY-VOVO")
def _happy_vovo(suite, s):
    return _expect_result(suite, s, "happy-vovo", "OverdrachtGeslaagd", release=True)


@grader("OSO-BRON-HAPPY-BINNENBRIN")
def _happy_bb(suite, s):
    return _expect_result(suite, s, "happy-binnenbrin", "OverdrachtGeslaagd", release=True)


@grader("OSO-BRON-LEVERINGGEWEIGERD")
def _geweigerd(suite, s):
    return _expect_result(suite, s, "geweigerd", "LeveringGeweigerd", release=False)


@grader("OSO-BRON-LEERLING-ONBEKEND")
def _onbekend(suite, s):
    return _expect_result(suite, s, "leerling-onbekend", "LeerlingOnbekend", release=False)


@grader("OSO-BRON-INZAGE-ONTBREEKT")
def _inzage(suite, s):
    if suite.o.pupils.zonder_inzage is None:
        return Result(s, NOT_APPLICABLE, "no pupil without inzage was named (--pupil-zonder-inzage BSN): prepare a "
                      "PO dossier without inzage and name its pupil")
    return _expect_result(suite, s, "zonder-inzage", "LeerlinginfoNietOpvraagbaar", release=False)


@grader("OSO-BRON-TOESTEMMING-ONTBREEKT")
def _toestemming(suite, s):
    if suite.o.pupils.zonder_toestemming is None:
        return Result(s, NOT_APPLICABLE, "no pupil without toestemming was named (--pupil-zonder-toestemming BSN): "
                      "prepare a VO-VO dossier without consent and name its pupil")
    return _expect_result(suite, s, "zonder-toestemming", "LeerlinginfoNietOpvraagbaar", release=False)


@grader("OSO-BRON-VERZAMELDATUM")
def _verzameldatum(suite, s):
    return _expect_result(suite, s, "verzameldatum", "VerzameldatumNietBereikt", release=False)


@grader("OSO-BRON-SESSIE-AFWIJKEND")
def _afwijkend(suite, s):
    return _expect_result(suite, s, "sessie-afwijkend", "SessieAfwijkend", release=False)


@grader("OSO-BRON-ANDERE-LEVERANCIER")
def _andere_leverancier(suite, s):
    if suite.other is None:
        return Result(s, NOT_APPLICABLE, "the suite holds no second trusted certificate of another OIN (give "
                      "--other-cert/--other-key, or let the suite make its own TEST PKI)")
    return _expect_result(suite, s, "andere-leverancier", "LeverancierNietGeautoriseerd", release=False)


def _with_controls(suite, s, name: str, *, during: bool):
    """The probe ``name``, the vendor's sessiecontroles of its session (``during``: only those made while the probe
    waited for its answer) and the evidence of both; or the Result when the probe has no readable answer."""
    probe = suite.probe(name)
    bad = _no_answer(s, probe)
    if bad:
        return bad
    mine = [c for c in suite.controls_for(probe) if c.signer_oin == suite.o.vendor_oin
            and (not during or probe.exchange.t0 <= c.t <= (probe.exchange.t1 or c.t))]
    return probe, mine, [probe.exchange] + suite.tc_evidence(mine[:1])


@grader("OSO-BRON-SESSIECONTROLE-PER-REQUEST")
def _per_request(suite, s):
    found = _with_controls(suite, s, "na-afmelding", during=True)
    if isinstance(found, Result):
        return found
    probe, mine, evidence = found
    if probe.answer.dossier is not None:
        return Result(s, FAILED, "released the dossier again in a session the target had closed at the TC"
                      + ("" if mine else " (the TC was not asked for this request: a remembered answer)"), evidence)
    if not mine:
        return Result(s, FAILED, "the TC was not asked for this request (a remembered sessiecontrole); the answer was "
                      f"{_describe(probe.answer)}", evidence)
    return _expect_result(suite, s, "na-afmelding", "SessieReedsAfgemeld", release=False)


@grader("OSO-BRON-TC-ANSWER-VERIFIED")
def _tc_answer_verified(suite, s):
    found = _with_controls(suite, s, "tc-antwoord-vervalst", during=False)
    if isinstance(found, Result):
        return found
    probe, mine, evidence = found
    if not mine:
        return Result(s, FAILED, "the TC was never asked for this request, so its answer could not be judged; the "
                      f"answer was {_describe(probe.answer)}", evidence)
    if mine[0].resultaat in (None, "Geslaagd"):
        return Result(s, ERROR, f"the suite's TC did not refuse as planned ({mine[0].resultaat})", evidence)
    if probe.answer.dossier is not None:
        return Result(s, FAILED, "released the dossier on a sessiecontrole answer whose signature does not verify "
                      f"(the TC said {mine[0].resultaat}; 'Geslaagd' was written over it in transit)", evidence)
    return Result(s, PASSED, f"did not believe the altered answer: {_describe(probe.answer)}", evidence)


@grader("OSO-BRON-SESSIE-ONBEKEND")
def _sessie_onbekend(suite, s):
    return _expect_result(suite, s, "sessie-onbekend", "SessieOnbekend", release=False)


# ---- the answers' signatures
def _graded(suite: SourceSuite) -> list[Probe]:
    return [p for p in suite.probes if not p.hostile and p.answer is not None and not p.answer.parse_error]


def _over_answers(suite, scenario, check: Callable[[Probe, Answer], str | None], ok: str) -> Result:
    probes = _graded(suite)
    if not probes:
        unreachable = [p for p in suite.probes if not p.hostile]
        return Result(scenario, ERROR if unreachable and all(p.exchange.error for p in unreachable) else FAILED,
                      "no readable answer to judge", [p.exchange for p in unreachable[:1]])
    failures = []
    for p in probes:
        problem = check(p, p.answer)
        if problem:
            failures.append((p, problem))
    if failures:
        first = failures[0]
        more = f" (and {len(failures) - 1} more answers)" if len(failures) > 1 else ""
        return Result(scenario, FAILED, f"{first[0].name}: {first[1]}{more}", [f[0].exchange for f in failures[:2]],
                      notes=[f"{p.name}: {problem}" for p, problem in failures])
    return Result(scenario, PASSED, f"{ok} ({len(probes)} answers)", [probes[0].exchange])


def _unsigned(a: Answer) -> str | None:
    if not a.has_security:
        return "the answer has no wsse:Security header: it is not signed"
    if not a.has_signature:
        return "wsse:Security holds no ds:Signature"
    return None


@grader("WUS-WB003-RESPONSE-SIGNED")
def _signed(suite, s):
    return _over_answers(suite, s, lambda p, a: _unsigned(a) or a.timestamp_problem,
                         "every answer is signed and carries a current Timestamp")


@grader("WUS-WB004-RESPONSE-COVERAGE")
def _coverage(suite, s):
    def check(p, a):
        if _unsigned(a):
            return _unsigned(a)
        if a.missing:
            return f"not covered by the signature: {', '.join(a.missing)}"
        return None
    return _over_answers(suite, s, check, "Body, Timestamp, every wsa header and the SignatureConfirmation covered")


@grader("WUS-SIGN003-RESPONSE-SHA2")
def _sha2(suite, s):
    def check(p, a):
        if _unsigned(a):
            return _unsigned(a)
        if a.weak_algorithms:
            return f"algorithms outside SHA-2: {', '.join(sorted(set(a.weak_algorithms)))}"
        return a.c14n_problem
    return _over_answers(suite, s, check, "SHA-2 digests, RSA-SHA2, exclusive c14n")


@grader("WUS-WB010-RESPONSE-DIRECT-REFERENCE")
def _direct(suite, s):
    return _over_answers(suite, s, lambda p, a: _unsigned(a) or a.token_problem,
                         "one X509v3 BinarySecurityToken, referenced directly")


@grader("WUS-WB013-RESPONSE-VERIFIES")
def _verifies(suite, s):
    def check(p, a):
        return _unsigned(a) or a.crypto_problem or a.certificate_problem
    return _over_answers(suite, s, check,
                         "digests and SignatureValue verify; a trusted certificate of the vendor's OIN")


@grader("WUS-WB014-SIGNATURECONFIRMATION")
def _confirmation(suite, s):
    def check(p, a):
        if not a.confirmations:
            return "no wsse11:SignatureConfirmation"
        if a.confirmations != [p.signature_value]:
            return "the SignatureConfirmation does not carry the SignatureValue of the suite's request"
        return None
    return _over_answers(suite, s, check, "every answer confirms the request's SignatureValue")


@grader("WUS-WSA-RELATESTO")
def _relates_to(suite, s):
    def check(p, a):
        if a.relates_to is None:
            return "no wsa:RelatesTo"
        if a.relates_to != p.message_id:
            return "wsa:RelatesTo is not the MessageID of the suite's request"
        return None
    return _over_answers(suite, s, check, "every answer relates to the request's MessageID")


@grader("WUS-WSA-RESPONSE-HEADERS")
def _response_headers(suite, s):
    seen: dict[str, str] = {}

    def check(p, a):
        if a.action != AP_RESPONSE_ACTION and not a.is_fault:
            return f"wsa:Action is {a.action!r}, not {AP_RESPONSE_ACTION}"
        if not a.message_id or ":" not in a.message_id:
            return "no wsa:MessageID (an absolute URI)"
        if a.message_id in seen:
            return f"wsa:MessageID reused (also on the answer to {seen[a.message_id]})"
        seen[a.message_id] = p.name
        return None
    return _over_answers(suite, s, check, "documentResponse Action and a fresh MessageID on every answer")


@grader("OSO-BRON-CONTRACT-XSD")
def _xsd(suite, s):
    def check(p, a):
        if a.is_fault:
            return "answered a Fault where a documentResponse was due"
        return a.xsd_problem
    return _over_answers(suite, s, check, f"every documentResponse is valid against xsd/{contracts.XSD_FILE}")


# ---- the dossiers
_RELEASING = ("happy-popo", "happy-vovo", "happy-binnenbrin")


def _released(suite) -> list[Probe]:
    return [p for p in suite.probes if p.name in _RELEASING and p.answer is not None and p.answer.dossier]


def _is_category(f) -> bool:
    return (f.rule or "").startswith(("DOS-CAT-", "OS.cat"))


def _validate(suite, probe: Probe):
    """The released dossier judged by the official bundle and the gateway's own checks (the test pupils' fixed
    numbers, which fail the elfproef, are let through in a dossier of the school under test). Once per probe."""
    from ..dossier import DossierPolicy, IdentityPolicy, TestSchool, Transfer, validate

    if probe.validation is None:
        policy = DossierPolicy(identity=IdentityPolicy(test_schools=(
            TestSchool(suite.o.brin, frozenset(suite.o.pupils.all())),)))
        probe.validation = validate(probe.answer.dossier, suite.o.bundles, policy=policy,
                                    transfer=Transfer(overdrachtsoort=probe.overdrachtsoort, bron_brin=suite.o.brin))
    return probe.validation


@grader("OSO-BRON-DOSSIER-VALID")
def _dossier_valid(suite, s):
    probes = _released(suite)
    if not probes:
        return Result(s, NOT_APPLICABLE, "no dossier was released, so none could be validated (see the happy-path "
                      "scenarios)")
    problems, notes, cannot = [], [], []
    for p in probes:
        report = _validate(suite, p)
        errors = [f for f in report.errors if not _is_category(f)]
        notes.append(f"{p.name}: {report.status} (bundle {report.bundle or '-'}, profile {report.profile or '-'}, "
                     f"{len(report.errors)} errors, {len(report.warnings)} warnings)")
        for f in errors[:5]:
            notes.append(f"  {f.rule}: {f.text[:200]} at {f.location or '-'}")
        if errors:
            problems.append(f"{p.name}: {len(errors)} errors, first {errors[0].rule}: {errors[0].text[:160]}")
        elif report.problem:
            cannot.append(f"{p.name}: {report.problem}")
    evidence = [probes[0].exchange]
    if problems:
        return Result(s, FAILED, "; ".join(problems), evidence, notes)
    if cannot:
        return Result(s, NOT_APPLICABLE, "the gateway's own checks pass, but the official bundle could not be "
                      "applied: " + "; ".join(cannot), evidence, notes)
    return Result(s, PASSED, f"{len(probes)} released dossiers valid against the official bundle", evidence, notes)


def _dossier_pgns(dossier: bytes) -> list[str]:
    """The PGNs (bsn, onderwijsnummer) of the pupil a dossier is about: those of its leerling elements."""
    from ..wsse.xmlparse import parse_untrusted

    root = parse_untrusted(dossier, max_bytes=256 * 1024 * 1024)
    return [(el.text or "").strip() for el in root.iterfind(".//{*}leerling/{*}bsn")] + \
        [(el.text or "").strip() for el in root.iterfind(".//{*}leerling/{*}onderwijsnummer")]


@grader("OSO-BRON-DOSSIER-LEERLING")
def _dossier_leerling(suite, s):
    probes = _released(suite)
    if not probes:
        return Result(s, NOT_APPLICABLE, "no dossier was released (see the happy-path scenarios)")
    problems, notes = [], []
    for p in probes:
        pgns = [x for x in _dossier_pgns(p.answer.dossier) if x]
        if not pgns:
            problems.append((p, f"{p.name}: the dossier names no pupil (no leerling/bsn or onderwijsnummer)"))
        elif p.pupil not in pgns:
            problems.append((p, f"{p.name}: the dossier released is another pupil's than the one asked for"))
        else:
            notes.append(f"{p.name}: the dossier's pupil is the one asked for")
    if problems:
        return Result(s, FAILED, problems[0][1] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                      [p.exchange for p, _ in problems[:2]], [x for _, x in problems] + notes)
    return Result(s, PASSED, f"{len(probes)} released dossiers, each of the pupil asked for", [probes[0].exchange],
                  notes)


@grader("OSO-BRON-CATEGORIE-UITLEVERING")
def _categories(suite, s):
    from ..dossier.release import check_categories
    from ..wsse.xmlparse import parse_untrusted

    probes = _released(suite)
    if not probes:
        return Result(s, NOT_APPLICABLE, "no dossier was released (see the happy-path scenarios)")
    problems, marked, notes = [], 0, []
    for p in probes:
        root = parse_untrusted(p.answer.dossier, max_bytes=256 * 1024 * 1024)
        dns = etree.QName(root).namespace
        cats = root.find(f"{{{dns}}}metadata/{{{dns}}}categorie_uitlevering")
        closed = [etree.QName(c).localname for c in (cats if cats is not None else []) if isinstance(c.tag, str)
                  and (c.text or "").strip() in ("VERBODEN", "OPT-UIT")]
        marked += len(closed)
        notes.append(f"{p.name}: categories VERBODEN/OPT-UIT: {', '.join(closed) or 'none'}")
        findings = check_categories(root)
        if suite.o.bundles is not None:
            findings += [f for f in _validate(suite, p).findings if _is_category(f) and f.severity == "error"]
        for f in findings[:3]:
            notes.append(f"  {f.rule}: {f.text[:200]} at {f.location or '-'}")
        if findings:
            problems.append(f"{p.name}: {findings[0].text[:200]}")
    if problems:
        return Result(s, FAILED, "; ".join(problems), [probes[0].exchange], notes)
    if marked == 0:
        return Result(s, NOT_APPLICABLE, "no released dossier marks a category VERBODEN or OPT-UIT, so release "
                      "filtering could not be observed (the binnen-BRIN test dossier should mark some)",
                      [probes[0].exchange], notes)
    return Result(s, PASSED, f"{marked} categories marked VERBODEN/OPT-UIT carry no data", [probes[0].exchange], notes)


# ---- sessiecontrole
_CONTROLLED = ("happy-popo", "happy-vovo", "happy-binnenbrin", "geweigerd", "leerling-onbekend", "zonder-inzage",
               "zonder-toestemming", "verzameldatum")


@grader("OSO-BRON-SESSIECONTROLE-FIRST")
def _first(suite, s):
    probes = [p for p in suite.probes if p.name in _CONTROLLED and p.exchange.error is None]
    if not probes:
        return Result(s, ERROR, "no answered documentRequest to judge")
    problems, evidence, notes = [], [], []
    for p in probes:
        controls = suite.controls_for(p)
        mine = [c for c in controls if c.signer_oin == suite.o.vendor_oin]
        timely = [c for c in mine if p.exchange.t0 <= c.t <= (p.exchange.t1 or c.t)]
        if not controls:
            problems.append(f"{p.name}: the TC never received a sessiecontroleRequest for the session")
            evidence.append(p.exchange)
        elif not mine:
            problems.append(f"{p.name}: sessiecontrole for the session was refused or signed by another OIN "
                            f"({controls[0].error or controls[0].signer_oin})")
            evidence += [p.exchange] + suite.tc_evidence(controls[:1])
        elif not timely:
            problems.append(f"{p.name}: sessiecontrole came after the documentResponse was sent")
            evidence += [p.exchange] + suite.tc_evidence(mine[:1])
        elif timely[0].resultaat != "Geslaagd":
            c = timely[0]
            fields = ", ".join(f"{k} {c.fields[k]}" for k in ("bronBrin", "bronRouteringsKenmerk", "doelBrin",
                                                              "doelRouteringsKenmerk", "overdrachtsoort")
                               if k in c.fields)
            problems.append(f"{p.name}: the TC refused the vendor's sessiecontrole with {c.resultaat} (it sent "
                            f"{fields})")
            evidence += [p.exchange] + suite.tc_evidence([c])
        else:
            notes.append(f"{p.name}: sessiecontrole answered Geslaagd "
                         f"{(timely[0].t - p.exchange.t0) * 1000:.0f} ms after the request was sent")
    if problems:
        return Result(s, FAILED, problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                      evidence[:3], problems + notes)
    first = probes[0]
    return Result(s, PASSED, f"sessiecontrole before every answer ({len(probes)} requests)",
                  [first.exchange] + suite.tc_evidence(suite.controls_for(first)[:1]), notes)


@grader("OSO-BRON-SESSIECONTROLE-HONOURED")
def _honoured(suite, s):
    found = _with_controls(suite, s, "sessie-afwijkend", during=False)
    if isinstance(found, Result):
        return found
    probe, controls, evidence = found
    if probe.answer.dossier is not None:
        said = f"the TC answered {controls[0].resultaat}" if controls else "the TC was never asked"
        return Result(s, FAILED, f"released the dossier although {said}", evidence)
    if not controls:
        return Result(s, FAILED, "the TC was never asked (no sessiecontrole), so no refusal could be honoured; the "
                      f"answer was {_describe(probe.answer)}", evidence)
    if controls[0].resultaat in (None, "Geslaagd"):
        return Result(s, ERROR, f"the suite's TC did not refuse as planned ({controls[0].resultaat})", evidence)
    return Result(s, PASSED, f"the TC answered {controls[0].resultaat}; the source released nothing "
                  f"({_describe(probe.answer)})", evidence)


# ---- the PGN on the wire
@grader("OSO-BRON-PGN-NOT-IN-CLEAR")
def _pgn(suite, s):
    pgns = suite.o.pupils.all()
    leaks, scanned, judged = [], 0, []
    for p in suite.probes:
        if p.exchange.error:
            continue
        judged.append(p.exchange)
        headers = "\n".join(f"{k}: {v}" for k, v in p.exchange.response_headers.items()).encode()
        for where, data in (("HTTP headers", headers), ("message outside the dossier",
                                                        without_dossier(p.exchange.response))):
            scanned += len(data)
            for n, form in find_pgns(data, pgns):
                leaks.append((p.exchange, f"the answer to {p.name}: test pupil #{n + 1} in the {where} ({form})"))
    for ex in suite.tc.recorder.snapshot():
        headers = "\n".join(f"{k}: {v}" for k, v in ex.request_headers.items()).encode()
        for where, data in (("HTTP headers", headers), ("request", ex.request)):
            scanned += len(data)
            for n, form in find_pgns(data, pgns):
                leaks.append((ex, f"a request to the suite's TC: test pupil #{n + 1} in the {where} ({form})"))
    if leaks:
        return Result(s, FAILED, leaks[0][1] + (f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""),
                      [ex for ex, _ in leaks[:2]], [w for _, w in leaks])
    if not judged:
        return Result(s, ERROR, "no answer of the vendor to scan")
    return Result(s, PASSED, f"no test PGN in {scanned} bytes from the vendor (answers outside the dossier, "
                  "HTTP headers, requests to the TC)", judged[:1])


# ---- hostile requests
def _expect_fault(suite, scenario, name: str) -> Result:
    probe = suite.probe(name)
    if probe is None and name.startswith("cert-"):
        return Result(scenario, NOT_APPLICABLE, f"the suite holds no {name[5:]} certificate of a CA you trust (it makes "
                      "them in its own TEST PKI; with your own --cert/--key, give --bad-certs DIR, or waive it)")
    if probe is None:
        return Result(scenario, NOT_APPLICABLE, "not sent")
    if probe.exchange.error:
        return Result(scenario, ERROR, f"no answer from the vendor's endpoint: {probe.exchange.error}",
                      [probe.exchange])
    a = probe.answer
    controls = [c for c in suite.controls_for(probe) if probe.exchange.t0 <= c.t <= (probe.exchange.t1 or c.t)]
    if a is None or a.parse_error:
        return Result(scenario, FAILED, f"refused without a SOAP Fault (HTTP {probe.exchange.status}: "
                      f"{a.parse_error if a else 'no answer'})", [probe.exchange])
    if not a.is_fault:
        leak = ", and RELEASED THE DOSSIER" if a.dossier is not None else ""
        return Result(scenario, FAILED, f"accepted: answered {_describe(a)} instead of a Fault{leak}",
                      [probe.exchange] + suite.tc_evidence(controls[:1]))
    note = [f"the source called sessiecontrole before refusing ({len(controls)}×)"] if controls else []
    other = other_reason(scenario, a, RULE_TEXTS)
    if other:
        return Result(scenario, FAILED, f"{other}: {_describe(a)}", [probe.exchange], note)
    return Result(scenario, PASSED, f"refused with {_describe(a)}", [probe.exchange], note)


# the hostile scenarios, each with the probe (a documentRequest) that it judges
HOSTILE: dict[str, str] = {
    "WUS-WB003-REQUEST-UNSIGNED": "unsigned", "WUS-WB013-REQUEST-TAMPERED": "tampered",
    "WUS-WB004-BODY-UNSIGNED": "body-unsigned", "WUS-WB004-TO-UNSIGNED": "to-unsigned",
    "WUS-WB004-REQUEST-WRAPPED": "wrapped", "WUS-WB002-REQUEST-EXPIRED": "expired",
    "WUS-GW-REPLAY-REQUEST": "replay", "WUS-WSA-TO-WRONG": "wrong-to", "WUS-PKI002-UNTRUSTED-CERT": "untrusted",
    "WUS-SIGN003-REQUEST-SHA1": "sha1", "WUS-PKI001-FROM-MISMATCH": "from-mismatch",
    "WUS-WS002-SOAPACTION-MISMATCH": "soapaction-mismatch",
    "WUS-R1008-REQUEST-DTD": "dtd", "WUS-WB004-TIMESTAMP-UNSIGNED": "timestamp-unsigned",
    "WUS-WB004-MESSAGEID-UNSIGNED": "messageid-unsigned", "WUS-WB004-ACTION-UNSIGNED": "action-unsigned",
    "WUS-WB004-FROM-UNSIGNED": "from-unsigned", "WUS-WB002-NO-TIMESTAMP": "no-timestamp",
    "WUS-WB002-REQUEST-FUTURE": "future", "WUS-PKI002-CERT-EXPIRED": "cert-expired",
    "WUS-PKI002-CERT-NOT-YET-VALID": "cert-not-yet-valid", "WUS-PKI002-CERT-REVOKED": "cert-revoked",
    "WUS-GW-KEYUSAGE-CERT": "cert-no-signing", "WUS-PKI001-CERT-NO-OIN": "cert-no-oin",
    "WUS-WSA-ACTION-WRONG": "action-other", "WUS-WSA-ACTION-MISSING": "action-missing",
    "WUS-WSA-TO-MISSING": "to-missing",
    "WUS-WSA-MESSAGEID-MISSING": "messageid-missing", "WUS-GW-XSD-REQUEST": "schema",
}
BAD_CERTS = ("expired", "not-yet-valid", "revoked", "no-signing", "no-oin")  # the kinds of SourceOptions.bad_certs
for _id, _name in HOSTILE.items():
    _GRADERS[_id] = (lambda name: lambda suite, s: _expect_fault(suite, s, name))(_name)


@grader("WUS-FAULT-QUALITY")
def _fault_quality(suite, s):
    from .catalogue import BY_ID

    faults = [(BY_ID[sid], suite.probe(name)) for sid, name in HOSTILE.items()]
    faults = [(sc, p) for sc, p in faults if p is not None and p.answer is not None and p.answer.is_fault]
    if not faults:
        return Result(s, NOT_APPLICABLE, "the vendor answered no hostile request with a Fault")
    problems = []
    for sc, p in faults:
        a = p.answer
        codes = [c for c in sc.accepts if c.startswith("{")]
        dk = [c for c in sc.accepts if not c.startswith("{")]
        named = rules_named(a, RULE_TEXTS) & set(sc.rules) or {c for c in dk if c in a.fault_text}
        if a.fault_code not in codes:
            problems.append((p, f"faultcode {a.fault_code or 'missing'}, not {' or '.join(codes)}"))
        elif not named:
            problems.append((p, f"the Fault ({a.fault_code}) names no rule: expected {' or '.join(sc.rules + tuple(dk))}"
                                " in its faultstring or detail"))
    if problems:
        return Result(s, FAILED, f"the Fault to {problems[0][0].name}: {problems[0][1]}"
                      + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                      [p.exchange for p, _ in problems[:2]], [f"{p.name}: {x}" for p, x in problems])
    return Result(s, PASSED, f"{len(faults)} Faults, each with the standard code of its check and naming its rule",
                  [faults[0][1].exchange])


@grader("WUS-FAULT-SIGNED")
def _fault_signed(suite, s):
    faults = [p for p in suite.probes if p.hostile and p.answer is not None and p.answer.is_fault]
    if not faults:
        return Result(s, NOT_APPLICABLE, "the vendor answered no hostile request with a Fault")
    problems = []
    for p in faults:
        a = p.answer
        problem = _unsigned(a) or a.crypto_problem or a.certificate_problem
        if problem:
            problems.append((p, problem))
    if problems:
        return Result(s, FAILED, f"the Fault to {problems[0][0].name}: {problems[0][1]}"
                      + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                      [p.exchange for p, _ in problems[:2]], [f"{p.name}: {x}" for p, x in problems])
    return Result(s, PASSED, f"{len(faults)} Faults, each signed by the vendor", [faults[0].exchange])
