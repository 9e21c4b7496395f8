"""Typed refusals: one class per standard fault code, each carrying the rule it enforces.

A refusal says whose fault it is (``party``: the ``Client`` sent a bad message; the ``Server`` could not
judge it), which rule failed (an id from ``RULES``), the SOAP 1.1 fault code (a QName) and the Digikoppeling
technical fault code where one applies. ``reason`` is safe to send to the peer: it never carries keys, paths,
stack traces or pupil data.
"""

from __future__ import annotations

from . import ns

# Rule ids: those of the Digikoppeling/Edukoppeling texts where they have one (WB…, WS…, SIGN…, PKI…, WT…),
# WS-I Basic Profile requirement numbers (R…), and the gateway's own (GW-…) where the public texts have none.
RULES: dict[str, str] = {
    "GW-SIZE": "a message is at most the configured size; larger ones are refused before parsing",
    "GW-XML": "a message is well-formed XML within the configured nesting depth",
    "R1008": "a message carries no DTD (no DOCTYPE, entities or external references) (WS-I BP R1008)",
    "WS006": "a message is UTF-8 encoded",
    "GW-ENVELOPE": "one SOAP 1.1 Envelope holding one Header and one Body (with one child), nothing else; "
    "no soap:encodingStyle",
    "WS007": "no header blocks besides WS-Addressing and WS-Security",
    "GW-ID": "no two elements share an id",
    "WB002": "one wsu:Timestamp with one Created and at most one Expires, UTC, Created before Expires, "
    "within the freshness window",
    "WB003": "the message is signed: one wsse:Security (mustUnderstand) with one ds:Signature",
    "WB004": "the Body, the Timestamp and every WS-Addressing header are each referenced by wsu:Id in the "
    "signature, in their own place",
    "WB007": "exclusive canonicalisation without comments, for SignedInfo and every reference",
    "SIGN003": "digests are SHA-256, SHA-384 or SHA-512",
    "SIGN004": "the signature is RSA with SHA-256, SHA-384 or SHA-512",
    "WB009": "the certificate travels as one X509v3 BinarySecurityToken (Base64Binary), before the signature",
    "WB010": "KeyInfo holds one SecurityTokenReference with a direct reference to the BinarySecurityToken",
    "WB013": "every digest and the SignatureValue verify",
    "WB014": "a response confirms the request's SignatureValue (wsse11:SignatureConfirmation)",
    "PKI001": "the signer's OIN is the certificate's subject serialNumber and matches wsa:From",
    "PKI002": "the certificate chains to a trusted root, is within its validity period and is not revoked",
    "GW-KEYUSAGE": "the signing certificate allows digitalSignature",
    "GW-REPLAY": "a MessageID is accepted once",
    "WSA-TO": "wsa:To is present (requests) and addresses this service",
    "WSA-ACTION": "wsa:Action is present and names an operation of this service",
    "WSA-MESSAGEID": "wsa:MessageID is present and an absolute URI",
    "WSA-RELATESTO": "a response's wsa:RelatesTo is the request's MessageID",
    "WSA-FROM": "wsa:From, when present, is the anonymous address with ?oin=<20 digits>",
    "WSA-REPLYTO": "wsa:ReplyTo is anonymous or absent",
    "WS002": "the HTTP SOAPAction is empty or equals wsa:Action",
    "WT001": "two-way TLS: the TLS client certificate belongs to the OIN that signed the message",
    "GW-XSD": "the Body conforms to the service's published XSD",
    "GW-STORE": "the gateway stores what a message changes before it answers; if it cannot, nothing is kept",
    "GW-INTERNAL": "the gateway failed while handling the message; nothing of it was kept",
}


# Refusals that come before a tree exists (size, well-formedness, DTD, encoding): nothing of such a message can be read.
UNREADABLE_RULES = frozenset({"GW-SIZE", "GW-XML", "R1008", "WS006"})


class SecurityError(Exception):
    """A message refused by the security layer."""

    faultcode: tuple[str, str] = (ns.WSSE, "InvalidSecurity")
    dk_code: str | None = None
    party = "Client"

    def __init__(self, rule: str, reason: str, *, dk_code: str | None = None, element: str | None = None):
        if rule not in RULES:
            raise ValueError(f"unknown rule id {rule!r}")
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
        self.element = element
        if dk_code is not None:
            self.dk_code = dk_code

    @property
    def faultstring(self) -> str:
        code = f" [Digikoppeling {self.dk_code}]" if self.dk_code else ""
        return f"{self.rule}: {self.reason}{code}"


class MalformedMessage(SecurityError):
    """Not a message of the profile: size, XML, envelope structure (Digikoppeling 0001)."""

    faultcode = (ns.SOAP11, "Client")
    dk_code = "0001"


class SchemaInvalid(MalformedMessage):
    """The Body does not conform to the published XSD (Digikoppeling 0004)."""

    dk_code = "0004"


class InvalidSecurity(SecurityError):
    """The wsse:Security header is missing, malformed or does not cover what it must."""

    faultcode = (ns.WSSE, "InvalidSecurity")


class UnsupportedAlgorithm(SecurityError):
    faultcode = (ns.WSSE, "UnsupportedAlgorithm")


class InvalidSecurityToken(SecurityError):
    faultcode = (ns.WSSE, "InvalidSecurityToken")


class FailedCheck(SecurityError):
    """A digest or the signature value does not verify."""

    faultcode = (ns.WSSE, "FailedCheck")


class FailedAuthentication(SecurityError):
    """The signer's certificate is not trusted, not valid now, revoked, or not fit for signing."""

    faultcode = (ns.WSSE, "FailedAuthentication")
    dk_code = "0002"


class MessageExpired(SecurityError):
    faultcode = (ns.WSU, "MessageExpired")


class AddressingError(SecurityError):
    """A WS-Addressing header is missing, malformed or has another value than prescribed."""

    faultcode = (ns.WSA, "InvalidAddressingHeader")


class AddressingHeaderRequired(AddressingError):
    faultcode = (ns.WSA, "MessageAddressingHeaderRequired")


class DestinationUnreachable(AddressingError):
    faultcode = (ns.WSA, "DestinationUnreachable")
    dk_code = "0005"


class ServerSecurityError(SecurityError):
    """We could not judge the message (our configuration, not the sender's message)."""

    faultcode = (ns.SOAP11, "Server")
    party = "Server"
