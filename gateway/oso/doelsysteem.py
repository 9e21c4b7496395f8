"""The rules of a school system's notification endpoint (contract wsdl/doelsysteem-20200910.wsdl), sans-IO.

Two messages arrive here from outside the TC:

- ``notificatieRequest`` (bron -> doel): a source pushes a koppelsleutel the TC issued. ``doel`` SWV: a dossier for a
  samenwerkingsverband; OV: an update of a dossier this target fetched earlier. The target records it with who sent it
  (the OIN of the verified signer) and later starts a transfer with it (``overdracht`` with the koppelsleutel). It
  accepts a notification only for an aanleverpunt it serves, from the vendor the register names for the source's
  aanleverpunt (``bronRouteringsKenmerk``): any other party of the PKI could otherwise push koppelsleutels in that
  vendor's name. Whether the koppelsleutel is genuine is the TC's to judge when the target uses it.
- ``terugkoppelingRequest`` (SWV system -> the school's LAS): feedback on a dossier the school announced. ``bron`` is
  the SWV system, ``doel`` the LAS; accepted from the vendor registered for the SWV's aanleverpunt, for an
  aanleverpunt this system serves.
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
    doel: str  # OV | SWV
    overdrachtsoort: str  # the transfer the koppelsleutel opens (``overdrachtsoort_voor``)
    ontvangen: datetime
    opgehaald: datetime | None = None  # when this target used it in a transfer
    sessie_id: str | None = None
    resultaat: str | None = None  # the transfer's result

    def same_notice(self, other: "OntvangenNotificatie") -> bool:
        """The same announcement (a source that sends it again after a lost answer), whenever it arrived."""
        keys = ("koppelsleutel", "afzender_oin", "bron_brin", "bron_routeringskenmerk", "doel_brin",
                "doel_routeringskenmerk", "doel", "overdrachtsoort")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class OntvangenTerugkoppeling:
    afzender_oin: str
    bron_brin: str  # the SWV system that gives the feedback
    bron_routeringskenmerk: str
    doel_brin: str  # the school (this system's aanleverpunt) that receives it
    doel_routeringskenmerk: str
    koppelsleutel: str
    tekst: str
    ontvangen: datetime


def overdrachtsoort_voor(doel: str, bron_brin: str, doel_brin: str) -> str:
    """The overdrachtsoort a koppelsleutel of this notification opens: swv-dossier for SWV; for OV the earlier
    transfer's kind, overdrachtbinnenbrin when both schools share a BRIN, else overstapdossier."""
    if doel == "SWV":
        return "swv-dossier"
    return "overdrachtbinnenbrin" if bron_brin == doel_brin else "overstapdossier"


def _afzender(bron: Aanleverpunt | None, brin: str, afzender_oin: str) -> str | None:
    """None when ``bron`` is a registered aanleverpunt of ``brin`` served by the signer, else the result code."""
    if bron is None or bron.brin != brin:
        return "OnbekendAanleverpunt"
    if bron.vendor_oin != afzender_oin:
        return "LeverancierNietGeautoriseerd"  # not signed by the vendor registered for it
    return None


def _eigen(doel: Aanleverpunt | None, brin: str, own_oin: str) -> bool:
    return doel is not None and doel.actief and doel.brin == brin and doel.vendor_oin == own_oin


def ontvang_notificatie(notice: OntvangenNotificatie, *, own_oin: str, bron: Aanleverpunt | None,
                        doel: Aanleverpunt | None, known: OntvangenNotificatie | None) -> tuple[str, bool]:
    """(result code, whether to store ``notice``). ``bron`` and ``doel`` are the register's entries for the notice's
    bron and doel routeringskenmerk, ``known`` a notification already recorded under the same koppelsleutel."""
    refusal = _afzender(bron, notice.bron_brin, notice.afzender_oin)
    if refusal:
        return refusal, False
    if not _eigen(doel, notice.doel_brin, own_oin):
        return "AfnemerNietBekend", False  # not an aanleverpunt this target serves
    if known is not None:
        return ("NotificatieOntvangen", False) if known.same_notice(notice) else ("OngeldigVerzoek", False)
    return "NotificatieOntvangen", True


def ontvang_terugkoppeling(feedback: OntvangenTerugkoppeling, *, own_oin: str, bron: Aanleverpunt | None,
                           doel: Aanleverpunt | None) -> str:
    """The result code for ``feedback``; ``bron`` and ``doel`` are the register's entries for its
    routeringskenmerken."""
    refusal = _afzender(bron, feedback.bron_brin, feedback.afzender_oin)
    if refusal:
        return refusal
    if not _eigen(doel, feedback.doel_brin, own_oin):
        return "AfnemerNietBekend"
    return "Geslaagd"
