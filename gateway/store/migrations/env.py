"""Alembic's environment for the gateway's store.

``Database.migrate()`` runs it with a connection in ``config.attributes["connection"]`` (inside one transaction,
under a lock, so several processes may migrate at once). Run by the ``alembic`` command instead, it takes the URL
from ``sqlalchemy.url`` or the gateway's configuration (``OSO_GATEWAY_DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context

from gateway.store.models import Base  # every table registered on it

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from gateway.config import load_config

        url = load_config().database_url
    return url


if context.is_offline_mode():
    from gateway.store.database import normalize_url

    context.configure(url=normalize_url(_url()), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _configure(config.attributes["connection"])
else:
    from gateway.store.database import Database

    database = Database(_url())
    try:
        with database.migration_connection() as connection:
            _configure(connection)
    finally:
        database.dispose()
