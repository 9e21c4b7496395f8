"""``oso-gateway register …``: add, change, list and deactivate vendors, schools and aanleverpunten, and import
them from a TOML or CSV file (all or nothing).

Every command migrates the database first. Exit status: 0 done; 2 bad input (one line per problem, nothing
changed); 1 the database failed.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date, datetime, timezone

from .common import EXIT_BAD_INPUT, EXIT_OK, database_options, iso_date, run_on_database, table
from ..oso import identifiers as ids
from ..oso.register import Aanleverpunt, RegisterError, School, Vendor


# ---- helpers -------------------------------------------------------------------------------------------------------

def _today() -> date:
    return datetime.now(timezone.utc).date()


def _require(predicate, value: str, message: str) -> str:
    if not predicate(value):
        raise RegisterError(message.format(value=value))
    return value


def _oin(value: str) -> str:
    return _require(ids.is_oin, value, "OIN {value!r} is malformed: exactly 20 digits")


def _rk(value: str) -> str:
    return _require(ids.is_routeringskenmerk, value,
                    "routeringskenmerk {value!r} is malformed: 20 digits or capitals")


def _yes(flag: bool) -> str:
    return "ja" if flag else "nee"


# ---- the commands: each takes the database and the arguments, prints, returns the exit status --------------------

def _vendor_add(db, args) -> int:
    if args.sinds is not None and not args.gekwalificeerd:
        raise RegisterError("--sinds is only for a qualified vendor: add --gekwalificeerd")
    sinds = iso_date("--sinds", args.sinds, RegisterError) or (_today() if args.gekwalificeerd else None)
    vendor = Vendor(args.oin, args.naam, args.gekwalificeerd, sinds)
    with db.unit_of_work() as repo:
        repo.add_vendor(vendor)
    status = f"qualified since {sinds}" if vendor.gekwalificeerd else "not qualified"
    print(f"vendor {vendor.oin} added ({status})")
    return EXIT_OK


def _vendor_change(db, args) -> int:
    with db.unit_of_work() as repo:
        current = repo.vendor(_oin(args.oin))
        if current is None:
            raise RegisterError(f"no vendor with OIN {args.oin} is registered")
        qualified = current.gekwalificeerd if args.gekwalificeerd is None else args.gekwalificeerd
        if args.sinds is not None and not qualified:
            raise RegisterError("--sinds is only for a qualified vendor")
        if not qualified:
            sinds = None
        else:
            sinds = iso_date("--sinds", args.sinds, RegisterError) or current.gekwalificeerd_sinds or (
                None if current.gekwalificeerd else _today())
        changed = Vendor(current.oin, args.naam if args.naam is not None else current.naam, qualified, sinds)
        repo.update_vendor(changed)
    print(f"vendor {changed.oin} changed")
    return EXIT_OK


def _vendor_deactivate(db, args) -> int:
    with db.unit_of_work() as repo:
        repo.unqualify_vendor(_oin(args.oin))
    print(f"vendor {args.oin} is no longer qualified")
    return EXIT_OK


def _school_add(db, args) -> int:
    school = School(args.brin, args.vestiging, args.sector, args.naam)
    with db.unit_of_work() as repo:
        repo.add_school(school)
    print(f"school {school.brin} vestiging {school.vestiging} added")
    return EXIT_OK


def _school_change(db, args) -> int:
    probe = School(args.brin, args.vestiging, args.sector or "PO", args.naam or "-")  # checks the given fields
    with db.unit_of_work() as repo:
        current = repo.school(probe.brin, probe.vestiging)
        if current is None:
            raise RegisterError(f"school {args.brin} vestiging {args.vestiging} is not registered")
        changed = replace(current, **{k: v for k, v in (("sector", args.sector), ("naam", args.naam))
                                      if v is not None})
        repo.update_school(changed)
    print(f"school {changed.brin} vestiging {changed.vestiging} changed")
    return EXIT_OK


def _aanleverpunt_add(db, args) -> int:
    ap = Aanleverpunt(args.routeringskenmerk, args.brin, args.vestiging, args.vendor_oin, args.document_url,
                      args.notificatie_url or None)
    with db.unit_of_work() as repo:
        repo.add_aanleverpunt(ap)
    print(f"aanleverpunt {ap.routeringskenmerk} added")
    return EXIT_OK


def _aanleverpunt_change(db, args) -> int:
    with db.unit_of_work() as repo:
        current = repo.aanleverpunt(_rk(args.routeringskenmerk))
        if current is None:
            raise RegisterError(f"no aanleverpunt with routeringskenmerk {args.routeringskenmerk} is registered")
        changes = {name: getattr(args, name) for name in ("brin", "vestiging", "vendor_oin", "document_url",
                                                          "actief") if getattr(args, name) is not None}
        if args.notificatie_url is not None:
            changes["notificatie_url"] = args.notificatie_url or None  # an empty value removes it
        changed = replace(current, **changes)
        repo.update_aanleverpunt(changed)
    print(f"aanleverpunt {changed.routeringskenmerk} changed")
    return EXIT_OK


def _aanleverpunt_deactivate(db, args) -> int:
    with db.unit_of_work() as repo:
        repo.deactivate_aanleverpunt(_rk(args.routeringskenmerk))
    print(f"aanleverpunt {args.routeringskenmerk} deactivated")
    return EXIT_OK


def _list(db, args) -> int:
    what = [args.what] if args.what else ["vendors", "schools", "aanleverpunten"]
    parts = []
    with db.unit_of_work(readonly=True) as repo:
        if "vendors" in what:
            rows = [[v.oin, v.naam, _yes(v.gekwalificeerd), str(v.gekwalificeerd_sinds or "-")]
                    for v in repo.list_vendors()]
            parts.append(("vendors", table(["OIN", "NAAM", "GEKWALIFICEERD", "SINDS"], rows), len(rows)))
        if "schools" in what:
            rows = [[s.brin, s.vestiging, s.sector.value, s.naam] for s in repo.list_schools()]
            parts.append(("schools", table(["BRIN", "VESTIGING", "SECTOR", "NAAM"], rows), len(rows)))
        if "aanleverpunten" in what:
            rows = [[a.routeringskenmerk, a.brin, a.vestiging, a.vendor_oin, _yes(a.actief), a.document_url,
                     a.notificatie_url or "-"] for a in repo.list_aanleverpunten()]
            parts.append(("aanleverpunten", table(["ROUTERINGSKENMERK", "BRIN", "VESTIGING", "VENDOR OIN",
                                                    "ACTIEF", "DOCUMENT URL", "NOTIFICATIE URL"], rows), len(rows)))
    print("\n\n".join(f"{title} ({count})\n{text}" for title, text, count in parts))
    return EXIT_OK


def _import(db, args) -> int:
    from ..store.register_import import ImportFailed, apply, read_file

    try:
        entries = read_file(args.file)  # checked on their own before the database is touched
        with db.unit_of_work() as repo:
            result = apply(repo, entries, update=args.update)
    except ImportFailed as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"register import: {len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}, nothing "
              "imported", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"imported {args.file}: {result.summary()}")
    return EXIT_OK


# ---- running a command -------------------------------------------------------------------------------------------

def _run(args) -> int:
    command = "register " + " ".join(p for p in (args.register_command, getattr(args, "register_action", None)) if p)
    return run_on_database(args, command, lambda db, _config: args.register_op(db, args), (RegisterError,),
                           readonly=args.register_op is _list)  # a list never makes a database


def add_parser(subparsers) -> None:
    """Add ``register`` and its commands to the ``oso-gateway`` parser's subparsers."""
    common = database_options("the gateway's TOML configuration, for its database_url")

    reg = subparsers.add_parser("register", parents=[common],
                                help="the register: vendors, schools and their aanleverpunten")
    what = reg.add_subparsers(dest="register_command", required=True, metavar="WHAT")

    def command(parent, name: str, op, help: str):
        p = parent.add_parser(name, parents=[common], help=help)
        p.set_defaults(func=_run, register_op=op)
        return p

    vendor = what.add_parser("vendor", parents=[common], help="vendors (leveranciers), by OIN")
    vendor_do = vendor.add_subparsers(dest="register_action", required=True, metavar="ACTION")
    p = command(vendor_do, "add", _vendor_add, "register a vendor")
    p.add_argument("--oin", required=True, help="20 digits, as in the vendor's certificate")
    p.add_argument("--naam", required=True, help="the vendor's name")
    p.add_argument("--gekwalificeerd", action="store_true", help="qualified to exchange dossiers")
    p.add_argument("--sinds", metavar="DATE", help="qualified since (YYYY-MM-DD; default today)")
    p = command(vendor_do, "change", _vendor_change, "change a vendor's name or qualification")
    p.add_argument("--oin", required=True, help="the registered vendor's OIN")
    p.add_argument("--naam", help="its new name")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--gekwalificeerd", dest="gekwalificeerd", action="store_const", const=True, default=None,
                   help="qualified to exchange dossiers")
    q.add_argument("--niet-gekwalificeerd", dest="gekwalificeerd", action="store_const", const=False,
                   help="no longer qualified (the TC refuses its requests: VerstrekkerNietBekend)")
    p.add_argument("--sinds", metavar="DATE", help="qualified since (YYYY-MM-DD)")
    p = command(vendor_do, "deactivate", _vendor_deactivate, "the vendor is no longer qualified")
    p.add_argument("--oin", required=True, help="the registered vendor's OIN")

    school = what.add_parser("school", parents=[common], help="schools, by BRIN and vestiging")
    school_do = school.add_subparsers(dest="register_action", required=True, metavar="ACTION")
    p = command(school_do, "add", _school_add, "register a school")
    p.add_argument("--brin", required=True, help="two digits and two capitals, e.g. 00YY")
    p.add_argument("--vestiging", required=True, help="two digits, e.g. 00")
    p.add_argument("--sector", required=True, help="PO, VO or SWV")
    p.add_argument("--naam", required=True, help="the school's name")
    p = command(school_do, "change", _school_change, "change a school's sector or name")
    p.add_argument("--brin", required=True, help="the registered school's BRIN")
    p.add_argument("--vestiging", required=True, help="its vestiging (two digits)")
    p.add_argument("--sector", help="the new sector: PO, VO or SWV")
    p.add_argument("--naam", help="the new name")

    ap = what.add_parser("aanleverpunt", parents=[common], help="aanleverpunten, by routeringskenmerk")
    ap_do = ap.add_subparsers(dest="register_action", required=True, metavar="ACTION")
    p = command(ap_do, "add", _aanleverpunt_add, "register a school's aanleverpunt at its vendor")
    p.add_argument("--routeringskenmerk", required=True, help="the aanleverpunt's routeringskenmerk (20 characters)")
    p.add_argument("--brin", required=True, help="the registered school it belongs to")
    p.add_argument("--vestiging", required=True, help="that school's vestiging (two digits)")
    p.add_argument("--vendor-oin", required=True, help="the registered vendor whose system serves it")
    p.add_argument("--document-url", required=True, help="the aanleverpunt's documentRequest endpoint")
    p.add_argument("--notificatie-url", help="the school's notification endpoint (as a target)")
    p = command(ap_do, "change", _aanleverpunt_change, "change an aanleverpunt")
    p.add_argument("--routeringskenmerk", required=True, help="the registered aanleverpunt")
    p.add_argument("--brin", help="move it to this registered school")
    p.add_argument("--vestiging", help="and this vestiging")
    p.add_argument("--vendor-oin", help="move it to this registered vendor")
    p.add_argument("--document-url", help="its new documentRequest endpoint")
    p.add_argument("--notificatie-url", help="an empty value removes it")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--actief", dest="actief", action="store_const", const=True, default=None,
                   help="takes requests again")
    q.add_argument("--inactief", dest="actief", action="store_const", const=False,
                   help="takes no requests (the TC answers OnbekendAanleverpunt)")
    p = command(ap_do, "deactivate", _aanleverpunt_deactivate, "the aanleverpunt no longer takes requests")
    p.add_argument("--routeringskenmerk", required=True, help="the registered aanleverpunt")

    p = command(what, "list", _list, "print the register as tables")
    p.add_argument("what", nargs="?", choices=["vendors", "schools", "aanleverpunten"],
                   help="one table only (default: all three)")
    p = command(what, "import", _import, "import from a .toml or .csv file: all or nothing")
    p.add_argument("file", metavar="FILE", help="a .toml or .csv file of vendors, schools and aanleverpunten (its form: gateway/store/register_import.py)")
    p.add_argument("--update", action="store_true",
                   help="change registered entries that the file describes differently (default: refuse)")
