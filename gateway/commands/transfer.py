"""``oso-gateway transfer`` (the reference target fetches one dossier) and ``oso-gateway demo`` (a whole transfer of
test pupil 127095823, against the running gateway or one started for the duration)."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

from .common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, check_writable, write_durably

EXIT_DOSSIER = EXIT_OK

TRANSFER_EXITS = """for transfer and demo in particular:
  0  the dossier was received and kept (written to --out, durably, before the TC was told; demo keeps it only
     when given --out); validation findings, if any, are in the account
  1  the chain refused: a result code (e.g. LeveringGeweigerd, LeerlinginfoNietOpvraagbaar, SessieAfwijkend)
  2  a bad argument (a BRIN, routeringskenmerk, BSN, koppelsleutel, date), a missing certificate, key, chain key
     or trust file, or an --out that cannot be written: checked before anything is sent
  3  a signed SOAP Fault, an answer that did not verify, a party that could not be reached (after two retries with
     a new message), or a dossier that could not be written: then the TC is not told it arrived"""

DEMO_PUPIL = "127095823"


def add_parser(subparsers) -> None:
    t = subparsers.add_parser(
        "transfer", help="fetch a dossier as a target (doelsysteem): overdracht, documentRequest(s), afmelding",
        description="Run one OSO transfer as the reference target: open the session at the Traffic Center with the "
                    "pupil's zoeksleutel (the BSN or onderwijsnummer itself never leaves this machine), ask each "
                    "source aanleverpunt, close the session with each one's result, check the dossier, and print "
                    "an account of every step.",
        epilog=TRANSFER_EXITS)
    who = t.add_mutually_exclusive_group(required=True)
    who.add_argument("--bsn", metavar="N", help="the pupil's BSN (nine digits, elfproef; or a test school's test "
                                                "number)")
    who.add_argument("--onderwijsnummer", metavar="N", help="the pupil's onderwijsnummer (nine digits)")
    who.add_argument("--koppelsleutel", metavar="K", help="the koppelsleutel of a notification (SWV, or OV for an "
                                                          "updated dossier); the "
                                                          "other fields default to what the notification said")
    t.add_argument("--bron-brin", metavar="B", help="the source school's BRIN (e.g. 00YY)")
    t.add_argument("--doel-brin", metavar="D", help="the target school's BRIN: yours (e.g. 00ZZ)")
    t.add_argument("--doel-routeringskenmerk", metavar="RK",
                   help="your aanleverpunt's routeringskenmerk (default: the school's only one, asked of the TC)")
    t.add_argument("--overdrachtsoort", choices=("overstapdossier", "overdrachtbinnenbrin", "swv-dossier"),
                   help="default: swv-dossier with --koppelsleutel, overdrachtbinnenbrin when both BRINs are the "
                        "same, else overstapdossier")
    t.add_argument("--bron-routeringskenmerk", metavar="RK",
                   help="ask only this aanleverpunt of the source school (default: every one the TC names)")
    t.add_argument("--verzameldatum", metavar="DATE", help="ask for a dossier gathered on or after DATE "
                                                           "(YYYY-MM-DD, or a moment with its offset)")
    t.add_argument("--out", metavar="FILE", required=True,
                   help="where to keep the received dossier (a regular file: checked for writing before anything is "
                        "sent, written durably before the TC is told it arrived)")
    _connection_options(t)
    t.set_defaults(func=run_transfer)

    d = subparsers.add_parser(
        "demo", help=f"a whole signed transfer of test pupil {DEMO_PUPIL} (00YY -> 00ZZ), with its account",
        description="Run a complete transfer of the test school's pupil 127095823 and print the account: against "
                    "the configured gateway when its /health answers (started with `oso-gateway serve --dev`), "
                    "otherwise against one started for the duration (SQLite in a temporary folder, a fresh TEST "
                    "ONLY PKI, the test school and pupils).",
        epilog=TRANSFER_EXITS)
    d.add_argument("--config", metavar="FILE", help="TOML file (environment: OSO_GATEWAY_<SETTING>)")
    d.add_argument("--out", metavar="FILE", help="keep the received dossier here (as transfer --out; without it the "
                                                 "demo's test dossier is shown, not kept)")
    d.add_argument("--local", action="store_true", help="always start a gateway of its own")
    d.set_defaults(func=run_demo)


def _connection_options(p) -> None:
    g = p.add_argument_group("connection (default: the gateway's configuration)")
    g.add_argument("--config", metavar="FILE", help="TOML file (environment: OSO_GATEWAY_<SETTING>)")
    g.add_argument("--cert", help="your signing certificate (PEM; its subject.serialNumber is your OIN)")
    g.add_argument("--key", help="its private key (PEM)")
    g.add_argument("--ca", help="the CA certificates you trust (PEM)")
    g.add_argument("--crl", help="their CRLs (PEM)")
    g.add_argument("--tc", metavar="URL", help="the Traffic Center's address")
    g.add_argument("--zoeksleutel-key", metavar="FILE", help="the chain key file (kid:base64), docs/zoeksleutel.md")
    g.add_argument("--bundles", metavar="DIR", help="dossier validation bundles (one folder per standaardversie; "
                                                    "default: the configuration's bundles_dir, else the fetched "
                                                    "ones of `oso-gateway bundles fetch`)")
    g.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per call, 1 to 600 (default 30)")


def _seconds(text: str) -> float:
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text} is not from 1 to 600 seconds")
    return value


def _fail(msg: str) -> int:
    print(f"transfer: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _pgn(args) -> tuple[str | None, str | None]:
    """(pgn, error)."""
    from ..dossier.identity import KENNISNET_TEST_SCHOOL
    from ..oso import identifiers as ids

    if args.bsn is not None:
        n = args.bsn.strip()
        if not (len(n) == 9 and n.isdigit()):
            return None, "a BSN is nine digits"
        if not ids.bsn_elfproef(n) and n not in KENNISNET_TEST_SCHOOL.numbers:
            return None, "that BSN fails the elfproef (and is not one of the test school's test numbers)"
        return n, None
    if args.onderwijsnummer is not None:
        n = args.onderwijsnummer.strip()
        if not (len(n) == 9 and n.isdigit()) or not ids.onderwijsnummer_check(n):
            return None, "that is not an onderwijsnummer (nine digits, starting with 1, its own check digit)"
        return n, None
    return None, None


def _config(args):
    from dataclasses import replace

    from ..config import load_config
    from ..dossier.bundles import default_bundles_dir

    config = load_config(getattr(args, "config", None), cert=args.cert, key=args.key, ca=args.ca, crl=args.crl,
                         tc_url=args.tc, zoeksleutel_key=args.zoeksleutel_key, bundles_dir=args.bundles)
    if not config.bundles_dir and default_bundles_dir():
        config = replace(config, bundles_dir=default_bundles_dir())
    return config


def _doelsysteem(config, timeout: float, *, chain_key: bool = True):
    """The reference target of ``config``, every file it needs checked first; ValueError naming what is wrong."""
    from ..dossier import BundleError
    from ..wsse.errors import SecurityError
    from ..client.target import Doelsysteem

    needed = {"cert": "certificate", "key": "private key", "ca": "trust anchors (ca)"}
    if chain_key:
        needed["zoeksleutel_key"] = "chain key (zoeksleutel_key)"
    for name, what in needed.items():
        if not Path(getattr(config, name)).is_file():
            option = "--" + name.replace("_", "-")
            raise ValueError(f"the {what} file {getattr(config, name)} does not exist ({option} or the "
                             "configuration)")
    if config.crl and not Path(config.crl).is_file():
        raise ValueError(f"the crl file {config.crl} does not exist (--crl or the configuration)")
    try:
        return Doelsysteem.from_config(config, timeout=timeout)
    except (OSError, ValueError, SecurityError, BundleError) as exc:
        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ValueError(f"cannot set up the target: {where}{reason}") from None


def _from_notification(config, koppelsleutel: str):
    """The notification this target recorded for a koppelsleutel (its local store), or None."""
    from ..store import Database, DatabaseMissing
    from ..store.doelsysteem import DoelsysteemStore

    try:
        database = Database(config.database_url, existing=True)  # read only: never made here
    except DatabaseMissing:
        return None
    try:
        with database.unit_of_work(readonly=True) as repo:
            return DoelsysteemStore(repo).notificatie(koppelsleutel)
    except Exception:  # no local store (or not this schema): the caller names the parties itself
        return None
    finally:
        database.dispose()


def _mark_used(config, account) -> None:
    from datetime import datetime, timezone

    from ..store import Database
    from ..store.doelsysteem import DoelsysteemStore

    try:
        database = Database(config.database_url, existing=True)  # the store that recorded the notification
    except Exception:
        return
    try:
        with database.unit_of_work() as repo:
            DoelsysteemStore(repo).mark_opgehaald(account.request.koppelsleutel, when=datetime.now(timezone.utc),
                                                  sessie_id=account.sessie_id, resultaat=account.resultaat)
    except Exception:
        pass
    finally:
        database.dispose()


def run_transfer(args) -> int:
    """Everything is checked before anything is sent: the arguments, the files, that --out can be written."""
    from ..config import ConfigError
    from ..client.overdracht import check_parties
    from ..client.target import LookupFailed, TransferError

    pgn, error = _pgn(args)
    if error:
        return _fail(error)
    try:
        check_parties(bron_brin=args.bron_brin, doel_brin=args.doel_brin,
                      doel_routeringskenmerk=args.doel_routeringskenmerk,
                      bron_routeringskenmerk=args.bron_routeringskenmerk, koppelsleutel=args.koppelsleutel)
    except TransferError as exc:
        return _fail(str(exc))
    if args.out:
        try:
            check_writable(args.out)
        except OSError as exc:
            return _fail(f"--out {args.out} cannot be written: {exc.strerror or exc}")
    verzameldatum = None
    if args.verzameldatum:
        try:
            verzameldatum = (datetime.fromisoformat(args.verzameldatum) if "T" in args.verzameldatum
                             else date.fromisoformat(args.verzameldatum))
        except ValueError:
            return _fail("--verzameldatum takes a date, YYYY-MM-DD, or a moment, YYYY-MM-DDTHH:MM:SS+01:00")
        if isinstance(verzameldatum, datetime) and verzameldatum.tzinfo is None:
            return _fail("--verzameldatum: give the moment's offset (e.g. +01:00 or Z)")
    try:
        config = _config(args)
    except ConfigError as exc:
        return _fail(str(exc))
    bron, doel, rk, soort = args.bron_brin, args.doel_brin, args.doel_routeringskenmerk, args.overdrachtsoort
    notice = None
    if args.koppelsleutel and not (bron and doel and rk and soort):
        notice = _from_notification(config, args.koppelsleutel)
        if notice is not None:
            bron, doel = bron or notice.bron_brin, doel or notice.doel_brin
            rk, soort = rk or notice.doel_routeringskenmerk, soort or notice.overdrachtsoort
    if not (bron and doel):
        return _fail("--bron-brin and --doel-brin are required (with --koppelsleutel only when no notification "
                     "with it was recorded here)")
    try:
        check_parties(bron_brin=bron, doel_brin=doel, doel_routeringskenmerk=rk)  # as the notification named them
        target = _doelsysteem(config, args.timeout, chain_key=pgn is not None)
    except (TransferError, ValueError) as exc:
        return _fail(str(exc))
    try:
        if not rk:
            rk = target.doel_aanleverpunt(doel)
        account = target.transfer(pgn=pgn, koppelsleutel=args.koppelsleutel, bron_brin=bron, doel_brin=doel,
                                  doel_routeringskenmerk=rk, overdrachtsoort=soort,
                                  dossier_verzameldatum=verzameldatum,
                                  bron_routeringskenmerk=args.bron_routeringskenmerk, keep=_keeper(args.out))
    except LookupFailed as exc:
        print(f"transfer: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except TransferError as exc:
        return _fail(str(exc))
    return _report(account, config if args.koppelsleutel else None)


def _keeper(out: str | None):
    """How a received dossier is kept: written durably to ``out`` (before the TC is told), or not at all."""
    if not out:
        return None
    return lambda dossier: write_durably(out, dossier)


def _report(account, mark_config=None) -> int:
    if account.not_kept:
        print(f"transfer: {account.not_kept}; the TC was not told the dossier arrived", file=sys.stderr)
    print(account.render())
    if mark_config is not None:
        _mark_used(mark_config, account)
    return account.exit_code


# ---- demo ----------------------------------------------------------------------------------------------------------

def _healthy(base_url: str) -> bool:
    import requests

    try:
        return requests.get(base_url + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def run_demo(args) -> int:
    from ..config import ConfigError, load_config
    from ..store.testschool import TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK

    from ..dossier.bundles import default_bundles_dir

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        try:
            check_writable(args.out)
        except OSError as exc:
            print(f"demo: --out {args.out} cannot be written: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    transfer = dict(pgn=DEMO_PUPIL, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                    doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK, keep=_keeper(args.out))
    if not args.local and _healthy(config.base_url):
        missing = [n for n in ("cert", "key", "ca", "zoeksleutel_key") if not Path(getattr(config, n)).is_file()]
        if missing:
            print(f"demo: a gateway answers at {config.base_url}, but this configuration lacks "
                  f"{', '.join(missing)}; use --local for a gateway of the demo's own", file=sys.stderr)
            return EXIT_USAGE
        print(f"demo: using the running gateway at {config.base_url}\n")
        try:
            target = _doelsysteem(config, 30.0)
        except ValueError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return EXIT_USAGE
        code = _report(target.transfer(**transfer))
        if code != EXIT_DOSSIER:
            print("demo: the running gateway needs the test school and the reference target (`oso-gateway serve "
                  "--dev`); `oso-gateway demo --local` runs one of the demo's own", file=sys.stderr)
        return code

    from ..web.local import LocalGateway

    print(f"demo: no gateway answers at {config.base_url}/health; starting one for the duration "
          "(SQLite in a temporary folder, a fresh TEST ONLY PKI, the test school and its pupils)", flush=True)
    with LocalGateway(bundles_dir=config.bundles_dir or default_bundles_dir() or "") as gw:
        print(f"demo: gateway at {gw.url} (folder {gw.folder})\n", flush=True)
        target = _doelsysteem(gw.config, 30.0)
        return _report(target.transfer(**transfer))
