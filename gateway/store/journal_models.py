"""The servicedesk's tables (migrations 0004 and 0006): the message journal, the tallies of refused unverified
messages that were counted rather than journalled one by one, and the dashboard's operator accounts. On the same
metadata as the other tables (``gateway.store.base.Base``); what a journal row may hold is decided in
``gateway.journal.entry`` (never pupil data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import StrTuple, UtcDateTime

# SQLite makes an INTEGER PRIMARY KEY its rowid (autoincrement); PostgreSQL gets a 64-bit identity.
JOURNAL_ID = BigInteger().with_variant(Integer(), "sqlite")


class JournalRow(Base):
    """One exchange: a request and the answer to it (see gateway.journal.entry.JournalEntry)."""

    __tablename__ = "journal"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint("verdict IN ('accepted', 'refused')", name="verdict"),
        # Few indexes, as each one costs every message a write: time (purge, the dashboard), the request's
        # MessageID, and sessieId / koppelsleutel only where there is one (partial indexes).
        Index("ix_journal_received_at", "received_at"),
        Index("ix_journal_message_id", "message_id"),
        Index("ix_journal_sessie_id", "sessie_id", sqlite_where=text("sessie_id IS NOT NULL"),
              postgresql_where=text("sessie_id IS NOT NULL")),
        Index("ix_journal_koppelsleutel", "koppelsleutel", sqlite_where=text("koppelsleutel IS NOT NULL"),
              postgresql_where=text("koppelsleutel IS NOT NULL")),
        # the ids unverified (or SessieOnbekend) messages named: only those rows carry one (0006)
        Index("ix_journal_claimed_id", "claimed_id", sqlite_where=text("claimed_id IS NOT NULL"),
              postgresql_where=text("claimed_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(JOURNAL_ID, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    direction: Mapped[str] = mapped_column(String(3))
    service: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(256))
    relates_to: Mapped[str | None] = mapped_column(String(256))
    response_message_id: Mapped[str | None] = mapped_column(String(256))
    sessie_id: Mapped[str | None] = mapped_column(String(36))
    koppelsleutel: Mapped[str | None] = mapped_column(String(36))
    signer_oin: Mapped[str | None] = mapped_column(String(20))
    signer_verified: Mapped[bool] = mapped_column(Boolean)
    vendor: Mapped[str | None] = mapped_column(Text)
    brins: Mapped[tuple[str, ...]] = mapped_column(StrTuple)
    routeringskenmerken: Mapped[tuple[str, ...]] = mapped_column(StrTuple)
    verdict: Mapped[str] = mapped_column(String(8))
    resultaat: Mapped[str | None] = mapped_column(String(64))
    sessie_resultaat: Mapped[str | None] = mapped_column(String(64))
    faultcode: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(32))
    dk_code: Mapped[str | None] = mapped_column(String(4))
    party: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float] = mapped_column(Float)
    request_size: Mapped[int] = mapped_column(Integer)
    response_size: Mapped[int] = mapped_column(Integer)
    request_sha256: Mapped[str] = mapped_column(String(64))
    response_sha256: Mapped[str | None] = mapped_column(String(64))
    peer: Mapped[str | None] = mapped_column(String(64))
    claimed_id: Mapped[str | None] = mapped_column(String(36))  # 0006: named, not proven (gateway.journal.entry)
    claimed_oin: Mapped[str | None] = mapped_column(String(20))


class RefusalTallyRow(Base):
    """Refusals of unverified messages from one source that were counted, not journalled one by one
    (gateway.journal.limit): "N more refused from ADDR between first_at and last_at"."""

    __tablename__ = "journal_tally"
    __table_args__ = (Index("ix_journal_tally_last_at", "last_at"),)

    id: Mapped[int] = mapped_column(JOURNAL_ID, primary_key=True, autoincrement=True)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    peer: Mapped[str] = mapped_column(String(64))
    refused: Mapped[int] = mapped_column(Integer)
    rules: Mapped[tuple[str, ...]] = mapped_column(StrTuple)  # "RULE=count"
    services: Mapped[tuple[str, ...]] = mapped_column(StrTuple)  # "service=count"


class OperatorRow(Base):
    """A servicedesk account for the read-only dashboard; the password only as a salted scrypt hash."""

    __tablename__ = "operator"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


class DashboardAuthRow(Base):
    """The dashboard's server-side login state (migration 0007), one row per key, shared by every worker process:

    - ``session``: a logged-in session (``key``: SHA-256 of the random session id the cookie carries; ``operator``);
      logout removes it, so a cookie replayed after logout is refused;
    - ``token``: a login or logout form token that was used (``key``: its SHA-256), so it is used once only;
    - ``account`` / ``address``: failed logins of an operator name / a client address (``key``: an HMAC of the name
      or address with the dashboard key, never the name typed), ``failures`` since ``since``, locked until
      ``locked_until``.

    A row may be removed once ``expires`` has passed."""

    __tablename__ = "dashboard_auth"
    __table_args__ = (
        CheckConstraint("kind IN ('session', 'token', 'account', 'address')", name="kind"),
        Index("ix_dashboard_auth_expires", "expires"),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    operator: Mapped[str | None] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires: Mapped[datetime] = mapped_column(UtcDateTime)
