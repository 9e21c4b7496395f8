"""What ``serve`` checks before it prints anything or starts a worker: the configuration's files (keys, trust, TLS,
chain key, bundles), the database URL, the port, and — with ``--dev`` — that everything it would make lies in its
own dev folder. A problem is one line (``NotReady``) with the exit status of the CLI's table: 2 for a file or a
setting the operator can fix, 3 for a database that cannot be reached.

Workers that die at start-up with a traceback each (a CRL whose signature does not match, a port in use, a contract
not installed) are what this prevents: whatever a worker loads, this loads once first.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from ..config import Config

DEV_FOLDER = Path("var")  # serve --dev makes its TEST PKI, chain key, database and dashboard key only in here


class NotReady(Exception):
    """serve cannot start: ``str(self)`` is the one line to print, ``status`` the exit status."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


def _inside(path: str | Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def dev_writes(config: Config) -> list[tuple[str, str]]:
    """(setting, path) of every file ``serve --dev`` would make because it is missing."""
    from ..store.database import Database, normalize_url

    wanted = []
    if not Path(config.ca).exists():
        wanted += [("ca", config.ca), ("cert", config.cert), ("key", config.key)]
        if config.crl:
            wanted.append(("crl", config.crl))
    for name in ("zoeksleutel_key", "dashboard_key"):
        if not Path(getattr(config, name)).exists():
            wanted.append((name, getattr(config, name)))
    sqlite = Database(normalize_url(config.database_url)).sqlite_path
    if sqlite is not None and not sqlite.exists():
        wanted.append(("database_url", str(sqlite)))
    return wanted


def check_dev_folder(config: Config, folder: Path = DEV_FOLDER) -> None:
    """``--dev`` writes only inside its dev folder: a missing file configured elsewhere is the operator's to make."""
    outside = [(name, path) for name, path in dev_writes(config) if not _inside(path, folder)]
    if outside:
        name, path = outside[0]
        raise NotReady(f"serve --dev makes files only under {folder}/, but {name} is {path}, which does not exist: "
                       f"make it, or leave {name} at its default")
    # the PKI goes where ca.pem goes: cert and key must be beside it, or init_pki would make files nobody reads
    if not Path(config.ca).exists():
        folder_of_ca = Path(config.ca).resolve().parent
        for name in ("cert", "key"):
            if Path(getattr(config, name)).resolve().parent != folder_of_ca:
                raise NotReady(f"serve --dev makes its TEST PKI in {Path(config.ca).parent}/, but {name} is "
                               f"{getattr(config, name)}: keep ca, cert and key in one folder")


def check_port(config: Config) -> None:
    """That ``host:port`` can be bound now (the workers bind it in a moment)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise NotReady(f"port {config.port} on {config.host} is in use (another gateway?): pick another with "
                           "--port or OSO_GATEWAY_PORT") from None
        if exc.errno == errno.EACCES:
            raise NotReady(f"port {config.port} on {config.host} needs privileges this process lacks: pick one "
                           "above 1023") from None
        raise NotReady(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    finally:
        sock.close()


def _file(config: Config, name: str, what: str, dev: bool = False) -> Path:
    path = Path(getattr(config, name))
    if not path.is_file():
        if dev:  # the PKI folder is there (--dev made none), but a file of it is not
            raise NotReady(f"the {what} file {path} does not exist, though {Path(config.ca).parent}/ holds a PKI: "
                           f"remove that folder and `serve --dev` makes a new TEST PKI")
        raise NotReady(f"the {what} file {path} does not exist ({name}; `serve --dev` makes a TEST PKI)")
    return path


def check_files(config: Config, *, dev: bool = False) -> None:
    """Load, once, every file a worker loads: a bad one is named here rather than in a traceback per worker."""
    from ..wsse import Credentials, TrustStore

    cert, key = _file(config, "cert", "signing certificate", dev), _file(config, "key", "private key", dev)
    ca = _file(config, "ca", "trust anchors (ca)", dev)
    if config.crl:
        _file(config, "crl", "CRL", dev)
    try:
        Credentials.from_files(cert, key)
    except (OSError, ValueError) as exc:
        raise NotReady(f"cannot use the signing credentials: {_text(exc)}") from None
    try:
        TrustStore.from_files(ca, config.crl or None)
    except (OSError, ValueError) as exc:
        raise NotReady(f"cannot use the trust anchors {ca}" + (f" with the CRLs {config.crl}" if config.crl else "")
                       + f": {_text(exc)}") from None
    if config.tls_cert:
        _tls(config)
    if Path(config.zoeksleutel_key).exists():
        from ..oso.zoeksleutel import ChainKey

        try:
            ChainKey.from_file(config.zoeksleutel_key)
        except (OSError, ValueError) as exc:
            raise NotReady(f"the chain key file {config.zoeksleutel_key} cannot be used: {_text(exc)}") from None
    if config.bundles_dir:
        from ..dossier import BundleError, load_bundles

        try:
            load_bundles(config.bundles_dir)
        except BundleError as exc:
            raise NotReady(f"bundles_dir: {exc}") from None


def _tls(config: Config) -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key = config.tls_key or config.key
    try:
        context.load_cert_chain(config.tls_cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise NotReady(f"cannot use the TLS certificate {config.tls_cert} with the key {key}: {_text(exc)}") from None
    client_ca = config.tls_client_ca or config.ca
    try:
        context.load_verify_locations(cafile=client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise NotReady(f"cannot use the TLS client CAs {client_ca}: {_text(exc)}") from None


def open_database(config: Config):
    """The migrated database; NotReady (2) for a URL that is not one, (3) for one that cannot be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..store import Database, DatabaseUrlError

    try:
        database = Database(config.database_url)
    except DatabaseUrlError as exc:
        raise NotReady(f"database_url: {exc}") from None
    try:
        database.migrate()
    except (SQLAlchemyError, OSError) as exc:
        database.dispose()
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise NotReady(f"the database {database!r} cannot be used: {first}", status=3) from None
    return database


def _text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
