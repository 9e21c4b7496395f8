"""The Traffic Center service (contract: wsdl/trafficcenter-20200910.wsdl), a thin adapter: read the verified request,
fetch what the rules need from the store, call the rules of gateway.oso.trafficcenter, store the outcome, answer.

The security middleware has verified the message, checked that its Action is the Body's operation, validated the Body
against the contract and holds one database transaction open for this message (``context.REPO``): the replay id, the
session change and the answer are committed together, before the answer leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from spyne import ServiceBase, rpc
from spyne.server.wsgi import WsgiApplication

from .. import __version__
from ..oso import trafficcenter as rules
from ..oso.trafficcenter import Leerling, Outcome
from . import context
from . import models as m

SERVICE = "trafficcenter"


@dataclass(frozen=True)
class TcSettings:
    sessie_ttl: timedelta = timedelta(hours=1)
    notificatie_ttl: timedelta = timedelta(days=14)


SETTINGS_KEY = "oso.tc.settings"


def _context(ctx):
    env = context.environ(ctx)
    return env[context.VERIFIED], env[context.REPO], env.get(SETTINGS_KEY) or TcSettings(), context.now()


def _aanleverpunten(outcome: Outcome):
    return [m.Aanleverpunt(routeringsKenmerk=a.routeringskenmerk, url=a.document_url, leverancierOin=a.leverancier_oin)
            for a in outcome.aanleverpunten]


def _store_sessie(repo, outcome: Outcome, *, new: bool) -> None:
    if outcome.sessie is not None:
        (repo.add_sessie if new else repo.save_sessie)(outcome.sessie)


def _bare(name: str, request, response):
    return rpc(request, _returns=response, _body_style="bare", _in_message_name=f"{name}Request",
               _out_message_name=f"{name}Response")


class TrafficCenterService(ServiceBase):
    @_bare("overdracht", m.OverdrachtRequest, m.OverdrachtResponse)
    def overdracht(ctx, r):
        verified, repo, settings, now = _context(ctx)
        notificatie = repo.notificatie(r.koppelsleutel) if r.koppelsleutel else None
        outcome = rules.overdracht(
            repo, verified.oin, bron_brin=r.bronBrin, bron_routeringskenmerk=r.bronRouteringsKenmerk,
            doel_brin=r.doelBrin, doel_routeringskenmerk=r.doelRouteringsKenmerk, leerling=Leerling(*m.leerling(r)),
            overdrachtsoort=r.overdrachtsoort, notificatie=notificatie, now=now, sessie_ttl=settings.sessie_ttl)
        _store_sessie(repo, outcome, new=True)
        return m.OverdrachtResponse(resultaat=outcome.resultaat,
                                    sessieId=outcome.sessie.sessie_id if outcome.sessie else None,
                                    aanleverpunt=_aanleverpunten(outcome))

    @_bare("sessiecontrole", m.SessiecontroleRequest, m.SessiecontroleResponse)
    def sessiecontrole(ctx, r):
        verified, repo, _, now = _context(ctx)
        outcome = rules.sessiecontrole(
            repo, verified.oin, repo.sessie(r.sessieId, for_update=True), bron_brin=r.bronBrin,
            bron_routeringskenmerk=r.bronRouteringsKenmerk, doel_brin=r.doelBrin,
            doel_routeringskenmerk=r.doelRouteringsKenmerk, leerling=Leerling(*m.leerling(r)),
            overdrachtsoort=r.overdrachtsoort, now=now)
        _store_sessie(repo, outcome, new=False)
        return m.SessiecontroleResponse(resultaat=outcome.resultaat, sector=outcome.doel_sector)

    @_bare("afmelding", m.AfmeldingRequest, m.AfmeldingResponse)
    def afmelding(ctx, r):
        verified, repo, _, now = _context(ctx)
        outcome = rules.afmelding(
            verified.oin, repo.sessie(r.sessieId, for_update=True), bron_brin=r.bronBrin,
            bron_routeringskenmerk=r.bronRouteringsKenmerk, doel_brin=r.doelBrin,
            doel_routeringskenmerk=r.doelRouteringsKenmerk, resultaat=r.resultaat, now=now)
        _store_sessie(repo, outcome, new=False)
        return m.AfmeldingResponse(resultaat=outcome.resultaat)

    @_bare("meldenNotificatie", m.MeldenNotificatieRequest, m.MeldenNotificatieResponse)
    def meldenNotificatie(ctx, r):
        verified, repo, settings, now = _context(ctx)
        outcome = rules.melden_notificatie(
            repo, verified.oin, bron_brin=r.bronBrin, bron_routeringskenmerk=r.bronRouteringsKenmerk,
            doel_brin=r.doelBrin, doel_routeringskenmerk=r.doelRouteringsKenmerk, doel=r.doel,
            sessie_id=r.sessieId, aanvraagdatum=r.aanvraagdatum,
            sessie=repo.sessie(r.sessieId) if r.sessieId else None, now=now, ttl=settings.notificatie_ttl)
        if outcome.notificatie is not None:
            repo.add_notificatie(outcome.notificatie)
        return m.MeldenNotificatieResponse(
            resultaat=outcome.resultaat,
            koppelsleutel=outcome.notificatie.koppelsleutel if outcome.notificatie else None, url=outcome.endpoint)

    @_bare("meldenTerugkoppeling", m.MeldenTerugkoppelingRequest, m.MeldenTerugkoppelingResponse)
    def meldenTerugkoppeling(ctx, r):
        verified, repo, _, now = _context(ctx)
        outcome = rules.melden_terugkoppeling(
            repo, verified.oin, repo.notificatie(r.koppelsleutel), bron_brin=r.bronBrin,
            bron_routeringskenmerk=r.bronRouteringsKenmerk, doel_brin=r.doelBrin,
            doel_routeringskenmerk=r.doelRouteringsKenmerk, koppelsleutel=r.koppelsleutel, tekst=r.terugkoppeling,
            now=now)
        if outcome.terugkoppeling is not None:
            repo.add_terugkoppeling(outcome.terugkoppeling)
        return m.MeldenTerugkoppelingResponse(resultaat=outcome.resultaat, url=outcome.endpoint)

    @_bare("overzichtAanleverpunt", m.OverzichtAanleverpuntRequest, m.OverzichtAanleverpuntResponse)
    def overzichtAanleverpunt(ctx, r):
        verified, repo, _, _ = _context(ctx)
        outcome = rules.overzicht_aanleverpunt(repo, verified.oin, brin=r.brin, routeringskenmerk=r.routeringsKenmerk)
        return m.OverzichtAanleverpuntResponse(resultaat=outcome.resultaat, aanleverpunt=_aanleverpunten(outcome))

    @_bare("ping", m.PingRequest, m.PingResponse)
    def ping(ctx, r):
        return m.PingResponse(resultaat="Geslaagd", afzenderOin=context.verified(ctx).oin, tijdstip=context.now(),
                              versie=__version__)


def application() -> WsgiApplication:
    """spyne's WSGI application for the TC. Put the security middleware (gateway.web.mounts) in front."""
    return m.wsgi_application(TrafficCenterService, "TrafficCenter", 64 * 1024 * 1024)
