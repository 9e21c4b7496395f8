"""``oso-gateway serve``: the gateway under its WSGI server (gateway/web/server.py)."""

from __future__ import annotations

import sys

from .common import EXIT_USAGE


def _serve(args) -> int:
    from ..config import ConfigError, load_config
    from ..web.server import serve

    try:
        config = load_config(args.config, host=args.host, port=args.port, workers=args.workers)
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return serve(config, dev=args.dev, config_path=args.config)


def add_parser(sub) -> None:
    srv = sub.add_parser("serve", help="run the gateway (WSGI server, several worker processes)")
    srv.add_argument("--config", metavar="FILE", help="TOML file (environment: OSO_GATEWAY_<SETTING>)")
    srv.add_argument("--dev", action="store_true",
                     help="development: make a test PKI under var/ when there is none, plain HTTP on loopback")
    srv.add_argument("--host", help="the address to listen on (default: the configuration's host, 127.0.0.1)")
    srv.add_argument("--port", type=int, help="the port to listen on (default: the configuration's port, 8080)")
    srv.add_argument("--workers", type=int, help="worker processes (default: the configuration's workers, 2)")
    srv.set_defaults(func=_serve)
