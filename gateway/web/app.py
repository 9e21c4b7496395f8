"""The gateway's WSGI application: services behind the security middleware, their static contracts, health."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from .. import contracts
from ..config import Config
from .metrics import metrics_app
from .mounts import Mounted, gateway_mounts

log = logging.getLogger("oso.gateway")


def _static(start_response, path: Path, content_type: str):
    data = path.read_bytes()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def _plain(start_response, status: str, text: str, content_type="text/plain; charset=utf-8"):
    data = text.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class GatewayApp:
    """Routes by path: ``/<service>`` (POST: SOAP; GET ``?wsdl``: the contract, the very file in ``wsdl/``),
    ``/wsdl/…``, ``/xsd/…``, ``/osr/api/v2/endpoints`` (the OSR-style endpoint lookup), ``/health``, ``/metrics``,
    ``/dashboard/…``."""

    def __init__(self, config: Config, database=None):
        from ..store import Database
        from .osr import OsrLookup

        self.config = config
        self.database = database or Database(config.database_url)
        credentials = config.credentials()
        # one TrustStore per worker, for the middleware and the reference parties' clients alike: it reloads the CRL
        # file when it changes (gateway/wsse/trust.py), so a revocation counts in every worker within seconds
        self.trust = trust = config.trust()
        self.services: dict[str, Mounted] = gateway_mounts(
            config, credentials, trust, self.database,
            tls=bool(config.tls_cert) or bool(config.proxy_client_cert_header))
        self.proxy = None
        if config.trusted_proxies:
            from .proxy import BehindProxy, networks

            self.proxy = BehindProxy(self._route, networks(config.trusted_proxies), config.proxy_client_cert_header)
        self.osr = OsrLookup(self.database)
        # --- the servicedesk (keep this last: it reaches every service mounted above) ---
        self._servicedesk(config)

    def __call__(self, environ, start_response):
        if self.proxy is not None:
            return self.proxy(environ, start_response)
        return self._route(environ, start_response)

    def _route(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        service = self.services.get(path.rstrip("/") or "/")
        if service is not None:
            if method == "POST":
                return service.app(environ, start_response)
            if method == "GET" and environ.get("QUERY_STRING", "").lower() == "wsdl":
                return _static(start_response, service.wsdl, "text/xml; charset=utf-8")
            return _plain(start_response, "405 Method Not Allowed", "POST a SOAP message, or GET ?wsdl\n")
        if path == "/dashboard" or path.startswith("/dashboard/"):
            return self.dashboard(environ, start_response)
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == self.osr.PATH or path.startswith(self.osr.PATH + "/"):
            return self.osr(environ, start_response)
        if method == "GET":
            for folder in ("wsdl", "xsd"):
                if path.startswith(f"/{folder}/"):
                    target = contracts.published_file(folder, path[len(folder) + 2:])
                    if target is not None:
                        return _static(start_response, target, "text/xml; charset=utf-8")
            if path == "/health":
                return self._health(start_response)
        return _plain(start_response, "404 Not Found", "not found\n")

    def _servicedesk(self, config: Config) -> None:
        """Every exchange of every service is journalled, counted and logged (gateway/web/observers.py); the
        dashboard reads the journal. ``start_housekeeping`` (serve, in each worker) purges it hourly."""
        from .dashboard import Dashboard
        from .observers import exchange_observers

        observers = exchange_observers(self.database, journal=bool(config.journal))
        for app, _ in self.services.values():
            app.endpoint = replace(app.endpoint, observers=app.endpoint.observers + observers)
        self.housekeeper = None
        self.dashboard = Dashboard(config, self.database)
        self.dashboard.services = tuple(self.services)
        self.dashboard.trust = self.trust  # its CRL status on the health page

    def start_housekeeping(self) -> None:
        from .housekeeping import Housekeeper

        if self.housekeeper is None:
            self.housekeeper = Housekeeper(self.database, self.config.journal_retention_days).start()
            self.dashboard.housekeeper = self.housekeeper

    def _health(self, start_response):
        try:
            db_ok = self.database.health()
        except Exception:  # the health answer must not fail
            log.exception("health check of the database failed")
            db_ok = False
        body = json.dumps({"status": "ok" if db_ok else "degraded", "database": "ok" if db_ok else "unreachable",
                           "services": sorted(self.services)})
        return _plain(start_response, "200 OK" if db_ok else "503 Service Unavailable", body + "\n",
                      "application/json")
