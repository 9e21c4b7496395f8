"""``oso-gateway serve``: gunicorn with several worker processes (each loads keys and trust once)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..config import Config
from . import preflight
from .hooks import gunicorn_settings, prepare as prepare_servicedesk
from .preflight import NotReady
from .worker import GatewayWorker, TimedSSLSocket, close_after


def _ensure_dev_pki(config: Config) -> None:
    from ..pki import init_pki

    ca = Path(config.ca)
    if not ca.exists():
        init_pki(ca.parent)
        print(f"made a TEST ONLY PKI in {ca.parent}", file=sys.stderr)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(config: Config, *, dev: bool = False, config_path: str | None = None) -> int:
    """Check everything (gateway.web.preflight), then print what runs where, then run; 2 or 3 with one line on
    stderr when something is not ready (nothing printed before it)."""
    from gunicorn.app.base import BaseApplication

    try:
        if dev and config.host not in LOOPBACK:
            raise NotReady("serve --dev serves plain HTTP on loopback only (host 127.0.0.1)")
        if not (config.tls_cert or config.proxy_client_cert_header or config.host in LOOPBACK):
            raise NotReady("plain HTTP is only for loopback; configure tls_cert (two-way TLS), or trusted_proxies and "
                           "proxy_client_cert_header behind a proxy that terminates two-way TLS (docs/deploy.md), to "
                           f"listen on {config.host}")
        if dev:
            preflight.check_dev_folder(config)
        preflight.check_port(config)
        if dev:
            _ensure_dev_pki(config)
        preflight.check_files(config, dev=dev)
        database = preflight.open_database(config)
    except NotReady as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return exc.status

    class Server(BaseApplication):
        def load_config(self):
            host = f"[{config.host}]" if ":" in config.host else config.host
            self.cfg.set("bind", [f"{host}:{config.port}"])
            self.cfg.set("workers", config.workers)
            self.cfg.set("loglevel", config.log_level)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)
            self.cfg.set("control_socket_disable", True)  # several gateways may run on one host
            self.cfg.set("worker_class", GatewayWorker)  # gthread, holding against slow and greedy clients
            self.cfg.set("threads", config.threads)
            self.cfg.set("keepalive", config.keepalive_s)
            self.cfg.set("pre_request", close_after)
            gunicorn_settings(self.cfg, config)  # the servicedesk: JSON logs, metrics, the journal's purge
            if config.tls_cert:
                import ssl

                self.cfg.set("certfile", config.tls_cert)
                self.cfg.set("keyfile", config.tls_key or config.key)
                self.cfg.set("ca_certs", config.tls_client_ca or config.ca)
                self.cfg.set("cert_reqs", ssl.CERT_REQUIRED)  # two-way TLS (WT001)

                def ssl_context(conf, default_factory):
                    context = default_factory()
                    context.sslsocket_class = TimedSSLSocket  # reads give up after read_timeout_s
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

    try:
        if dev:
            # TEST ONLY: the test school 00YY (the reference source) with its test pupils' synthetic dossiers, the
            # reference targets (00ZZ, and 00SW for the SWV flow), and the chain key
            from .local import ensure_chain_key, prepare_dev

            prepare_dev(database, config)
            if ensure_chain_key(config.zoeksleutel_key):
                print(f"made a TEST ONLY chain key in {config.zoeksleutel_key}", file=sys.stderr)
        metrics_dir = prepare_servicedesk(config)
    except OSError as exc:
        print(f"serve: cannot prepare {exc.filename or 'its files'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        database.dispose()  # each worker opens its own connections after the fork

    from .proxy import networks

    GatewayWorker.configure(read_timeout_s=config.read_timeout_s,
                            max_connections_per_client=config.max_connections_per_client,
                            max_requests_per_connection=config.max_requests_per_connection,
                            trusted_proxies=networks(config.trusted_proxies))
    lines = [f"OSO gateway on {config.base_url} ({config.workers} workers, database {database.backend}):",
             f"  Traffic Center  {config.base_url}/tc   (contract: {config.base_url}/tc?wsdl)",
             f"  aanleverpunt    {config.base_url}/school/aanleverpunt   (the reference source, test school 00YY)",
             f"  health          {config.base_url}/health"]
    if dev:
        lines.append(f"  notifications   {config.base_url}/school/doelsysteem   (the reference target 00ZZ)")
    lines += [f"  dashboard       {config.base_url}/dashboard   (accounts: "
              f"{_command(config, config_path, 'operator add', address=False)} NAME)",
              f"  metrics         {config.base_url}/metrics   (workers write to {metrics_dir})"]
    if dev:
        from ..store.testschool import TEST_DOEL_ROUTERINGSKENMERK

        lines += ["next: a whole signed transfer of test pupil 127095823 (test school 00YY -> 00ZZ), in another "
                  "terminal:",
                  f"  {_command(config, config_path, 'demo')}",
                  f"  {_command(config, config_path, 'transfer')} --bsn 127095823 --bron-brin 00YY --doel-brin 00ZZ "
                  f"--doel-routeringskenmerk {TEST_DOEL_ROUTERINGSKENMERK} --out dossier.xml"]
    print("\n".join(lines), file=sys.stderr, flush=True)
    Server().run()
    return 0


def _command(config: Config, config_path: str | None, action: str, *, address: bool = True) -> str:
    """How to run ``oso-gateway ACTION`` from another terminal so that it finds this gateway: with its configuration
    file, or with the address settings that differ from the defaults as OSO_GATEWAY_* variables (which is how
    `make run PORT=…` sets them)."""
    import shlex

    program = sys.argv[0] if Path(sys.argv[0]).name == "oso-gateway" else "oso-gateway"
    if config_path:
        return f"{shlex.quote(program)} {action} --config {shlex.quote(config_path)}"
    default = Config()
    env = [] if not address else [f"OSO_GATEWAY_{name.upper()}={shlex.quote(str(getattr(config, name)))}"
           for name in ("host", "port", "public_url") if getattr(config, name) != getattr(default, name)]
    return " ".join([*env, shlex.quote(program), action])
