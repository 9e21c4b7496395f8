"""The security middleware: every SOAP request is verified before a service sees it, every answer is signed.

It sits in front of a spyne WsgiApplication (which has no WS-Security and resolves SOAP-encoding hrefs while it
parses, so it must only ever see verified bytes). A refused request never reaches the service: it is answered
with a signed SOAP 1.1 Fault that names the rule. A crash inside the service is answered with a signed Server
Fault without internal detail; the traceback goes to the log.
"""

from __future__ import annotations

import io
import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

from lxml import etree

from .. import contracts
from ..services.context import REPO as REPO_KEY, VERIFIED as ENVIRON_KEY
from ..wsse import Credentials, Policy, ReplayStore, TrustStore, VerifiedMessage, ns, oin_of, sign_response, verify
from ..wsse.errors import (UNREADABLE_RULES, AddressingError, FailedAuthentication, MalformedMessage, SchemaInvalid,
                           SecurityError, ServerSecurityError)
from ..wsse.faults import FAULT_ACTION, fault_envelope
from ..wsse.xmlparse import parse_untrusted

log = logging.getLogger("oso.gateway.security")

CONTENT_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class SecuredEndpoint:
    """What the middleware needs for one service: our credentials, whom we trust, what we demand."""

    credentials: Credentials
    trust: TrustStore
    policy: Policy
    replay: ReplayStore
    # The contract's service (gateway.contracts): its operations bind each wsa:Action to its Body element (a Body
    # of another operation is refused: WSA-ACTION), and the contract's XSD judges the Body (GW-XSD, Digikoppeling
    # 0004) and, before it is signed, our own answer. None: the test stacks of the interop tests only.
    service: contracts.Service | None = None
    # One transaction per message: the replay id, what the service changes and the answer are committed together,
    # before the answer leaves; a Fault rolls everything back. It yields a repository that is also the replay store.
    unit_of_work: Callable[[], AbstractContextManager] | None = None
    environ: dict = field(default_factory=dict)  # extra WSGI environ entries for the service (its settings)
    require_tls_client: bool = False  # set when serving two-way TLS
    # Who is told of every exchange (the journal, metrics): ``observer(exchange, repo)``. For an answered message
    # it runs inside the message's transaction (repo given) before the commit, so an acknowledged message is
    # journalled; for a refusal it runs after the rollback with repo None.
    observers: tuple[Callable[["Exchange", object | None], None], ...] = ()
    name: str = ""  # the service's name in journals and metrics, e.g. "trafficcenter"


@dataclass
class Exchange:
    """What the middleware saw of one request and its answer."""

    service: str
    received_at: datetime
    request: bytes
    peer: str | None = None
    soap_action: str | None = None
    # set once the message verified (signature, certificate, freshness, replay) and, on two-way TLS, its client
    # certificate is the signer's: only then may the journal tie the exchange to a sender and a transfer
    verified: VerifiedMessage | None = None
    answer: etree._Element | None = None  # the service's answer (the envelope as signed), when it answered
    error: SecurityError | None = None
    refused: etree._Element | None = None  # a refused request as parsed (unverified), when it could be read at all
    status: str = ""
    response: bytes = b""
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    @property
    def latency_s(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


class _Rollback(Exception):
    def __init__(self, answer: tuple[str, bytes]):
        self.answer = answer


def tls_client_certificate(environ):
    """The TLS client certificate of this request: the one a trusted proxy passed on (gateway/web/proxy.py), else
    the one on gunicorn's socket; None on plain HTTP."""
    from .proxy import TLS_CLIENT_CERT

    if TLS_CLIENT_CERT in environ:
        return environ[TLS_CLIENT_CERT]
    sock = environ.get("gunicorn.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    der = getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der)


def _check_tls_binding(environ, vm: VerifiedMessage, required: bool) -> None:
    """WT001: on two-way TLS, the client certificate's OIN is the OIN that signed the message."""
    cert = tls_client_certificate(environ)
    if cert is None:
        if required:
            raise FailedAuthentication("WT001", "two-way TLS is required: no TLS client certificate was presented")
        return
    if oin_of(cert) != vm.oin:
        raise FailedAuthentication("WT001", "the TLS client certificate belongs to another OIN than the signature")


def _check_body(vm: VerifiedMessage, service: contracts.Service | None) -> None:
    """The Body is the request of the operation its wsa:Action names (WSA-ACTION) and conforms to the contract
    (GW-XSD). The Action is one of the service's: verify checked it against the policy."""
    if service is None:
        return
    op = contracts.operation_for_action(vm.action)
    if op is None or op.service != service.name or vm.body is None or vm.body.tag != op.request:
        raise AddressingError("WSA-ACTION", "the Body is not the request of the operation wsa:Action names",
                              dk_code="0006")
    problem = contracts.schema_error(vm.body)
    if problem is not None:
        raise SchemaInvalid("GW-XSD", f"the Body does not conform to the contract's XSD: {problem}")


def _read_refused(data: bytes, error: SecurityError, policy: Policy) -> etree._Element | None:
    """A refused request parsed once (the Fault and the observers read it), or None when it cannot be read."""
    if not data or error.rule in UNREADABLE_RULES:
        return None
    try:
        return parse_untrusted(data, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
    except SecurityError:
        return None


def _request_refs(root: etree._Element | None) -> tuple[str | None, str | None]:
    """Best effort, for a Fault's RelatesTo and SignatureConfirmation: the MessageID and SignatureValue of a refused
    request. They are echoed, never trusted."""
    if root is None:
        return None, None
    mid = root.find(f"{{{ns.SOAP11}}}Header/{{{ns.WSA}}}MessageID")
    sv = root.find(f"{{{ns.SOAP11}}}Header/{{{ns.WSSE}}}Security/{{{ns.DS}}}Signature/{{{ns.DS}}}SignatureValue")

    def clean(el, limit):
        text = "".join((el.text or "").split()) if el is not None else ""
        return text if 0 < len(text) <= limit and text.isprintable() else None

    return clean(mid, 256), clean(sv, 2048)


class SecurityMiddleware:
    """WSGI middleware: verify → ``environ["oso.verified"]`` → the wrapped app → sign the answer."""

    def __init__(self, app, endpoint: SecuredEndpoint):
        self.app = app
        self.endpoint = endpoint

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        ep = self.endpoint
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        # the service's own name, never the request's path: a journal field and a metrics label must not be
        # chosen by the sender (/x/, /x//, … would each be a new series)
        ex = Exchange(ep.name or "unnamed", datetime.now(timezone.utc), b"",
                      peer=environ.get("REMOTE_ADDR"), soap_action=environ.get("HTTP_SOAPACTION"))
        try:
            ex.request = _read_body(environ, ep.policy.max_bytes)
        except SecurityError as err:
            return self._refuse(err, ex, start_response)
        try:
            if ep.unit_of_work is None:
                self._handle(environ, ex, ep.replay)
                self._observe(ex, None)
            else:
                try:
                    with ep.unit_of_work() as repo:
                        environ[REPO_KEY] = repo
                        self._handle(environ, ex, repo)
                        if not ex.status.startswith("200"):
                            raise _Rollback((ex.status, ex.response))
                        self._observe(ex, repo)  # in the message's transaction: acknowledged means journalled
                except _Rollback:  # a Fault keeps nothing: not even the replay id
                    self._observe(ex, None)
        except SecurityError as err:
            return self._refuse(err, ex, start_response)
        except Exception:  # a bug or a store failure must still give a signed Fault, never a traceback
            log.exception("handling a message failed")
            return self._refuse(ServerSecurityError("GW-INTERNAL", f"the message could not be processed; "
                                                    f"{self._kept()}"), ex, start_response)
        start_response(ex.status, [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(ex.response)))])
        return [ex.response]

    def _kept(self) -> str:
        """What a GW-INTERNAL Fault may truly say was kept of the message, for this endpoint."""
        if self.endpoint.unit_of_work is None and self.endpoint.replay is not None:
            # the replay id is committed before the service runs (the reference source): the same message again
            # would be a replay
            return "only its MessageID was recorded: send it again later as a new message (a new MessageID)"
        return "nothing of it was kept: send it again later"

    def _observe(self, ex: Exchange, repo) -> None:
        """Tell the observers. Inside the message's transaction (``repo``) a failing observer fails the message (an
        acknowledged message is journalled); outside it each observer is told on its own, so a failing journal
        never keeps the metrics and the structured log from hearing of the exchange."""
        ex.finished = time.perf_counter()
        for observer in self.endpoint.observers:
            if repo is not None:
                observer(ex, repo)
                continue
            try:
                observer(ex, None)
            except Exception:
                log.exception("an observer failed on a message (%s)", ex.error.rule if ex.error else "answered",
                              extra={"rule": ex.error.rule if ex.error else None, "service": ex.service})

    def _handle(self, environ, ex: Exchange, replay) -> None:
        """Verify, validate, call the service, sign its answer. Raises SecurityError for a refused request."""
        ep = self.endpoint
        vm = verify(ex.request, policy=ep.policy, trust=ep.trust, replay=replay, soap_action=ex.soap_action)
        # the sender is known only once the TLS client (two-way TLS) is the signer too: until then the message is
        # "unverified" for the journal — nothing it says may tie it to a transfer or a vendor
        _check_tls_binding(environ, vm, ep.require_tls_client)
        ex.verified = vm
        _check_body(vm, ep.service)
        environ.update(ep.environ)
        environ[ENVIRON_KEY] = vm
        environ["wsgi.input"] = io.BytesIO(ex.request)
        environ["CONTENT_LENGTH"] = str(len(ex.request))
        # spyne reads the verified bytes as plain UTF-8 SOAP, whatever the (unsigned) HTTP header said: with
        # "multipart/related" it would take a MIME part hidden in a processing instruction after the Envelope for
        # the message (SwA), an unsigned Body served in the signer's name; a charset would re-decode the text
        environ["CONTENT_TYPE"] = CONTENT_TYPE
        self._answer(environ, ex)

    def _answer(self, environ, ex: Exchange) -> None:
        vm = ex.verified
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return lambda chunk: None  # the legacy write() is not used by spyne

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        root = parse_untrusted(body)
        fault = root.find(f"{{{ns.SOAP11}}}Body/{{{ns.SOAP11}}}Fault")
        if fault is not None:
            # spyne's own Fault (a bug of ours or a message it could not read): log it, never pass on detail
            log.error("service fault on %s: %s", vm.message_id, fault.findtext("faultstring"))
            ex.error = ServerSecurityError("GW-INTERNAL", f"the service could not process the message; "
                                           f"{self._kept()}")
            ex.status = "500 Internal Server Error"
            ex.response = self._signed_fault(ex.error, vm.message_id, vm.signature_value)
            return
        body = root.find(f"{{{ns.SOAP11}}}Body")
        action = self._answer_action(vm, body)
        if action is None:  # our own answer does not meet the contract: a bug of ours, never sent
            ex.error = ServerSecurityError("GW-INTERNAL", f"the service could not process the message; "
                                           f"{self._kept()}")
            ex.status = "500 Internal Server Error"
            ex.response = self._signed_fault(ex.error, vm.message_id, vm.signature_value)
            return
        ex.response = sign_response(root, self.endpoint.credentials, relates_to=vm.message_id,
                                    confirmation=vm.signature_value, action=action)
        # signing may move the Header and Body into a new Envelope element (to declare its namespaces): keep the one
        # that holds them, so an observer reads the answer that was sent
        ex.answer = body.getparent() if body is not None else root
        ex.status = captured.get("status", "200 OK")

    def _answer_action(self, vm: VerifiedMessage, body: etree._Element | None) -> str | None:
        """The wsa:Action of the service's answer, once the answer is checked to be the operation's response and to
        conform to the contract; None when it is not (logged)."""
        service = self.endpoint.service
        if service is None:
            return vm.action + "Response"
        op = contracts.operation_for_action(vm.action)
        payload = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if payload is None or payload.tag != op.response:
            log.error("the answer to %s is not a %s", vm.message_id, op.response_name)
            return None
        problem = contracts.schema_error(payload)
        if problem is not None:
            log.error("the answer to %s does not conform to the contract: %s", vm.message_id, problem)
            return None
        return op.response_action

    def _signed_fault(self, err: SecurityError, relates_to: str | None, confirmation: str | None) -> bytes:
        return sign_response(fault_envelope(err), self.endpoint.credentials, relates_to=relates_to,
                             confirmation=confirmation, action=FAULT_ACTION)

    def _refuse(self, err: SecurityError, ex: Exchange, start_response) -> list[bytes]:
        # debug only: the exchange log (gateway/web/observers.py) tells of each refusal, within the limits that keep a
        # flood of unverified junk from filling the disk
        log.debug("refused: %s", err.faultstring)
        ex.refused = _read_refused(ex.request, err, self.endpoint.policy)
        relates_to, confirmation = _request_refs(ex.refused)
        ex.error, ex.status = err, "500 Internal Server Error"
        ex.response = self._signed_fault(err, relates_to, confirmation)
        self._observe(ex, None)  # each observer on its own: the refusal is answered even when one fails (logged)
        start_response(ex.status, [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(ex.response)))])
        return [ex.response]


def _read_body(environ, max_bytes: int) -> bytes:
    """The request body, refusing one over ``max_bytes`` before reading it (GW-SIZE)."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length:
        try:
            n = int(length)
        except ValueError:
            raise MalformedMessage("GW-XML", "the Content-Length is not a number") from None
        if n > max_bytes:
            raise MalformedMessage("GW-SIZE", f"the message is larger than {max_bytes} bytes")
        return stream.read(n)
    data = stream.read(max_bytes + 1)  # chunked: the server gives us a stream that ends
    if len(data) > max_bytes:
        raise MalformedMessage("GW-SIZE", f"the message is larger than {max_bytes} bytes")
    return data
