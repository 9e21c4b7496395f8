"""The gateway's settings: a TOML file, overridden by environment variables ``OSO_GATEWAY_<NAME>``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path

from .wsse import Credentials, Policy, TrustStore
from .wsse.xmlparse import Limits

ENV_PREFIX = "OSO_GATEWAY_"


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # the address peers use (wsa:To); default http://host:port
    workers: int = 2
    cert: str = "var/pki/gateway.cert.pem"
    key: str = "var/pki/gateway.key.pem"
    ca: str = "var/pki/ca.pem"
    crl: str = "var/pki/crl.pem"
    clock_skew_s: int = 60
    max_age_s: int = 300
    max_bytes: int = 32 * 1024 * 1024
    # What a request to one of our services may hold before it is parsed any further (refused with GW-XML; see
    # docs/limits.md for the measurements behind them). Our services receive requests only, never a dossier: the
    # contract's requests hold about 60 elements; the largest message measured anywhere, a 188 KB documentResponse,
    # 890 elements, 69 attributes and 21 namespace declarations in all.
    max_depth: int = 100
    max_elements: int = 10_000
    max_attributes: int = 256  # on one element
    max_attributes_total: int = 10_000
    max_ns_per_element: int = 64
    max_ns_in_scope: int = 128  # declarations on an element and its ancestors
    max_ns_total: int = 10_000
    max_processing_instructions: int = 100
    log_level: str = "info"
    threads: int = 4  # per worker
    # Slow and greedy clients (gateway/web/worker.py): a read that waits longer than this for a byte closes the
    # connection; one client address holds at most this many connections to a worker; a connection carries at most
    # this many requests (then Connection: close, so load spreads over the workers again); idle keep-alive seconds.
    read_timeout_s: int = 30
    max_connections_per_client: int = 16
    max_requests_per_connection: int = 100
    keepalive_s: int = 5
    # Behind a reverse proxy (docs/deploy.md): the proxies' addresses (comma-separated addresses or CIDR blocks),
    # whose X-Forwarded-For is believed and whose connections the per-client cap does not count; and, when the proxy
    # terminates two-way TLS, the header in which it passes the client certificate on (nginx:
    # $ssl_client_escaped_cert): then every message must come with one of the signer's OIN (WT001).
    trusted_proxies: str = ""
    proxy_client_cert_header: str = ""
    # Two-way TLS (WT001): the server's certificate and key, and the CAs whose client certificates are accepted.
    # Without tls_cert, serve speaks plain HTTP (development, or behind a proxy that terminates TLS: above).
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""  # default: the trust anchors (ca)
    # SQLite (WAL) is the embedded default; PostgreSQL (postgresql+psycopg://…) for several gateway processes.
    database_url: str = "sqlite:///var/gateway.db"
    # The reference school (source aanleverpunt and target) that serve runs beside the TC:
    zoeksleutel_key: str = "var/zoeksleutel.key"  # the chain key (kid:base64), see docs/zoeksleutel.md
    tc_url: str = ""  # the Traffic Center the reference school talks to; default: this gateway's /tc
    tc_oin: str = ""  # the OIN that signs that TC's answers; default: our own OIN when tc_url is empty (the TC is
    # this gateway), else any signer the trust anchors accept
    osr_url: str = ""  # the OSR-style endpoint register the reference school resolves endpoints at (the base, before
    # /api/v2/endpoints); default: this gateway's own /osr
    bundles_dir: str = ""  # dossier validation bundles (one folder per standaardversie); empty: own checks only
    sessie_ttl_s: int = 3600  # an open transfer session expires after this
    notificatie_ttl_s: int = 14 * 24 * 3600  # a koppelsleutel is valid this long
    # The servicedesk: the message journal, the dashboard, metrics and logs.
    journal_retention_days: int = 90  # `oso-gateway purge` and serve's hourly housekeeping remove older entries
    journal: int = 1  # 0 turns the journal off: for measurements only (acknowledged messages are then not kept)
    dashboard_key: str = "var/dashboard.key"  # signs dashboard sessions; serve makes it (mode 0600) when missing
    log_format: str = "json"  # "json": one JSON object per line (never pupil data); "text": plain lines
    metrics_dir: str = ""  # Prometheus multiprocess folder for the workers; default: a fresh temporary one

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address, as a URL writes it
        return (self.public_url or f"{scheme}://{host}:{self.port}").rstrip("/")

    @property
    def traffic_center_url(self) -> str:
        return (self.tc_url or self.base_url + "/tc").rstrip("/")

    @property
    def osr_base_url(self) -> str:
        return (self.osr_url or self.base_url + "/osr").rstrip("/")

    def policy(self, path: str, *, own_oin: str | None = None, actions=None) -> Policy:
        return Policy(
            endpoint=self.base_url + path,
            own_oin=own_oin,
            actions=actions,
            limits=self.request_limits(),
            clock_skew=timedelta(seconds=self.clock_skew_s),
            max_age=timedelta(seconds=self.max_age_s),
        )

    def __post_init__(self):
        # the one relation between the limits (each on its own: load_config's ranges), named before any worker starts
        if isinstance(self.max_ns_in_scope, int) and isinstance(self.max_ns_per_element, int) \
                and self.max_ns_in_scope < self.max_ns_per_element:
            raise ConfigError(f"max_ns_in_scope ({self.max_ns_in_scope}) must be at least max_ns_per_element "
                              f"({self.max_ns_per_element})")

    def request_limits(self) -> Limits:
        """The bounds on a request to one of our services (``policy``): the max_* settings."""
        return Limits(max_bytes=self.max_bytes, max_depth=self.max_depth, max_elements=self.max_elements,
                      max_attributes=self.max_attributes, max_attributes_total=self.max_attributes_total,
                      max_ns_per_element=self.max_ns_per_element, max_ns_in_scope=self.max_ns_in_scope,
                      max_ns_total=self.max_ns_total, max_processing_instructions=self.max_processing_instructions)

    def credentials(self) -> Credentials:
        return Credentials.from_files(self.cert, self.key)

    def trust(self) -> TrustStore:
        return TrustStore.from_files(self.ca, self.crl or None)


class ConfigError(ValueError):
    pass


def _coerce(name: str, kind: type, value):
    if kind is int or kind == "int":
        if isinstance(value, bool) or isinstance(value, float):  # TOML true / 18081.5 are no port
            raise ConfigError(f"{name} must be a whole number, not {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be text, not {value!r}")
    return value


# The least (and most) each whole-number setting may be; any other whole number must be 0 or more.
_RANGES = {"port": (1, 65535), "workers": (1, 64), "threads": (1, 256), "max_age_s": (1, 86400),
           "clock_skew_s": (0, 3600), "max_bytes": (1024, 1 << 31), "sessie_ttl_s": (60, 30 * 86400),
           "notificatie_ttl_s": (60, 366 * 86400), "journal": (0, 1), "read_timeout_s": (1, 3600),
           "max_connections_per_client": (1, 100_000), "max_requests_per_connection": (1, 1_000_000),
           "keepalive_s": (0, 3600)}
_CHOICES = {"log_level": ("debug", "info", "warning", "error", "critical"), "log_format": ("json", "text")}
_URLS = ("public_url", "tc_url", "osr_url")


def proxy_networks(text: str) -> tuple:
    """The networks of ``trusted_proxies``: comma-separated addresses and CIDR blocks (ValueError for one that is
    neither)."""
    import ipaddress

    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _validate(config: Config) -> None:
    """Every setting within what it can mean; ConfigError naming the first that is not."""
    for f in fields(Config):
        value = getattr(config, f.name)
        if f.type in (int, "int"):
            low, high = _RANGES.get(f.name, (0 if not f.name.startswith("max_") else 1, None))
            if value < low or (high is not None and value > high):
                within = f"from {low} to {high}" if high is not None else f"{low} or more"
                raise ConfigError(f"{f.name} must be {within}, not {value}")
    for name, choices in _CHOICES.items():
        if getattr(config, name).lower() not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {getattr(config, name)!r}")
    for name in _URLS:
        value = getattr(config, name)
        if value:
            from urllib.parse import urlsplit

            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{name} must be an http:// or https:// address, not {value!r}")
    if not config.host.strip():
        raise ConfigError("host must name an address to listen on")
    try:
        proxy_networks(config.trusted_proxies)
    except ValueError:
        raise ConfigError(f"trusted_proxies must list addresses or CIDR blocks, comma-separated, not "
                          f"{config.trusted_proxies!r}") from None
    if config.proxy_client_cert_header and not config.trusted_proxies:
        raise ConfigError("proxy_client_cert_header is set but trusted_proxies is not: name the proxy's addresses")
    if config.proxy_client_cert_header and not all(c.isalnum() or c == "-" for c in config.proxy_client_cert_header):
        raise ConfigError("proxy_client_cert_header must be an HTTP header name (letters, digits, '-')")
    for name in ("tls_key", "tls_client_ca"):
        if getattr(config, name) and not config.tls_cert:
            raise ConfigError(f"{name} is set but tls_cert is not: set tls_cert for two-way TLS, or remove {name}")


def load_config(path: str | Path | None = None, environ: dict | None = None, **overrides) -> Config:
    """Defaults ← the TOML file (table ``[gateway]`` or top level) ← ``OSO_GATEWAY_*`` ← ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    known = {f.name: f.type for f in fields(Config)}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no configuration file at {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        table = data.get("gateway", data)
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
            values[key] = value
    for key in known:
        env = environ.get(ENV_PREFIX + key.upper())
        if env is not None:
            values[key] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = Config()
    coerced = {k: _coerce(k, known[k], v) for k, v in values.items()}
    config = replace(config, **coerced)
    _validate(config)
    return config
