"""The Traffic Center's rules, sans-IO: each operation is a function of the request, the caller's verified OIN and
what the register and the session store hold; it returns an outcome (a result code and what to store), never
raises for a request the rules refuse. The spyne service fetches, calls, and stores in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from . import identifiers as ids
from .register import Aanleverpunt, School, Vendor
from .resultaat import CODES
from .sessie import REFUSAL, IllegalStep, Sessie, Status

BINNEN_BRIN = "overdrachtbinnenbrin"


class RegisterView(Protocol):
    """What the rules read of the register (the store implements it)."""

    def vendor(self, oin: str) -> Vendor | None: ...
    def schools(self, brin: str) -> list[School]: ...
    def aanleverpunt(self, routeringskenmerk: str) -> Aanleverpunt | None: ...
    def aanleverpunten(self, brin: str) -> list[Aanleverpunt]: ...


@dataclass(frozen=True)
class Leerling:
    """How a request names the pupil: a zoeksleutel with its pgnfrag, or a koppelsleutel."""

    zoeksleutel: str | None = None
    pgnfrag: str | None = None
    koppelsleutel: str | None = None

    @property
    def valid(self) -> bool:
        by_key = self.zoeksleutel is not None and self.pgnfrag is not None
        return by_key != (self.koppelsleutel is not None) and (by_key or self.zoeksleutel is None)


OV, SWV = "OV", "SWV"
SWV_DOSSIER = "swv-dossier"


@dataclass(frozen=True)
class Notificatie:
    """A notification the TC registered (meldenNotificatie): the koppelsleutel is valid for this triple only,
    bron aanleverpunt - koppelsleutel - doel aanleverpunt."""

    koppelsleutel: str
    bron_routeringskenmerk: str
    bron_brin: str
    doel_brin: str
    doel_routeringskenmerk: str
    overdrachtsoort: str  # the transfer the koppelsleutel opens: the earlier session's (OV), swv-dossier (SWV)
    doel: str  # OV | SWV
    aangemaakt: datetime
    verloopt: datetime
    sessie_id: str | None = None  # OV: the earlier session the notification is about
    aanvraagdatum: datetime | None = None  # OV: when that session's documentRequest came


@dataclass(frozen=True)
class Terugkoppeling:
    """Feedback an SWV system (bron of the feedback) registered for a school's LAS (doel), by koppelsleutel."""

    bron_routeringskenmerk: str
    doel_routeringskenmerk: str
    koppelsleutel: str
    tekst: str
    ontvangen: datetime


@dataclass(frozen=True)
class AanleverpuntInfo:
    """An aanleverpunt as handed to a target: where to ask, and whose signature to believe."""

    routeringskenmerk: str
    document_url: str
    leverancier_oin: str  # the vendor registered for it: the only signer of its answers a target may believe


@dataclass(frozen=True)
class Outcome:
    resultaat: str
    sessie: Sessie | None = None  # to store (new or changed)
    aanleverpunten: tuple[AanleverpuntInfo, ...] = ()
    doel_sector: str | None = None
    notificatie: Notificatie | None = None
    terugkoppeling: Terugkoppeling | None = None
    endpoint: str | None = None

    def __post_init__(self):
        assert self.resultaat in CODES, self.resultaat


def _qualified(register: RegisterView, oin: str) -> bool:
    vendor = register.vendor(oin)
    return vendor is not None and vendor.gekwalificeerd


def _info(ap: Aanleverpunt) -> AanleverpuntInfo:
    return AanleverpuntInfo(ap.routeringskenmerk, ap.document_url, ap.vendor_oin)


def _active_sources(register: RegisterView, brin: str) -> list[Aanleverpunt]:
    return [ap for ap in register.aanleverpunten(brin) if ap.actief and _qualified(register, ap.vendor_oin)]


def _doel_allowed(register: RegisterView, caller: str, doel_brin: str, doel_rk: str) -> str | None:
    """None when the caller may act for this target aanleverpunt, else the result code."""
    doel = register.aanleverpunt(doel_rk)
    if doel is None or not doel.actief or doel.brin != doel_brin or not register.schools(doel_brin):
        return "AfnemerNietBekend"
    if doel.vendor_oin != caller or not _qualified(register, caller):
        return "LeverancierNietGeautoriseerd"
    return None


def _own_aanleverpunt(register: RegisterView, caller: str, brin: str, rk: str) -> str | None:
    """None when ``rk`` is an active aanleverpunt of ``brin`` served by the (qualified) caller, else the code."""
    ap = register.aanleverpunt(rk)
    if ap is None or not ap.actief or ap.brin != brin:
        return "OnbekendAanleverpunt"
    if ap.vendor_oin != caller or not _qualified(register, caller):
        return "LeverancierNietGeautoriseerd"
    return None


def overdracht(
    register: RegisterView,
    caller: str,
    *,
    bron_brin: str,
    bron_routeringskenmerk: str | None,
    doel_brin: str,
    doel_routeringskenmerk: str,
    leerling: Leerling,
    overdrachtsoort: str,
    notificatie: Notificatie | None,
    now: datetime,
    sessie_ttl: timedelta,
) -> Outcome:
    """Step 1: open a session for a target, with the source aanleverpunten to ask (all active ones of the bron
    school, or only ``bron_routeringskenmerk`` when the target names one)."""
    if not leerling.valid:
        return Outcome("OngeldigVerzoek")
    refusal = _doel_allowed(register, caller, doel_brin, doel_routeringskenmerk)
    if refusal:
        return Outcome(refusal)
    if overdrachtsoort == BINNEN_BRIN and bron_brin != doel_brin:
        return Outcome("GeenRelatieMetDoel")
    if not register.schools(bron_brin):
        return Outcome("VerstrekkerNietBekend")
    if not register.aanleverpunten(bron_brin):
        return Outcome("GeenAanleverpunt")
    sources = _active_sources(register, bron_brin)
    if not sources:
        return Outcome("VerstrekkerNietBekend")  # known school, but no qualified vendor serves it
    if bron_routeringskenmerk is not None:
        sources = [ap for ap in sources if ap.routeringskenmerk == bron_routeringskenmerk]
        if not sources:
            return Outcome("OnbekendAanleverpunt")
    if leerling.koppelsleutel is not None:
        n = notificatie
        if (n is None or n.koppelsleutel != leerling.koppelsleutel or now >= n.verloopt
                or n.doel_brin != doel_brin or n.doel_routeringskenmerk != doel_routeringskenmerk
                or n.bron_brin != bron_brin or n.overdrachtsoort != overdrachtsoort):
            return Outcome("KoppelsleutelOnbekend")
        sources = [ap for ap in sources if ap.routeringskenmerk == n.bron_routeringskenmerk]
        if not sources:
            return Outcome("GeenAanleverpunt")
    sessie = Sessie(
        sessie_id=Sessie.new_id(),
        doel_brin=doel_brin,
        doel_routeringskenmerk=doel_routeringskenmerk,
        doel_vendor_oin=caller,
        bron_brin=bron_brin,
        overdrachtsoort=overdrachtsoort,
        aanleverpunten=tuple(ap.routeringskenmerk for ap in sources),
        geopend=now,
        verloopt=now + sessie_ttl,
        zoeksleutel=leerling.zoeksleutel,
        pgnfrag=leerling.pgnfrag,
        koppelsleutel=leerling.koppelsleutel,
    )
    return Outcome("Geslaagd", sessie=sessie, aanleverpunten=tuple(_info(ap) for ap in sources))


def sessiecontrole(
    register: RegisterView,
    caller: str,
    sessie: Sessie | None,
    *,
    bron_brin: str,
    bron_routeringskenmerk: str,
    doel_brin: str,
    doel_routeringskenmerk: str,
    leerling: Leerling,
    overdrachtsoort: str,
    now: datetime,
) -> Outcome:
    """Step 3: a source checks that a documentRequest matches the session, before it answers.

    The doel aanleverpunt binds the session to its requester: only the target that opened the session named it, and
    the source believes a documentRequest only from the vendor registered for that aanleverpunt. A party that
    learnt a sessieId and a zoeksleutel gets ``OnbekendAanleverpunt`` here when it names its own aanleverpunt, and is
    refused by the source when it names the real one."""
    if not leerling.valid:
        return Outcome("OngeldigVerzoek")
    if not register.schools(bron_brin):
        return Outcome("VerstrekkerNietBekend")
    refusal = _own_aanleverpunt(register, caller, bron_brin, bron_routeringskenmerk)
    if refusal:
        return Outcome(refusal)
    if sessie is None:
        return Outcome("SessieOnbekend")
    if overdrachtsoort == BINNEN_BRIN and bron_brin != doel_brin:
        return Outcome("GeenRelatieMetDoel")
    current = sessie.at(now)
    if current.status is not Status.OPEN:
        # an expiry noticed now is stored, so the register of sessions tells the truth
        return Outcome(REFUSAL[current.status], sessie=current if current != sessie else None)
    if doel_routeringskenmerk != sessie.doel_routeringskenmerk:
        return Outcome("OnbekendAanleverpunt")
    matches = (
        bron_brin == sessie.bron_brin
        and doel_brin == sessie.doel_brin
        and overdrachtsoort == sessie.overdrachtsoort
        and bron_routeringskenmerk in sessie.aanleverpunten
        and (leerling.zoeksleutel, leerling.pgnfrag, leerling.koppelsleutel)
        == (sessie.zoeksleutel, sessie.pgnfrag, sessie.koppelsleutel)
    )
    if not matches:
        return Outcome("SessieAfwijkend")
    doel_schools = register.schools(sessie.doel_brin)
    sector = doel_schools[0].sector.value if doel_schools else None
    return Outcome("Geslaagd", sessie=current.sessiecontrole(bron_routeringskenmerk, now), doel_sector=sector)


def afmelding(
    caller: str,
    sessie: Sessie | None,
    *,
    bron_brin: str,
    bron_routeringskenmerk: str,
    doel_brin: str,
    doel_routeringskenmerk: str,
    resultaat: str,
    now: datetime,
) -> Outcome:
    """Step 5: the target closes the session with the best result over all aanleverpunten asked, and the aanleverpunt
    that gave it. The TC acknowledges with ``OverdrachtGeslaagd`` ("the afmelding was received correctly")."""
    if sessie is None:
        return Outcome("SessieOnbekend")
    if caller != sessie.doel_vendor_oin:
        return Outcome("LeverancierNietGeautoriseerd")
    if doel_routeringskenmerk != sessie.doel_routeringskenmerk:
        return Outcome("OnbekendAanleverpunt")
    if (bron_brin != sessie.bron_brin or doel_brin != sessie.doel_brin
            or bron_routeringskenmerk not in sessie.aanleverpunten):
        return Outcome("SessieAfwijkend")
    if resultaat not in CODES:
        return Outcome("OngeldigVerzoek")
    try:
        closed = sessie.afmelding(resultaat, bron_routeringskenmerk, now)
    except IllegalStep as step:
        return Outcome(step.resultaat)
    return Outcome("OverdrachtGeslaagd", sessie=closed)


def melden_notificatie(
    register: RegisterView,
    caller: str,
    *,
    bron_brin: str,
    bron_routeringskenmerk: str,
    doel_brin: str,
    doel_routeringskenmerk: str,
    doel: str,
    sessie_id: str | None,
    aanvraagdatum: datetime | None,
    sessie: Sessie | None,
    now: datetime,
    ttl: timedelta,
) -> Outcome:
    """A source announces something to a target; the TC issues a koppelsleutel for the triple (bron aanleverpunt,
    koppelsleutel, doel aanleverpunt) and names the target's notification endpoint.

    ``doel`` OV: an update of a dossier the source served earlier, in session ``sessie_id`` (which it asked the TC
    about: its aanleverpunt passed sessiecontrole in it) for the same doel. ``doel`` SWV: a dossier for a
    samenwerkingsverband; the koppelsleutel opens an swv-dossier transfer."""
    refusal = _own_aanleverpunt(register, caller, bron_brin, bron_routeringskenmerk)
    if refusal:
        return Outcome(refusal)
    target = register.aanleverpunt(doel_routeringskenmerk)
    if (target is None or not target.actief or target.brin != doel_brin or target.notificatie_url is None
            or not _qualified(register, target.vendor_oin)):
        return Outcome("AfnemerNietBekend")
    if doel == OV:
        if sessie_id is None or aanvraagdatum is None:
            return Outcome("OngeldigVerzoek")
        if sessie is None:
            return Outcome("SessieOnbekend")
        if (sessie.doel_routeringskenmerk != doel_routeringskenmerk or sessie.doel_brin != doel_brin
                or sessie.bron_brin != bron_brin or bron_routeringskenmerk not in sessie.controles):
            return Outcome("SessieAfwijkend")
        soort = sessie.overdrachtsoort
    else:
        soort = SWV_DOSSIER
    n = Notificatie(ids.new_koppelsleutel(), bron_routeringskenmerk, bron_brin, doel_brin, doel_routeringskenmerk,
                    soort, doel, now, now + ttl, sessie_id if doel == OV else None,
                    aanvraagdatum if doel == OV else None)
    return Outcome("Geslaagd", notificatie=n, endpoint=target.notificatie_url)


def melden_terugkoppeling(
    register: RegisterView,
    caller: str,
    notificatie: Notificatie | None,
    *,
    bron_brin: str,
    bron_routeringskenmerk: str,
    doel_brin: str,
    doel_routeringskenmerk: str,
    koppelsleutel: str,
    tekst: str,
    now: datetime,
) -> Outcome:
    """An SWV system's feedback for the school whose dossier it received: ``bron`` is the SWV system (the doel of
    the notification), ``doel`` the school's LAS (its bron). The koppelsleutel must be valid for exactly that
    triple; the TC records the feedback and names the LAS's endpoint."""
    refusal = _own_aanleverpunt(register, caller, bron_brin, bron_routeringskenmerk)
    if refusal:
        return Outcome(refusal)
    n = notificatie
    if (n is None or n.koppelsleutel != koppelsleutel or n.doel_routeringskenmerk != bron_routeringskenmerk
            or n.doel_brin != bron_brin or n.bron_routeringskenmerk != doel_routeringskenmerk
            or n.bron_brin != doel_brin):
        return Outcome("KoppelsleutelOnbekend")
    las = register.aanleverpunt(doel_routeringskenmerk)
    if las is None or not las.actief or las.notificatie_url is None:
        return Outcome("AfnemerNietBekend")
    feedback = Terugkoppeling(bron_routeringskenmerk, doel_routeringskenmerk, koppelsleutel, tekst, now)
    return Outcome("Geslaagd", terugkoppeling=feedback, endpoint=las.notificatie_url)


def overzicht_aanleverpunt(register: RegisterView, caller: str, *, brin: str,
                           routeringskenmerk: str | None) -> Outcome:
    """The active aanleverpunten of a school, for a registered vendor, without a session."""
    if register.vendor(caller) is None:
        return Outcome("LeverancierNietGeautoriseerd")
    if not register.schools(brin):
        return Outcome("VerstrekkerNietBekend")
    aps = [ap for ap in _active_sources(register, brin)
           if routeringskenmerk is None or ap.routeringskenmerk == routeringskenmerk]
    if not aps:
        return Outcome("GeenAanleverpunt")
    return Outcome("Geslaagd", aanleverpunten=tuple(_info(ap) for ap in aps))
