"""What the suite serves (its Traffic Center, its test school) and how it records every byte that reaches it.

A small threaded WSGI server (the standard library's, one thread per connection) on a local port, plain HTTP or
two-way TLS (TLS 1.2 at least, client certificate required from the given CAs; the client certificate is handed to
the security middleware the way gunicorn does, so WT001 is enforced as in production). ``Recorder`` is a WSGI
middleware that keeps each request's and answer's raw bytes and headers: the evidence, and what the PGN scans read.
"""

from __future__ import annotations

import io
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .evidence import HttpExchange


@dataclass(frozen=True)
class TlsSettings:
    cert: str  # the server's certificate and key (PEM)
    key: str
    client_ca: str  # CAs whose client certificates are accepted (PEM)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):  # a failed TLS handshake is a refusal, not a crash
        pass


class _Handler(WSGIRequestHandler):
    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            self.request.do_handshake()
        super().setup()

    def get_environ(self):
        env = super().get_environ()
        if isinstance(self.request, ssl.SSLSocket):
            env["gunicorn.socket"] = self.request  # where the security middleware looks for the client certificate
            env["wsgi.url_scheme"] = "https"
        return env

    def log_message(self, *args):
        pass


@dataclass
class Running:
    url: str
    server: _Server
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self, app) -> "Running":
        """Serve ``app`` (bound first, so that the app may be built knowing its own address)."""
        self.server.set_app(app)
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"conformance-{self.port}",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()


def bind(host: str = "127.0.0.1", port: int = 0, *, tls: TlsSettings | None = None) -> Running:
    """A server bound to ``host:port`` (0: a free port), not yet serving: call ``start(app)``."""
    httpd = make_server(host, port, _no_app, server_class=_Server, handler_class=_Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls.cert, tls.key)
        context.load_verify_locations(tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        httpd.tls = context
    scheme = "https" if tls is not None else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return Running(f"{scheme}://{shown}:{httpd.server_port}", httpd)


def serve(app, host: str = "127.0.0.1", port: int = 0, *, tls: TlsSettings | None = None) -> Running:
    return bind(host, port, tls=tls).start(app)


def request_body(environ) -> bytes:
    """The request's body, read whole; ``wsgi.input`` is put back so that the app behind reads it too."""
    length = environ.get("CONTENT_LENGTH") or ""
    body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def rewrite_answer(app, environ, start_response, fn):
    """Call ``app`` and send its answer rewritten by ``fn(body) -> body`` (or ``(body, extra headers)``), with the
    Content-Length of what is sent: what a proxy, or an attacker on the line, does to an answer."""
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda chunk: None

    body, extra = fn(b"".join(app(environ, capture))), []
    if isinstance(body, tuple):
        body, extra = body
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    start_response(captured["status"], headers + list(extra) + [("Content-Length", str(len(body)))])
    return [body]


def _no_app(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


@dataclass
class Recorder:
    """WSGI middleware: every request and its answer, as raw bytes with headers, in arrival order."""

    app: object
    label: str = ""
    exchanges: list[HttpExchange] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        body = request_body(environ)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO", "")
        ex = HttpExchange(f"{environ.get('REQUEST_METHOD', '')} {path}", path, body, headers,
                          sent_at=datetime.now(timezone.utc), direction="vendor → suite")
        captured = {}

        def capture(status, response_headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = response_headers
            return start_response(status, response_headers, exc_info)

        result = self.app(environ, capture)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        ex.t1 = time.perf_counter()
        ex.status = int(captured.get("status", "0").split()[0] or 0)
        ex.response = data
        ex.response_headers = dict(captured.get("headers", []))
        with self._lock:
            self.exchanges.append(ex)
        return [data]

    def snapshot(self) -> list[HttpExchange]:
        with self._lock:
            return list(self.exchanges)
