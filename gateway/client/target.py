"""The reference target (a doelsysteem): ``Doelsysteem`` runs the sans-IO transfer of ``gateway.client.overdracht``
over signed SOAP.

It is built ONCE (keys, trust, the chain key, the zeep clients from ``wsdl/``: each WSDL is parsed once, and one
service proxy is kept per aanleverpunt address); ``transfer`` may then be called many times, from several threads.
Each step is timed; a received dossier is validated (the configured bundles and the gateway's own checks); the
result is a ``TransferAccount``.

What a failure does (no retry storm): a result code is the chain's answer and is reported as it is; a signed Fault
is reported, never retried; an answer that cannot be verified (an aanleverpunt's answer signed by another OIN than
the vendor the TC named for it included) is reported, never retried; a transport error (connection refused or
reset, a time-out, a non-SOAP HTTP error) is retried ONCE, with a new message (a new MessageID, Timestamp and
signature: zeep and the WUS plug-in build each call afresh).
"""

from __future__ import annotations

import re
import threading
import time
from datetime import date
from pathlib import Path

from lxml import etree

from ..oso.zoeksleutel import ChainKey
from .overdracht import (BINNENBRIN, EXIT_DOSSIER, EXIT_FAILURE, EXIT_REFUSED, EXIT_USAGE, FAULT, OVERDRACHTSOORTEN,
                         OVERSTAPDOSSIER, PROTOCOL, SWV, TRANSPORT, UNVERIFIED, Asked, Call, Failure, FlowResult,
                         Reply, Step, TransferAccount, TransferError, TransferRequest, describe_leerling, flow,
                         leerling_fields, result_for_failure)
from .transport import https_session, is_https

ROOT = Path(__file__).resolve().parents[2]
WSDL_DIR = ROOT / "wsdl"
XSD_DIR = ROOT / "xsd"
TC_WSDL = WSDL_DIR / "trafficcenter-1.wsdl"
AP_WSDL = WSDL_DIR / "aanleverpunt-1.wsdl"
DS_WSDL = WSDL_DIR / "doelsysteem-1.wsdl"
AP_NS = "urn:oso-gateway:aanleverpunt:1"

__all__ = [
    "AP_WSDL", "Asked", "BINNENBRIN", "Call", "DS_WSDL", "Doelsysteem", "EXIT_DOSSIER", "EXIT_FAILURE",
    "EXIT_REFUSED", "EXIT_USAGE", "FAULT", "Failure", "FlowResult", "OVERDRACHTSOORTEN", "OVERSTAPDOSSIER",
    "PROTOCOL", "Reply", "SWV", "Step", "TC_WSDL", "TRANSPORT", "TransferAccount", "TransferError",
    "TransferRequest", "UNVERIFIED", "dossier_of", "flow", "leerling_fields", "result_for_failure",
]


# ---- the I/O -----------------------------------------------------------------------------------------------------

def _failure_of(exc: BaseException) -> Failure | None:
    """Classify what a zeep call raised; None for an exception that is not about the exchange (a bug: re-raised)."""
    import requests
    from zeep import exceptions as zx

    from ..wsse.errors import SecurityError

    if isinstance(exc, zx.Fault):
        code = str(exc.code or "")
        reason = " ".join(str(exc.message or "").split())[:200]
        # soap:Server is the peer's own failure, and so is Digikoppeling 0051 (not available) whatever the code;
        # soap:Client and the WS-Security codes (wsse:…) refuse our message
        server_side = code.rsplit(":", 1)[-1] == "Server" or _digikoppeling_code(exc) == "0051"
        return Failure(FAULT, f"signed Fault {code}: {reason}", server_side=server_side)
    if isinstance(exc, SecurityError):
        return Failure(UNVERIFIED, f"the answer did not verify: {exc.rule} {exc.reason}"[:240])
    if isinstance(exc, zx.TransportError):
        status = getattr(exc, "status_code", None)
        return Failure(TRANSPORT, f"HTTP {status}, not a SOAP answer" if status else "not a SOAP answer")
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure(TRANSPORT, "timed out")
    if isinstance(exc, requests.exceptions.RequestException):
        return Failure(TRANSPORT, f"unreachable ({type(exc).__name__})")
    if isinstance(exc, (zx.XMLParseError, zx.ValidationError, zx.UnexpectedElementError, zx.XMLSyntaxError)):
        return Failure(PROTOCOL, f"the answer does not fit the contract: {str(exc)[:160]}")
    return None


def _digikoppeling_code(fault) -> str | None:
    """The Digikoppeling error code of a Fault: in its detail (digikoppelingCode, as the gateway sends it) or in its
    faultstring ("[Digikoppeling 0051]")."""
    detail = getattr(fault, "detail", None)
    if detail is not None:
        for el in detail.iter():
            if isinstance(el.tag, str) and etree.QName(el).localname == "digikoppelingCode" and el.text:
                return el.text.strip()
    found = re.search(r"Digikoppeling (\d{4})", str(getattr(fault, "message", "") or ""))
    return found.group(1) if found else None


_SCHEMAS: dict[bool, etree.XMLSchema] = {}


def _schema(tc: bool) -> etree.XMLSchema:
    """The contract's XSD for the answers of the TC (True) or of an aanleverpunt (False), loaded once."""
    schema = _SCHEMAS.get(tc)
    if schema is None:
        name = "trafficcenter-1.xsd" if tc else "aanleverpunt-1.xsd"
        schema = _SCHEMAS[tc] = etree.XMLSchema(etree.parse(str(XSD_DIR / name)))
    return schema


def dossier_of(body: etree._Element) -> bytes | None:
    """The dossier carried by a verified documentResponse Body, as a document of its own (UTF-8, no SOAP
    namespaces left over), or None."""
    wrapper = body.find(f"{{{AP_NS}}}dossier")
    if wrapper is None:
        return None
    children = [c for c in wrapper if isinstance(c.tag, str)]
    if len(children) != 1:
        return None
    import copy

    dossier = children[0]
    inherited = wrapper.nsmap
    own = [p for p, uri in dossier.nsmap.items() if p is not None and inherited.get(p) != uri]
    root = copy.deepcopy(dossier)
    # the envelope's declarations came along with the copy: drop those the dossier does not use (its own stay)
    etree.cleanup_namespaces(root, keep_ns_prefixes=own)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class Doelsysteem:
    """The reference target. Build once; ``transfer`` may be called many times (and from several threads)."""

    def __init__(self, credentials, trust, *, tc_url: str, chain_key: ChainKey | None = None, bundles=None,
                 dossier_policy=None, policy=None, timeout: float = 30.0, session=None, tc_oin: str | None = None):
        from zeep.transports import Transport

        from ..dossier import DossierPolicy, IdentityPolicy, KENNISNET_TEST_SCHOOL
        from ..wsse import MemoryReplayStore
        from .wsse_plugin import WusSignature, client_for

        self.credentials = credentials
        self.chain_key = chain_key
        self.tc_url = tc_url.rstrip("/")
        # the OIN that must have signed the TC's answers (None: any signer the trust store accepts), as the
        # reference source's BronClient does: any other party of the PKI could otherwise answer in the TC's name
        self.tc_oin = tc_oin
        self.bundles = bundles
        # The chain's test school's fixed test numbers need not pass the elfproef (only when it is the source).
        self.dossier_policy = dossier_policy or DossierPolicy(
            identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,)))
        self.signature = WusSignature(credentials, trust, policy=policy, replay=MemoryReplayStore())
        self.transport = Transport(session=session, timeout=timeout, operation_timeout=timeout)
        self._tc_client, self.tc = client_for(TC_WSDL, self.signature, address=self.tc_url,
                                              transport=self.transport)
        self._ap_client, _ = client_for(AP_WSDL, self.signature, transport=self.transport)
        self._ap_binding = next(iter(next(iter(self._ap_client.wsdl.services.values())).ports.values())).binding.name
        self._ap_services: dict[str, object] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config, **overrides) -> "Doelsysteem":
        """The target as a gateway's configuration describes it: its certificate and key (``cert``/``key``), trust
        (``ca``/``crl``), the chain key (``zoeksleutel_key``), the TC (``traffic_center_url``), the bundles. An https
        TC is called, and so are the aanleverpunten it names, over two-way TLS (``transport.https_session``)."""
        from ..dossier import load_bundles

        key_path = Path(config.zoeksleutel_key)
        chain_key = ChainKey.from_file(key_path) if key_path.is_file() else None
        bundles = load_bundles(config.bundles_dir) if config.bundles_dir else None
        # the TC's answers must be signed by ``tc_oin``, or, when the TC is this gateway, by our own OIN
        credentials = config.credentials()
        tc_oin = getattr(config, "tc_oin", "") or (credentials.oin if not config.tc_url else None)
        args = dict(tc_url=config.traffic_center_url, chain_key=chain_key, bundles=bundles, tc_oin=tc_oin)
        if is_https(config.traffic_center_url):  # two-way TLS: our certificate, and the CAs we trust for the servers
            args["session"] = https_session(config)
        args.update(overrides)
        return cls(credentials, config.trust(), **args)

    def doel_aanleverpunt(self, doel_brin: str) -> str:
        """The routeringskenmerk of the target school's aanleverpunt, when the TC knows exactly one (an
        overzichtAanleverpunt lookup); TransferError otherwise."""
        try:
            answer = self.tc.overzichtAanleverpunt(brin=doel_brin)
            self._check_tc_signer()
        except Exception as exc:
            failure = _failure_of(exc)
            if failure is None:
                raise
            raise TransferError(f"cannot ask the TC for {doel_brin}'s aanleverpunten: {failure.text}") from None
        rks = [a.routeringskenmerk for a in (answer.aanleverpunt or [])]
        if answer.resultaat != "Geslaagd" or len(rks) != 1:
            raise TransferError(f"the TC answers {answer.resultaat} with {len(rks)} aanleverpunten for {doel_brin}: "
                                "name yours with --doel-routeringskenmerk")
        return rks[0]

    def aanleverpunt_service(self, address: str):
        """The zeep service proxy for a source aanleverpunt at ``address`` (made once per address)."""
        with self._lock:
            service = self._ap_services.get(address)
            if service is None:
                service = self._ap_services[address] = self._ap_client.create_service(self._ap_binding, address)
            return service

    # -- one call, timed, retried once on a transport error --------------------------------------------------------

    def invoke(self, call: Call) -> tuple[Reply, list[Step]]:
        """Make one call (signed; the answer verified and checked against the contract's XSD), timed, and retried
        once with a new message after a transport error. ``transfer`` runs the whole flow through this; a test or a
        conformance check may send a single step of its own."""
        endpoint = call.endpoint or self.tc_url
        service = self.tc if call.endpoint is None else self.aanleverpunt_service(call.endpoint)
        steps: list[Step] = []
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                reply = self._call(call, service)
            except Exception as exc:  # classified below; anything unknown is a bug and propagates
                failure = _failure_of(exc)
                if failure is None:
                    raise
                ms = (time.perf_counter() - t0) * 1000
                retry = failure.kind == TRANSPORT and attempt == 1
                steps.append(Step(call.operation, endpoint, None, ms, call.routeringskenmerk, attempt, failure,
                                  "retrying once with a new message" if retry else ""))
                if retry:
                    continue
                return Reply(failure=failure), steps
            ms = (time.perf_counter() - t0) * 1000
            steps.append(Step(call.operation, endpoint, reply.resultaat, ms, call.routeringskenmerk, attempt,
                              reply.failure, self._note(call, reply)))
            return reply, steps
        raise AssertionError("unreachable")

    def _call(self, call: Call, service) -> Reply:
        """One signed call and its verified answer. Raises what zeep, requests or the verifier raise."""
        if call.operation == "document":
            return self._document(service, call.args, call.leverancier_oin)
        from zeep.exceptions import Fault

        try:
            answer = getattr(service, call.operation)(**call.args)
        except Fault:
            self._check_tc_signer()  # a signed Fault in the TC's name is the TC's only when the TC signed it
            raise
        self._check_tc_signer()
        verified = self.signature.last_response
        if verified is None or not _schema(True).validate(verified.body):
            return Reply(failure=Failure(PROTOCOL, "the answer does not conform to the contract's XSD"))
        if call.operation == "overdracht":
            aps = tuple((a.routeringskenmerk, a.documentEndpoint, a.leverancierOin)
                        for a in (answer.aanleverpunt or []))
            return Reply(answer.resultaat, {"sessieId": answer.sessieId, "aanleverpunten": aps})
        if call.operation == "afmelding":
            return Reply(answer.resultaat, {"sessieResultaat": answer.sessieResultaat})
        return Reply(getattr(answer, "resultaat", None))

    def _check_tc_signer(self) -> None:
        """The verified answer to a TC call was signed by the Traffic Center (``tc_oin``), when one is pinned."""
        from ..wsse.errors import FailedAuthentication

        verified = self.signature.last_response
        if self.tc_oin is not None and verified is not None and verified.oin != self.tc_oin:
            raise FailedAuthentication("PKI001", f"the answer was signed by OIN {verified.oin}, not by the Traffic "
                                       f"Center's {self.tc_oin}")

    def _document(self, service, args: dict, leverancier_oin: str | None = None) -> Reply:
        """documentRequest: zeep builds and signs the request; the answer (a dossier of any size) is taken as raw
        bytes, verified by our verifier (the only parse of it), pinned to the aanleverpunt's vendor
        (``leverancier_oin``, as the TC named it: a documentResponse or a Fault signed by anyone else is not
        believed), checked against xsd/aanleverpunt-1.xsd, and the dossier is read from the verified Body, the very
        element the signature covers."""
        from zeep.exceptions import Fault, TransportError

        from ..wsse.errors import FailedAuthentication

        with self._ap_client.settings(raw_response=True):
            response = service.document(**args)
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not response.content or media not in ("text/xml", "application/soap+xml", "application/xml"):
            raise TransportError(status_code=response.status_code)
        verified = self.signature.verify_bytes(response.content)
        if leverancier_oin is not None and verified.oin != leverancier_oin:
            raise FailedAuthentication("PKI001", f"the answer was signed by OIN {verified.oin}, not by the "
                                       f"aanleverpunt's vendor {leverancier_oin}")
        body = verified.body
        if verified.is_fault:
            raise Fault(body.findtext("faultstring") or "", code=body.findtext("faultcode"), detail=body.find("detail"))
        if not _schema(False).validate(body):
            return Reply(failure=Failure(PROTOCOL, "the answer does not conform to the contract's XSD"))
        resultaat = body.findtext(f"{{{AP_NS}}}resultaat")
        dossier = dossier_of(body)
        if resultaat == "OverdrachtGeslaagd" and dossier is None:
            return Reply(failure=Failure(PROTOCOL, "OverdrachtGeslaagd without a dossier", server_side=True))
        return Reply(resultaat, {"dossier": dossier})

    @staticmethod
    def _note(call: Call, reply: Reply) -> str:
        if call.operation == "overdracht":
            n = len(reply.fields.get("aanleverpunten") or ())
            return f"{n} aanleverpunt{'en' if n != 1 else ''} to ask" if reply.resultaat == "Geslaagd" else ""
        if call.operation == "afmelding" and reply.fields.get("sessieResultaat"):
            return f"sessieResultaat {reply.fields['sessieResultaat']}"
        if call.operation == "document" and reply.fields.get("dossier") is not None:
            return f"dossier {len(reply.fields['dossier']):,} bytes"
        return ""

    # -- the transfer ----------------------------------------------------------------------------------------------

    def transfer(self, *, bron_brin: str, doel_brin: str, doel_routeringskenmerk: str, pgn: str | None = None,
                 koppelsleutel: str | None = None, overdrachtsoort: str | None = None,
                 dossier_verzameldatum: date | None = None) -> TransferAccount:
        """Run one transfer. Raises TransferError for a request that cannot be made (nothing was sent)."""
        request = TransferRequest(bron_brin, doel_brin, doel_routeringskenmerk, pgn, koppelsleutel,
                                  overdrachtsoort, dossier_verzameldatum)
        return self.run(request)

    def run(self, request: TransferRequest) -> TransferAccount:
        """Run the flow of ``request``: every call through ``invoke``; the dossier (the last one delivered, as
        afmelding's ties go) validated."""
        t0 = time.perf_counter()
        leerling = leerling_fields(request, self.chain_key)
        account = TransferAccount(request, leerling=describe_leerling(leerling))
        gen = flow(request, leerling)
        try:
            call = next(gen)
            while True:
                reply, steps = self.invoke(call)
                account.steps.extend(steps)
                call = gen.send(reply)
        except StopIteration as stop:
            result: FlowResult = stop.value
        account.sessie_id = result.sessie_id
        account.resultaat = result.resultaat
        account.confirmed = result.confirmed
        account.failed_at = result.failed_at
        delivered = [a for a in result.asked if a.dossier is not None]
        if delivered:
            chosen = delivered[-1]  # as afmelding's ties: the last one asked
            account.dossier, account.dossier_from = chosen.dossier, chosen.routeringskenmerk
            account.report = self.check(chosen.dossier, request)
        account.total_ms = (time.perf_counter() - t0) * 1000
        return account

    def check(self, dossier: bytes, request: TransferRequest):
        """Validate a received dossier (the configured bundles, the gateway's own checks, the transfer's facts)."""
        from ..dossier import Transfer, validate

        return validate(dossier, self.bundles, policy=self.dossier_policy,
                        transfer=Transfer(overdrachtsoort=request.soort, bron_brin=request.bron_brin))
