"""spyne models that serialise exactly to the contracts in xsd/ (element names, order, namespaces).

Incoming Bodies are validated against the hand-written XSD by the security middleware before spyne reads them,
so spyne only deserialises valid documents; its own (generated) schema is never used.
"""

from __future__ import annotations

from spyne import Boolean, ComplexModel, Date, DateTime, Unicode

TC_NS = "urn:oso-gateway:trafficcenter:1"
AP_NS = "urn:oso-gateway:aanleverpunt:1"
DS_NS = "urn:oso-gateway:doelsysteem:1"


def req(cls, **kw):
    """A required, non-nillable field (spyne's default is optional and nillable)."""
    return cls(min_occurs=1, nillable=False, **kw)


def opt(cls, **kw):
    return cls(min_occurs=0, nillable=False, **kw)


def many(cls, min_occurs=0):
    return cls.customize(min_occurs=min_occurs, max_occurs="unbounded", nillable=False)


def model(namespace: str, name: str, fields: list[tuple[str, object]]):
    """A ComplexModel named like the contract's element, with fields in the contract's order."""
    return type(name, (ComplexModel,), {"__namespace__": namespace, "__type_name__": name, "_type_info": fields})


# --- Traffic Center -------------------------------------------------------------------------------------------
Aanleverpunt = model(TC_NS, "Aanleverpunt", [
    ("routeringskenmerk", req(Unicode)), ("brin", req(Unicode)), ("vestiging", req(Unicode)),
    ("schoolnaam", req(Unicode)), ("documentEndpoint", req(Unicode)), ("leverancierOin", req(Unicode)),
])
_LEERLING = [("zoeksleutel", opt(Unicode)), ("pgnfrag", opt(Unicode)), ("koppelsleutel", opt(Unicode))]

OverdrachtRequest = model(TC_NS, "overdrachtRequest", [
    ("doelBrin", req(Unicode)), ("doelRouteringskenmerk", req(Unicode)), ("bronBrin", req(Unicode)),
    ("overdrachtsoort", req(Unicode)), *_LEERLING,
])
OverdrachtResponse = model(TC_NS, "overdrachtResponse", [
    ("resultaat", req(Unicode)), ("sessieId", opt(Unicode)), ("aanleverpunt", many(Aanleverpunt)),
])
SessiecontroleRequest = model(TC_NS, "sessiecontroleRequest", [
    ("sessieId", req(Unicode)), ("aanvragerOin", req(Unicode)), ("bronRouteringskenmerk", req(Unicode)), ("bronBrin", req(Unicode)),
    ("doelBrin", req(Unicode)), ("overdrachtsoort", req(Unicode)), *_LEERLING,
])
SessiecontroleResponse = model(TC_NS, "sessiecontroleResponse", [
    ("resultaat", req(Unicode)), ("doelSector", opt(Unicode)),
])
AanleverpuntResultaat = model(TC_NS, "AanleverpuntResultaat", [
    ("routeringskenmerk", req(Unicode)), ("resultaat", req(Unicode)),
])
AfmeldingRequest = model(TC_NS, "afmeldingRequest", [
    ("sessieId", req(Unicode)), ("aanleverpuntResultaat", many(AanleverpuntResultaat, 1)),
])
AfmeldingResponse = model(TC_NS, "afmeldingResponse", [
    ("resultaat", req(Unicode)), ("sessieResultaat", opt(Unicode)),
])
MeldenNotificatieRequest = model(TC_NS, "meldenNotificatieRequest", [
    ("bronRouteringskenmerk", req(Unicode)), ("doelBrin", req(Unicode)), ("doelRouteringskenmerk", req(Unicode)),
    ("overdrachtsoort", req(Unicode)), ("zoeksleutel", req(Unicode)), ("pgnfrag", req(Unicode)),
])
MeldenNotificatieResponse = model(TC_NS, "meldenNotificatieResponse", [
    ("resultaat", req(Unicode)), ("koppelsleutel", opt(Unicode)), ("notificatieEndpoint", opt(Unicode)),
])
MeldenTerugkoppelingRequest = model(TC_NS, "meldenTerugkoppelingRequest", [
    ("bronRouteringskenmerk", req(Unicode)), ("sessieId", opt(Unicode)), ("koppelsleutel", opt(Unicode)),
    ("terugkoppeling", req(Unicode)),
])
MeldenTerugkoppelingResponse = model(TC_NS, "meldenTerugkoppelingResponse", [
    ("resultaat", req(Unicode)), ("notificatieEndpoint", opt(Unicode)),
])
OverzichtAanleverpuntRequest = model(TC_NS, "overzichtAanleverpuntRequest", [
    ("brin", req(Unicode)), ("routeringskenmerk", opt(Unicode)),
])
OverzichtAanleverpuntResponse = model(TC_NS, "overzichtAanleverpuntResponse", [
    ("resultaat", req(Unicode)), ("aanleverpunt", many(Aanleverpunt)),
])
PingRequest = model(TC_NS, "pingRequest", [("echo", opt(Unicode))])
PingResponse = model(TC_NS, "pingResponse", [
    ("echo", opt(Unicode)), ("tijdstip", req(DateTime)), ("versie", req(Unicode)), ("afzenderOin", req(Unicode)),
])

__all__ = [n for n in dir() if not n.startswith("_")] + ["Boolean", "Date"]
