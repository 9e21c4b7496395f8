"""The gateway's WSGI application: services behind the security middleware, their static contracts, health."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..config import Config
from .security import SecuredEndpoint, SecurityMiddleware

log = logging.getLogger("oso.gateway")

ROOT = Path(__file__).resolve().parents[2]
WSDL_DIR = ROOT / "wsdl"
XSD_DIR = ROOT / "xsd"


def _static(start_response, path: Path, content_type: str):
    data = path.read_bytes()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def _plain(start_response, status: str, text: str, content_type="text/plain; charset=utf-8"):
    data = text.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class GatewayApp:
    """Routes by path: ``/<service>`` (POST: SOAP; GET ``?wsdl``: the contract), ``/wsdl/…``, ``/xsd/…``,
    ``/health``."""

    def __init__(self, config: Config):
        from ..services.ping import ACTION as PING_ACTION, ping_application

        self.config = config
        credentials = config.credentials()
        trust = config.trust()
        replay = config.replay_store()
        self.services = {
            "/ping": (
                SecurityMiddleware(
                    ping_application(),
                    SecuredEndpoint(credentials, trust, config.policy("/ping", own_oin=credentials.oin,
                                                                       actions=frozenset({PING_ACTION})), replay),
                ),
                "ping-1.wsdl",
            ),
        }

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        service = self.services.get(path.rstrip("/") or "/")
        if service is not None:
            app, wsdl = service
            if method == "POST":
                return app(environ, start_response)
            if method == "GET" and environ.get("QUERY_STRING", "").lower() == "wsdl":
                return _static(start_response, WSDL_DIR / wsdl, "text/xml; charset=utf-8")
            return _plain(start_response, "405 Method Not Allowed", "POST a SOAP message, or GET ?wsdl\n")
        if method == "GET":
            for prefix, folder, suffix in (("/wsdl/", WSDL_DIR, ".wsdl"), ("/xsd/", XSD_DIR, ".xsd")):
                if path.startswith(prefix):
                    name = path[len(prefix):]
                    target = folder / name
                    if "/" not in name and name.endswith(suffix) and target.is_file():
                        return _static(start_response, target, "text/xml; charset=utf-8")
            if path == "/health":
                body = json.dumps({"status": "ok", "services": sorted(self.services)})
                return _plain(start_response, "200 OK", body + "\n", "application/json")
        return _plain(start_response, "404 Not Found", "not found\n")
