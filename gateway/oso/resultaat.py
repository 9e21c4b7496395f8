"""The result codes of the chain: one versioned table (the XSD enumeration in xsd/oso-types-1.xsd mirrors it, and a
test holds the two equal). Each code says what it means, who returns it, and what the caller should do.

``rank`` orders outcomes for afmelding: the session closes with the best result over all aanleverpunten asked
(ties: the last one asked). Lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

TABLE_VERSION = "1"


@dataclass(frozen=True)
class Code:
    code: str
    meaning: str
    returned_by: str
    caller_should: str
    rank: int


_CODES = [
    Code("Geslaagd", "the request was carried out", "TC, bron, doel",
         "go on with the next step", 0),
    Code("OverdrachtGeslaagd", "the dossier was delivered", "bron (documentResponse); doel in afmelding",
         "import the dossier; close the session with afmelding", 0),
    Code("LeveringGeweigerd", "the source refuses to release the dossier", "bron",
         "do not retry; the new school contacts the old school", 10),
    Code("DossierNietKlaargezet", "no dossier has been prepared (klaargezet) for this pupil", "bron",
         "ask the old school to prepare the dossier, then start a new transfer", 11),
    Code("InzageOntbreekt", "parents have not yet had inzage (PO-PO, PO-VO)", "bron",
         "ask the old school to record inzage, then start a new transfer", 12),
    Code("ToestemmingOntbreekt", "no toestemming (consent) was given (VO-VO)", "bron",
         "ask the old school to record consent, then start a new transfer", 12),
    Code("VerzameldatumNietBereikt", "the dossier was gathered before the requested dossierVerzameldatum", "bron",
         "try again later, or ask without a verzameldatum", 13),
    Code("LeerlingOnbekend", "the source knows no pupil with this zoeksleutel", "bron",
         "check the pupil's number and the source school", 20),
    Code("SessieAfwijkend", "the request does not match the session (parties, overdrachtsoort, zoeksleutel)",
         "TC (sessiecontrole)", "the source refuses; the target checks what it sent", 30),
    Code("OnbekendAanleverpunt", "the aanleverpunt is unknown, inactive, or not the caller's",
         "TC; doel (notificatie)",
         "check the routeringskenmerk and the register", 30),
    Code("GeenRelatieMetDoel", "binnen-BRIN transfer, but the BRINs of bron and doel differ", "TC",
         "use overstapdossier, or the right BRIN", 30),
    Code("SessieOnbekend", "no session with this sessieId", "TC", "start a new transfer", 30),
    Code("SessieReedsAfgemeld", "the session was already closed", "TC", "start a new transfer", 30),
    Code("SessieVerlopen", "the session has expired", "TC", "start a new transfer", 30),
    Code("VerstrekkerNietBekend", "the source school is unknown to the TC or its vendor is not qualified", "TC",
         "check the source BRIN; the servicedesk checks the register", 40),
    Code("AfnemerNietBekend", "the target school or aanleverpunt is unknown to the TC", "TC",
         "check the target BRIN and routeringskenmerk", 40),
    Code("LeverancierNietGeautoriseerd",
         "the caller is not the registered, qualified vendor of the aanleverpunt it acts for", "TC",
         "sign with the certificate of the vendor registered for that aanleverpunt", 40),
    Code("GeenAanleverpunt", "the source school has no active aanleverpunt", "TC",
         "the old school's vendor must register an aanleverpunt", 40),
    Code("KoppelsleutelOnbekend", "no notification with this koppelsleutel for this target", "TC",
         "check the notification, or start with a zoeksleutel", 40),
    Code("OngeldigVerzoek", "the request's fields are inconsistent (e.g. both zoeksleutel and koppelsleutel)",
         "TC, bron", "fix the request", 50),
    Code("TrafficCenterNietBeschikbaar", "the Traffic Center could not be reached or failed", "bron, doel (client)",
         "retry later with back-off; contact the servicedesk when it persists", 60),
    Code("Timeout", "a party did not answer in time", "doel, bron (client)", "retry later with back-off", 60),
]

CODES: dict[str, Code] = {c.code: c for c in _CODES}
Resultaat = Enum("Resultaat", {c.code: c.code for c in _CODES}, type=str)

SUCCESS = frozenset({"Geslaagd", "OverdrachtGeslaagd"})


def best(results: list[str]) -> str:
    """The best result over all aanleverpunten asked, in the order asked; ties go to the last one asked."""
    if not results:
        raise ValueError("no results to choose from")
    chosen = results[0]
    for r in results[1:]:
        if CODES[r].rank <= CODES[chosen].rank:
            chosen = r
    return chosen


def markdown_table() -> str:
    rows = ["| code | meaning | returned by | the caller should |", "|---|---|---|---|"]
    rows += [f"| `{c.code}` | {c.meaning} | {c.returned_by} | {c.caller_should} |" for c in _CODES]
    return "\n".join(rows)
