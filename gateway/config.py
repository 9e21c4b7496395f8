"""The gateway's settings: a TOML file, overridden by environment variables ``OSO_GATEWAY_<NAME>``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path

from .wsse import Credentials, Policy, TrustStore

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
    log_level: str = "info"
    threads: int = 4  # per worker
    # Two-way TLS (WT001): the server's certificate and key, and the CAs whose client certificates are accepted.
    # Without tls_cert, serve speaks plain HTTP (development, or behind a TLS terminator that passes the client
    # certificate on — not supported yet).
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
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")

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
            max_bytes=self.max_bytes,
            clock_skew=timedelta(seconds=self.clock_skew_s),
            max_age=timedelta(seconds=self.max_age_s),
        )

    def credentials(self) -> Credentials:
        return Credentials.from_files(self.cert, self.key)

    def trust(self) -> TrustStore:
        return TrustStore.from_files(self.ca, self.crl or None)


class ConfigError(ValueError):
    pass


def _coerce(name: str, kind: type, value):
    if kind is int or kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be text, not {value!r}")
    return value


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
    return replace(config, **coerced)
