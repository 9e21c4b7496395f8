"""The ping service (contract: wsdl/ping-1.wsdl): proves the service is up and the security works both ways."""

from __future__ import annotations

from datetime import datetime, timezone

from spyne import Application, ComplexModel, DateTime, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from .. import __version__
from ..web.security import ENVIRON_KEY

NS = "urn:oso-gateway:ping:1"
ACTION = NS + "/ping"


def _required(cls, **kw):
    return cls(min_occurs=1, nillable=False, **kw)


class PingRequest(ComplexModel):
    __namespace__ = NS
    __type_name__ = "pingRequest"
    _type_info = [("echo", Unicode(min_occurs=0, nillable=False))]


class PingResponse(ComplexModel):
    __namespace__ = NS
    __type_name__ = "pingResponse"
    _type_info = [
        ("echo", Unicode(min_occurs=0, nillable=False)),
        ("tijdstip", _required(DateTime)),
        ("versie", _required(Unicode)),
        ("afzenderOin", _required(Unicode)),
    ]


class PingService(ServiceBase):
    @rpc(PingRequest, _returns=PingResponse, _body_style="bare", _in_message_name="pingRequest",
         _out_message_name="pingResponse")
    def ping(ctx, request):
        verified = ctx.transport.req_env[ENVIRON_KEY]
        return PingResponse(
            echo=request.echo if request is not None else None,
            tijdstip=datetime.now(timezone.utc),
            versie=__version__,
            afzenderOin=verified.oin,
        )


def ping_application() -> WsgiApplication:
    """The spyne WSGI application of the ping service (put the security middleware in front of it)."""
    app = Application([PingService], tns=NS, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    return WsgiApplication(app)
