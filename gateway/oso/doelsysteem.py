"""The rules of a school system's notification endpoint (contract wsdl/doelsysteem-20200910.wsdl), sans-IO.

Two messages arrive here from outside the TC:

- ``notificatieRequest`` (bron -> doel): a source pushes a koppelsleutel the TC issued. ``doel`` SWV: a dossier for a
  samenwerkingsverband; OV: an update of a dossier this target fetched earlier. The target records it with who sent it
  (the OIN of the verified signer) and later starts a transfer with it (``overdracht`` with the koppelsleutel).
- ``terugkoppelingRequest`` (SWV system -> the school's LAS): feedback on a dossier the school announced. ``bron`` is
  the SWV system, ``doel`` the LAS.

What the signer may say is bound to what it owns; any other party of the PKI could otherwise push koppelsleutels or
feedback in another vendor's (or school's) name. Each message is refused, and nothing of it kept, unless:

1. ``bronRouteringsKenmerk`` is an active aanleverpunt of the register, of ``bronBrin`` (else
   ``OnbekendAanleverpunt``), served by the verified signer, a qualified vendor (else
   ``LeverancierNietGeautoriseerd``);
2. ``doelRouteringsKenmerk`` is an active aanleverpunt of ``doelBrin`` this system serves (else
   ``AfnemerNietBekend``);
3. a notification: when the Traffic Center of this gateway issued the koppelsleutel, it issued it for exactly these
   two aanleverpunten and this ``doel`` (else ``KoppelsleutelOnbekend``). A doel OV notification announces an
   update of a dossier this target fetched from that source: the session it names (the sessieId the source gave the
   TC with ``meldenNotificatie``) must be a session in which this target's aanleverpunt fetched a dossier from that
   source aanleverpunt; without the TC's record, there must be such a session at all (else ``SessieOnbekend``). The
   sessions this target fetched are its own records (the notifications it used, with their session) and the
   sessions of this gateway's TC that this target closed with ``OverdrachtGeslaagd`` from that aanleverpunt.
4. feedback: the koppelsleutel is one announced by the receiving school's aanleverpunt to the sending SWV
   aanleverpunt — issued for that pair by this gateway's TC, or received in a notification from the school by an
   aanleverpunt of this system (else ``KoppelsleutelOnbekend``).

A notification already recorded under the koppelsleutel is acknowledged again when it is the same announcement (a
source that sends it again after a lost answer) and refused (``OngeldigVerzoek``) when it is another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .register import Aanleverpunt, Vendor

OV, SWV = "OV", "SWV"
FETCHED = "OverdrachtGeslaagd"  # the result of a transfer in which the target received the dossier


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


@dataclass(frozen=True)
class Aankondiging:
    """A koppelsleutel announced by one aanleverpunt (bron) to another (doel), as this gateway knows it: issued by
    its Traffic Center (``meldenNotificatie``), or received by an aanleverpunt of this system in a notification."""

    koppelsleutel: str
    bron_brin: str
    bron_routeringskenmerk: str
    doel_brin: str
    doel_routeringskenmerk: str
    doel: str  # OV | SWV
    sessie_id: str | None = None  # doel OV: the earlier session the source named (the TC's record only)

    def between(self, bron_brin: str, bron_rk: str, doel_brin: str, doel_rk: str) -> bool:
        return (self.bron_brin, self.bron_routeringskenmerk, self.doel_brin, self.doel_routeringskenmerk) == (
            bron_brin, bron_rk, doel_brin, doel_rk)


@dataclass(frozen=True)
class Opgehaald:
    """A session in which this target's aanleverpunt (doel) fetched a dossier from a source aanleverpunt (bron)."""

    sessie_id: str
    bron_brin: str
    bron_routeringskenmerk: str
    doel_brin: str
    doel_routeringskenmerk: str


def _afzender(bron: Aanleverpunt | None, vendor: Vendor | None, brin: str, afzender_oin: str) -> str | None:
    """None when ``bron`` is an active aanleverpunt of ``brin`` served by the signer, a qualified vendor (``vendor``:
    the register's entry for the signer); else the result code."""
    if bron is None or not bron.actief or bron.brin != brin:
        return "OnbekendAanleverpunt"
    if bron.vendor_oin != afzender_oin or vendor is None or vendor.oin != afzender_oin or not vendor.gekwalificeerd:
        return "LeverancierNietGeautoriseerd"  # not signed by the (qualified) vendor registered for it
    return None


def _eigen(doel: Aanleverpunt | None, brin: str, own_oin: str) -> bool:
    return doel is not None and doel.actief and doel.brin == brin and doel.vendor_oin == own_oin


def ontvang_notificatie(notice: OntvangenNotificatie, *, own_oin: str, bron: Aanleverpunt | None,
                        doel: Aanleverpunt | None, known: OntvangenNotificatie | None, afzender: Vendor | None,
                        uitgegeven: Aankondiging | None, opgehaald: tuple[Opgehaald, ...]) -> tuple[str, bool]:
    """(result code, whether to store ``notice``). ``bron`` and ``doel`` are the register's entries for the notice's
    bron and doel routeringskenmerk, ``afzender`` its entry for the signer's OIN, ``known`` a notification already
    recorded under the same koppelsleutel, ``uitgegeven`` the koppelsleutel as this gateway's TC issued it (None: not
    issued here), ``opgehaald`` the sessions in which this target's doel aanleverpunt fetched a dossier from the
    notice's bron aanleverpunt."""
    refusal = _afzender(bron, afzender, notice.bron_brin, notice.afzender_oin)
    if refusal:
        return refusal, False
    if not _eigen(doel, notice.doel_brin, own_oin):
        return "AfnemerNietBekend", False  # not an aanleverpunt this target serves
    if known is not None:
        return ("NotificatieOntvangen", False) if known.same_notice(notice) else ("OngeldigVerzoek", False)
    if uitgegeven is not None and not (
            uitgegeven.koppelsleutel == notice.koppelsleutel and uitgegeven.doel == notice.doel
            and uitgegeven.between(notice.bron_brin, notice.bron_routeringskenmerk, notice.doel_brin,
                                   notice.doel_routeringskenmerk)):
        return "KoppelsleutelOnbekend", False  # issued, but for other aanleverpunten (or another doel)
    if notice.doel == OV:
        ours = [s for s in opgehaald if s.bron_brin == notice.bron_brin
                and s.bron_routeringskenmerk == notice.bron_routeringskenmerk and s.doel_brin == notice.doel_brin
                and s.doel_routeringskenmerk == notice.doel_routeringskenmerk]
        if uitgegeven is not None:
            ours = [s for s in ours if s.sessie_id == uitgegeven.sessie_id]
        if not ours:
            return "SessieOnbekend", False  # no dossier this target fetched from that source
    return "NotificatieOntvangen", True


def ontvang_terugkoppeling(feedback: OntvangenTerugkoppeling, *, own_oin: str, bron: Aanleverpunt | None,
                           doel: Aanleverpunt | None, afzender: Vendor | None,
                           aankondigingen: tuple[Aankondiging, ...]) -> str:
    """The result code for ``feedback``; ``bron`` and ``doel`` are the register's entries for its
    routeringskenmerken, ``afzender`` its entry for the signer's OIN, ``aankondigingen`` what this gateway knows of
    the koppelsleutel (issued by its TC, received by its aanleverpunten)."""
    refusal = _afzender(bron, afzender, feedback.bron_brin, feedback.afzender_oin)
    if refusal:
        return refusal
    if not _eigen(doel, feedback.doel_brin, own_oin):
        return "AfnemerNietBekend"
    # the school (doel of the feedback) announced the koppelsleutel to the SWV (its bron)
    if not any(a.koppelsleutel == feedback.koppelsleutel
               and a.between(feedback.doel_brin, feedback.doel_routeringskenmerk, feedback.bron_brin,
                             feedback.bron_routeringskenmerk) for a in aankondigingen):
        return "KoppelsleutelOnbekend"
    return "Geslaagd"
