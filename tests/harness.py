"""What the in-process harnesses share: a WSGI app served from a thread on a loopback port (threaded, because a
source answering a documentRequest calls the Traffic Center on the same server); a zeep service proxy that
signs as a party of the session's test PKI, and the Body of its last answer checked against the contract; a
requests session for two-way TLS as a party."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.wsse import MemoryReplayStore


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve(app, port: int):
    """``app`` on 127.0.0.1:``port``, served from a daemon thread; ``stop`` it."""
    httpd = make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def https_as(party, ca):
    """A requests session that presents ``party``'s certificate and trusts only ``ca`` (PEM)."""
    import requests

    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides session.verify (requests#3829)
    session.cert = (str(party.cert_path), str(party.key_path))
    session.verify = str(ca)
    return session


def stop(httpd) -> None:
    httpd.shutdown()
    httpd.server_close()


def signed_client(pki, service: str, address: str, *party: str):
    """A zeep service proxy for the contract's ``service`` (trafficcenter, aanleverpunt, doelsysteem) at ``address``
    signing as ``party`` (name, OIN) of ``pki``, and its plug-in."""
    plugin = WusSignature(pki.credentials(*party), pki.trust(), replay=MemoryReplayStore())
    _, proxy = client_for(contracts.wsdl_path(service), plugin, address=address)
    return proxy, plugin


def valid_body(plugin):
    """The Body child of the plug-in's last (verified) answer, asserted to conform to the contract."""
    body = plugin.last_response.body
    assert contracts.schema_error(body) is None, contracts.schema_errors(body)
    return body


def leerling(zoeksleutel: str, pgnfrag: str) -> dict:
    """The zeep arguments that name a pupil by zoeksleutelPgnfrag."""
    return {"zoeksleutelPgnfrag": {"zoeksleutel": zoeksleutel, "pgnfrag": pgnfrag}}
