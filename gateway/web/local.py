"""A whole gateway inside this process, for the demo, the tests and the bench: TEST ONLY.

``LocalGateway`` makes a temporary folder with a fresh test PKI, a chain key and a SQLite database, migrates it,
registers the test school (source, BRIN 00YY) with its test pupils and the reference targets (00ZZ, 00SW), and
serves the same ``GatewayApp`` as ``oso-gateway serve`` from a threaded WSGI server on a loopback port. Threaded,
because a source answering a documentRequest calls the Traffic Center (sessiecontrole) on the same server.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..config import Config


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

    def address_string(self):  # no reverse DNS lookup per request
        return self.client_address[0]


def _not_ready(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


def ensure_chain_key(path: str | Path, kid: str = "dev") -> bool:
    """Write a new chain key (TEST ONLY) to ``path`` unless one is there; True when one was made."""
    from ..oso.zoeksleutel import ChainKey

    p = Path(path)
    if p.exists():
        return False
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "x", encoding="ascii", opener=lambda f, flags: __import__("os").open(f, flags, 0o600)) as out:
        out.write(ChainKey.generate(kid).to_text())
    return True


def prepare_dev(database, config: Config, *, pupils: bool = True) -> None:
    """What ``serve --dev`` and the demo register: the test school (a source, with its test pupils) and the
    reference targets, for a gateway at ``config.base_url``."""
    from ..store.testschool import register_test_school, register_test_target

    with database.unit_of_work() as repo:
        register_test_school(repo, gateway_base_url=config.base_url)
        register_test_target(repo, gateway_base_url=config.base_url)
    if pupils:
        load_test_pupils(database, config)


def load_test_pupils(database, config: Config, *, extra: int = 0) -> None:
    """The test school's pupils and their synthetic dossiers (``gateway.school.testleerlingen``), gathered today."""
    from datetime import datetime, timezone

    from ..school.testleerlingen import laad_testleerlingen
    from ..store.school_repository import SchoolRepository

    now = datetime.now(timezone.utc)
    with database.unit_of_work() as repo:
        laad_testleerlingen(SchoolRepository.of(repo), datum=now.date(), now=now, extra=extra)


class LocalGateway:
    """``with LocalGateway() as gw:`` — ``gw.config`` (a Config whose files all live in ``gw.folder``), ``gw.url``,
    ``gw.database``. ``public_url`` makes the gateway known under another address (a recording proxy's)."""

    def __init__(self, folder: str | Path | None = None, *, public_url: str | None = None, keep: bool = False,
                 pupils: bool = True, **settings):
        self._own_folder = folder is None
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="oso-gateway-"))
        self.public_url = public_url
        self.keep = keep
        self.pupils = pupils
        self.settings = settings
        self.config: Config | None = None
        self.database = None
        self.app = None
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        return self.config.base_url

    @property
    def port(self) -> int:
        return self._httpd.server_port

    def start(self) -> "LocalGateway":
        from ..pki import init_pki
        from ..store import Database
        from .app import GatewayApp

        pki_dir = self.folder / "pki"
        if not (pki_dir / "ca.pem").exists():
            init_pki(pki_dir)
        key = self.folder / "zoeksleutel.key"
        ensure_chain_key(key)
        self._httpd = make_server("127.0.0.1", 0, _not_ready, server_class=_Server, handler_class=_Quiet)
        port = self._httpd.server_port
        config = Config(host="127.0.0.1", port=port, public_url=self.public_url or "",
                        cert=str(pki_dir / "gateway.cert.pem"), key=str(pki_dir / "gateway.key.pem"),
                        ca=str(pki_dir / "ca.pem"), crl=str(pki_dir / "crl.pem"),
                        database_url=f"sqlite:///{self.folder / 'gateway.db'}", zoeksleutel_key=str(key))
        self.config = replace(config, **self.settings)
        self.database = Database(self.config.database_url)
        self.database.migrate()
        prepare_dev(self.database, self.config, pupils=self.pupils)
        self.app = GatewayApp(self.config, database=self.database)
        self._httpd.set_app(self.app)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.database is not None:
            self.database.dispose()
        if self._own_folder and not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "LocalGateway":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
