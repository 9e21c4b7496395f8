"""Column types that keep the domain's values exact on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import DateTime, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out; a naive datetime is refused.

    PostgreSQL keeps ``timestamptz``. SQLite has no time zones: it keeps the UTC wall time as fixed-width ISO text
    (``YYYY-MM-DD HH:MM:SS.ffffff``), which sorts and compares in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store keeps aware (UTC) times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a value written by hand into SQLite
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class StrTuple(TypeDecorator[tuple[str, ...]]):
    """A tuple of strings, kept as a JSON array in a text column (its order is kept)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect: Dialect) -> str | None:
        if value is None:
            return None
        items = list(value)
        if not all(isinstance(v, str) for v in items):
            raise TypeError("expected a tuple of strings")
        return json.dumps(items, separators=(",", ":"))

    def process_result_value(self, value, dialect: Dialect) -> tuple[str, ...] | None:
        if value is None:
            return None
        return tuple(json.loads(value))
