"""The scenario catalogue: every check the suite makes, with a stable id, the rule it holds a vendor to, how bad a
failure is, what the suite sends, what it expects, and how to fix a failure.

Ids are stable: a vendor's CI, a ticket at the servicedesk and a qualification report may cite them. ``WUS-…`` ids
check the message-security profile (rule ids of ../shared/docs/wus-profile.md, as listed in
``gateway.wsse.errors.RULES``); ``OSO-…`` ids check the chain's rules (``CHAIN_RULES`` below, after
../shared/docs/oso-exchange.md and docs/resultaatcodes.md). ``-BRON-`` scenarios judge a vendor's source, ``-DOEL-``
scenarios a vendor's target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..wsse.errors import RULES as WUS_RULES

MUST, SHOULD = "must", "should"
SOURCE, TARGET = "source", "target"

# The chain's rules, as the suite cites them (the public texts number no rules; these ids are the project's).
CHAIN_RULES: dict[str, str] = {
    "OSO-STAP1": "overdrachtRequest: the target opens a session at the TC naming both schools, its own aanleverpunt "
    "(doelRouteringsKenmerk), the overdrachtsoort and the pupil by zoeksleutelPgnfrag (or a koppelsleutel)",
    "OSO-STAP2": "documentRequest: the target asks each source aanleverpunt the TC handed out, with the session's "
    "own identifying fields",
    "OSO-STAP3": "sessiecontrole: a source checks every documentRequest at the TC before it looks up the pupil; when the TC "
    "refuses, it releases nothing and answers the TC's result code; it serves a session only to the vendor "
    "registered for the session's doel aanleverpunt",
    "OSO-STAP4": "documentResponse: a source releases the dossier only when it is ready (else "
    "LeerlinginfoNietBeschikbaar), inzage (PO-PO, PO-VO) or toestemming (VO-VO) is recorded (neither binnen-BRIN; "
    "else LeerlinginfoNietOpvraagbaar) and the dossierVerzameldatum is met; otherwise it answers a result code",
    "OSO-STAP5": "afmelding: the target closes every session it opened, reporting the best result over all "
    "aanleverpunten asked and the aanleverpunt that gave it (ties: the last one asked)",
    "OSO-PGN": "the PGN (BSN or onderwijsnummer) never travels in clear: requests name the pupil by "
    "zoeksleutelPgnfrag (docs/zoeksleutel.md); only the dossier itself carries it",
    "OSO-RESULTAAT": "a request the chain's rules refuse is answered with the result code of docs/resultaatcodes.md "
    "that fits, in the response (a Fault is for messages that break the profile or the contract)",
    "OSO-DOSSIER": "a released dossier is valid against the official Edustandaard bundle of its version (XSD and "
    "business-rule XSLT) and fits the transfer (overdrachtsoort, source school)",
    "OSO-CATEGORIE": "the categories that categorie_uitlevering marks VERBODEN or OPT-UIT carry no data in what is "
    "released",
    "OSO-FAULT": "a Fault from the TC is reported to the school; a client retries a failed call at most a few times, "
    "with back-off, and never floods the chain",
    "OSO-BEVINDINGEN": "a target validates a received dossier and shows the school what validation found",
}

RULE_TEXTS: dict[str, str] = {**WUS_RULES, **CHAIN_RULES}


@dataclass(frozen=True)
class Scenario:
    id: str
    role: str  # SOURCE | TARGET
    title: str
    rules: tuple[str, ...]
    severity: str  # MUST | SHOULD
    sends: str
    expects: str
    fix: str
    # hostile scenarios: the refusals that count as "for the probed reason", besides a Fault naming one of
    # ``rules``: standard fault codes as Clark names ({namespace}local) and Digikoppeling codes ("0005")
    accepts: tuple[str, ...] = ()

    def __post_init__(self):
        unknown = [r for r in self.rules if r not in RULE_TEXTS]
        if unknown:
            raise ValueError(f"{self.id}: unknown rule ids {unknown}")
        if self.severity not in (MUST, SHOULD) or self.role not in (SOURCE, TARGET):
            raise ValueError(f"{self.id}: bad severity or role")


def _s(id, title, rules, severity, sends, expects, fix, role=SOURCE, accepts=()) -> Scenario:  # noqa: A002
    return Scenario(id, role, title, tuple(rules.split()), severity, sends, expects, fix, tuple(accepts))


def _code(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_WSA = "http://www.w3.org/2005/08/addressing"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
INVALID_SECURITY, FAILED_CHECK = _code(_WSSE, "InvalidSecurity"), _code(_WSSE, "FailedCheck")
FAILED_AUTHENTICATION, INVALID_TOKEN = _code(_WSSE, "FailedAuthentication"), _code(_WSSE, "InvalidSecurityToken")
UNSUPPORTED_ALGORITHM, MESSAGE_EXPIRED = _code(_WSSE, "UnsupportedAlgorithm"), _code(_WSU, "MessageExpired")
DESTINATION_UNREACHABLE = _code(_WSA, "DestinationUnreachable")
INVALID_ADDRESSING = _code(_WSA, "InvalidAddressingHeader")
ADDRESSING_REQUIRED = _code(_WSA, "MessageAddressingHeaderRequired")
ACTION_MISMATCH, ACTION_NOT_SUPPORTED = _code(_WSA, "ActionMismatch"), _code(_WSA, "ActionNotSupported")
SOAP_CLIENT = _code(_SOAP, "Client")


_HAPPY_FIX = ("Prepare (klaarzetten) the test pupil's dossier in your system with the state the suite lists, make "
              "sure your aanleverpunt matches the zoeksleutel with the chain key (docs/zoeksleutel.md), and check the "
              "evidence: the result code your system answered says why it did not release.")
_FAULT_FIX = ("Verify every request from its raw bytes before anything else (docs/faults.md, 'What a receiver checks, "
              "in order') and answer a refusal with a SOAP 1.1 Fault whose faultcode is the standard one for the "
              "failed check and whose reason names the rule (docs/faults.md); never hand an unverified request to "
              "the code that looks up pupils.")

SOURCE_SCENARIOS: tuple[Scenario, ...] = (
    # ---- happy paths, one per test pupil type
    _s("OSO-BRON-HAPPY-POPO", "PO-PO test pupil: the dossier is released", "OSO-STAP4", MUST,
       "a signed documentRequest (overstapdossier) for the PO-PO test pupil in a session the suite's TC opened",
       "documentResponse with resultaat OverdrachtGeslaagd and a dossier", _HAPPY_FIX),
    _s("OSO-BRON-HAPPY-VOVO", "VO-VO test pupil: the dossier is released", "OSO-STAP4", MUST,
       "a signed documentRequest (overstapdossier) for the VO-VO test pupil, to a VO school",
       "documentResponse with resultaat OverdrachtGeslaagd and a dossier", _HAPPY_FIX),
    _s("OSO-BRON-HAPPY-BINNENBRIN", "binnen-BRIN test pupil: the dossier is released without inzage", "OSO-STAP4",
       MUST, "a signed documentRequest (overdrachtbinnenbrin, doelBrin = bronBrin) for the binnen-BRIN test pupil",
       "documentResponse with resultaat OverdrachtGeslaagd and a dossier", _HAPPY_FIX),
    _s("OSO-BRON-LEVERINGGEWEIGERD", "the refusing test pupil: LeveringGeweigerd, no dossier",
       "OSO-STAP4 OSO-RESULTAAT", MUST,
       "a signed documentRequest for the test pupil whose release the school refuses",
       "documentResponse with resultaat LeveringGeweigerd and no dossier",
       "When the school refuses release, answer resultaat LeveringGeweigerd and leave the dossier out."),
    # ---- the response's signature, judged on every documentResponse
    _s("WUS-WB003-RESPONSE-SIGNED", "every response is signed", "WB003 WB002", MUST,
       "the documentRequests of the happy paths and the refusals",
       "every answer carries one wsse:Security (mustUnderstand) with a Timestamp and a ds:Signature",
       "Sign every response, refusals and Faults included, with your certificate (WUS 2W-be-S: signed both ways)."),
    _s("WUS-WB004-RESPONSE-COVERAGE", "a response's signature covers Body, Timestamp, every wsa header and the "
       "SignatureConfirmation", "WB004", MUST, "the documentRequests of the happy paths and the refusals",
       "SignedInfo holds a reference (by wsu:Id, in place) to the Body, the Timestamp, each WS-Addressing header "
       "and the SignatureConfirmation",
       "Give each of these parts a wsu:Id and its own Reference in SignedInfo; sign them where they finally stand."),
    _s("WUS-SIGN003-RESPONSE-SHA2", "a response is signed with SHA-2", "SIGN003 SIGN004 WB007", MUST,
       "the documentRequests of the happy paths and the refusals",
       "DigestMethod SHA-256/384/512, SignatureMethod RSA-SHA256/384/512, exclusive c14n",
       "Configure your WS-Security stack for SHA-256 digests and RSA-SHA256 (WSS4J: signatureAlgorithm "
       "rsa-sha256, digestAlgorithm xmlenc#sha256); SHA-1 is refused by the chain."),
    _s("WUS-WB010-RESPONSE-DIRECT-REFERENCE", "a response's certificate travels as a BinarySecurityToken that "
       "KeyInfo references directly", "WB009 WB010", MUST, "the documentRequests of the happy paths",
       "one X509v3 BinarySecurityToken (Base64Binary); KeyInfo/SecurityTokenReference/Reference URI=\"#token\"",
       "Use the 'DirectReference' key identifier (WSS4J: signatureKeyIdentifier=DirectReference), not IssuerSerial, "
       "Thumbprint or SKI."),
    _s("WUS-WB013-RESPONSE-VERIFIES", "a response's signature verifies, with a trusted certificate of the vendor's "
       "OIN", "WB013 PKI001 PKI002", MUST, "the documentRequests of the happy paths",
       "every digest and the SignatureValue verify; the certificate chains to the given trust anchors, is valid and "
       "carries the vendor's OIN",
       "Sign with the certificate registered for your aanleverpunt; sign the elements as they are sent "
       "(no re-serialisation after signing)."),
    _s("WUS-WB014-SIGNATURECONFIRMATION", "a response confirms the request's signature", "WB014", MUST,
       "the documentRequests of the happy paths and the refusals",
       "wsse11:SignatureConfirmation with Value = the SignatureValue of the suite's request",
       "Enable signature confirmation (WSS4J: enableSignatureConfirmation=true) and echo the request's "
       "SignatureValue."),
    _s("WUS-WSA-RELATESTO", "a response relates to the request", "WSA-RELATESTO", MUST,
       "the documentRequests of the happy paths and the refusals",
       "wsa:RelatesTo = the wsa:MessageID of the suite's request",
       "Copy the request's wsa:MessageID into the response's wsa:RelatesTo."),
    _s("WUS-WSA-RESPONSE-HEADERS", "a response carries its own Action and a fresh MessageID", "WSA-ACTION "
       "WSA-MESSAGEID", MUST, "the documentRequests of the happy paths",
       "wsa:Action http://xml.kennisnet.nl/schemas/Overstapservice/20200910/documentResponse; a wsa:MessageID "
       "(absolute URI) used only once",
       "Set the output action of the WSDL (wsam:Action) and a new urn:uuid MessageID on every response."),
    _s("OSO-BRON-CONTRACT-XSD", "every documentResponse conforms to the published contract", "GW-XSD", MUST,
       "the documentRequests of the happy paths and the refusals",
       "the Body is a documentResponse valid against xsd/overstapservice-20200910.xsd",
       "Build the response from xsd/overstapservice-20200910.xsd: resultaat (a code of the table) and the dossier "
       "as the one child of <dossier>, in the namespace http://xml.kennisnet.nl/schemas/Overstapservice/20200910."),
    # ---- the dossier released
    _s("OSO-BRON-DOSSIER-VALID", "every released dossier is valid against the official bundle",
       "OSO-DOSSIER", MUST, "the happy-path documentRequests",
       "each dossier passes the Edustandaard XSD and business rules of its version and the gateway's own checks "
       "(identity, release, attachments); its overdrachtsoort and source school fit the transfer",
       "Run `oso-gateway validate` on the dossier your system builds; the evidence lists each finding with its rule "
       "id and XPath."),
    _s("OSO-BRON-DOSSIER-LEERLING", "the dossier released is the dossier of the pupil asked for",
       "OSO-STAP4 OSO-DOSSIER", MUST, "the happy-path documentRequests",
       "the leerling's bsn (or onderwijsnummer) in each released dossier is the PGN the zoeksleutel was made from",
       "Match the pupil by zoeksleutel and pgnfrag (docs/zoeksleutel.md) and release only that pupil's dossier; never "
       "fall back to a pupil that matches part of it."),
    _s("OSO-BRON-CATEGORIE-UITLEVERING", "no data of a VERBODEN or OPT-UIT category is released",
       "OSO-CATEGORIE", MUST, "the happy-path documentRequests (the test dossiers mark categories VERBODEN)",
       "no element of a category marked VERBODEN / OPT-UIT in metadata/categorie_uitlevering",
       "Filter the dossier by categorie_uitlevering before release: leave out every element of a VERBODEN or "
       "OPT-UIT category (business rules OS.cat01-OS.cat16)."),
    # ---- sessiecontrole
    _s("OSO-BRON-SESSIECONTROLE-FIRST", "sessiecontrole is called before answering", "OSO-STAP3", MUST,
       "the happy-path documentRequests, each in a session the suite's TC opened",
       "the suite's TC receives a signed sessiecontroleRequest for that session from the vendor's OIN and "
       "aanleverpunt, with the request's fields, after the documentRequest was sent and before its answer",
       "Configure the TC URL the suite prints, and call sessiecontroleRequest for every documentRequest before you "
       "look up the pupil or answer."),
    _s("OSO-BRON-SESSIECONTROLE-HONOURED", "a refused sessiecontrole is honoured: nothing is released",
       "OSO-STAP3", MUST,
       "a documentRequest for a ready pupil in a session the TC opened for another pupil (the TC answers "
       "SessieAfwijkend)", "no dossier in the answer",
       "Stop at a sessiecontrole result other than Geslaagd: release nothing and answer the TC's result code."),
    _s("OSO-BRON-SESSIECONTROLE-PER-REQUEST", "sessiecontrole is made for every request, not remembered per session",
       "OSO-STAP3 OSO-RESULTAAT", MUST,
       "after the PO-PO pupil's dossier was released, the suite (as target) closes that session at its TC with "
       "afmelding and sends a new documentRequest in the same session",
       "a new sessiecontroleRequest reaches the TC for this request; resultaat SessieReedsAfgemeld, no dossier",
       "Call sessiecontroleRequest for every documentRequest, also for a session you served before: a session can be "
       "closed or expire at the TC at any moment."),
    _s("OSO-BRON-TC-ANSWER-VERIFIED", "a source believes only a TC answer that verifies", "OSO-STAP3 WB013", MUST,
       "a documentRequest for the PO-PO pupil in a session opened for another pupil; the suite's TC answers the "
       "vendor's sessiecontrole with SessieAfwijkend, and 'Geslaagd' is written over it after signing",
       "no dossier: the answer's digest does not match, so the source does not act on it",
       "Verify every answer of the TC like any message (signature, coverage, RelatesTo, SignatureConfirmation, the "
       "TC's certificate) before you read its resultaat; an answer that does not verify is no answer."),
    _s("OSO-BRON-SESSIE-AFWIJKEND", "a session mismatch is answered SessieAfwijkend", "OSO-STAP3 OSO-RESULTAAT",
       MUST, "the same request as OSO-BRON-SESSIECONTROLE-HONOURED", "resultaat SessieAfwijkend, no dossier",
       "Pass the TC's result code on in the documentResponse's resultaat."),
    _s("OSO-BRON-ANDERE-LEVERANCIER", "a session is not served to another vendor", "OSO-STAP3 OSO-RESULTAAT", MUST,
       "a documentRequest validly signed by another qualified vendor (a second trusted certificate, another OIN), "
       "naming the session (and its doel aanleverpunt) the suite's target opened for the PO-PO pupil",
       "no dossier; resultaat LeverancierNietGeautoriseerd (the TC confirms the session, but the signer is not the "
       "vendor registered for the doel aanleverpunt)",
       "Compare the documentRequest's verified signer with the vendor registered for its doelRouteringsKenmerk (the "
       "suite's OSR-style register names it) and release nothing to anyone else (best before you call the TC on "
       "their behalf)."),
    _s("OSO-BRON-SESSIE-ONBEKEND", "an unknown session is answered SessieOnbekend", "OSO-STAP3 OSO-RESULTAAT",
       MUST, "a documentRequest with a sessieId the TC never issued",
       "resultaat SessieOnbekend, no dossier",
       "Pass the TC's result code on in the documentResponse's resultaat."),
    # ---- release rules and result codes
    _s("OSO-BRON-LEERLING-ONBEKEND", "an unknown pupil is answered LeerlingOnbekend", "OSO-STAP4 OSO-RESULTAAT",
       MUST, "a documentRequest whose zoeksleutel names a pupil the source does not have (a valid session)",
       "resultaat LeerlingOnbekend, no dossier",
       "When no pupil matches the zoeksleutel, answer LeerlingOnbekend (not a Fault, not an empty success)."),
    _s("OSO-BRON-INZAGE-ONTBREEKT", "a PO dossier without inzage is answered LeerlinginfoNietOpvraagbaar",
       "OSO-STAP4 OSO-RESULTAAT", MUST,
       "a documentRequest for the pupil whose PO dossier is ready but whose parents had no inzage",
       "resultaat LeerlinginfoNietOpvraagbaar, no dossier",
       "Release a PO-PO / PO-VO dossier only after inzage is recorded; otherwise answer LeerlinginfoNietOpvraagbaar."),
    _s("OSO-BRON-TOESTEMMING-ONTBREEKT", "a VO-VO dossier without toestemming is answered LeerlinginfoNietOpvraagbaar",
       "OSO-STAP4 OSO-RESULTAAT", MUST,
       "a documentRequest for the pupil whose VO-VO dossier is ready but without consent",
       "resultaat LeerlinginfoNietOpvraagbaar, no dossier",
       "Release a VO-VO dossier only after toestemming is recorded; otherwise answer LeerlinginfoNietOpvraagbaar."),
    _s("OSO-BRON-VERZAMELDATUM", "a dossierVerzameldatum in the future is answered VerzameldatumNietBereikt",
       "OSO-STAP4 OSO-RESULTAAT", MUST,
       "a documentRequest for the PO-PO pupil with dossierVerzameldatum a year from now",
       "resultaat VerzameldatumNietBereikt, no dossier",
       "Compare the requested dossierVerzameldatum with the date the dossier was gathered."),
    _s("OSO-BRON-PGN-NOT-IN-CLEAR", "the PGN never travels in clear", "OSO-PGN", MUST,
       "every exchange of the run (documentResponses with their HTTP headers, the source's sessiecontrole requests)",
       "no test pupil's BSN or onderwijsnummer in any encoding (digits, spaced, base64, hex, UTF-16) outside the "
       "released dossier itself",
       "Name the pupil only by zoeksleutel + pgnfrag in requests; keep PGNs out of message ids, headers, Fault texts "
       "and logs that travel."),
    # ---- hostile requests: refused with a Fault
    _s("WUS-WB003-REQUEST-UNSIGNED", "an unsigned request is refused", "WB003", MUST,
       "the PO-PO request with WS-Addressing headers but no wsse:Security",
       "a SOAP Fault (no documentResponse, no dossier)", _FAULT_FIX),
    _s("WUS-WB013-REQUEST-TAMPERED", "a request changed after signing is refused", "WB013", MUST,
       "a signed PO-PO request whose Body text (bronBrin) was changed after signing",
       "a SOAP Fault (wsse:FailedCheck)", _FAULT_FIX),
    _s("WUS-WB004-BODY-UNSIGNED", "a request whose signature does not cover the Body is refused", "WB004", MUST,
       "a PO-PO request validly signed over everything but the Body (the Body's reference removed, re-signed)",
       "a SOAP Fault (wsse:InvalidSecurity)",
       "Check that the Body you read is referenced by the signature (WB004), not only that the signature verifies."),
    _s("WUS-WB004-TO-UNSIGNED", "a request whose signature does not cover wsa:To is refused", "WB004 WSA-TO", MUST,
       "a PO-PO request validly signed over everything but wsa:To",
       "a SOAP Fault (wsse:InvalidSecurity)",
       "Require a reference to every WS-Addressing header, not only to the Body."),
    _s("WUS-WB004-REQUEST-WRAPPED", "a wrapped request (XSW) is refused", "WB004", MUST,
       "a signed request whose signed Body was moved into an unsigned wsa:ReplyTo and replaced by an unsigned Body "
       "asking for the PO-PO pupil (all digests and the SignatureValue still verify)",
       "a SOAP Fault (wsse:InvalidSecurity)",
       "Check coverage by position: the Body in its place must be the very element the reference points at; refuse "
       "a wsa:ReplyTo that is not anonymous or holds other elements."),
    _s("WUS-WB002-REQUEST-EXPIRED", "an expired request is refused", "WB002", MUST,
       "a PO-PO request signed an hour ago (Timestamp Created -1 h, Expires -55 min)",
       "a SOAP Fault (wsu:MessageExpired)",
       "Check the Timestamp: Expires not passed, Created within the freshness window (300 s, 60 s skew)."),
    _s("WUS-GW-REPLAY-REQUEST", "a replayed request is refused", "GW-REPLAY", MUST,
       "the exact bytes of the PO-PO request the source accepted before, sent again",
       "a SOAP Fault; no second dossier",
       "Remember every accepted MessageID until its Timestamp expires, shared by all your processes, and refuse one "
       "seen before."),
    _s("WUS-WSA-TO-WRONG", "a request addressed to another service is refused", "WSA-TO", MUST,
       "a signed PO-PO request with wsa:To of another aanleverpunt",
       "a SOAP Fault (wsa:DestinationUnreachable, Digikoppeling 0005)",
       "Compare wsa:To with your own public address (and ?oin= with your OIN)."),
    _s("WUS-PKI002-UNTRUSTED-CERT", "a request signed with an untrusted certificate is refused", "PKI002", MUST,
       "a PO-PO request signed with a certificate (the suite's OIN) from a CA the vendor was not told to trust",
       "a SOAP Fault (wsse:FailedAuthentication, Digikoppeling 0002)",
       "Verify the signing certificate's chain against your configured trust anchors only (not the certificate "
       "in the message, not a public bundle)."),
    _s("WUS-SIGN003-REQUEST-SHA1", "a request signed with SHA-1 is refused", "SIGN003 SIGN004", MUST,
       "a PO-PO request with SHA-1 digests and RSA-SHA1, correctly re-signed",
       "a SOAP Fault (wsse:UnsupportedAlgorithm)",
       "Allow only SHA-256/384/512 digests and RSA with SHA-256/384/512 (WSS4J: set allowed algorithms)."),
    _s("WUS-PKI001-FROM-MISMATCH", "a request whose wsa:From names another OIN than its certificate is refused",
       "PKI001 WSA-FROM", MUST,
       "a PO-PO request signed by the suite whose wsa:From carries another OIN",
       "a SOAP Fault (wsse:FailedAuthentication)",
       "Bind the sender to the signing certificate: the OIN in wsa:From must be the certificate's OIN."),
    _s("WUS-WS002-SOAPACTION-MISMATCH", "a request whose SOAPAction differs from wsa:Action is refused", "WS002",
       MUST, "a signed PO-PO request sent with the HTTP header SOAPAction: \"urn:other\"",
       "a SOAP Fault (Digikoppeling 0003)", "Refuse a SOAPAction that is neither empty nor equal to wsa:Action."),
    _s("WUS-R1008-REQUEST-DTD", "a request with a DTD is refused", "R1008", MUST,
       "the signed PO-PO request with an internal DOCTYPE declaring an entity in front of the Envelope",
       "a SOAP Fault (soapenv:Client, Digikoppeling 0001), before anything is read",
       "Parse with DTDs, entities and external references refused (lxml: resolve_entities=False, no_network=True; "
       "refuse a DOCTYPE outright: WS-I BP R1008)."),
    _s("WUS-WB004-TIMESTAMP-UNSIGNED", "a request whose signature does not cover the Timestamp is refused", "WB004",
       MUST, "a PO-PO request validly signed over everything but the wsu:Timestamp",
       "a SOAP Fault (wsse:InvalidSecurity)",
       "Require a reference to the Timestamp: an unsigned Timestamp can be refreshed by anyone, and replay with it."),
    _s("WUS-WB004-MESSAGEID-UNSIGNED", "a request whose signature does not cover wsa:MessageID is refused",
       "WB004 WSA-MESSAGEID", MUST, "a PO-PO request validly signed over everything but wsa:MessageID",
       "a SOAP Fault (wsse:InvalidSecurity)",
       "Require a reference to every WS-Addressing header: an unsigned MessageID defeats replay detection."),
    _s("WUS-WB004-ACTION-UNSIGNED", "a request whose signature does not cover wsa:Action is refused",
       "WB004 WSA-ACTION", MUST, "a PO-PO request validly signed over everything but wsa:Action",
       "a SOAP Fault (wsse:InvalidSecurity)", "Require a reference to every WS-Addressing header, wsa:Action too."),
    _s("WUS-WB004-FROM-UNSIGNED", "a request whose signature does not cover wsa:From is refused", "WB004 WSA-FROM",
       MUST, "a PO-PO request validly signed over everything but wsa:From (present, with the signer's OIN)",
       "a SOAP Fault (wsse:InvalidSecurity)",
       "Require a reference to every WS-Addressing header that is present, wsa:From too."),
    _s("WUS-WB002-NO-TIMESTAMP", "a request without a Timestamp is refused", "WB002", MUST,
       "a PO-PO request validly signed, without wsu:Timestamp", "a SOAP Fault (wsse:InvalidSecurity)",
       "Require one wsu:Timestamp with Created in wsse:Security (WSS4J: the Timestamp action is required)."),
    _s("WUS-WB002-REQUEST-FUTURE", "a request whose Timestamp lies in the future is refused", "WB002", MUST,
       "a PO-PO request signed with Created an hour ahead", "a SOAP Fault (wsu:MessageExpired)",
       "Allow a stated clock skew (60 s) for Created in the future, no more (WSS4J: futureTimeToLive)."),
    _s("WUS-PKI002-CERT-EXPIRED", "a request signed with an expired certificate is refused", "PKI002", MUST,
       "a PO-PO request signed with a certificate of the suite's trusted CA that expired yesterday",
       "a SOAP Fault (wsse:FailedAuthentication, Digikoppeling 0002)",
       "Check the signing certificate's validity period at the time of receipt, not only its chain."),
    _s("WUS-PKI002-CERT-NOT-YET-VALID", "a request signed with a certificate not yet valid is refused", "PKI002",
       MUST, "a PO-PO request signed with a certificate of the suite's trusted CA valid from next month",
       "a SOAP Fault (wsse:FailedAuthentication, Digikoppeling 0002)",
       "Check notBefore as well as notAfter of the signing certificate."),
    _s("WUS-PKI002-CERT-REVOKED", "a request signed with a revoked certificate is refused", "PKI002", MUST,
       "a PO-PO request signed with a certificate of the suite's trusted CA that its CRL lists as revoked",
       "a SOAP Fault (wsse:FailedAuthentication, Digikoppeling 0002)",
       "Load the CRLs of every CA you trust (the suite's crl.pem too), refuse a certificate they list, reload them "
       "when they change, and refuse (fail closed) when a CA's CRL is missing or out of date."),
    _s("WUS-GW-KEYUSAGE-CERT", "a request signed with a certificate not meant for signing is refused",
       "GW-KEYUSAGE PKI002", MUST,
       "a PO-PO request signed with a certificate of the suite's trusted CA whose keyUsage lacks digitalSignature",
       "a SOAP Fault (wsse:FailedAuthentication)",
       "Check the signing certificate's keyUsage: digitalSignature (or nonRepudiation) must be set."),
    _s("WUS-PKI001-CERT-NO-OIN", "a request signed with a certificate that names no OIN is refused", "PKI001",
       MUST, "a PO-PO request signed with a certificate of the suite's trusted CA without subject.serialNumber",
       "a SOAP Fault (wsse:FailedAuthentication)",
       "Take the sender's OIN from the signing certificate's subject.serialNumber only, and refuse a certificate "
       "that carries none (never fall back on wsa:From)."),
    _s("WUS-WSA-ACTION-MISSING", "a request without wsa:Action is refused", "WSA-ACTION", MUST,
       "a PO-PO request validly signed without wsa:Action, sent with an empty SOAPAction",
       "a SOAP Fault (wsa:MessageAddressingHeaderRequired, Digikoppeling 0006)",
       "Require wsa:Action on every request, and dispatch on it together with the Body's element."),
    _s("WUS-WSA-TO-MISSING", "a request without wsa:To is refused", "WSA-TO", MUST,
       "a PO-PO request validly signed without wsa:To",
       "a SOAP Fault (wsa:MessageAddressingHeaderRequired, Digikoppeling 0005)",
       "Require wsa:To on every request and compare it with your own address."),
    _s("WUS-WSA-ACTION-WRONG", "a request whose wsa:Action names another operation is refused", "WSA-ACTION", MUST,
       "a signed documentRequest whose wsa:Action (and SOAPAction) is the documentResponse action",
       "a SOAP Fault (wsa:ActionNotSupported or wsa:InvalidAddressingHeader, Digikoppeling 0006)",
       "Bind wsa:Action to the operation of the Body's element: dispatch on the Body, then compare the Action."),
    _s("WUS-WSA-MESSAGEID-MISSING", "a request without wsa:MessageID is refused", "WSA-MESSAGEID", MUST,
       "a PO-PO request validly signed without wsa:MessageID",
       "a SOAP Fault (wsa:MessageAddressingHeaderRequired, Digikoppeling 0007)",
       "Require wsa:MessageID (an absolute URI) on every request: without it replay cannot be detected."),
    _s("WUS-GW-XSD-REQUEST", "a request that breaks the published contract is refused", "GW-XSD", MUST,
       "a validly signed documentRequest with an element the contract does not know",
       "a SOAP Fault (soapenv:Client, Digikoppeling 0004), no documentResponse",
       "Validate the Body against xsd/overstapservice-20200910.xsd after verification and before the business rules; "
       "answer a Fault for a request that breaks it (a result code is for requests the chain's rules refuse)."),
    _s("WUS-FAULT-SIGNED", "refusals are signed Faults that name the rule", "WB003 WB014", MUST,
       "the hostile requests above",
       "each Fault is signed by the vendor (RelatesTo and SignatureConfirmation where the request could be read)",
       "Sign Faults like any response, with a reason that names the failed rule and leaks nothing."),
    _s("WUS-FAULT-QUALITY", "each refusal carries the standard fault code of its check and names the rule",
       "WB003 WB013", MUST, "the hostile requests above",
       "each Fault's faultcode is a standard code of the failed check (wsse:FailedCheck for a digest, "
       "wsu:MessageExpired for a Timestamp, …: docs/faults.md) and its faultstring or detail names the rule "
       "(its id, e.g. WB013, or its Digikoppeling code)",
       "Map each check to its fault code and put the rule id in the reason (docs/faults.md lists both); a generic "
       "soap:Server 'error' tells the sender nothing it can fix."),
)

# What counts as a refusal "for the probed reason" of each hostile scenario, besides a Fault that names one of the
# scenario's rules: the standard fault codes (and Digikoppeling codes) a careful WS-Security stack answers for that
# check. A Fault that names another rule, or carries another code and names none, is "refused for another reason".
REFUSALS: dict[str, tuple[str, ...]] = {
    "WUS-WB003-REQUEST-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB013-REQUEST-TAMPERED": (FAILED_CHECK,),
    "WUS-WB004-BODY-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB004-TO-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB004-REQUEST-WRAPPED": (INVALID_SECURITY, FAILED_CHECK, INVALID_ADDRESSING),
    "WUS-WB002-REQUEST-EXPIRED": (MESSAGE_EXPIRED,),
    "WUS-GW-REPLAY-REQUEST": (INVALID_SECURITY,),
    "WUS-WSA-TO-WRONG": (DESTINATION_UNREACHABLE, INVALID_ADDRESSING, "0005"),
    "WUS-PKI002-UNTRUSTED-CERT": (FAILED_AUTHENTICATION, INVALID_TOKEN, "0002"),
    "WUS-SIGN003-REQUEST-SHA1": (UNSUPPORTED_ALGORITHM, INVALID_SECURITY),
    "WUS-PKI001-FROM-MISMATCH": (FAILED_AUTHENTICATION, INVALID_ADDRESSING, "0002"),
    "WUS-WS002-SOAPACTION-MISMATCH": (ACTION_MISMATCH, INVALID_ADDRESSING, "0003"),
    "WUS-R1008-REQUEST-DTD": (SOAP_CLIENT, "0001"),
    "WUS-WB004-TIMESTAMP-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB004-MESSAGEID-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB004-ACTION-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB004-FROM-UNSIGNED": (INVALID_SECURITY,),
    "WUS-WB002-NO-TIMESTAMP": (INVALID_SECURITY,),
    "WUS-WB002-REQUEST-FUTURE": (MESSAGE_EXPIRED, INVALID_SECURITY),
    "WUS-PKI002-CERT-EXPIRED": (FAILED_AUTHENTICATION, INVALID_TOKEN, "0002"),
    "WUS-PKI002-CERT-NOT-YET-VALID": (FAILED_AUTHENTICATION, INVALID_TOKEN, "0002"),
    "WUS-PKI002-CERT-REVOKED": (FAILED_AUTHENTICATION, INVALID_TOKEN, "0002"),
    "WUS-GW-KEYUSAGE-CERT": (FAILED_AUTHENTICATION, INVALID_TOKEN, "0002"),
    "WUS-PKI001-CERT-NO-OIN": (FAILED_AUTHENTICATION, INVALID_TOKEN, "0002"),
    "WUS-WSA-ACTION-MISSING": (ADDRESSING_REQUIRED, INVALID_ADDRESSING, ACTION_NOT_SUPPORTED, "0006"),
    "WUS-WSA-TO-MISSING": (ADDRESSING_REQUIRED, DESTINATION_UNREACHABLE, INVALID_ADDRESSING, "0005"),
    "WUS-WSA-ACTION-WRONG": (ACTION_NOT_SUPPORTED, INVALID_ADDRESSING, "0006"),
    "WUS-WSA-MESSAGEID-MISSING": (ADDRESSING_REQUIRED, INVALID_ADDRESSING, "0007"),
    "WUS-GW-XSD-REQUEST": (SOAP_CLIENT, "0004"),
}
SOURCE_SCENARIOS = tuple(replace(sc, accepts=REFUSALS[sc.id]) if sc.id in REFUSALS else sc
                         for sc in SOURCE_SCENARIOS)

TARGET_SCENARIOS: tuple[Scenario, ...] = (
    _s("OSO-DOEL-TRANSFERS-SEEN", "every transfer the suite asked for was run", "OSO-STAP1 OSO-STAP2", MUST,
       "(the vendor's target runs the transfers the suite prints)",
       "for each listed transfer an overdrachtRequest for that pupil (by zoeksleutel) reaches the suite's TC and, "
       "where the TC hands out an aanleverpunt, a documentRequest reaches the suite's test school",
       "Run each transfer the suite printed, against the TC URL the suite printed, before the timeout.",
       role=TARGET),
    _s("WUS-DOEL-OVERDRACHT-SIGNED", "overdrachtRequest signed and addressed per the profile",
       "WB003 WB004 SIGN003 WB010 WB013 PKI001 PKI002 WSA-TO WSA-ACTION WS002 GW-XSD", MUST,
       "(the vendor's overdrachtRequests)",
       "each verifies at the suite's TC: signed over Body, Timestamp and every wsa header with SHA-2 and a direct "
       "token reference, a trusted certificate of the vendor's OIN, wsa:To the TC's address, Action = SOAPAction and "
       "the Body's operation, Body valid against xsd/overstapservice-20200910.xsd",
       "See the rule in the Fault the suite's TC answered (evidence); `oso-gateway verify` judges a message offline.",
       role=TARGET),
    _s("WUS-DOEL-DOCUMENTREQUEST-SIGNED", "documentRequest signed and addressed per the profile",
       "WB003 WB004 SIGN003 WB010 WB013 PKI001 PKI002 WSA-TO WSA-ACTION WS002 GW-XSD", MUST,
       "(the vendor's documentRequests)",
       "each verifies at the suite's test school, addressed to the aanleverpunt's address (the OSR-style register's, "
       "or the url of the overdrachtResponse)",
       "Send the documentRequest to the aanleverpunt's address, signed like every request.",
       role=TARGET),
    _s("WUS-DOEL-AFMELDING-SIGNED", "afmeldingRequest signed and addressed per the profile",
       "WB003 WB004 SIGN003 WB010 WB013 PKI001 PKI002 WSA-TO WSA-ACTION WS002 GW-XSD", MUST,
       "(the vendor's afmeldingRequests)", "each verifies at the suite's TC",
       "Sign the afmelding like every request, addressed to the TC.", role=TARGET),
    _s("OSO-DOEL-SESSIE-FIELDS", "the documentRequest repeats the session's fields", "OSO-STAP2", MUST,
       "(the vendor's documentRequests)",
       "sessieId, BRINs, doelRouteringsKenmerk, overdrachtsoort and zoeksleutelPgnfrag equal those of the "
       "overdrachtRequest; bronRouteringsKenmerk is one the TC handed out",
       "Send the documentRequest with exactly the identifying fields of the session you opened.", role=TARGET),
    _s("OSO-DOEL-AFMELDING-SENT", "every session opened is closed with afmelding", "OSO-STAP5", MUST,
       "(the vendor's sessions)", "an afmeldingRequest for every sessieId the suite's TC issued, answered "
       "OverdrachtGeslaagd (the TC registered it)",
       "Close each session with afmeldingRequest after asking the aanleverpunten, also when delivery failed.",
       role=TARGET),
    _s("OSO-DOEL-AFMELDING-BEST-RESULT", "afmelding reports the best result and the aanleverpunt that gave it",
       "OSO-STAP5", MUST, "(the vendor's afmeldingRequests)",
       "resultaat = the best of what the aanleverpunten asked answered (docs/resultaatcodes.md's order; ties: the last "
       "one asked) and bronRouteringsKenmerk = the aanleverpunt that gave it; an answer not signed by the "
       "aanleverpunt's leverancierOin is not a success",
       "Rank each aanleverpunt's resultaat by the table's order, take the best (the last one asked on a tie) and "
       "report it with that aanleverpunt; an answer signed by another OIN than the leverancierOin the TC named did "
       "not verify.", role=TARGET),
    _s("OSO-DOEL-ZOEKSLEUTEL", "the pupil is named by the zoeksleutel of the chain's scheme", "OSO-PGN", MUST,
       "(the vendor's overdracht and documentRequests)",
       "zoeksleutel = base64(version, key id, HMAC-SHA256(chain key, label, bronBrin, doelBrin, PGN)) for the test "
       "pupil, with its pgnfrag (four keyed check digits)", "Compute the zoeksleutel and pgnfrag as "
       "docs/zoeksleutel.md describes, with the chain key the suite uses (--zoeksleutel-key).", role=TARGET),
    _s("OSO-DOEL-PGN-NOT-IN-CLEAR", "the PGN never travels in clear", "OSO-PGN", MUST,
       "(every byte the vendor's target sent, HTTP headers included)",
       "no test pupil's BSN in any encoding (digits, spaced, base64, hex, UTF-16)",
       "Keep PGNs out of requests, message ids and headers: the zoeksleutel names the pupil.", role=TARGET),
    _s("OSO-DOEL-FAULT-NO-RETRY-STORM", "a signed Fault from the TC is handled without a retry storm", "OSO-FAULT",
       MUST, "the suite's TC answers every overdrachtRequest for the 'storing' school with a signed Fault "
       "(soap:Server, Digikoppeling 0051)",
       "the vendor tries at least once and at most 4 times in all (1 + 3 retries), not faster than one per second",
       "Treat a Fault as an answer: report it; retry a Server fault only a few times, with back-off.", role=TARGET),
    _s("WUS-DOEL-NO-REPLAY", "no message of the vendor is sent twice", "GW-REPLAY WSA-MESSAGEID", MUST,
       "(every message the vendor's target sent, retries included)",
       "each wsa:MessageID is used once; a retry is a new, newly signed message",
       "Make a new MessageID, Timestamp and signature for every attempt; never resend stored bytes.", role=TARGET),
    _s("WUS-DOEL-ANSWER-TAMPERED", "an answer changed after signing is not believed", "WB013 OSO-STAP5", MUST,
       "for the transfer from 03YY the suite's test school answers OverdrachtGeslaagd with the dossier, and its Body "
       "is changed after signing", "afmelding reports no success for that session (e.g. OngeldigVerzoek)",
       "Verify every answer before you read it (WB013: every digest and the SignatureValue); an answer that does not "
       "verify is no answer: report it, e.g. OngeldigVerzoek.", role=TARGET),
    _s("WUS-DOEL-ANSWER-BODY-UNSIGNED", "an answer whose signature does not cover the Body is not believed",
       "WB004 OSO-STAP5", MUST, "for the transfer from 04YY the answer is signed over everything but the Body",
       "afmelding reports no success for that session",
       "Require the answer's signature to cover the Body, the Timestamp and every wsa header where they stand.",
       role=TARGET),
    _s("WUS-DOEL-ANSWER-EXPIRED", "an expired answer is not believed", "WB002 OSO-STAP5", MUST,
       "for the transfer from 05YY the answer's Timestamp is an hour old (signed so)",
       "afmelding reports no success for that session",
       "Check the Timestamp of every answer as of a request: Expires not passed, Created within the window.",
       role=TARGET),
    _s("WUS-DOEL-ANSWER-NO-CONFIRMATION", "an answer without SignatureConfirmation is not believed",
       "WB014 OSO-STAP5", MUST, "for the transfer from 06YY the answer carries no SignatureConfirmation",
       "afmelding reports no success for that session",
       "Require wsse11:SignatureConfirmation with your request's SignatureValue in every answer (WSS4J: "
       "enableSignatureConfirmation=true on the client too).", role=TARGET),
    _s("WUS-DOEL-ANSWER-RELATESTO", "an answer that relates to another message is not believed",
       "WSA-RELATESTO OSO-STAP5", MUST, "for the transfer from 07YY the answer's RelatesTo names another message",
       "afmelding reports no success for that session",
       "Compare the answer's wsa:RelatesTo with your request's MessageID.", role=TARGET),
    _s("WUS-DOEL-ANSWER-UNTRUSTED", "an answer signed with an untrusted certificate is not believed",
       "PKI002 OSO-STAP5", MUST, "for the transfer from 08YY the answer is signed with a certificate (the suite's "
       "OIN) of a CA you were not told to trust", "afmelding reports no success for that session",
       "Check the answer's certificate against your trust anchors (and that its OIN is the leverancierOin the TC "
       "named for the aanleverpunt).", role=TARGET),
    _s("OSO-DOEL-FINDINGS-SURFACED", "a received dossier's findings are shown to the school", "OSO-BEVINDINGEN",
       SHOULD,
       "for the 'bevindingen' transfer the suite's test school releases a dossier with a known finding "
       "(DOS-CAT-VERBODEN: data of a VERBODEN category)",
       "the vendor's report of the run (--surfaced FILE: a log or export of what the school was shown) names the "
       "finding's rule id DOS-CAT-VERBODEN",
       "Validate every received dossier (`oso-gateway validate`, or the official bundle) and show the school each "
       "finding with its rule id.", role=TARGET),
)

SCENARIOS: tuple[Scenario, ...] = SOURCE_SCENARIOS + TARGET_SCENARIOS
BY_ID: dict[str, Scenario] = {s.id: s for s in SCENARIOS}
assert len(BY_ID) == len(SCENARIOS), "scenario ids are unique"


def for_role(role: str) -> tuple[Scenario, ...]:
    return tuple(s for s in SCENARIOS if s.role == role)


def rule_text(rule: str) -> str:
    return RULE_TEXTS.get(rule, "")
