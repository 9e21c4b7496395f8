"""The reference source's calls: ``sessiecontrole`` at the Traffic Center (step 3 of a transfer), and its side of the
notification flow (``meldenNotificatie`` at the TC, ``notificatieRequest`` to the target), all through the one call
path every party uses (``gateway.client.call.Caller``).

Every way the TC can fail to give a verified answer becomes a result code, never an exception: a read time-out is
``Timeout``; no connection, an HTTP error, a Fault, an answer that fails verification, is not signed by the Traffic
Center (``tc_oin``) or does not meet the contract is ``TrafficCenterNietBeschikbaar``. The reason says which, for the
log.

The target's notification endpoint is resolved at the OSR-style register (``gateway.client.osr``) when it knows the
aanleverpunt, else the TC's answer names it.

**Outbound slots.** Inside ``serve`` the source calls out from a worker thread that holds a documentRequest; when the
TC is this same gateway, its answer needs another thread of a worker. So at most ``max_concurrent`` calls of one
client are under way at a time (``serve``: one thread fewer than a worker has); a call that finds no free slot within
``slot_wait_s`` is not made, and ends as ``TrafficCenterNietBeschikbaar`` ("busy"), instead of queueing a flood of
documentRequests into time-outs for everyone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ..oso.resultaat import CODES
from ..school.uitlevering import Sessiecontrole, Verzoek
from ..wsse import Credentials, TrustStore
from .call import TIMED_OUT, TRANSPORT, Caller, Reply
from .overdracht import result_for_failure

log = logging.getLogger("oso.gateway.school")

UNAVAILABLE, TIMEOUT = "TrafficCenterNietBeschikbaar", "Timeout"


@dataclass(frozen=True)
class Melding:
    """What the TC answered to meldenNotificatie."""

    resultaat: str
    koppelsleutel: str | None = None
    endpoint: str | None = None  # where to deliver the notificatieRequest
    reden: str = ""


def _leerling(verzoek: Verzoek) -> dict:
    if verzoek.koppelsleutel is not None:
        return {"koppelsleutel": verzoek.koppelsleutel}
    return {"zoeksleutelPgnfrag": {"zoeksleutel": verzoek.zoeksleutel, "pgnfrag": verzoek.pgnfrag}}


class BronClient:
    """Calls the Traffic Center (and targets' notification endpoints) for the reference source.

    ``tc_oin``: the OIN that must have signed the TC's answers (None: any signer the trust store accepts).
    ``session``: the requests session for every call (two-way TLS towards https peers). ``osr``: the register the
    targets' endpoints are resolved at (``gateway.client.osr.OsrClient``), or None."""

    def __init__(self, credentials: Credentials, trust: TrustStore, *, tc_url: str, tc_oin: str | None = None,
                 timeout_s: float = 15.0, session=None, osr=None, max_concurrent: int | None = None,
                 slot_wait_s: float = 2.0):
        import threading

        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self.slot_wait_s = slot_wait_s
        self.tc_url = tc_url
        self.tc_oin = tc_oin
        self.timeout_s = timeout_s
        self.osr = osr
        # the source asks the TC while a documentRequest waits: one quick retry of a transient failure (a TC worker
        # restarting, its database blinking), not the target's patient ones
        self.caller = Caller(credentials, trust, timeout=timeout_s, session=session, backoff_s=0.25)

    def _tc(self, operation: str, fields: dict) -> tuple[Reply, str | None, str]:
        """(reply, resultaat, reason): the resultaat of a verified answer, else the code that says why there is none."""
        if self._slots is not None and not self._slots.acquire(timeout=self.slot_wait_s):
            log.warning("%s not sent: every outbound slot of this worker is busy", operation)
            return None, UNAVAILABLE, "TC: not asked, every outbound slot of this worker is busy"
        try:
            reply = self.caller.call(operation, self.tc_url, fields, service="trafficcenter", signer=self.tc_oin,
                                     retries=1)
        finally:
            if self._slots is not None:
                self._slots.release()
        if reply.failure is not None:
            f = reply.failure
            code = TIMEOUT if f.kind == TRANSPORT and f.text == TIMED_OUT else UNAVAILABLE
            return reply, code, f"TC: {f.text}"
        if reply.resultaat not in CODES:
            return reply, UNAVAILABLE, "TC: the answer carries no known resultaat"
        return reply, reply.resultaat, ""

    def sessiecontrole(self, verzoek: Verzoek) -> Sessiecontrole:
        """Ask the TC whether ``verzoek`` matches its session; the fields go as received."""
        fields = dict(bronBrin=verzoek.bron_brin, bronRouteringsKenmerk=verzoek.bron_routeringskenmerk,
                      doelBrin=verzoek.doel_brin, doelRouteringsKenmerk=verzoek.doel_routeringskenmerk,
                      **_leerling(verzoek), overdrachtsoort=verzoek.overdrachtsoort, sessieId=verzoek.sessie_id)
        reply, resultaat, reden = self._tc("sessiecontrole", fields)
        if reden:
            return Sessiecontrole(resultaat, reden=reden)
        return Sessiecontrole(resultaat, reply.answer.sector)

    # ---- notifications: announce a dossier to a target -----------------------------------------------------------

    def melden_notificatie(self, *, bron_brin: str, bron_routeringskenmerk: str, doel_brin: str,
                           doel_routeringskenmerk: str, doel: str, sessie_id: str | None = None,
                           aanvraagdatum: datetime | None = None) -> Melding:
        """TC ``meldenNotificatie``: a koppelsleutel, and where to deliver the notification."""
        fields = dict(bronBrin=bron_brin, bronRouteringsKenmerk=bron_routeringskenmerk, doelBrin=doel_brin,
                      doelRouteringsKenmerk=doel_routeringskenmerk, doel=doel)
        if sessie_id is not None:
            fields.update(sessieId=sessie_id, aanvraagdatum=aanvraagdatum)
        reply, resultaat, reden = self._tc("meldenNotificatie", fields)
        if reden:
            return Melding(resultaat, reden=reden)
        endpoint = reply.answer.url
        found = self.osr.endpoint(doel_routeringskenmerk) if self.osr is not None else None
        if found is not None and found.notificatie_url:
            endpoint = found.notificatie_url
        return Melding(resultaat, reply.answer.koppelsleutel, endpoint)

    def notificeer(self, endpoint: str, *, koppelsleutel: str, bron_brin: str, bron_routeringskenmerk: str,
                   doel_brin: str, doel_routeringskenmerk: str, doel: str, doel_leverancier: str | None = None
                   ) -> tuple[str, str]:
        """``notificatieRequest`` to a target's notification endpoint: (its resultaat, why when it gave none: then the
        code is Timeout for no answer or a Server Fault, else OngeldigVerzoek). The answer must be signed by
        ``doel_leverancier`` when given."""
        reply = self.caller.call("notificatie", endpoint, dict(
            bronBrin=bron_brin, bronRouteringsKenmerk=bron_routeringskenmerk, doelBrin=doel_brin,
            doelRouteringsKenmerk=doel_routeringskenmerk, koppelsleutel=koppelsleutel, doel=doel),
            service="doelsysteem", signer=doel_leverancier)
        if reply.failure is not None:
            return result_for_failure(reply.failure), f"target: {reply.failure.text}"
        return reply.resultaat, ""
