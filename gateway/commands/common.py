"""What the commands share: one exit-status table, one parser class (every command's ``--help`` ends with the table),
the ``--database`` / ``--config`` options and running a command on the database, dates and times from the command
line, a file or stdin, a plain table, an error in one line."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path

# One table for the whole CLI (README "Exit status"): the worst outcome of a command decides.
EXIT_OK = 0  # done: every verdict VALID, every check passed, the dossier received and kept
EXIT_NO = 1  # the verdict or the chain said no: INVALID, a result code that refuses, a check that failed
EXIT_USAGE = 2  # usage or configuration: bad arguments, a missing or unreadable file; nothing was sent or written
EXIT_FAILURE = 3  # security or transport: a Fault, an answer that did not verify, no answer, a failing database
# the old names, as the commands use them
EXIT_FAILED, EXIT_BAD_INPUT = EXIT_NO, EXIT_USAGE

EXIT_CODES = """exit status (the same for every oso-gateway command; the worst outcome decides):
  0  done: every verdict VALID, every check passed, the dossier received and kept
  1  the verdict or the chain said no: a message INVALID, a dossier NOT VALID, a result code that refuses,
     a conformance must that failed or could not be judged (INCOMPLETE), a transfer the journal shows failed
  2  usage or configuration: a bad argument, a missing or unreadable file, a bad configuration or trust file,
     something not found, a conformance preflight that failed; nothing was sent and nothing was written
  3  security or transport: a signed Fault, an answer that did not verify, a party or database that could not
     be reached, a dossier that could not be kept"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help keeps the description's line breaks and ends with the exit-status table; its
    sub-commands are made of the same class (argparse's default), so every ``--help`` ends with it."""

    def __init__(self, *args, epilog: str | None = None, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, epilog=f"{epilog}\n\n{EXIT_CODES}" if epilog else EXIT_CODES, **kwargs)

    def error(self, message: str):
        """A usage error: the usage line and one line naming the problem, exit status 2 (as argparse's own)."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


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
    """The options of the commands that judge raw messages: trust anchors and CRLs, the request a response answers,
    address, SOAPAction, time, clock skew."""
    parser.add_argument("--ca", required=ca_required, help=ca_help)
    parser.add_argument("--crl", help="PEM file with the CRLs of those CAs (without it, revocation is NOT checked; "
                                      "a file that holds no CRL is refused)")
    parser.add_argument("--response-to", metavar="REQUEST",
                        help="the signed request the message answers: judge it as that request's response "
                             "(RelatesTo, SignatureConfirmation). Without it, a message with wsa:RelatesTo is judged "
                             "as a response as far as possible without its request")
    parser.add_argument("--to", help=to_help)
    parser.add_argument("--soap-action", help="the HTTP SOAPAction it was sent with (a request; a response has none)")
    parser.add_argument("--at", help="judge as of this time (ISO 8601), e.g. when the message was sent")
    parser.add_argument("--skew", type=_skew, default=60, help="allowed clock skew in seconds, 0 to 86400 (default 60)")


def _skew(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{value} is not from 0 to 86400 seconds")
    return value


def load_trust(command: str, ca: str, crl: str | None):
    """The TrustStore of ``--ca`` / ``--crl``, or None after one line on stderr naming the file. A ``--crl`` that
    cannot be read or holds no CRL is refused: it must never pass for "nothing is revoked"."""
    from ..wsse.trust import TrustStore, crls_in_pem, load_certificates

    try:
        ca_pem = Path(ca).read_bytes()
    except OSError as exc:
        print(f"{command}: cannot read --ca {ca}: {exc.strerror or one_line(exc)}", file=sys.stderr)
        return None
    crls = ()
    if crl is not None:
        try:
            crls = crls_in_pem(Path(crl).read_bytes())
        except OSError as exc:
            print(f"{command}: cannot read --crl {crl}: {exc.strerror or one_line(exc)}", file=sys.stderr)
            return None
        except ValueError as exc:
            print(f"{command}: --crl {crl}: {exc}", file=sys.stderr)
            return None
    try:
        return TrustStore(load_certificates(ca_pem), crls)
    except ValueError as exc:
        files = f"--ca {ca}" + (f", --crl {crl}" if crl is not None else "")
        print(f"{command}: cannot load the trust anchors ({files}): {one_line(exc)}", file=sys.stderr)
        return None


class Stop(Exception):
    """A command ends here with ``status``; what went wrong was said on stderr already."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def open_database(args, command: str, *, migrate: bool = False, existing: bool = False):
    """``(config, database)`` as ``--config`` / ``--database`` name them. ``existing``: a command that only reads
    (or removes) — the database must be there and hold the gateway's tables; nothing is created. Otherwise ``Stop``
    after one line on stderr: 2 for a bad configuration or URL or a missing database, 3 for one that cannot be
    reached."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..config import ConfigError, load_config
    from ..store import Database, DatabaseMissing, DatabaseUrlError

    db = None
    try:
        config = load_config(getattr(args, "config", None))
        db = Database(getattr(args, "database", None) or config.database_url, existing=existing)
        if migrate:
            db.migrate()
        elif existing and db.revision() is None:
            raise DatabaseMissing(f"the database {db!r} holds no gateway tables (`oso-gateway serve` makes them)")
    except (ConfigError, DatabaseUrlError, DatabaseMissing) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        if db is not None:
            db.dispose()
        raise Stop(EXIT_USAGE) from None
    except SQLAlchemyError as exc:
        print(f"{command}: the database cannot be reached: {one_line(exc)}", file=sys.stderr)
        db.dispose()
        raise Stop(EXIT_FAILURE) from None
    return config, db


def run_on_database(args, command: str, op, refused: tuple[type[BaseException], ...], *,
                    readonly: bool = False) -> int:
    """``op(db, config)`` on the database (migrated first, unless ``readonly``: then it must exist already, and
    nothing is created): its exit status; ``refused`` errors and unreadable files are usage (2), a failing database
    or anything else unexpected is 3, each said in one line on stderr."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        config, db = open_database(args, command, migrate=not readonly, existing=readonly)
    except Stop as stop:
        return stop.status
    try:
        return op(db, config)
    except refused as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader of stdout went away: not the database's fault (main() ends quietly)
        raise
    except SQLAlchemyError as exc:
        print(f"{command}: the database failed: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"{command}: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or one_line(exc)}",
              file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # e.g. alembic: a database migrated by a newer gateway
        print(f"{command}: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
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


def check_writable(path: str) -> None:
    """That ``path`` can be written, proved by writing a scratch file beside it (and removing it); OSError naming
    the path otherwise. Run before anything irreversible, so that what is received later can be kept."""
    import os
    import tempfile

    import stat

    target = Path(path)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "is a folder, not a file", str(target))
    if mode is not None and not stat.S_ISREG(mode):  # a link, a device, a pipe: it would be replaced by a file
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file (a device, a pipe or a socket)"
        raise FileExistsError(17, f"is {kind}: name a regular file", str(target))
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(2, "no such folder", str(folder))
    try:
        fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise type(exc)(exc.errno, f"no file can be made in {folder} ({exc.strerror})", str(target)) from None
    os.close(fd)
    os.unlink(scratch)


def _naming(exc: OSError, path: Path) -> OSError:
    """The same error, naming ``path`` rather than a temporary file beside it."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def write_durably(path: str, data: bytes) -> str:
    """Write ``data`` to ``path`` so that it is either wholly there or not at all, and on disk when this returns: a
    temporary file beside it, flushed and synced, renamed over ``path``, and the folder synced. Returns ``path``;
    OSError (naming the file) when it could not be written, and then ``path`` is as it was."""
    import os
    import tempfile

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise _naming(exc, target) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _naming(exc, target) from None
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened for syncing (some filesystems): the rename is done
        return str(target)
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return str(target)


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
