"""Plain words for the servicedesk: what a refusal's rule means and how the sender fixes it, and which party must
act on a result code. Used by ``trace``, ``diagnose`` and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from ..oso.resultaat import CODES
from ..wsse.errors import RULES

# rule id -> how to fix it (RULES says what the rule demands)
FIX: dict[str, str] = {
    "GW-SIZE": "send a smaller message (large attachments belong in the dossier, within the published limits)",
    "GW-XML": "send well-formed XML; check that nothing was cut off or double-encoded on the way",
    "R1008": "remove the DOCTYPE: a SOAP message may carry no DTD or entity declarations",
    "WS006": "send the message as UTF-8 (and declare no other encoding)",
    "GW-ENVELOPE": "send one SOAP 1.1 Envelope with one Header and one Body holding exactly one element",
    "WS007": "send only WS-Addressing and WS-Security headers; move other data into the Body",
    "GW-ID": "give every wsu:Id (and Id/ID) attribute a value of its own",
    "WB002": "put one wsu:Timestamp (Created, optionally Expires, in UTC with a Z) in wsse:Security, sign it, "
             "send the message right after signing, and keep the server clock in sync (NTP)",
    "WB003": "sign the message: one wsse:Security with soap:mustUnderstand=\"1\" holding one ds:Signature",
    "WB004": "sign the Body, the Timestamp and every WS-Addressing header each by its wsu:Id, and leave them where "
             "they are after signing",
    "WB007": "use exclusive canonicalisation (http://www.w3.org/2001/10/xml-exc-c14n#) for SignedInfo and as "
             "the one Transform of each reference",
    "SIGN003": "digest with SHA-256 (or SHA-384/512); SHA-1 and MD5 are refused",
    "SIGN004": "sign with RSA-SHA-256 (or 384/512) and a key of at least 2048 bits",
    "WB009": "send the certificate as one wsse:BinarySecurityToken (X509v3, Base64Binary) before the Signature",
    "WB010": "let KeyInfo hold one wsse:SecurityTokenReference with a direct wsse:Reference to that token",
    "WB013": "sign last: change nothing (no pretty-printing, re-indenting or re-encoding) after signing, and sign "
             "with the key of the certificate that is sent",
    "WB014": "answer with a wsse11:SignatureConfirmation holding the request's SignatureValue",
    "PKI001": "use a certificate with the organisation's OIN in subject.serialNumber, and put that OIN in wsa:From",
    "PKI002": "use a certificate from a trusted CA (PKIoverheid) that is valid now and not revoked; renew it when "
              "it has expired",
    "GW-KEYUSAGE": "use a certificate whose key usage allows digitalSignature",
    "GW-REPLAY": "give every message a new wsa:MessageID (a new urn:uuid); a retry is a new message",
    "WSA-TO": "set wsa:To to the service's address as published (with ?oin= of the receiver when used)",
    "WSA-ACTION": "set wsa:Action to the operation's action from the WSDL",
    "WSA-MESSAGEID": "set wsa:MessageID to a new absolute URI, e.g. urn:uuid:…",
    "WSA-RELATESTO": "set a response's wsa:RelatesTo to the request's MessageID",
    "WSA-FROM": "set wsa:From to http://www.w3.org/2005/08/addressing/anonymous?oin=<your 20-digit OIN>",
    "WSA-REPLYTO": "leave wsa:ReplyTo out, or make it the anonymous address",
    "WS002": "send the HTTP SOAPAction equal to wsa:Action (or empty)",
    "WT001": "connect over two-way TLS with a client certificate of the same OIN as the signing certificate",
    "GW-XSD": "make the Body conform to the contract's XSD (xsd/ of the gateway); the finding names the element",
    "GW-STORE": "nothing to fix at the sender: send the message again later; the gateway's operators are told",
    "GW-INTERNAL": "nothing to fix at the sender: send the message again later; the gateway's operators look into "
                   "the log",
}
assert set(FIX) == set(RULES), set(RULES) ^ set(FIX)


def explain(rule: str) -> tuple[str, str]:
    """(what the rule demands, how to fix a message that breaks it)."""
    return RULES.get(rule, "an unknown rule"), FIX.get(rule, "see the gateway's documentation")


# The party that must act on a result code: "sender" (the vendor that sent the message), "bron" (the source
# school and its vendor), "doel" (the target school and its vendor), "register" (the servicedesk, in the register),
# "gateway" (the gateway's operators).
RESULT_ACTOR: dict[str, str] = {
    "LeveringGeweigerd": "bron",
    "LeerlinginfoNietBeschikbaar": "bron",
    "LeerlinginfoNietOpvraagbaar": "bron",
    "VerzameldatumNietBereikt": "doel",
    "LeerlingOnbekend": "doel",
    "SessieAfwijkend": "doel",
    "OnbekendAanleverpunt": "sender",
    "GeenRelatieMetDoel": "sender",
    "SessieOnbekend": "sender",
    "SessieReedsAfgemeld": "sender",
    "SessieVerlopen": "doel",
    "VerstrekkerNietBekend": "register",
    "AfnemerNietBekend": "sender",
    "LeverancierNietGeautoriseerd": "sender",
    "GeenAanleverpunt": "bron",
    "KoppelsleutelOnbekend": "sender",
    "OngeldigVerzoek": "sender",
    "TrafficCenterNietBeschikbaar": "gateway",
    "Timeout": "gateway",
}
assert set(RESULT_ACTOR) | {"Geslaagd", "OverdrachtGeslaagd", "NotificatieOntvangen"} == set(CODES)


@dataclass(frozen=True)
class Actor:
    role: str  # sender | bron | doel | register | gateway
    who: str  # in words, e.g. "the sending vendor Bron LAS (OIN 0000…)"
    what: str  # what they should do


def rule_actor_role(party: str | None) -> str:
    """A refusal is the sender's to fix, unless the gateway could not judge the message (party Server)."""
    return "gateway" if party == "Server" else "sender"


def result_advice(code: str) -> str:
    c = CODES.get(code)
    return c.caller_should if c else "see docs/resultaatcodes.md"
