"""Where each service is mounted, and what stands in front of it: the composition of the gateway's SOAP endpoints.

Each entry is a spyne service (gateway/services/…) behind the security middleware, configured for that service: our
credentials, whom we trust, the endpoint's policy (its address and its contract's Actions), the replay store, the
transaction, and the settings the service reads from the environ. The services know nothing of this module.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from .. import contracts
from ..services import aanleverpunt, doelsysteem, trafficcenter
from .security import SecuredEndpoint, SecurityMiddleware

TC_PATH = "/tc"
AANLEVERPUNT_PATH = "/school/aanleverpunt"
DOELSYSTEEM_PATH = "/school/doelsysteem"


class Mounted(NamedTuple):
    """A secured SOAP endpoint: the middleware (whose ``endpoint`` may be extended, e.g. with observers) and the
    contract service it serves (its WSDL is served at ``?wsdl``)."""

    app: SecurityMiddleware
    service: contracts.Service

    @property
    def wsdl(self) -> Path:
        return self.service.wsdl


def _endpoint(config, credentials, trust, path: str, service: str, *, tls: bool, **kw) -> SecuredEndpoint:
    contract = contracts.service(service)
    return SecuredEndpoint(credentials, trust, config.policy(path, own_oin=credentials.oin, actions=contract.actions),
                           service=contract, require_tls_client=tls, name=service, **kw)


def trafficcenter_mount(config, credentials, trust, database, *, tls: bool) -> Mounted:
    settings = trafficcenter.TcSettings(sessie_ttl=timedelta(seconds=config.sessie_ttl_s),
                                        notificatie_ttl=timedelta(seconds=config.notificatie_ttl_s))
    endpoint = _endpoint(config, credentials, trust, TC_PATH, trafficcenter.SERVICE, tls=tls, replay=None,
                         unit_of_work=database.unit_of_work, environ={trafficcenter.SETTINGS_KEY: settings})
    return Mounted(SecurityMiddleware(trafficcenter.application(), endpoint), endpoint.service)


def aanleverpunt_mount(config, credentials, trust, database, *, tls: bool, bron=None) -> Mounted:
    """The reference source. Its replay id is kept in a short transaction of its own, committed before the service
    runs (the service calls the TC without holding a transaction: gateway/services/aanleverpunt.py)."""
    from ..store import DatabaseReplayStore

    bron = bron or aanleverpunt.bron_for(config, credentials, trust, database)
    endpoint = _endpoint(config, credentials, trust, AANLEVERPUNT_PATH, aanleverpunt.SERVICE, tls=tls,
                         replay=DatabaseReplayStore(database), unit_of_work=None,
                         environ={aanleverpunt.BRON_KEY: bron})
    return Mounted(SecurityMiddleware(aanleverpunt.application(), endpoint), endpoint.service)


def doelsysteem_mount(config, credentials, trust, database, *, tls: bool) -> Mounted:
    endpoint = _endpoint(config, credentials, trust, DOELSYSTEEM_PATH, doelsysteem.SERVICE, tls=tls, replay=None,
                         unit_of_work=database.unit_of_work, environ={doelsysteem.OWN_OIN_KEY: credentials.oin})
    return Mounted(SecurityMiddleware(doelsysteem.application(), endpoint), endpoint.service)


def gateway_mounts(config, credentials, trust, database, *, tls: bool) -> dict[str, Mounted]:
    """Every SOAP endpoint the gateway serves, by path: the Traffic Center and the reference school."""
    return {
        TC_PATH: trafficcenter_mount(config, credentials, trust, database, tls=tls),
        AANLEVERPUNT_PATH: aanleverpunt_mount(config, credentials, trust, database, tls=tls),
        DOELSYSTEEM_PATH: doelsysteem_mount(config, credentials, trust, database, tls=tls),
    }
