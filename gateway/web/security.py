"""The security middleware: every SOAP request is verified before a service sees it, every answer is signed.

It sits in front of a spyne WsgiApplication (which has no WS-Security and resolves SOAP-encoding hrefs while it
parses, so it must only ever see verified bytes). A refused request never reaches the service: it is answered
with a signed SOAP 1.1 Fault that names the rule. A crash inside the service is answered with a signed Server
Fault without internal detail; the traceback goes to the log.
"""

from __future__ import annotations

import io
import logging
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable, Iterable

from lxml import etree

from ..wsse import Credentials, Policy, ReplayStore, TrustStore, VerifiedMessage, sign_response, verify
from ..wsse import ns
from ..wsse import oin_of
from ..wsse.errors import FailedAuthentication, MalformedMessage, SchemaInvalid, SecurityError, ServerSecurityError
from ..wsse.faults import FAULT_ACTION, fault_envelope
from ..wsse.xmlparse import parse_untrusted

log = logging.getLogger("oso.gateway.security")

ENVIRON_KEY = "oso.verified"
REPO_KEY = "oso.repo"
CONTENT_TYPE = "text/xml; charset=utf-8"
_UNREADABLE = {"GW-SIZE", "GW-XML", "R1008", "WS006"}


@dataclass(frozen=True)
class SecuredEndpoint:
    """What the middleware needs for one service: our credentials, whom we trust, what we demand."""

    credentials: Credentials
    trust: TrustStore
    policy: Policy
    replay: ReplayStore
    response_action: Callable[[str], str] = lambda action: action + "Response"
    # The contract's XSD: a verified Body that does not conform is refused (GW-XSD, Digikoppeling 0004).
    schema: etree.XMLSchema | None = None
    # One transaction per message: the replay id, what the service changes and the answer are committed together,
    # before the answer leaves; a Fault rolls everything back. It yields a repository that is also the replay store.
    unit_of_work: Callable[[], AbstractContextManager] | None = None
    environ: dict = field(default_factory=dict)  # extra WSGI environ entries for the service (its settings)
    require_tls_client: bool = False  # set when serving two-way TLS


class _Rollback(Exception):
    def __init__(self, answer: tuple[str, bytes]):
        self.answer = answer


_VALUE = re.compile(r"(The value|value) '[^']*'")


def tls_client_certificate(environ):
    """The TLS client certificate of this request (gunicorn passes the socket), or None on plain HTTP."""
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


def _schema_error(schema: etree.XMLSchema) -> SchemaInvalid:
    entry = schema.error_log.last_error
    text = _VALUE.sub(r"\1", entry.message if entry else "the Body does not conform")  # never echo values
    return SchemaInvalid("GW-XSD", f"the Body does not conform to the contract's XSD: {text[:300]}")


def _request_refs(data: bytes, error: SecurityError, policy: Policy) -> tuple[str | None, str | None]:
    """Best effort, for a Fault's RelatesTo and SignatureConfirmation: the MessageID and SignatureValue of a refused
    request, when it could be read at all. They are echoed, never trusted."""
    if error.rule in _UNREADABLE:
        return None, None
    try:
        root = parse_untrusted(data, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
    except SecurityError:
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
        try:
            data = _read_body(environ, ep.policy.max_bytes)
        except SecurityError as err:
            return self._refuse(err, b"", start_response)
        soap_action = environ.get("HTTP_SOAPACTION")
        try:
            if ep.unit_of_work is None:
                status, body = self._handle(environ, data, soap_action, ep.replay)
            else:
                try:
                    with ep.unit_of_work() as repo:
                        environ[REPO_KEY] = repo
                        status, body = self._handle(environ, data, soap_action, repo)
                        if not status.startswith("200"):
                            raise _Rollback((status, body))
                except _Rollback as rollback:  # a Fault keeps nothing: not even the replay id
                    status, body = rollback.answer
        except SecurityError as err:
            return self._refuse(err, data, start_response)
        except Exception:  # a bug or a store failure must still give a signed Fault, never a traceback
            log.exception("handling a message failed")
            return self._refuse(ServerSecurityError("GW-INTERNAL", "the message could not be processed; "
                                                    "nothing of it was kept: send it again later"),
                                data, start_response)
        start_response(status, [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    def _handle(self, environ, data: bytes, soap_action, replay) -> tuple[str, bytes]:
        """Verify, validate, call the service, sign its answer. Raises SecurityError for a refused request."""
        ep = self.endpoint
        vm = verify(data, policy=ep.policy, trust=ep.trust, replay=replay, soap_action=soap_action)
        _check_tls_binding(environ, vm, ep.require_tls_client)
        if ep.schema is not None and not ep.schema.validate(vm.body):
            raise _schema_error(ep.schema)
        environ.update(ep.environ)
        environ[ENVIRON_KEY] = vm
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        return self._answer(environ, vm)

    def _answer(self, environ, vm: VerifiedMessage) -> tuple[str, bytes]:
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
            err = ServerSecurityError("GW-INTERNAL", "the service could not process the message; nothing of it "
                                      "was kept")
            return "500 Internal Server Error", self._signed_fault(err, vm.message_id, vm.signature_value)
        action = self.endpoint.response_action(vm.action)
        signed = sign_response(root, self.endpoint.credentials, relates_to=vm.message_id,
                               confirmation=vm.signature_value, action=action)
        return captured.get("status", "200 OK"), signed

    def _signed_fault(self, err: SecurityError, relates_to: str | None, confirmation: str | None) -> bytes:
        return sign_response(fault_envelope(err), self.endpoint.credentials, relates_to=relates_to,
                             confirmation=confirmation, action=FAULT_ACTION)

    def _refuse(self, err: SecurityError, data: bytes, start_response) -> list[bytes]:
        log.info("refused: %s", err.faultstring)
        relates_to, confirmation = _request_refs(data, err, self.endpoint.policy)
        body = self._signed_fault(err, relates_to, confirmation)
        start_response("500 Internal Server Error",
                       [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]


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
