"""One call path for every request the gateway's own parties send (the reference source and the reference target):
build the request from the contract's WSDL (zeep), sign it (WUS), send it, verify the answer from its raw bytes, pin
its signer, check it against the contract, and either read it into a typed answer (``antwoorden``) or classify why
there is none (a ``Failure``).

    Caller(credentials, trust, session=…).call("overdracht", url, fields, signer=TC_OIN) -> Reply

Failures, by kind:

- ``transport``: no connection, a time-out, an HTTP answer that is not SOAP;
- ``fault``: a signed SOAP Fault; ``server_side`` when its code is soap:Server or it carries Digikoppeling 0051
  (not available), else the peer refused our message;
- ``unverified``: the answer did not verify, or was signed by another OIN than the one pinned (``signer``);
- ``protocol``: verified, but not the operation's response, or not valid against the contract.

An exception that is none of these (a bug of ours) propagates.

Retried (``retries`` times, after a pause that doubles from ``backoff_s``, each time as a new message: zeep and the
WUS plug-in build and sign every attempt afresh): a transport failure, and a server-side Fault — the peer could not
handle the message now (a database restarting, a worker going away), which a new message may well get through. A
Fault that refuses our message, an answer that does not verify and a protocol failure are final.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .. import contracts
from ..wsse import Credentials, MemoryReplayStore, Policy, TrustStore
from ..wsse.errors import SecurityError
from . import antwoorden
from .wsse_plugin import WusSignature

TRANSPORT, FAULT, UNVERIFIED, PROTOCOL = "transport", "fault", "unverified", "protocol"
TIMED_OUT = "timed out"  # the text of a transport failure that was a time-out


@dataclass(frozen=True)
class Failure:
    kind: str  # transport | fault | unverified | protocol
    text: str
    server_side: bool = True  # a Fault's code: soap:Server or Digikoppeling 0051 (True), else soap:Client (False)

    @property
    def transient(self) -> bool:
        """Worth a new message after a pause: no answer, or a Fault of the peer's own trouble."""
        return self.kind == TRANSPORT or (self.kind == FAULT and self.server_side)


@dataclass(frozen=True)
class Attempt:
    ms: float
    failure: Failure | None = None


@dataclass(frozen=True)
class Reply:
    """What came of one call: the typed answer, or the failure of the last attempt; every attempt, timed."""

    answer: Any = None
    failure: Failure | None = None
    attempts: tuple[Attempt, ...] = field(default=())
    signer: str | None = None  # the OIN that signed the answer (or the Fault), as verification established it

    @property
    def resultaat(self) -> str | None:
        return getattr(self.answer, "resultaat", None)


def digikoppeling_code(detail: etree._Element | None, reason: str) -> str | None:
    """The Digikoppeling error code of a Fault: in its detail (digikoppelingCode, as the gateway sends it) or in its
    faultstring ("[Digikoppeling 0051]")."""
    if detail is not None:
        for el in detail.iter():
            if isinstance(el.tag, str) and etree.QName(el).localname == "digikoppelingCode" and el.text:
                return el.text.strip()
    found = re.search(r"Digikoppeling (\d{4})", reason or "")
    return found.group(1) if found else None


def fault_failure(fault: etree._Element) -> Failure:
    code = (fault.findtext("faultcode") or "").strip()
    reason = " ".join((fault.findtext("faultstring") or "").split())
    server_side = code.rsplit(":", 1)[-1] == "Server" or digikoppeling_code(fault.find("detail"), reason) == "0051"
    return Failure(FAULT, f"signed Fault {code}: {reason[:200]}", server_side=server_side)


class Caller:
    """A party's way to call its peers. Build once per process; ``call`` may be used from several threads.

    ``session``: the requests session every call runs on (two-way TLS for https peers:
    ``gateway.client.transport.https_session``); None: a plain one."""

    def __init__(self, credentials: Credentials, trust: TrustStore, *, policy: Policy | None = None,
                 timeout: float = 30.0, session=None, backoff_s: float = 1.0):
        self.credentials = credentials
        self.trust = trust
        self.timeout = timeout
        self.backoff_s = backoff_s
        self.session = session
        self.signature = WusSignature(credentials, trust, policy=policy, replay=MemoryReplayStore())
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._clients: dict[str, object] = {}
        self._proxies: dict[tuple[str, str], object] = {}

    # ---- zeep, built once per process (loading a WSDL is slow; a forked worker builds its own) ---------------------
    def _proxy(self, op: contracts.Operation, address: str):
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._clients, self._proxies = os.getpid(), {}, {}
            proxy = self._proxies.get((op.service, address))
            if proxy is None:
                client = self._clients.get(op.service)
                if client is None:
                    client = self._clients[op.service] = self._client(op.service)
                binding = next(iter(next(iter(client.wsdl.services.values())).ports.values())).binding.name
                proxy = self._proxies[(op.service, address)] = client.create_service(binding, address)
            return proxy

    def _client(self, service: str):
        from zeep import Client, Settings
        from zeep.transports import Transport

        settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                            xml_huge_tree=False, raw_response=True)
        transport = Transport(session=self.session, timeout=self.timeout, operation_timeout=self.timeout)
        # zeep adds WS-Addressing (To, Action, MessageID) for operations whose WSDL declares wsam:Action, as every
        # operation of the contract does; the WUS plug-in then signs
        return Client(str(contracts.wsdl_path(service)), settings=settings, wsse=self.signature, transport=transport)

    # ---- one call -------------------------------------------------------------------------------------------------
    def call(self, operation: str, address: str, fields: dict, *, service: str | None = None,
             signer: str | None = None, retries: int = 0) -> Reply:
        """Send ``fields`` as the request of ``operation`` to ``address``; the answer must be signed by ``signer``
        (None: any signer the trust store accepts). A transient failure (module docstring) is retried ``retries``
        times, as a new message, after ``backoff_s``, then twice that, …"""
        op = _operation(operation, service)
        attempts: list[Attempt] = []
        while True:
            t0 = time.perf_counter()
            answer, failure, signed_by = self._once(op, address, fields, signer)
            attempts.append(Attempt((time.perf_counter() - t0) * 1000, failure))
            if failure is None or not failure.transient or len(attempts) > retries:
                return Reply(answer, failure, tuple(attempts), signed_by)
            time.sleep(self.backoff_s * 2 ** (len(attempts) - 1))

    def _once(self, op: contracts.Operation, address: str, fields: dict, signer: str | None):
        import requests

        try:
            response = getattr(self._proxy(op, address), op.name)(**fields)
        except requests.exceptions.Timeout:
            return None, Failure(TRANSPORT, TIMED_OUT), None
        except requests.exceptions.RequestException as exc:
            return None, Failure(TRANSPORT, f"unreachable ({type(exc).__name__})"), None
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not response.content or media not in ("text/xml", "application/soap+xml", "application/xml"):
            return None, Failure(TRANSPORT, f"HTTP {response.status_code}, not a SOAP answer"), None
        signature = self.signature
        if op.name == "document":  # a documentResponse carries a dossier: the same plug-in (its request, its replay
            # store), judging with the limits for a dossier (text nodes over 10 MB: docs/limits.md)
            signature = copy.copy(signature)
            signature.policy = signature.policy.carrying_dossier()
        try:
            verified = signature.verify_bytes(response.content)
        except SecurityError as exc:
            return None, Failure(UNVERIFIED, f"the answer did not verify: {exc.rule} {exc.reason}"[:240]), None
        if signer is not None and verified.oin != signer:
            return None, Failure(UNVERIFIED, f"the answer did not verify: PKI001 it was signed by OIN {verified.oin}, "
                                 f"not by {signer}"), verified.oin
        body = verified.body
        if verified.is_fault:
            return None, fault_failure(body), verified.oin
        if body is None or body.tag != op.response:
            return None, Failure(PROTOCOL, f"the answer is not a {op.response_name}"), verified.oin
        problem = contracts.schema_error(body)
        if problem is not None:
            return None, Failure(PROTOCOL, f"the answer does not conform to the contract: {problem[:160]}"), \
                verified.oin
        answer = antwoorden.read(op.name, body)
        if op.name == "document" and answer.resultaat == "OverdrachtGeslaagd" and answer.dossier is None:
            return None, Failure(PROTOCOL, "OverdrachtGeslaagd without a dossier"), verified.oin
        return answer, None, verified.oin


def _operation(name: str, service: str | None) -> contracts.Operation:
    for s in contracts.services().values():
        if service is not None and s.name != service:
            continue
        for op in s.operations:
            if op.name == name:
                return op
    raise KeyError(f"no operation {name} in the contract")
