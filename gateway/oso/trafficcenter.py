"""The Traffic Center's rules, sans-IO: each operation is a function of the request, the caller's verified OIN and
what the register and the session store hold; it returns an outcome (a result code and what to store), never
raises for a request the rules refuse. The spyne service fetches, calls, and stores in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Sequence

from .register import Aanleverpunt, School, Vendor
from .resultaat import CODES, best
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


@dataclass(frozen=True)
class Notificatie:
    koppelsleutel: str
    bron_routeringskenmerk: str
    bron_brin: str
    doel_brin: str
    doel_routeringskenmerk: str
    overdrachtsoort: str
    zoeksleutel: str
    pgnfrag: str
    aangemaakt: datetime
    verloopt: datetime


@dataclass(frozen=True)
class Terugkoppeling:
    bron_routeringskenmerk: str
    sessie_id: str | None
    koppelsleutel: str | None
    tekst: str
    ontvangen: datetime


@dataclass(frozen=True)
class AanleverpuntInfo:
    """An aanleverpunt as handed to a target: where to ask, for which school, and whose signature to believe."""

    routeringskenmerk: str
    brin: str
    vestiging: str
    schoolnaam: str
    document_url: str
    leverancier_oin: str  # the vendor registered for it: the only signer of its answers a target may believe


@dataclass(frozen=True)
class Outcome:
    resultaat: str
    sessie: Sessie | None = None  # to store (new or changed)
    aanleverpunten: tuple[AanleverpuntInfo, ...] = ()
    doel_sector: str | None = None
    sessie_resultaat: str | None = None
    notificatie: Notificatie | None = None
    terugkoppeling: Terugkoppeling | None = None
    endpoint: str | None = None

    def __post_init__(self):
        assert self.resultaat in CODES, self.resultaat


def _qualified(register: RegisterView, oin: str) -> bool:
    vendor = register.vendor(oin)
    return vendor is not None and vendor.gekwalificeerd


def _info(register: RegisterView, ap: Aanleverpunt) -> AanleverpuntInfo:
    schools = {s.vestiging: s for s in register.schools(ap.brin)}
    school = schools.get(ap.vestiging) or next(iter(schools.values()), None)
    return AanleverpuntInfo(ap.routeringskenmerk, ap.brin, ap.vestiging, school.naam if school else ap.brin,
                            ap.document_url, ap.vendor_oin)


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


def overdracht(
    register: RegisterView,
    caller: str,
    *,
    doel_brin: str,
    doel_routeringskenmerk: str,
    bron_brin: str,
    overdrachtsoort: str,
    leerling: Leerling,
    notificatie: Notificatie | None,
    now: datetime,
    sessie_ttl: timedelta,
) -> Outcome:
    """Step 1: open a session for a target, with the source aanleverpunten to ask."""
    if not leerling.valid:
        return Outcome("OngeldigVerzoek")
    refusal = _doel_allowed(register, caller, doel_brin, doel_routeringskenmerk)
    if refusal:
        return Outcome(refusal)
    if overdrachtsoort == BINNEN_BRIN and bron_brin != doel_brin:
        return Outcome("GeenRelatieMetDoel")
    if not register.schools(bron_brin):
        return Outcome("VerstrekkerNietBekend")
    sources = _active_sources(register, bron_brin)
    if not register.aanleverpunten(bron_brin):
        return Outcome("GeenAanleverpunt")
    if not sources:
        return Outcome("VerstrekkerNietBekend")  # known school, but no qualified vendor serves it
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
    return Outcome("Geslaagd", sessie=sessie, aanleverpunten=tuple(_info(register, ap) for ap in sources))


def sessiecontrole(
    register: RegisterView,
    caller: str,
    sessie: Sessie | None,
    *,
    aanvrager_oin: str,
    bron_routeringskenmerk: str,
    bron_brin: str,
    doel_brin: str,
    overdrachtsoort: str,
    leerling: Leerling,
    now: datetime,
) -> Outcome:
    """Step 3: a source checks that a documentRequest matches the session, before it answers.

    ``aanvrager_oin`` is the OIN that signed the documentRequest: it must be the vendor that opened the session,
    else anyone who learnt a sessieId and a zoeksleutel could fetch the dossier while the session is open."""
    if not leerling.valid:
        return Outcome("OngeldigVerzoek")
    ap = register.aanleverpunt(bron_routeringskenmerk)
    if ap is None or not ap.actief or ap.vendor_oin != caller or not _qualified(register, caller):
        return Outcome("OnbekendAanleverpunt")
    if sessie is None:
        return Outcome("SessieOnbekend")
    if overdrachtsoort == BINNEN_BRIN and bron_brin != doel_brin:
        return Outcome("GeenRelatieMetDoel")
    current = sessie.at(now)
    if current.status is not Status.OPEN:
        # an expiry noticed now is stored, so the register of sessions tells the truth
        return Outcome(REFUSAL[current.status], sessie=current if current != sessie else None)
    matches = (
        ap.brin == bron_brin == sessie.bron_brin
        and doel_brin == sessie.doel_brin
        and aanvrager_oin == sessie.doel_vendor_oin
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
    resultaten: Sequence[tuple[str, str]],
    now: datetime,
) -> Outcome:
    """Step 5: the target closes the session with what each aanleverpunt answered, in the order asked."""
    if sessie is None:
        return Outcome("SessieOnbekend")
    if caller != sessie.doel_vendor_oin:
        return Outcome("LeverancierNietGeautoriseerd")
    if not resultaten or any(rk not in sessie.aanleverpunten or r not in CODES for rk, r in resultaten):
        return Outcome("SessieAfwijkend")
    overall = best([r for _, r in resultaten])
    try:
        closed = sessie.afmelding(overall, now)
    except IllegalStep as step:
        return Outcome(step.resultaat)
    return Outcome("Geslaagd", sessie=closed, sessie_resultaat=overall)


def melden_notificatie(
    register: RegisterView,
    caller: str,
    *,
    bron_routeringskenmerk: str,
    doel_brin: str,
    doel_routeringskenmerk: str,
    overdrachtsoort: str,
    zoeksleutel: str,
    pgnfrag: str,
    now: datetime,
    ttl: timedelta,
) -> Outcome:
    """SWV flow: a source announces a dossier for a target; the TC issues a koppelsleutel and tells the source
    where the target's notification endpoint is."""
    ap = register.aanleverpunt(bron_routeringskenmerk)
    if ap is None or not ap.actief or ap.vendor_oin != caller or not _qualified(register, caller):
        return Outcome("OnbekendAanleverpunt")
    doel = register.aanleverpunt(doel_routeringskenmerk)
    if (doel is None or not doel.actief or doel.brin != doel_brin or doel.notificatie_url is None
            or not _qualified(register, doel.vendor_oin)):
        return Outcome("AfnemerNietBekend")
    if overdrachtsoort == BINNEN_BRIN and ap.brin != doel_brin:
        return Outcome("GeenRelatieMetDoel")
    n = Notificatie(str(uuid.uuid4()), ap.routeringskenmerk, ap.brin, doel_brin, doel_routeringskenmerk,
                    overdrachtsoort, zoeksleutel, pgnfrag, now, now + ttl)
    return Outcome("Geslaagd", notificatie=n, endpoint=doel.notificatie_url)


def melden_terugkoppeling(
    register: RegisterView,
    caller: str,
    *,
    bron_routeringskenmerk: str,
    sessie: Sessie | None,
    notificatie: Notificatie | None,
    sessie_id: str | None,
    koppelsleutel: str | None,
    tekst: str,
    now: datetime,
) -> Outcome:
    """A source's feedback on a session or a notification; the TC records it and names the target's endpoint."""
    ap = register.aanleverpunt(bron_routeringskenmerk)
    if ap is None or not ap.actief or ap.vendor_oin != caller or not _qualified(register, caller):
        return Outcome("OnbekendAanleverpunt")
    if (sessie_id is None) == (koppelsleutel is None):
        return Outcome("OngeldigVerzoek")
    if sessie_id is not None:
        if sessie is None or sessie.sessie_id != sessie_id:
            return Outcome("SessieOnbekend")
        if bron_routeringskenmerk not in sessie.aanleverpunten:
            return Outcome("SessieAfwijkend")
        doel_rk = sessie.doel_routeringskenmerk
    else:
        if notificatie is None or notificatie.koppelsleutel != koppelsleutel:
            return Outcome("KoppelsleutelOnbekend")
        if notificatie.bron_routeringskenmerk != bron_routeringskenmerk:
            return Outcome("SessieAfwijkend")
        doel_rk = notificatie.doel_routeringskenmerk
    doel = register.aanleverpunt(doel_rk)
    feedback = Terugkoppeling(bron_routeringskenmerk, sessie_id, koppelsleutel, tekst, now)
    return Outcome("Geslaagd", terugkoppeling=feedback, endpoint=doel.notificatie_url if doel else None)


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
    return Outcome("Geslaagd", aanleverpunten=tuple(_info(register, ap) for ap in aps))
