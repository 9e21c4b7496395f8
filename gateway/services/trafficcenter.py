"""The Traffic Center service (contract: wsdl/trafficcenter-1.wsdl), a thin adapter: read the verified request,
fetch what the rules need from the store, call the rules of gateway.oso.trafficcenter, store the outcome, answer.

The security middleware has verified the message and validated its Body against xsd/trafficcenter-1.xsd, and holds
one database transaction open for this message (``oso.repo``): the replay id, the session change and the answer
are committed together, before the answer leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from spyne import Application, ServiceBase, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from .. import __version__
from ..oso import trafficcenter as rules
from ..oso.trafficcenter import Leerling, Outcome
from ..web.security import ENVIRON_KEY, REPO_KEY
from . import models as m

NS = m.TC_NS
ACTIONS = frozenset(f"{NS}/{op}" for op in (
    "overdracht", "sessiecontrole", "afmelding", "meldenNotificatie", "meldenTerugkoppeling",
    "overzichtAanleverpunt", "ping"))


@dataclass(frozen=True)
class TcSettings:
    sessie_ttl: timedelta = timedelta(hours=1)
    notificatie_ttl: timedelta = timedelta(days=14)


SETTINGS_KEY = "oso.tc.settings"


def _context(ctx):
    env = ctx.transport.req_env
    return env[ENVIRON_KEY], env[REPO_KEY], env.get(SETTINGS_KEY) or TcSettings(), datetime.now(timezone.utc)


def _leerling(request) -> Leerling:
    return Leerling(request.zoeksleutel, request.pgnfrag, request.koppelsleutel)


def _aanleverpunten(outcome: Outcome):
    return [m.Aanleverpunt(routeringskenmerk=a.routeringskenmerk, brin=a.brin, vestiging=a.vestiging,
                           schoolnaam=a.schoolnaam, documentEndpoint=a.document_url,
                           leverancierOin=a.leverancier_oin) for a in outcome.aanleverpunten]


def _store_sessie(repo, outcome: Outcome, *, new: bool) -> None:
    if outcome.sessie is not None:
        (repo.add_sessie if new else repo.save_sessie)(outcome.sessie)


class TrafficCenterService(ServiceBase):
    @rpc(m.OverdrachtRequest, _returns=m.OverdrachtResponse, _body_style="bare",
         _in_message_name="overdrachtRequest", _out_message_name="overdrachtResponse")
    def overdracht(ctx, r):
        verified, repo, settings, now = _context(ctx)
        notificatie = repo.notificatie(r.koppelsleutel) if r.koppelsleutel else None
        outcome = rules.overdracht(
            repo, verified.oin, doel_brin=r.doelBrin, doel_routeringskenmerk=r.doelRouteringskenmerk,
            bron_brin=r.bronBrin, overdrachtsoort=r.overdrachtsoort, leerling=_leerling(r),
            notificatie=notificatie, now=now, sessie_ttl=settings.sessie_ttl)
        _store_sessie(repo, outcome, new=True)
        return m.OverdrachtResponse(resultaat=outcome.resultaat,
                                    sessieId=outcome.sessie.sessie_id if outcome.sessie else None,
                                    aanleverpunt=_aanleverpunten(outcome))

    @rpc(m.SessiecontroleRequest, _returns=m.SessiecontroleResponse, _body_style="bare",
         _in_message_name="sessiecontroleRequest", _out_message_name="sessiecontroleResponse")
    def sessiecontrole(ctx, r):
        verified, repo, _, now = _context(ctx)
        outcome = rules.sessiecontrole(
            repo, verified.oin, repo.sessie(r.sessieId, for_update=True), aanvrager_oin=r.aanvragerOin,
            bron_routeringskenmerk=r.bronRouteringskenmerk, bron_brin=r.bronBrin, doel_brin=r.doelBrin,
            overdrachtsoort=r.overdrachtsoort, leerling=_leerling(r), now=now)
        _store_sessie(repo, outcome, new=False)
        return m.SessiecontroleResponse(resultaat=outcome.resultaat, doelSector=outcome.doel_sector)

    @rpc(m.AfmeldingRequest, _returns=m.AfmeldingResponse, _body_style="bare",
         _in_message_name="afmeldingRequest", _out_message_name="afmeldingResponse")
    def afmelding(ctx, r):
        verified, repo, _, now = _context(ctx)
        outcome = rules.afmelding(
            verified.oin, repo.sessie(r.sessieId, for_update=True),
            resultaten=[(a.routeringskenmerk, a.resultaat) for a in r.aanleverpuntResultaat or []], now=now)
        _store_sessie(repo, outcome, new=False)
        return m.AfmeldingResponse(resultaat=outcome.resultaat, sessieResultaat=outcome.sessie_resultaat)

    @rpc(m.MeldenNotificatieRequest, _returns=m.MeldenNotificatieResponse, _body_style="bare",
         _in_message_name="meldenNotificatieRequest", _out_message_name="meldenNotificatieResponse")
    def meldenNotificatie(ctx, r):
        verified, repo, settings, now = _context(ctx)
        outcome = rules.melden_notificatie(
            repo, verified.oin, bron_routeringskenmerk=r.bronRouteringskenmerk, doel_brin=r.doelBrin,
            doel_routeringskenmerk=r.doelRouteringskenmerk, overdrachtsoort=r.overdrachtsoort,
            zoeksleutel=r.zoeksleutel, pgnfrag=r.pgnfrag, now=now, ttl=settings.notificatie_ttl)
        if outcome.notificatie is not None:
            repo.add_notificatie(outcome.notificatie)
        return m.MeldenNotificatieResponse(
            resultaat=outcome.resultaat,
            koppelsleutel=outcome.notificatie.koppelsleutel if outcome.notificatie else None,
            notificatieEndpoint=outcome.endpoint)

    @rpc(m.MeldenTerugkoppelingRequest, _returns=m.MeldenTerugkoppelingResponse, _body_style="bare",
         _in_message_name="meldenTerugkoppelingRequest", _out_message_name="meldenTerugkoppelingResponse")
    def meldenTerugkoppeling(ctx, r):
        verified, repo, _, now = _context(ctx)
        outcome = rules.melden_terugkoppeling(
            repo, verified.oin, bron_routeringskenmerk=r.bronRouteringskenmerk,
            sessie=repo.sessie(r.sessieId) if r.sessieId else None,
            notificatie=repo.notificatie(r.koppelsleutel) if r.koppelsleutel else None,
            sessie_id=r.sessieId, koppelsleutel=r.koppelsleutel, tekst=r.terugkoppeling, now=now)
        if outcome.terugkoppeling is not None:
            repo.add_terugkoppeling(outcome.terugkoppeling)
        return m.MeldenTerugkoppelingResponse(resultaat=outcome.resultaat, notificatieEndpoint=outcome.endpoint)

    @rpc(m.OverzichtAanleverpuntRequest, _returns=m.OverzichtAanleverpuntResponse, _body_style="bare",
         _in_message_name="overzichtAanleverpuntRequest", _out_message_name="overzichtAanleverpuntResponse")
    def overzichtAanleverpunt(ctx, r):
        verified, repo, _, _ = _context(ctx)
        outcome = rules.overzicht_aanleverpunt(repo, verified.oin, brin=r.brin, routeringskenmerk=r.routeringskenmerk)
        return m.OverzichtAanleverpuntResponse(resultaat=outcome.resultaat, aanleverpunt=_aanleverpunten(outcome))

    @rpc(m.PingRequest, _returns=m.PingResponse, _body_style="bare",
         _in_message_name="pingRequest", _out_message_name="pingResponse")
    def ping(ctx, r):
        verified = ctx.transport.req_env[ENVIRON_KEY]
        return m.PingResponse(echo=r.echo if r is not None else None, tijdstip=datetime.now(timezone.utc),
                              versie=__version__, afzenderOin=verified.oin)


def trafficcenter_application() -> WsgiApplication:
    """spyne's WSGI application for the TC. Put the security middleware (with the contract's schema) in front."""
    app = Application([TrafficCenterService], tns=NS, in_protocol=Soap11(validator=None), out_protocol=Soap11())
    return WsgiApplication(app, max_content_length=64 * 1024 * 1024)
