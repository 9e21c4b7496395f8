"""Behind a reverse proxy: who the client is, and which TLS client certificate it showed, as the proxy says.

A buffering reverse proxy (nginx: docs/deploy.md) takes the slow and the many clients off the gateway's workers: it
reads each request whole before it passes it on. The gateway then sees the proxy's address on every connection, and,
when the proxy terminates two-way TLS, no client certificate of its own. The proxy passes both on in headers, and
the gateway believes those headers only from the addresses of ``trusted_proxies``:

- the client's address: the right-most address of ``X-Forwarded-For`` that is not a trusted proxy (what the
  journal, the login throttle and the logs count by); the proxy's own address stays in ``oso.proxy``;
- the TLS client certificate: the header ``proxy_client_cert_header`` names (nginx: ``$ssl_client_escaped_cert``,
  the PEM URL-encoded; empty when the client showed none), for the WT001 check that the TLS client certificate and
  the signature belong to one OIN.

From any other address both headers are dropped before anything reads them, so a client cannot claim an address
or a certificate by sending them itself.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

from cryptography import x509

from ..config import proxy_networks as networks  # noqa: F401 - the proxies' networks, read here

TLS_CLIENT_CERT = "oso.tls_client_cert"  # environ key: the certificate the proxy passed on (None: none shown)
PROXY = "oso.proxy"  # environ key: the proxy's address, when the request came through one


def is_trusted(address: str | None, trusted: tuple) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in trusted)


def client_behind(forwarded_for: str, trusted: tuple) -> str | None:
    """The client's address in an ``X-Forwarded-For`` chain: the right-most entry that is not a trusted proxy."""
    for entry in reversed([e.strip() for e in forwarded_for.split(",") if e.strip()]):
        if not is_trusted(entry, trusted):
            try:
                return str(ipaddress.ip_address(entry))
            except ValueError:
                return None  # not an address: the chain cannot be read further
    return None


def certificate_from_header(value: str) -> x509.Certificate | None:
    """The certificate of a URL-encoded PEM header value (None for an empty value). ValueError when it is not one."""
    text = unquote(value or "").strip()
    if not text:
        return None
    return x509.load_pem_x509_certificate(text.encode("ascii", "strict"))


class BehindProxy:
    """WSGI: the client's address and TLS client certificate as a trusted proxy passed them on (module docstring)."""

    def __init__(self, app, trusted: tuple, cert_header: str = ""):
        self.app = app
        self.trusted = trusted
        self.cert_key = "HTTP_" + cert_header.upper().replace("-", "_") if cert_header else None

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        if not is_trusted(peer, self.trusted):
            environ.pop("HTTP_X_FORWARDED_FOR", None)
            if self.cert_key:
                environ.pop(self.cert_key, None)
            return self.app(environ, start_response)
        environ[PROXY] = peer
        client = client_behind(environ.get("HTTP_X_FORWARDED_FOR", ""), self.trusted)
        if client is not None:
            environ["REMOTE_ADDR"] = client
        if self.cert_key:
            try:
                environ[TLS_CLIENT_CERT] = certificate_from_header(environ.pop(self.cert_key, ""))
            except ValueError:
                environ[TLS_CLIENT_CERT] = None  # unreadable: as if none was shown (WT001 then refuses)
        return self.app(environ, start_response)
