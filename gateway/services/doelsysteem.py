"""The reference school's notification endpoint (contract: wsdl/doelsysteem-20200910.wsdl), mounted at
/school/doelsysteem: what other parties push to a school's system outside the TC.

A thin adapter like the Traffic Center's: the security middleware has verified the message, validated its Body
against the contract and holds one transaction (``context.REPO``); this reads the request, applies the rules of
``gateway.oso.doelsysteem``, records what came in (``gateway.store.doelsysteem``) and answers with a result code.

- ``notificatieRequest``: a source pushes a koppelsleutel (doel SWV, or OV for an updated dossier). Accepted only from
  the vendor the register names for the bronRouteringsKenmerk (of that bronBrin), for a koppelsleutel this gateway's
  TC did not issue to other aanleverpunten, and (OV) for a session in which this target fetched from that source;
  recorded with the verified sender's OIN. The target later starts a transfer with it (``oso-gateway transfer
  --koppelsleutel K``). Answer: ``NotificatieOntvangen``.
- ``terugkoppelingRequest``: a samenwerkingsverband's feedback on a dossier the school announced, from the vendor
  registered for the SWV's aanleverpunt, with a koppelsleutel the school announced to that SWV.

The rules, and the result code of each refusal, are ``gateway.oso.doelsysteem``'s; a refused message keeps nothing.
"""

from __future__ import annotations

from spyne import ServiceBase, rpc
from spyne.server.wsgi import WsgiApplication

from ..oso.doelsysteem import (OntvangenNotificatie, OntvangenTerugkoppeling, ontvang_notificatie,
                               ontvang_terugkoppeling, overdrachtsoort_voor)
from ..store.doelsysteem import DoelsysteemStore
from . import context
from . import models as m

SERVICE = "doelsysteem"
OWN_OIN_KEY = "oso.doelsysteem.oin"  # the OIN this system serves its aanleverpunten as


def _context(ctx):
    env = context.environ(ctx)
    return env[context.VERIFIED], env[context.REPO], env.get(OWN_OIN_KEY) or "", context.now()


class DoelsysteemService(ServiceBase):
    @rpc(m.NotificatieRequest, _returns=m.NotificatieResponse, _body_style="bare",
         _in_message_name="notificatieRequest", _out_message_name="notificatieResponse")
    def notificatie(ctx, r):
        verified, repo, own_oin, now = _context(ctx)
        store = DoelsysteemStore(repo)
        notice = OntvangenNotificatie(r.koppelsleutel, verified.oin, r.bronBrin, r.bronRouteringsKenmerk,
                                      r.doelBrin, r.doelRouteringsKenmerk, r.doel,
                                      overdrachtsoort_voor(r.doel, r.bronBrin, r.doelBrin), now)
        uitgegeven = store.uitgegeven(r.koppelsleutel)  # as this gateway's TC issued it, if it did
        opgehaald = store.opgehaald(
            bron_routeringskenmerk=r.bronRouteringsKenmerk, doel_routeringskenmerk=r.doelRouteringsKenmerk,
            own_oin=own_oin, sessie_id=uitgegeven.sessie_id if uitgegeven is not None else None,
        ) if r.doel == "OV" else ()
        resultaat, keep = ontvang_notificatie(
            notice, own_oin=own_oin, bron=repo.aanleverpunt(r.bronRouteringsKenmerk),
            doel=repo.aanleverpunt(r.doelRouteringsKenmerk), afzender=repo.vendor(verified.oin),
            known=store.notificatie(r.koppelsleutel), uitgegeven=uitgegeven, opgehaald=opgehaald)
        if keep:
            store.add_notificatie(notice)
        return m.NotificatieResponse(resultaat=resultaat)

    @rpc(m.TerugkoppelingRequest, _returns=m.TerugkoppelingResponse, _body_style="bare",
         _in_message_name="terugkoppelingRequest", _out_message_name="terugkoppelingResponse")
    def terugkoppeling(ctx, r):
        verified, repo, own_oin, now = _context(ctx)
        feedback = OntvangenTerugkoppeling(verified.oin, r.bronBrin, r.bronRouteringsKenmerk, r.doelBrin,
                                           r.doelRouteringsKenmerk, r.koppelsleutel, r.terugkoppeling, now)
        store = DoelsysteemStore(repo)
        resultaat = ontvang_terugkoppeling(feedback, own_oin=own_oin, bron=repo.aanleverpunt(r.bronRouteringsKenmerk),
                                           doel=repo.aanleverpunt(r.doelRouteringsKenmerk),
                                           afzender=repo.vendor(verified.oin),
                                           aankondigingen=store.aankondigingen(r.koppelsleutel))
        if resultaat == "Geslaagd":
            store.add_terugkoppeling(feedback)
        return m.TerugkoppelingResponse(resultaat=resultaat)


def application() -> WsgiApplication:
    """spyne's WSGI application for the notification endpoint. Put the security middleware (gateway.web.mounts) in
    front."""
    return m.wsgi_application(DoelsysteemService, "Doelsysteem", 1024 * 1024)
