"""The HTTP side of the gateway's own clients (the reference source and the reference target): two-way TLS.

One place builds the ``requests`` session a zeep Transport runs on when a peer is called over https:

- the client certificate is the TLS certificate (``tls_cert``/``tls_key``) when one is configured, else the signing
  certificate (``cert``/``key``): the peer checks that the TLS client certificate carries the OIN that signed the
  message (WT001), and both carry ours;
- the server is checked against our own trust anchors (``ca``), never the system's;
- ``trust_env`` is off: else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment silently replace ``verify``
  (requests merges the environment over the session: psf/requests#3829), and proxies or .netrc of the environment
  would change where our messages go.
"""

from __future__ import annotations


def is_https(url: str | None) -> bool:
    return bool(url) and url.lower().startswith("https://")


def https_session(config):
    """A requests session for calling peers over two-way TLS, as ``config`` describes our certificates and trust."""
    import requests

    session = requests.Session()
    if config.tls_cert:
        session.cert = (config.tls_cert, config.tls_key or config.key)  # as serve presents it
    else:
        session.cert = (config.cert, config.key)
    session.verify = config.ca
    session.trust_env = False
    return session
