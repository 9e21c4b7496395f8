"""The reference source's client of the Traffic Center: ``sessiecontrole`` (step 3 of a transfer), signed with the
gateway's own credentials through the same zeep client and WUS plug-in every party uses; and the source's side of the
SWV flow (``meldenNotificatie`` at the TC, ``notificatieRequest`` to the target).

One zeep client per process, built on first use from ``wsdl/trafficcenter-1.wsdl`` (loading a WSDL takes a while;
a forked worker builds its own). Every way the TC can fail to give a verified answer becomes a result code, never an
exception: a read time-out is ``Timeout``; no connection, an HTTP error, a Fault, an answer that fails verification or
is not signed by the Traffic Center is ``TrafficCenterNietBeschikbaar``. The reason says which, for the log.

An https peer (the TC, a target's notification endpoint) is called over two-way TLS on the session ``tls_session``
makes (``gateway.client.transport.https_session``: our certificate, our trust anchors, nothing from the environment).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..oso.resultaat import CODES
from ..school.uitlevering import Sessiecontrole, Verzoek
from ..wsse import Credentials, MemoryReplayStore, TrustStore
from ..wsse.errors import SecurityError
from .transport import is_https
from .wsse_plugin import WusSignature, client_for

log = logging.getLogger("oso.gateway.school")

TC_WSDL = Path(__file__).resolve().parents[2] / "wsdl" / "trafficcenter-1.wsdl"
DOELSYSTEEM_WSDL = TC_WSDL.with_name("doelsysteem-1.wsdl")
UNAVAILABLE, TIMEOUT = "TrafficCenterNietBeschikbaar", "Timeout"


@dataclass(frozen=True)
class Melding:
    """What the TC answered to meldenNotificatie."""

    resultaat: str
    koppelsleutel: str | None = None
    endpoint: str | None = None  # the target's notification endpoint
    reden: str = ""


class BronClient:
    """Calls the Traffic Center for the reference source.

    ``tc_oin``: the OIN that must have signed the TC's answers (None: any signer the trust store accepts).
    ``tls_session``: makes the requests session for https peers (two-way TLS), once per process for the TC;
    ``gateway.client.transport.https_session`` bound to the configuration."""

    def __init__(self, credentials: Credentials, trust: TrustStore, *, tc_url: str, tc_oin: str | None = None,
                 timeout_s: float = 15.0, wsdl: str | Path = TC_WSDL, tls_session: Callable[[], object] | None = None):
        self.credentials = credentials
        self.tls_session = tls_session
        self.trust = trust
        self.tc_url = tc_url
        self.tc_oin = tc_oin
        self.timeout_s = timeout_s
        self.wsdl = Path(wsdl)
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._service = None
        self._plugin: WusSignature | None = None

    def _transport(self, url: str):
        """A zeep Transport for ``url``: on the two-way TLS session when it is https and we were given one."""
        from zeep.transports import Transport

        session = self.tls_session() if self.tls_session is not None and is_https(url) else None
        return Transport(session=session, timeout=self.timeout_s, operation_timeout=self.timeout_s)

    def _tc(self):
        pid = os.getpid()
        if self._service is None or self._pid != pid:
            with self._lock:
                if self._service is None or self._pid != pid:
                    plugin = WusSignature(self.credentials, self.trust, replay=MemoryReplayStore())
                    _, service = client_for(self.wsdl, plugin, address=self.tc_url,
                                            transport=self._transport(self.tc_url))
                    self._plugin, self._service, self._pid = plugin, service, pid
        return self._service, self._plugin

    def _ask(self, call, plugin, *, expect_oin: str | None) -> tuple[object | None, str, str]:
        """(answer, resultaat, reason): the answer when a verified one came, else None with the code that says why."""
        import requests
        from zeep.exceptions import Fault, TransportError

        try:
            answer = call()
        except requests.exceptions.Timeout:
            return None, TIMEOUT, f"no answer within {self.timeout_s:g} s"
        except requests.exceptions.RequestException as exc:
            return None, UNAVAILABLE, f"cannot reach it: {type(exc).__name__}"
        except Fault as exc:
            return None, UNAVAILABLE, f"it answered a Fault: {str(exc.message)[:200]}"
        except SecurityError as exc:
            return None, UNAVAILABLE, f"its answer failed verification: {exc.rule}"
        except TransportError as exc:
            return None, UNAVAILABLE, f"it answered HTTP {exc.status_code}"
        except Exception as exc:  # zeep could not read the answer, or a bug: never taken for an answer
            log.exception("a call to %s failed", self.tc_url)
            return None, UNAVAILABLE, f"the call failed: {type(exc).__name__}"
        signer = plugin.last_response.oin if plugin.last_response is not None else None
        if expect_oin is not None and signer != expect_oin:
            return None, UNAVAILABLE, f"the answer was signed by OIN {signer}, not by {expect_oin}"
        # zeep hands back the value itself for a response of one element (notificatieResponse)
        resultaat = answer if isinstance(answer, str) else getattr(answer, "resultaat", None)
        if resultaat not in CODES:
            return None, UNAVAILABLE, "the answer carries no known resultaat"
        return answer, resultaat, ""

    def sessiecontrole(self, verzoek: Verzoek, *, aanvrager_oin: str) -> Sessiecontrole:
        """Ask the TC whether ``verzoek``, signed by ``aanvrager_oin``, matches its session; the fields go as
        received."""
        args = dict(sessieId=verzoek.sessie_id, aanvragerOin=aanvrager_oin,
                    bronRouteringskenmerk=verzoek.bron_routeringskenmerk,
                    bronBrin=verzoek.bron_brin, doelBrin=verzoek.doel_brin, overdrachtsoort=verzoek.overdrachtsoort)
        if verzoek.koppelsleutel is not None:
            args["koppelsleutel"] = verzoek.koppelsleutel
        else:
            args.update(zoeksleutel=verzoek.zoeksleutel, pgnfrag=verzoek.pgnfrag)
        try:
            service, plugin = self._tc()
        except Exception as exc:  # the WSDL could not be loaded: a bug or a broken install
            log.exception("cannot build the TC client")
            return Sessiecontrole(UNAVAILABLE, reden=f"no TC client: {type(exc).__name__}")
        answer, resultaat, reden = self._ask(lambda: service.sessiecontrole(**args), plugin, expect_oin=self.tc_oin)
        if answer is None:
            return Sessiecontrole(resultaat, reden=f"TC: {reden}")
        return Sessiecontrole(resultaat, getattr(answer, "doelSector", None))

    # ---- the SWV / notification flow: announce a dossier to a target -----------------------------------------

    def melden_notificatie(self, *, bron_routeringskenmerk: str, doel_brin: str, doel_routeringskenmerk: str,
                           overdrachtsoort: str, zoeksleutel: str, pgnfrag: str) -> Melding:
        """TC ``meldenNotificatie``: a koppelsleutel for the pupil, and the target's notification endpoint."""
        service, plugin = self._tc()
        answer, resultaat, reden = self._ask(lambda: service.meldenNotificatie(
            bronRouteringskenmerk=bron_routeringskenmerk, doelBrin=doel_brin,
            doelRouteringskenmerk=doel_routeringskenmerk, overdrachtsoort=overdrachtsoort, zoeksleutel=zoeksleutel,
            pgnfrag=pgnfrag), plugin, expect_oin=self.tc_oin)
        if answer is None:
            return Melding(resultaat, reden=f"TC: {reden}")
        return Melding(resultaat, answer.koppelsleutel, answer.notificatieEndpoint)

    def notificeer(self, endpoint: str, *, koppelsleutel: str, bron_brin: str, bron_routeringskenmerk: str,
                   doel_brin: str, doel_routeringskenmerk: str, overdrachtsoort: str) -> tuple[str, str]:
        """``notificatieRequest`` to a target's notification endpoint: (its resultaat, why when it gave none)."""
        plugin = WusSignature(self.credentials, self.trust, replay=MemoryReplayStore())
        try:
            _, service = client_for(DOELSYSTEEM_WSDL, plugin, address=endpoint, transport=self._transport(endpoint))
        except Exception as exc:
            log.exception("cannot build the doelsysteem client")
            return UNAVAILABLE, f"no client: {type(exc).__name__}"
        answer, resultaat, reden = self._ask(lambda: service.notificatie(
            koppelsleutel=koppelsleutel, bronBrin=bron_brin, bronRouteringskenmerk=bron_routeringskenmerk,
            doelBrin=doel_brin, doelRouteringskenmerk=doel_routeringskenmerk, overdrachtsoort=overdrachtsoort),
            plugin, expect_oin=None)
        return resultaat, ("" if answer is not None else f"target: {reden}")
