"""The reference target's notification endpoint (contract: wsdl/doelsysteem-1.wsdl), mounted at /school/doelsysteem.

A thin adapter like the Traffic Center's: the security middleware has verified the message, validated its Body
against xsd/doelsysteem-1.xsd and holds one transaction (``oso.repo``); this reads the request, applies the rules of
``gateway.oso.doelsysteem``, records what came in (``gateway.store.doelsysteem``) and answers with a result code.

- ``notificatieRequest``: a source pushes a koppelsleutel (SWV flow). Accepted only from the vendor the register
  names for the bronRouteringskenmerk (else OnbekendAanleverpunt); recorded with the verified sender's OIN, the
  source's BRIN and routeringskenmerk, and the doel. The target later starts a transfer with it
  (``oso-gateway transfer --koppelsleutel K``).
- ``terugkoppelingRequest``: a source's feedback on a session or a notification, from the registered vendor of its aanleverpunt.
"""

from __future__ import annotations

from datetime import datetime, timezone

from spyne import Application, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from ..oso.doelsysteem import OntvangenNotificatie, OntvangenTerugkoppeling, ontvang_notificatie, ontvang_terugkoppeling
from ..store.doelsysteem import DoelsysteemStore
from ..web.security import ENVIRON_KEY, REPO_KEY
from .models import DS_NS, model, opt, req

NS = DS_NS
PATH = "/school/doelsysteem"
WSDL = "doelsysteem-1.wsdl"
XSD = "doelsysteem-1.xsd"
ACTIONS = frozenset(f"{NS}/{op}" for op in ("notificatie", "terugkoppeling"))
OWN_OIN_KEY = "oso.doelsysteem.oin"  # the OIN this target serves its aanleverpunten as

NotificatieRequest = model(NS, "notificatieRequest", [
    ("koppelsleutel", req(Unicode)), ("bronBrin", req(Unicode)), ("bronRouteringskenmerk", req(Unicode)),
    ("doelBrin", req(Unicode)), ("doelRouteringskenmerk", req(Unicode)), ("overdrachtsoort", req(Unicode)),
])
NotificatieResponse = model(NS, "notificatieResponse", [("resultaat", req(Unicode))])
TerugkoppelingRequest = model(NS, "terugkoppelingRequest", [
    ("bronBrin", req(Unicode)), ("bronRouteringskenmerk", req(Unicode)), ("sessieId", opt(Unicode)),
    ("koppelsleutel", opt(Unicode)), ("terugkoppeling", req(Unicode)),
])
TerugkoppelingResponse = model(NS, "terugkoppelingResponse", [("resultaat", req(Unicode))])


def _context(ctx):
    env = ctx.transport.req_env
    return env[ENVIRON_KEY], env[REPO_KEY], env.get(OWN_OIN_KEY), datetime.now(timezone.utc)


class DoelsysteemService(ServiceBase):
    @rpc(NotificatieRequest, _returns=NotificatieResponse, _body_style="bare",
         _in_message_name="notificatieRequest", _out_message_name="notificatieResponse")
    def notificatie(ctx, r):
        verified, repo, own_oin, now = _context(ctx)
        store = DoelsysteemStore(repo)
        notice = OntvangenNotificatie(r.koppelsleutel, verified.oin, r.bronBrin, r.bronRouteringskenmerk,
                                      r.doelBrin, r.doelRouteringskenmerk, r.overdrachtsoort, now)
        resultaat, keep = ontvang_notificatie(notice, own_oin=own_oin or "",
                                              bron=repo.aanleverpunt(r.bronRouteringskenmerk),
                                              doel=repo.aanleverpunt(r.doelRouteringskenmerk),
                                              known=store.notificatie(r.koppelsleutel))
        if keep:
            store.add_notificatie(notice)
        return NotificatieResponse(resultaat=resultaat)

    @rpc(TerugkoppelingRequest, _returns=TerugkoppelingResponse, _body_style="bare",
         _in_message_name="terugkoppelingRequest", _out_message_name="terugkoppelingResponse")
    def terugkoppeling(ctx, r):
        verified, repo, _, now = _context(ctx)
        feedback = OntvangenTerugkoppeling(verified.oin, r.bronBrin, r.bronRouteringskenmerk, r.sessieId,
                                           r.koppelsleutel, r.terugkoppeling, now)
        resultaat = ontvang_terugkoppeling(feedback, bron=repo.aanleverpunt(r.bronRouteringskenmerk))
        if resultaat == "Geslaagd":
            DoelsysteemStore(repo).add_terugkoppeling(feedback)
        return TerugkoppelingResponse(resultaat=resultaat)


def doelsysteem_application() -> WsgiApplication:
    """spyne's WSGI application for the notification endpoint. Put the security middleware in front."""
    app = Application([DoelsysteemService], tns=NS, in_protocol=Soap11(validator=None), out_protocol=Soap11())
    return WsgiApplication(app, max_content_length=1024 * 1024)


def mount(config, credentials, trust, database, *, tls: bool):
    """The GatewayApp entry for ``PATH``: (the secured WSGI app, the contract's WSDL file name)."""
    from ..web.app import load_schema
    from ..web.security import SecuredEndpoint, SecurityMiddleware

    endpoint = SecuredEndpoint(
        credentials, trust, config.policy(PATH, own_oin=credentials.oin, actions=ACTIONS), replay=None,
        schema=load_schema(XSD), unit_of_work=database.unit_of_work,
        environ={OWN_OIN_KEY: credentials.oin}, require_tls_client=tls,
        name="doelsysteem")
    return SecurityMiddleware(doelsysteem_application(), endpoint), WSDL
