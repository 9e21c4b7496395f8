"""gateway/web/proxy.py on its own: whose X-Forwarded-For and X-Client-Cert are believed, and what is taken from
them (the real nginx in front of a real serve: tests/test_behind_proxy.py)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from gateway.config import ConfigError, load_config
from gateway.web.proxy import PROXY, TLS_CLIENT_CERT, BehindProxy, client_behind, is_trusted, networks

TRUSTED = networks("10.0.0.0/24, 127.0.0.1, ::1")


def _seen(environ: dict) -> dict:
    out = {}

    def app(env, start_response):
        out.update(env)
        return [b""]
    BehindProxy(app, TRUSTED, "X-Client-Cert")(environ, lambda *a: None)
    return out


@pytest.mark.parametrize("chain, client", [
    ("192.0.2.7", "192.0.2.7"),
    ("198.51.100.1, 192.0.2.7", "192.0.2.7"),  # the client's own claim (left) is not believed over nginx's (right)
    ("192.0.2.7, 10.0.0.5", "192.0.2.7"),  # a second trusted proxy in between
    ("10.0.0.5, 127.0.0.1", None),  # only proxies
    ("junk, 10.0.0.5", None),
    ("", None),
])
def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy(chain, client):
    assert client_behind(chain, TRUSTED) == client


def test_ipv4_mapped_and_ipv6_addresses_are_judged_as_addresses():
    assert is_trusted("::ffff:127.0.0.1", TRUSTED) and is_trusted("::1", TRUSTED)
    assert not is_trusted("127.0.0.2", TRUSTED) and not is_trusted("not an address", TRUSTED)


def test_from_a_trusted_proxy_the_address_and_certificate_are_taken(pki):
    pem = pki.gateway.cert_path.read_text()
    env = _seen({"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "192.0.2.7", "HTTP_X_CLIENT_CERT": quote(pem)})
    assert env["REMOTE_ADDR"] == "192.0.2.7" and env[PROXY] == "10.0.0.9"
    assert env[TLS_CLIENT_CERT].serial_number == pki.credentials("gateway").certificate.serial_number
    assert "HTTP_X_CLIENT_CERT" not in env


def test_from_a_trusted_proxy_no_certificate_or_a_broken_one_is_none():
    assert _seen({"REMOTE_ADDR": "127.0.0.1"})[TLS_CLIENT_CERT] is None
    assert _seen({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_CLIENT_CERT": "-----BEGIN%20junk"})[TLS_CLIENT_CERT] is None


def test_from_anyone_else_both_headers_are_dropped(pki):
    pem = pki.gateway.cert_path.read_text()
    env = _seen({"REMOTE_ADDR": "192.0.2.99", "HTTP_X_FORWARDED_FOR": "10.0.0.1", "HTTP_X_CLIENT_CERT": quote(pem)})
    assert env["REMOTE_ADDR"] == "192.0.2.99"
    assert TLS_CLIENT_CERT not in env and PROXY not in env
    assert "HTTP_X_CLIENT_CERT" not in env and "HTTP_X_FORWARDED_FOR" not in env


@pytest.mark.parametrize("settings, says", [
    ({"trusted_proxies": "10.0.0.0/33"}, "trusted_proxies"),
    ({"trusted_proxies": "nginx.local"}, "trusted_proxies"),
    ({"proxy_client_cert_header": "X-Client-Cert"}, "trusted_proxies is not"),
    ({"trusted_proxies": "127.0.0.1", "proxy_client_cert_header": "X Client: Cert"}, "header name"),
])
def test_proxy_settings_are_checked(settings, says):
    with pytest.raises(ConfigError, match=says):
        load_config(environ={}, **settings)
