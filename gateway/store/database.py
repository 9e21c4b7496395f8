"""The database: engine set-up for SQLite and PostgreSQL, migrations, units of work, health.

SQLite (WAL) is the embedded default; PostgreSQL (psycopg 3) is the store for several gateway processes.
On SQLite every unit of work is a write transaction from its first statement (``BEGIN IMMEDIATE``): writers queue
(``busy_timeout``) instead of failing when one upgrades a read to a write. So do not open a second unit of work in a
thread that holds one: on SQLite it waits for the first, which waits for it.
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from .repository import Repository

log = logging.getLogger("oso.gateway.store")

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
# pg_advisory_xact_lock key held while migrating, so several processes starting at once migrate one after another.
MIGRATION_LOCK = 0x0_05_0_6A7E  # "OSO gate"
# Every so many remember() calls (per process), a unit of work also removes a batch of expired replay ids.
HOUSEKEEPING_EVERY = 32
_BEGIN = "oso_sqlite_begin"
# A failed statement's error (and so the log) never shows its parameters: they may be a zoeksleutel or a PGN.
HIDE_PARAMETERS = True


class DatabaseUrlError(ValueError):
    """A database URL the gateway cannot use."""


def normalize_url(url: str) -> str:
    """The URL with its driver made explicit: ``postgresql://`` (and ``postgres://``) become
    ``postgresql+psycopg://`` (psycopg 3). Only SQLite and PostgreSQL are supported."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"{url!r} is not a database URL (e.g. sqlite:///var/gateway.db or "
                               "postgresql://user@host/db)") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"unsupported database {u.get_backend_name()!r}: use sqlite:/// or postgresql://")
    return u.render_as_string(hide_password=False)


def _sqlite_connect(dbapi_connection, _record, *, wal: bool = True) -> None:
    # Let SQLAlchemy's "begin" event (below) start transactions, not the sqlite3 module: it would not start one
    # before a SELECT, and SAVEPOINTs would not work.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if wal:  # a reader's connection (existing=True) leaves the file's journal mode as it is
            _sqlite_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_wal(cursor) -> None:
    """WAL mode (it stays set in the file). Switching a new file to it needs a lock that SQLite does not wait for
    (no busy handler), so several processes opening a new database at once retry here."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN, "BEGIN IMMEDIATE"))


class DatabaseMissing(ValueError):
    """A command that only reads was pointed at an SQLite file that is not there (it is never created)."""


class Database:
    """One database, used by the threads of one process; in a forked child it makes its own engine on first use
    (connections are never shared across a fork). ``existing=True``: a reader's database, which must be there
    already (an SQLite file that is missing raises DatabaseMissing; nothing is created)."""

    def __init__(self, url: str, *, echo: bool = False, existing: bool = False):
        self.url = normalize_url(url)
        self.backend = make_url(self.url).get_backend_name()
        if existing and self.backend == "sqlite":
            path = self.sqlite_path
            if path is not None and not path.is_file():
                raise DatabaseMissing(f"there is no database at {path} (run the command in the gateway's folder, or "
                                      "name it with --database or --config)")
        self._existing = existing
        self._echo = echo
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._reader: Engine | None = None
        self._calls = itertools.count()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def sqlite_path(self) -> Path | None:
        """The file of an SQLite database (None for PostgreSQL or an in-memory database)."""
        url = make_url(self.url)
        path = url.database or ""
        if self.backend != "sqlite" or not path or path == ":memory:" or path.startswith("file:") \
                or url.query.get("mode") == "memory":
            return None
        return Path(path).expanduser()

    # ---- the engine, one per process ----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        engine, pid = self._engine, os.getpid()
        if engine is not None and self._pid == pid:
            return engine
        if self._pid != pid:
            self._lock = threading.Lock()  # a lock inherited over fork may be held by a thread that is not here
        with self._lock:
            if self._engine is not None and self._pid != pid:
                self._engine.dispose(close=False)  # the parent's connections stay the parent's
                self._engine = self._reader = None
            if self._engine is None:
                self._engine = self._create_engine()
                self._reader = (self._engine.execution_options(**{_BEGIN: "BEGIN"})
                                if self.backend == "sqlite" else self._engine)
                self._pid = pid
            return self._engine

    def _create_engine(self) -> Engine:
        url = make_url(self.url)
        if self.backend == "sqlite":
            path = self.sqlite_path
            if path is not None and not self._existing:
                path.parent.mkdir(parents=True, exist_ok=True)
            if path is not None and self._existing:  # a reader never creates the file, even if it goes meanwhile
                engine = create_engine(f"sqlite:///file:{path}?mode=rw&uri=true", echo=self._echo,
                                       hide_parameters=HIDE_PARAMETERS)
            else:
                engine = create_engine(url, echo=self._echo, hide_parameters=HIDE_PARAMETERS)
            if self._existing:
                event.listen(engine, "connect", lambda c, r: _sqlite_connect(c, r, wal=False))
            else:
                event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": 10}
        return create_engine(url, echo=self._echo, pool_pre_ping=True, connect_args=connect_args,
                             hide_parameters=HIDE_PARAMETERS)

    def _bind(self, readonly: bool) -> Engine:
        engine = self.engine
        return self._reader if readonly and self._reader is not None else engine

    # ---- schema -------------------------------------------------------------------------------------------------

    @contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A connection in one transaction, holding the migration lock (PostgreSQL; SQLite: the write lock)."""
        with self.engine.connect() as connection:
            with connection.begin():
                if self.backend == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                yield connection

    def migrate(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``); a no-op when it is there."""
        from alembic import command

        with self.migration_connection() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The schema's current migration, or None for an empty database."""
        from alembic.migration import MigrationContext

        with self._bind(readonly=True).connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # ---- work -------------------------------------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[Repository]:
        """One transaction: commits when the block ends, rolls back when it raises.

        ``readonly`` starts a read transaction (SQLite: deferred, so it does not queue behind writers;
        PostgreSQL: READ ONLY).
        """
        with Session(self._bind(readonly), expire_on_commit=False) as session:
            with session.begin():
                if readonly and self.backend == "postgresql":
                    session.execute(text("SET TRANSACTION READ ONLY"))
                yield Repository(session, housekeeping=self._housekeeping_due)

    def health(self) -> bool:
        """Whether the database answers (SELECT 1)."""
        try:
            with self._bind(readonly=True).connect() as connection:
                return connection.execute(text("SELECT 1")).scalar() == 1
        except Exception as exc:  # any failure means "not healthy"; the reason goes to the log
            log.warning("database health check failed: %s", str(exc).splitlines()[0] if str(exc) else exc)
            return False

    def dispose(self) -> None:
        """Close this process's connections (the engine is made again on next use)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose(close=self._pid == os.getpid())
            self._engine = self._reader = None
            self._pid = None

    def _housekeeping_due(self) -> bool:
        return next(self._calls) % HOUSEKEEPING_EVERY == 0


class DatabaseReplayStore:
    """The ReplayStore protocol over the database, one short transaction per call: for an endpoint that has no
    unit of work of its own (the ping). Inside a unit of work, use its Repository instead (it is a ReplayStore)."""

    def __init__(self, database: Database):
        self.database = database

    def remember(self, key, until, now) -> bool:
        with self.database.unit_of_work() as repo:
            return repo.remember(key, until, now)


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config
