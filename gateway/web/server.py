"""``oso-gateway serve``: gunicorn with several worker processes (each loads keys and trust once)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..config import Config
from .hooks import gunicorn_settings, prepare as prepare_servicedesk


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
    for name in ("cert", "key", "ca") + (("crl",) if config.tls_cert and config.crl else ()):
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
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", config.threads)
            gunicorn_settings(self.cfg, config)  # the servicedesk: JSON logs, metrics, the journal's purge
            if config.tls_cert:
                import ssl

                self.cfg.set("certfile", config.tls_cert)
                self.cfg.set("keyfile", config.tls_key or config.key)
                self.cfg.set("ca_certs", config.tls_client_ca or config.ca)
                self.cfg.set("cert_reqs", ssl.CERT_REQUIRED)  # two-way TLS (WT001)

                def ssl_context(conf, default_factory):
                    context = default_factory()
                    context.minimum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.2 required, 1.3 preferred
                    if config.crl:
                        # a revoked client certificate gets no connection. Fail closed, as the signature's check: a
                        # client certificate whose issuer has no CRL here, or whose CRL is out of date, is refused.
                        # gunicorn's gthread worker builds this context per connection: a new crl.pem counts at once.
                        context.load_verify_locations(cafile=config.crl)
                        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
                    return context

                self.cfg.set("ssl_context", ssl_context)

        def load(self):
            from .app import GatewayApp

            logging.basicConfig(level=config.log_level.upper())
            return GatewayApp(config)

    scheme_ok = config.tls_cert or config.host in ("127.0.0.1", "localhost", "::1")
    if not scheme_ok:
        print("serve: plain HTTP is only for loopback; configure tls_cert (two-way TLS) to listen on "
              f"{config.host}", file=sys.stderr)
        return 2
    from ..store import Database

    database = Database(config.database_url)
    database.migrate()
    if dev:
        # TEST ONLY: the test school 00YY (the reference source) with its test pupils' synthetic dossiers, the
        # reference targets (00ZZ, and 00SW for the SWV flow), and the chain key
        from .local import ensure_chain_key, prepare_dev

        prepare_dev(database, config)
        if ensure_chain_key(config.zoeksleutel_key):
            print(f"made a TEST ONLY chain key in {config.zoeksleutel_key}", file=sys.stderr)
    database.dispose()  # each worker opens its own connections after the fork

    print(f"OSO gateway on {config.base_url} ({config.workers} workers, database {database.backend}):\n"
          f"  Traffic Center  {config.base_url}/tc   (contract: {config.base_url}/tc?wsdl)\n"
          f"  aanleverpunt    {config.base_url}/school/aanleverpunt   (the reference source, test school 00YY)\n"
          f"  health          {config.base_url}/health", file=sys.stderr)
    if dev:
        from ..store.testschool import TEST_DOEL_ROUTERINGSKENMERK

        print(f"  notifications   {config.base_url}/school/doelsysteem   (the reference target 00ZZ)\n"
              "next: a whole signed transfer of test pupil 127095823 (test school 00YY -> 00ZZ), in another terminal:\n"
              "  .venv/bin/oso-gateway demo\n"
              "  .venv/bin/oso-gateway transfer --bsn 127095823 --bron-brin 00YY --doel-brin 00ZZ "
              f"--doel-routeringskenmerk {TEST_DOEL_ROUTERINGSKENMERK} --out dossier.xml", file=sys.stderr)
    metrics_dir = prepare_servicedesk(config)
    print(f"  dashboard       {config.base_url}/dashboard   (accounts: oso-gateway operator add NAME)\n"
          f"  metrics         {config.base_url}/metrics   (workers write to {metrics_dir})", file=sys.stderr)
    Server().run()
    return 0
