"""spyne models that serialise exactly to the contract (xsd/overstapservice-20200910.xsd): element names, order,
namespaces. The gateway's optional additions (``urn:oso-gateway:extensie:1``) are written in their own namespace.

Incoming Bodies are validated against the contract by the security middleware before spyne reads them, so spyne only
deserialises valid documents; its own (generated) schema is never used. The middleware validates every answer too,
before it is signed.
"""

from __future__ import annotations

from spyne import AnyXml, Application, ComplexModel, DateTime, Unicode
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from ..contracts import GW_NS, OSO_NS

NS = OSO_NS


def req(cls, **kw):
    """A required, non-nillable field (spyne's default is optional and nillable)."""
    return cls(min_occurs=1, nillable=False, **kw)


def opt(cls, **kw):
    return cls(min_occurs=0, nillable=False, **kw)


def ext(cls, **kw):
    """An optional element of the gateway's extension namespace."""
    return cls(min_occurs=0, nillable=False, sub_ns=GW_NS, **kw)


def many(cls, min_occurs=0):
    return cls.customize(min_occurs=min_occurs, max_occurs="unbounded", nillable=False)


def model(name: str, fields: list[tuple[str, object]]):
    """A ComplexModel named like the contract's element, with fields in the contract's order."""
    return type(name, (ComplexModel,), {"__namespace__": NS, "__type_name__": name, "_type_info": fields})


ZoeksleutelPgnfrag = model("ZoeksleutelPgnfrag", [("zoeksleutel", req(Unicode)), ("pgnfrag", req(Unicode))])
# the choice of the contract: exactly one of the two (the XSD holds it; spyne reads whichever came)
_LEERLING = [("zoeksleutelPgnfrag", ZoeksleutelPgnfrag.customize(min_occurs=0, nillable=False)),
             ("koppelsleutel", opt(Unicode))]
_PARTIJEN = [("bronBrin", req(Unicode)), ("bronRouteringsKenmerk", req(Unicode)), ("doelBrin", req(Unicode)),
             ("doelRouteringsKenmerk", req(Unicode))]

Aanleverpunt = model("Aanleverpunt", [
    ("routeringsKenmerk", req(Unicode)), ("url", opt(Unicode)), ("leverancierOin", ext(Unicode)),
])

# --- the Traffic Center -----------------------------------------------------------------------------------------
OverdrachtRequest = model("overdrachtRequest", [
    ("bronBrin", req(Unicode)), ("bronRouteringsKenmerk", opt(Unicode)), ("doelBrin", req(Unicode)),
    ("doelRouteringsKenmerk", req(Unicode)), *_LEERLING, ("overdrachtsoort", req(Unicode)),
])
OverdrachtResponse = model("overdrachtResponse", [
    ("resultaat", req(Unicode)), ("sessieId", opt(Unicode)), ("aanleverpunt", many(Aanleverpunt)),
])
SessiecontroleRequest = model("sessiecontroleRequest", [
    *_PARTIJEN, *_LEERLING, ("overdrachtsoort", req(Unicode)), ("sessieId", req(Unicode)),
])
SessiecontroleResponse = model("sessiecontroleResponse", [("resultaat", req(Unicode)), ("sector", opt(Unicode))])
AfmeldingRequest = model("afmeldingRequest", [
    *_PARTIJEN, ("sessieId", req(Unicode)), ("resultaat", req(Unicode)),
])
AfmeldingResponse = model("afmeldingResponse", [("resultaat", req(Unicode))])
MeldenNotificatieRequest = model("meldenNotificatieRequest", [
    *_PARTIJEN, ("sessieId", opt(Unicode)), ("aanvraagdatum", opt(DateTime)), ("doel", req(Unicode)),
])
MeldenNotificatieResponse = model("meldenNotificatieResponse", [
    ("resultaat", req(Unicode)), ("koppelsleutel", opt(Unicode)), ("url", opt(Unicode)),
])
MeldenTerugkoppelingRequest = model("meldenTerugkoppelingRequest", [
    *_PARTIJEN, ("koppelsleutel", req(Unicode)), ("terugkoppeling", req(Unicode)),
])
MeldenTerugkoppelingResponse = model("meldenTerugkoppelingResponse", [
    ("resultaat", req(Unicode)), ("url", opt(Unicode)),
])
OverzichtAanleverpuntRequest = model("overzichtAanleverpuntRequest", [
    ("brin", req(Unicode)), ("routeringsKenmerk", opt(Unicode)),
])
OverzichtAanleverpuntResponse = model("overzichtAanleverpuntResponse", [
    ("resultaat", req(Unicode)), ("aanleverpunt", many(Aanleverpunt)),
])
# the contract's pingRequest is empty; spyne refuses an empty bare model, so it gets a field the XSD (checked
# before spyne reads anything) never lets through
PingRequest = model("pingRequest", [("_leeg", opt(Unicode))])
PingResponse = model("pingResponse", [
    ("resultaat", req(Unicode)), ("afzenderOin", ext(Unicode)), ("tijdstip", ext(DateTime)), ("versie", ext(Unicode)),
])

# --- a bron school's aanleverpunt ---------------------------------------------------------------------------------
DocumentRequest = model("documentRequest", [
    *_PARTIJEN, *_LEERLING, ("overdrachtsoort", req(Unicode)), ("sessieId", req(Unicode)),
    ("dossierVerzameldatum", opt(DateTime)),
])
DocumentResponse = model("documentResponse", [("resultaat", req(Unicode)), ("dossier", opt(AnyXml))])

# --- a school system's notification endpoint ----------------------------------------------------------------------
NotificatieRequest = model("notificatieRequest", [
    *_PARTIJEN, ("koppelsleutel", req(Unicode)), ("doel", req(Unicode)),
])
NotificatieResponse = model("notificatieResponse", [("resultaat", req(Unicode))])
TerugkoppelingRequest = model("terugkoppelingRequest", [
    *_PARTIJEN, ("koppelsleutel", req(Unicode)), ("terugkoppeling", req(Unicode)),
])
TerugkoppelingResponse = model("terugkoppelingResponse", [("resultaat", req(Unicode))])


def wsgi_application(service_class, name: str, max_bytes: int) -> WsgiApplication:
    """spyne's WSGI application for one service of the contract. spyne never validates (the middleware does, against
    the contract's own XSD); ``name`` keeps spyne's registry of applications apart, as all share the namespace."""
    app = Application([service_class], tns=NS, name=name, in_protocol=Soap11(validator=None), out_protocol=Soap11())
    return WsgiApplication(app, max_content_length=max_bytes)


def leerling(request):
    """(zoeksleutel, pgnfrag, koppelsleutel) of a request carrying the contract's Leerling choice."""
    z = request.zoeksleutelPgnfrag
    return (z.zoeksleutel if z is not None else None, z.pgnfrag if z is not None else None, request.koppelsleutel)
