"""The servicedesk's commands on the journal: ``trace``, ``purge`` and ``operator`` (the dashboard's accounts).
``diagnose`` judges raw messages, beside ``verify`` (commands/message.py)."""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone

from .common import EXIT_FAILURE, EXIT_NO, EXIT_OK, EXIT_USAGE, Stop, database_options, open_database


def _trace(args) -> int:
    from ..journal.timeline import assess
    from ..store.journal import transfer
    from ..servicedesk.trace import render

    try:
        _, db = open_database(args, "trace", existing=True)
    except Stop as stop:
        return stop.status
    try:
        with db.unit_of_work(readonly=True) as repo:
            entries = transfer(repo, args.id)
    except Exception as exc:  # e.g. a database without the journal: migrate it (serve does)
        print(f"trace: the journal could not be read: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        db.dispose()
    a = assess(entries)
    if args.json:
        print(json.dumps({"id": args.id, "status": a.status, "headline": a.headline,
                          "who_must_act": a.actor.who if a.actor else None, "what_to_do": a.actor.what if a.actor
                          else None, "messages": [asdict(e) for e in entries]}, default=str, indent=2))
    elif entries:
        print("\n".join(render(args.id, entries, a)))
    if not entries:
        print(f"trace: no message in the journal names {args.id} (a sessieId, koppelsleutel or wsa:MessageID)",
              file=sys.stderr)
        return EXIT_USAGE
    return EXIT_NO if a.status == "failed" else EXIT_OK


def _purge(args) -> int:
    from ..store.journal import purge_journal
    from ..web.housekeeping import cutoff

    try:
        config, db = open_database(args, "purge", existing=True)
    except Stop as stop:
        return stop.status
    days = args.days if args.days is not None else config.journal_retention_days
    if days < 0:
        print("purge: --days is 0 or more", file=sys.stderr)
        return EXIT_USAGE
    before = cutoff(days)
    try:
        removed = purge_journal(db, before)
    except Exception as exc:
        print(f"purge: the journal could not be purged: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        db.dispose()
    print(f"purge: removed {removed} journal entries received before {before.isoformat(timespec='seconds')} "
          f"(retention {days} days)")
    return EXIT_OK


def _read_password(args) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValueError("no password on stdin")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("there is no terminal to ask the password on: give it on stdin with --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _operator(args) -> int:
    from ..store.journal import add_operator, operators, remove_operator
    from ..web.auth import AuthError, check_name, hash_password

    try:
        _, db = open_database(args, "operator", migrate=args.operator_command == "add",
                              existing=args.operator_command != "add")
    except Stop as stop:
        return stop.status
    try:
        if args.operator_command == "add":
            try:
                name = check_name(args.name)
                hashed = hash_password(_read_password(args))
            except (AuthError, ValueError, EOFError) as exc:
                print(f"operator add: {exc or 'no password given'}", file=sys.stderr)
                return EXIT_USAGE
            with db.unit_of_work() as repo:
                new = add_operator(repo, name, hashed, datetime.now(timezone.utc))
            print(f"operator {name}: {'added' if new else 'password changed (its sessions have ended)'}")
        elif args.operator_command == "remove":
            with db.unit_of_work() as repo:
                gone = remove_operator(repo, args.name)
            if not gone:
                print(f"operator remove: there is no operator {args.name}", file=sys.stderr)
                return EXIT_USAGE
            print(f"operator {args.name}: removed")
        else:
            with db.unit_of_work(readonly=True) as repo:
                for name, created in operators(repo):
                    print(f"{name}\tsince {created.isoformat(timespec='seconds')}")
        return EXIT_OK
    finally:
        db.dispose()


def add_parser(sub) -> None:
    common = database_options("the gateway's TOML configuration (its database_url)")

    p = sub.add_parser("trace", parents=[common], help="a transfer's timeline from the journal: who must act")
    p.add_argument("id", metavar="SESSIE_ID|MESSAGE_ID", help="a sessieId, koppelsleutel or wsa:MessageID")
    p.add_argument("--json", action="store_true", help="the entries as JSON")
    p.set_defaults(func=_trace)

    p = sub.add_parser("purge", parents=[common], help="remove journal entries older than the retention")
    p.add_argument("--days", type=int, help="keep this many days (default: journal_retention_days)")
    p.set_defaults(func=_purge)

    p = sub.add_parser("operator", parents=[common], help="accounts of the read-only dashboard")
    ops = p.add_subparsers(dest="operator_command", required=True, metavar="ACTION")
    add = ops.add_parser("add", parents=[common], help="add an operator, or give one a new password")
    add.add_argument("name", help="the operator's login name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    add.set_defaults(func=_operator)
    rm = ops.add_parser("remove", parents=[common], help="remove an operator")
    rm.add_argument("name", help="the operator's login name")
    rm.set_defaults(func=_operator)
    ls = ops.add_parser("list", parents=[common], help="the operators")
    ls.set_defaults(func=_operator)
