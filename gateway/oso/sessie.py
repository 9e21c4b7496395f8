"""The transfer session as an explicit state machine (after h11: a transition table, typed errors).

    OPEN --sessiecontrole--> OPEN --afmelding--> AFGEMELD
    OPEN --verloop (time)--> VERLOPEN

Any other step is refused with the result code that tells the caller what happened; the session is never changed
by a refused step. Sessions are values: a step returns a new Sessie.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum


class Status(str, Enum):
    OPEN = "open"
    AFGEMELD = "afgemeld"
    VERLOPEN = "verlopen"


class Stap(str, Enum):
    SESSIECONTROLE = "sessiecontrole"
    AFMELDING = "afmelding"
    VERLOOP = "verloop"


TRANSITIONS: dict[tuple[Status, Stap], Status] = {
    (Status.OPEN, Stap.SESSIECONTROLE): Status.OPEN,
    (Status.OPEN, Stap.AFMELDING): Status.AFGEMELD,
    (Status.OPEN, Stap.VERLOOP): Status.VERLOPEN,
}
# What a refused step answers, by the state the session is in.
REFUSAL = {Status.AFGEMELD: "SessieReedsAfgemeld", Status.VERLOPEN: "SessieVerlopen"}


class IllegalStep(Exception):
    """A step the session's state does not allow; ``resultaat`` is the code to answer with."""

    def __init__(self, status: Status, stap: Stap):
        self.status, self.stap = status, stap
        self.resultaat = REFUSAL.get(status, "OngeldigVerzoek")
        super().__init__(f"{stap.value} is not allowed on a session that is {status.value}")


@dataclass(frozen=True)
class Sessie:
    sessie_id: str
    doel_brin: str
    doel_routeringskenmerk: str
    doel_vendor_oin: str
    bron_brin: str
    overdrachtsoort: str
    aanleverpunten: tuple[str, ...]  # the routeringskenmerken the TC handed out, in order
    geopend: datetime
    verloopt: datetime
    zoeksleutel: str | None = None
    pgnfrag: str | None = None
    koppelsleutel: str | None = None
    status: Status = Status.OPEN
    controles: tuple[str, ...] = ()  # routeringskenmerken that passed sessiecontrole, in order
    resultaat: str | None = None  # the best result the doel reported in its afmelding
    resultaat_aanleverpunt: str | None = None  # the routeringskenmerk that gave it
    afgemeld: datetime | None = None
    versie: int = field(default=0, compare=False)

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def at(self, now: datetime) -> "Sessie":
        """The session as it stands at ``now``: an open session past its time has expired."""
        if self.status is Status.OPEN and now >= self.verloopt:
            return self._step(Stap.VERLOOP)
        return self

    def _step(self, stap: Stap, **changes) -> "Sessie":
        target = TRANSITIONS.get((self.status, stap))
        if target is None:
            raise IllegalStep(self.status, stap)
        return replace(self, status=target, **changes)

    def sessiecontrole(self, routeringskenmerk: str, now: datetime) -> "Sessie":
        """An aanleverpunt checked the session; asking again (a retry of its documentRequest) counts once."""
        current = self.at(now)
        seen = routeringskenmerk in current.controles
        return current._step(Stap.SESSIECONTROLE,
                             controles=current.controles + (() if seen else (routeringskenmerk,)))

    def afmelding(self, resultaat: str, routeringskenmerk: str, now: datetime) -> "Sessie":
        return self.at(now)._step(Stap.AFMELDING, resultaat=resultaat, resultaat_aanleverpunt=routeringskenmerk,
                                  afgemeld=now)
