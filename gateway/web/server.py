"""``oso-gateway serve``: gunicorn with several worker processes (each loads keys and trust once)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..config import Config


def _ensure_dev_pki(config: Config) -> None:
    from ..pki import init_pki

    ca = Path(config.ca)
    if not ca.exists():
        init_pki(ca.parent)
        print(f"made a TEST ONLY PKI in {ca.parent}", file=sys.stderr)


def serve(config: Config, *, dev: bool = False) -> int:
    from gunicorn.app.base import BaseApplication

    if dev:
        if config.host not in ("127.0.0.1", "localhost", "::1"):
            print("serve --dev serves plain HTTP on loopback only", file=sys.stderr)
            return 2
        _ensure_dev_pki(config)
    for name in ("cert", "key", "ca"):
        if not Path(getattr(config, name)).is_file():
            print(f"serve: the {name} file {getattr(config, name)} does not exist "
                  "(run with --dev for a test PKI, or set it in the config)", file=sys.stderr)
            return 2

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", [f"{config.host}:{config.port}"])
            self.cfg.set("workers", config.workers)
            self.cfg.set("loglevel", config.log_level)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)
            self.cfg.set("control_socket_disable", True)  # several gateways may run on one host

        def load(self):
            from .app import GatewayApp

            logging.basicConfig(level=config.log_level.upper())
            return GatewayApp(config)

    print(f"OSO gateway on {config.base_url} ({config.workers} workers): ping at {config.base_url}/ping, "
          f"contract at {config.base_url}/ping?wsdl, health at {config.base_url}/health", file=sys.stderr)
    Server().run()
    return 0
