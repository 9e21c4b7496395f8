"""The result codes of the chain: one versioned table. The ``Resultaat`` enumeration of
xsd/overstapservice-20200910.xsd and docs/resultaatcodes.md mirror it; a test holds the three equal.

Each code says where it comes from (``bron``: read in the public record, ../shared/docs/oso-wire.md §4 — or chosen
by the gateway where the record is silent), what it means, who returns it and what the caller should do.

``rank`` orders outcomes for afmelding: the doel reports the best result over all aanleverpunten asked (ties: the
last one asked). Lower is better. The chain's own results table is not public; this order is the gateway's
(oso-wire.md §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

TABLE_VERSION = "2"

SEEN, SEEN_OLD, OURS = "read", "read (OSO'15-'17)", "gateway"


@dataclass(frozen=True)
class Code:
    code: str
    meaning: str
    returned_by: str
    caller_should: str
    rank: int
    bron: str = OURS  # where the code comes from: SEEN, SEEN_OLD or OURS


_CODES = [
    Code("Geslaagd", "the request was carried out", "TC, doel",
         "go on with the next step", 0),
    Code("OverdrachtGeslaagd", "the dossier was delivered; in an afmeldingResponse: the TC registered the afmelding",
         "bron (documentResponse); doel (afmelding); TC (afmeldingResponse)",
         "import the dossier; close the session with afmelding", 0, SEEN_OLD),
    Code("NotificatieOntvangen", "the notification was received", "doel (notificatieResponse)",
         "nothing: the target starts a transfer with the koppelsleutel when it is ready", 0, SEEN_OLD),
    Code("LeveringGeweigerd", "the source refuses to release the dossier", "bron",
         "do not retry; the new school contacts the old school", 10, SEEN_OLD),
    Code("LeerlinginfoNietBeschikbaar", "no dossier has been prepared (klaargezet) for this pupil, or none of this "
         "kind of transfer", "bron", "ask the old school to prepare the dossier, then start a new transfer", 11,
         SEEN_OLD),
    Code("LeerlinginfoNietOpvraagbaar", "the dossier may not be fetched yet: parents have had no inzage (PO-PO, "
         "PO-VO) or gave no toestemming (VO-VO)", "bron",
         "ask the old school to record inzage or toestemming, then start a new transfer", 12, SEEN_OLD),
    Code("VerzameldatumNietBereikt", "the dossier was gathered before the requested dossierVerzameldatum", "bron",
         "try again later, or ask without a verzameldatum", 13),
    Code("LeerlingOnbekend", "the source knows no pupil with this zoeksleutel", "bron",
         "check the pupil's number and the source school", 20),
    Code("SessieAfwijkend", "the request does not match the session (BRINs, overdrachtsoort, zoeksleutel or "
         "koppelsleutel, the bron aanleverpunt)", "TC (sessiecontrole, afmelding); bron",
         "the source refuses; the target checks what it sent", 30, SEEN_OLD),
    Code("OnbekendAanleverpunt", "the aanleverpunt is unknown or inactive, or the doel aanleverpunt is not the "
         "session's", "TC; bron; doel (notificatie)", "check the routeringskenmerk and the register", 30, SEEN_OLD),
    Code("GeenRelatieMetDoel", "binnen-BRIN transfer, but the BRINs of bron and doel differ", "TC",
         "use overstapdossier, or the right BRIN", 30, SEEN_OLD),
    Code("SessieOnbekend", "no session with this sessieId (doel: no session in which this target fetched the "
         "dossier from that source)", "TC; doel", "start a new transfer", 30),
    Code("SessieReedsAfgemeld", "the session was already closed", "TC", "start a new transfer", 30, SEEN_OLD),
    Code("SessieVerlopen", "the session has expired", "TC", "start a new transfer", 30),
    Code("VerstrekkerNietBekend", "the source school is unknown to the TC or its vendor is not qualified", "TC",
         "check the source BRIN; the servicedesk checks the register", 40, SEEN_OLD),
    Code("AfnemerNietBekend", "the target school or aanleverpunt is unknown to the TC", "TC; doel",
         "check the target BRIN and routeringskenmerk", 40),
    Code("LeverancierNietGeautoriseerd",
         "the caller is not the registered, qualified vendor of the aanleverpunt it acts for", "TC; bron; doel",
         "sign with the certificate of the vendor registered for that aanleverpunt", 40),
    Code("GeenAanleverpunt", "the source school has no active aanleverpunt", "TC",
         "the old school's vendor must register an aanleverpunt", 40),
    Code("KoppelsleutelOnbekend", "no notification with this koppelsleutel for these aanleverpunten", "TC; doel",
         "check the notification, or start with a zoeksleutel", 40),
    Code("OngeldigVerzoek", "the request's fields do not fit together (e.g. doel OV without a sessieId)",
         "TC, bron, doel", "fix the request", 50),
    Code("TrafficCenterNietBeschikbaar", "the Traffic Center could not be reached or failed", "bron, doel (client)",
         "retry later with back-off; contact the servicedesk when it persists", 60),
    Code("Timeout", "a party did not answer in time", "doel, bron (client)", "retry later with back-off", 60),
]

CODES: dict[str, Code] = {c.code: c for c in _CODES}
Resultaat = Enum("Resultaat", {c.code: c.code for c in _CODES}, type=str)

SUCCESS = frozenset({"Geslaagd", "OverdrachtGeslaagd", "NotificatieOntvangen"})


def best(results: list[str]) -> str:
    """The best result over all aanleverpunten asked, in the order asked; ties go to the last one asked."""
    return results[best_index(results)]


def best_index(results: list[str]) -> int:
    """Where the best result stands in ``results`` (the order asked; ties: the last one)."""
    if not results:
        raise ValueError("no results to choose from")
    chosen = 0
    for i, r in enumerate(results[1:], 1):
        if CODES[r].rank <= CODES[results[chosen]].rank:
            chosen = i
    return chosen


def markdown_table() -> str:
    rows = ["| code | from | meaning | returned by | the caller should |", "|---|---|---|---|---|"]
    rows += [f"| `{c.code}` | {c.bron} | {c.meaning} | {c.returned_by} | {c.caller_should} |" for c in _CODES]
    return "\n".join(rows)
