"""A whole transfer over two-way TLS (WT001): `oso-gateway serve` (a real gunicorn, 2 workers) with the session PKI's
gateway certificate as TLS and signing certificate, the test school, reference target and test pupils registered as
`serve --dev` registers them; the reference target calls the TC and the source's aanleverpunt over HTTPS with its
client certificate, and the reference source's sessiecontrole goes to the TC over two-way TLS as well.

REQUESTS_CA_BUNDLE may be set in the environment (it is on the build machines): the clients must trust our CA, not
the system's, so the transfer only succeeds when they ignore it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.client.target import Doelsysteem
from gateway.client.transport import https_session, is_https
from gateway.config import Config, load_config
from gateway.store import Database
from gateway.store.school_repository import SchoolRepository
from gateway.store.testschool import TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK
from gateway.web.local import ensure_chain_key, prepare_dev

from .conftest import free_port
from .serve_process import stop, wait_healthy
from .test_tls import _https, _start

PGN = "127095823"


@pytest.fixture(scope="module")
def tls_gateway(pki, tmp_path_factory):
    """(config, database): serve with two-way TLS on a free port, the dev school and pupils in its SQLite file."""
    folder = tmp_path_factory.mktemp("tls-transfer")
    gw, port = pki.gateway, free_port()
    text = ("[gateway]\n"
            f'host = "127.0.0.1"\nport = {port}\nworkers = 2\nlog_level = "warning"\n'
            f'cert = "{gw.cert_path}"\nkey = "{gw.key_path}"\nca = "{pki.ca}"\ncrl = "{pki.crl}"\n'
            f'tls_cert = "{gw.cert_path}"\ntls_key = "{gw.key_path}"\n'
            f'database_url = "sqlite:///{folder / "gateway.db"}"\n'
            f'zoeksleutel_key = "{folder / "zoeksleutel.key"}"\n')
    (folder / "setup.toml").write_text(text, encoding="utf-8")
    config = load_config(folder / "setup.toml", environ={})
    assert config.base_url == f"https://127.0.0.1:{port}"
    # what `serve --dev` does before it serves: the test school 00YY with its pupils, the targets, the chain key
    database = Database(config.database_url)
    database.migrate()
    prepare_dev(database, config)
    ensure_chain_key(config.zoeksleutel_key)
    proc, log = _start(folder, text)
    try:
        wait_healthy(config.base_url, proc, log, session=_https(pki, gw))
        yield config, database
    finally:
        stop(proc)
        database.dispose()


def test_a_whole_transfer_over_two_way_tls(tls_gateway):
    config, database = tls_gateway
    target = Doelsysteem.from_config(config)
    session = target.caller.session
    assert session.trust_env is False and session.verify == config.ca
    account = target.transfer(pgn=PGN, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                              doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    assert account.dossier is not None and account.exit_code == 0, account.render()
    assert (account.resultaat, account.confirmed) == ("OverdrachtGeslaagd", True), account.render()
    assert [s.operation for s in account.steps] == ["overdracht", "document", "afmelding"], account.render()
    assert all(is_https(s.endpoint) and s.failure is None for s in account.steps), account.render()
    # the source released it because its sessiecontrole, over two-way TLS to the TC, said Geslaagd
    with database.unit_of_work(readonly=True) as repo:
        (entry,) = SchoolRepository.of(repo).uitleveringen(sessie_id=account.sessie_id)
    assert (entry.sessiecontrole, entry.resultaat) == ("Geslaagd", "OverdrachtGeslaagd"), entry


def test_the_client_certificate_is_the_tls_one_else_the_signing_one():
    config = Config(cert="sign.pem", key="sign.key", ca="ca.pem")
    session = https_session(config)
    assert (session.cert, session.verify, session.trust_env) == (("sign.pem", "sign.key"), "ca.pem", False)
    assert https_session(replace(config, tls_cert="tls.pem", tls_key="tls.key")).cert == ("tls.pem", "tls.key")
    assert https_session(replace(config, tls_cert="tls.pem")).cert == ("tls.pem", "sign.key")  # as serve does
