"""The zeep side of the WUS profile: ``apply`` signs a request, ``verify`` checks the answer to it.

zeep adds the WS-Addressing headers (for operations with a wsam:Action) and runs its plug-ins before the wsse
object's ``apply``, so the wsa headers exist when we sign; we add From with our OIN and sign Body, Timestamp and every wsa header. zeep calls ``verify``
on every answer before it looks for a Fault: a signed Fault passes verification (RelatesTo and the
SignatureConfirmation are checked when present) and zeep then raises it as a Fault.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

from ..wsse import Credentials, Policy, ReplayStore, TrustStore, VerifiedMessage, sign_envelope, verify_response


class WusSignature:
    """zeep's two-verb wsse contract (``apply``, ``verify``) for the WUS signed profile."""

    def __init__(self, credentials: Credentials, trust: TrustStore, *, policy: Policy | None = None,
                 replay: ReplayStore | None = None, from_oin: str | None = None):
        self.credentials = credentials
        self.trust = trust
        self.policy = policy or Policy()
        self.replay = replay
        self.from_oin = from_oin or credentials.oin
        self._local = threading.local()

    def apply(self, envelope, headers):
        signed = sign_envelope(envelope, self.credentials, from_oin=self.from_oin)
        self._local.request = (signed.message_id, signed.signature_value)
        self._local.response = None
        return signed.envelope, headers

    def verify(self, envelope):
        # zeep hands us its parsed tree; our verifier judges bytes through the one safe parser.
        self.verify_bytes(etree.tostring(envelope))
        return envelope

    def verify_bytes(self, data: bytes) -> VerifiedMessage:
        """Verify the raw bytes of the answer to the last request signed in this thread (for a call made with
        zeep's ``raw_response``: the answer is then parsed once, by our safe parser, instead of three times)."""
        request = getattr(self._local, "request", None)
        if request is None:
            raise RuntimeError("a response arrived for no request signed by this plug-in")
        self._local.response = verify_response(
            data, request_message_id=request[0], request_signature_value=request[1],
            policy=self.policy, trust=self.trust, replay=self.replay,
        )
        return self._local.response

    @property
    def last_request(self) -> tuple[str, str] | None:
        """(MessageID, SignatureValue) of the last request signed in this thread."""
        return getattr(self._local, "request", None)

    @property
    def last_response(self) -> VerifiedMessage | None:
        """What verification established about the last answer in this thread."""
        return getattr(self._local, "response", None)


def client_for(wsdl: str | Path, signature: WusSignature, *, address: str | None = None, transport=None):
    """A zeep client from a WSDL file of ``wsdl/``, with WS-Addressing and the WUS signature; ``address``
    overrides the WSDL's endpoint. Build it once: loading a WSDL is slow."""
    from zeep import Client, Settings

    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                        xml_huge_tree=False)
    # zeep adds WS-Addressing (To, Action, MessageID) by itself for operations whose WSDL declares wsam:Action,
    # as every operation of our contracts does; To is the address the service is called at.
    kwargs = {"settings": settings, "wsse": signature}
    if transport is not None:
        kwargs["transport"] = transport
    client = Client(str(wsdl), **kwargs)
    if address is not None:
        binding = next(iter(client.wsdl.services.values())).ports
        port = next(iter(binding.values()))
        return client, client.create_service(port.binding.name, address)
    return client, client.service
