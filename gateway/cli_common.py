"""What the rooms' commands share: the ``--database`` / ``--config`` options and running a command on the database,
dates and times from the command line, a file or stdin, a plain table, an error in one line."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def database_options(config_help: str) -> argparse.ArgumentParser:
    """A parent parser with ``--database`` and ``--config``; suppressed defaults, so that a command's parser and its
    group's both take them without one overwriting the other."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", metavar="URL", default=argparse.SUPPRESS,
                        help="database URL (default: the configuration's database_url; environment "
                             "OSO_GATEWAY_DATABASE_URL)")
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=config_help)
    return common


def message_check_options(parser: argparse.ArgumentParser, *, ca_required: bool, ca_help: str, to_help: str) -> None:
    """The options of the commands that judge raw messages: trust anchors, address, SOAPAction, time, clock skew."""
    parser.add_argument("--ca", required=ca_required, help=ca_help)
    parser.add_argument("--crl", help="PEM file with the CRLs")
    parser.add_argument("--to", help=to_help)
    parser.add_argument("--soap-action", help="the HTTP SOAPAction it was sent with")
    parser.add_argument("--at", help="judge as of this time (ISO 8601), e.g. when the message was sent")
    parser.add_argument("--skew", type=int, default=60, help="allowed clock skew in seconds (default 60)")


def load_trust(command: str, ca: str, crl: str | None):
    """The TrustStore of ``--ca`` / ``--crl``, or None after one line on stderr."""
    from .wsse import TrustStore

    try:
        return TrustStore.from_files(ca, crl)
    except (OSError, ValueError) as exc:
        print(f"{command}: cannot load the trust anchors: {exc}", file=sys.stderr)
        return None


def open_database(args, command: str, *, migrate: bool = False):
    """The configuration and the database that ``--config`` / ``--database`` name, or ``(None, None)`` after one
    line on stderr (a bad configuration or database URL)."""
    from .config import ConfigError, load_config
    from .store import Database, DatabaseUrlError

    try:
        config = load_config(getattr(args, "config", None))
        db = Database(getattr(args, "database", None) or config.database_url)
        if migrate:
            db.migrate()
    except (ConfigError, DatabaseUrlError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None, None
    return config, db


def run_on_database(args, command: str, op, refused: tuple[type[BaseException], ...]) -> int:
    """Migrate the database, then ``op(db, config)``: its exit status; ``refused`` errors are bad input (2), a
    failing database or anything else unexpected is 1, each said in one line on stderr."""
    from sqlalchemy.exc import SQLAlchemyError

    config, db = open_database(args, command)
    if db is None:
        return EXIT_BAD_INPUT
    try:
        db.migrate()
        return op(db, config)
    except refused as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (SQLAlchemyError, OSError) as exc:
        print(f"{command}: the database failed: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # e.g. alembic: a database migrated by a newer gateway
        print(f"{command}: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        db.dispose()


def one_line(exc: BaseException) -> str:
    """The first line of an error (of the database driver's own error, when SQLAlchemy wraps one)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def iso_date(option: str, text: str | None, error: type[Exception] = ValueError) -> date | None:
    """``YYYY-MM-DD`` given to ``option``, or None when it was not given; ``error`` when it is not a date."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise error(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def iso_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` allowed; UTC when it names no zone), or None when none was given; ValueError when it
    is not one."""
    if not text:
        return None
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def read_input(name: str | None) -> bytes:
    """The bytes of file ``name``; of stdin for ``-`` or no name."""
    if name in (None, "-"):
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns as wide as their widest cell, a rule under the headers, no trailing blanks."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
