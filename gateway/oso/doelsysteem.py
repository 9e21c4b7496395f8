"""The rules of a target's notification endpoint (contract wsdl/doelsysteem-1.wsdl), sans-IO.

SWV / notification flow: a source announces a dossier at the TC (``meldenNotificatie``), gets a koppelsleutel and
the target's notification endpoint, and pushes ``notificatieRequest`` there. The target records the koppelsleutel
with who sent it (the OIN of the verified signer) and later starts a transfer with it (``overdracht`` with the
koppelsleutel instead of a zoeksleutel). Whether the koppelsleutel is genuine is the TC's to judge when the target
uses it; the target only accepts notifications for aanleverpunten it serves, from the vendor the register names for
the source's aanleverpunt (``bronRouteringskenmerk``): any other party of the PKI could otherwise push koppelsleutels
in that vendor's name. The reference target shares the register with the TC, so a bronRouteringskenmerk it does not
know is refused as well.

A source's feedback (``terugkoppelingRequest``) on a session or a notification is recorded as it came, once the same
holds: it is signed by the vendor registered for the source's aanleverpunt, and that aanleverpunt is of the BRIN the
feedback names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from .register import Aanleverpunt


@dataclass(frozen=True)
class OntvangenNotificatie:
    """A koppelsleutel pushed to this target."""

    koppelsleutel: str
    afzender_oin: str  # the verified signer of the notificatieRequest
    bron_brin: str
    bron_routeringskenmerk: str
    doel_brin: str
    doel_routeringskenmerk: str
    overdrachtsoort: str
    ontvangen: datetime
    opgehaald: datetime | None = None  # when this target used it in a transfer
    sessie_id: str | None = None
    resultaat: str | None = None  # the transfer's result

    def same_notice(self, other: "OntvangenNotificatie") -> bool:
        """The same announcement (a source that sends it again after a lost answer), whenever it arrived."""
        keys = ("koppelsleutel", "afzender_oin", "bron_brin", "bron_routeringskenmerk", "doel_brin",
                "doel_routeringskenmerk", "overdrachtsoort")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class OntvangenTerugkoppeling:
    afzender_oin: str
    bron_brin: str
    bron_routeringskenmerk: str
    sessie_id: str | None
    koppelsleutel: str | None
    tekst: str
    ontvangen: datetime


def ontvang_notificatie(notice: OntvangenNotificatie, *, own_oin: str, bron: Aanleverpunt | None,
                        doel: Aanleverpunt | None, known: OntvangenNotificatie | None) -> tuple[str, bool]:
    """(result code, whether to store ``notice``). ``bron`` and ``doel`` are the register's entries for the notice's
    bron and doel routeringskenmerk, ``known`` a notification already recorded under the same koppelsleutel."""
    if bron is None or bron.vendor_oin != notice.afzender_oin:
        return "OnbekendAanleverpunt", False  # not signed by the vendor registered for it (or not registered)
    if doel is None or not doel.actief or doel.brin != notice.doel_brin or doel.vendor_oin != own_oin:
        return "AfnemerNietBekend", False  # not an aanleverpunt this target serves
    if known is not None:
        return ("Geslaagd", False) if known.same_notice(notice) else ("OngeldigVerzoek", False)
    return "Geslaagd", True


def ontvang_terugkoppeling(feedback: OntvangenTerugkoppeling, *, bron: Aanleverpunt | None) -> str:
    """The result code for ``feedback``; ``bron`` is the register's entry for its bronRouteringskenmerk."""
    if bron is None or bron.vendor_oin != feedback.afzender_oin or bron.brin != feedback.bron_brin:
        return "OnbekendAanleverpunt"  # not signed by the vendor registered for it (or not registered)
    if (feedback.sessie_id is None) == (feedback.koppelsleutel is None):
        return "OngeldigVerzoek"
    return "Geslaagd"

