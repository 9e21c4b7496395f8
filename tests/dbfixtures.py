"""Database fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth; user postgres, else root; database ``test``). The session
makes its own database ``oso_test_<hex>`` there and drops it at the end; each test gets a fresh schema in it.
An unreachable server FAILS the tests that need it: CI must not pass by skipping. A developer without PostgreSQL
sets OSO_TEST_NO_POSTGRES=1, deliberately, to skip those tests; OSO_TEST_POSTGRES_URL names another server.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import quote

import pytest

from gateway.store import Database

DEFAULT_ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _connect_admin():
    import psycopg

    urls = [os.environ["OSO_TEST_POSTGRES_URL"]] if os.environ.get("OSO_TEST_POSTGRES_URL") else DEFAULT_ADMIN_URLS
    errors = []
    for url in urls:
        try:
            return url, psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                                        connect_timeout=5)
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
    pytest.fail("PostgreSQL is unreachable, and the store must be tested on it (CI never skips this). "
                + "; ".join(errors)
                + ". Start the server, point OSO_TEST_POSTGRES_URL at one, or set OSO_TEST_NO_POSTGRES=1 to skip "
                  "the PostgreSQL tests on purpose.", pytrace=False)


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of a database of this test session's own on the PostgreSQL server (dropped at the end)."""
    if os.environ.get("OSO_TEST_NO_POSTGRES") == "1":
        pytest.skip("OSO_TEST_NO_POSTGRES=1: PostgreSQL tests skipped on purpose")
    from psycopg import sql
    from sqlalchemy.engine import make_url

    admin_url, admin = _connect_admin()
    name = f"oso_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_schema_url(base_url: str) -> str:
    """A fresh, empty schema in the session's database, as a URL whose connections use it (search_path)."""
    import psycopg
    from psycopg import sql

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{base_url}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """An empty database (not migrated): a SQLite file in tmp_path, or a fresh schema on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    return postgres_schema_url(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database(database_url):
    """A migrated Database on each backend."""
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def pg_database(postgres_url):
    """A migrated Database on PostgreSQL only (for races between connections)."""
    db = Database(postgres_schema_url(postgres_url))
    db.migrate()
    yield db
    db.dispose()
