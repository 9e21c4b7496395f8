"""The store: SQLAlchemy models, the repository (one transaction), Alembic migrations; SQLite and PostgreSQL."""

from .database import Database, DatabaseMissing, DatabaseReplayStore, DatabaseUrlError, normalize_url
from .errors import ConcurrentUpdate, DuplicateEntry, RegisterConflict, StoreError, UnknownEntry
from .repository import Repository

__all__ = [
    "ConcurrentUpdate",
    "Database",
    "DatabaseReplayStore",
    "DatabaseMissing",
    "DatabaseUrlError",
    "DuplicateEntry",
    "RegisterConflict",
    "Repository",
    "StoreError",
    "UnknownEntry",
    "normalize_url",
]
