"""``oso-gateway school …``: the reference source school's administration of its dossiers.

    school klaarzetten --file DOSSIER.xml [--pgn N] [--brin B] [--verzameldatum DATE] [--geweigerd]
    school inzage --pgn N [--datum DATE]          school toestemming --pgn N [--datum DATE]
    school intrekken --pgn N                      school weigeren --pgn N [--opheffen]
    school lijst [--brin B]                       school log [--sessie ID] [--laatste N]
    school melden --pgn N --doel-brin B --doel-routeringskenmerk RK [--doel OV --sessie ID]   (notify a target)
    school testleerlingen [--extra N] [--seed S]

Every command migrates the database first and takes ``--database`` / ``--config`` like ``register``. A PGN is
never printed in full: all but its last two digits are masked. Exit status: 0 done; 2 bad input (nothing
changed); 1 the database failed (``melden``: or the TC or the target refused or could not be reached).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from .common import EXIT_FAILED, EXIT_OK, database_options, iso_date, run_on_database, table


MAX_EXTRA = 1000  # generated test pupils per call: each is a synthetic dossier, validated when it is released


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _extra(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_EXTRA:
        raise argparse.ArgumentTypeError(f"{value} is not from 0 to {MAX_EXTRA}")
    return value


class SchoolError(ValueError):
    """Input the school commands refuse (one line for the person at the terminal)."""


# ---- helpers -------------------------------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _pgn(value: str | None) -> str | None:
    if value is not None and not (len(value) == 9 and value.isascii() and value.isdigit()):
        raise SchoolError("a PGN (BSN or onderwijsnummer) is nine digits")
    return value


def _d(value) -> str:
    return value.isoformat() if value is not None else "-"


def _brin(school, pgn: str, brin: str | None) -> str:
    """The school that holds the pupil's dossier: --brin, or the only one that does."""
    from ..school.uitlevering import mask

    if brin is not None:
        return brin
    brins = school.brins_of(pgn)
    if not brins:
        raise SchoolError(f"no dossier is prepared for pupil {mask(pgn)}")
    if len(brins) > 1:
        raise SchoolError(f"several schools hold a dossier for pupil {mask(pgn)}: give --brin ({', '.join(brins)})")
    return brins[0]


def _controle(config):
    from ..dossier import load_bundles
    from ..school.uitlevering import Controle

    return Controle(load_bundles(config.bundles_dir) if config.bundles_dir else None)


def _verdict(record, controle) -> str:
    """What validation says of the dossier as it would be released today (rule ids only, never values)."""
    from ..dossier import Transfer
    from ..school.uitlevering import verwijder_categorieen

    released, removed = verwijder_categorieen(record.dossier, policy=controle.policy)
    report = controle(released, Transfer(overdrachtsoort=record.overdrachtsoort, bron_brin=record.brin))
    left_out = f"; left out on release: {', '.join(removed)}" if removed else ""
    if report.errors:
        rules = sorted({f.rule or f.source for f in report.errors})
        return (f"validation: {len(report.errors)} error(s) ({', '.join(rules)}): it is not released as it is"
                f"{left_out}")
    how = f"bundle {report.bundle}" if report.bundle else f"gateway checks only: {report.problem}"
    return f"validation: {report.status} ({how}){left_out}"


# ---- the commands: each takes the database, the configuration and the arguments ---------------------------------

def _klaarzetten(db, config, args) -> int:
    from pathlib import Path

    from ..dossier.release import OVERDRACHTSOORTEN
    from ..oso import identifiers as ids
    from ..oso.zoeksleutel import pgn_kind
    from ..store.school_repository import SchoolRepository
    from ..school.dossierbestand import DossierFileError, lees
    from ..school.uitlevering import DossierRecord, mask

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise SchoolError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        info = lees(data)
    except DossierFileError as exc:
        raise SchoolError(f"{args.file}: {exc}") from None
    pgn = _pgn(args.pgn)
    if pgn is not None and info.pgn is not None and pgn != info.pgn:
        raise SchoolError("--pgn differs from the BSN or onderwijsnummer in the dossier")
    pgn = pgn or _pgn(info.pgn)
    if pgn is None:
        raise SchoolError("the dossier carries no BSN or onderwijsnummer (an SWV dossier carries none): give --pgn")
    if args.brin is not None and info.brin is not None and args.brin != info.brin:
        raise SchoolError(f"--brin {args.brin} differs from the dossier's huidigeschool/brincode {info.brin}")
    brin = args.brin or info.brin
    if not ids.is_brin(brin or ""):
        raise SchoolError("the dossier names no school (huidigeschool/brincode): give --brin")
    if info.overdrachtsoort not in OVERDRACHTSOORTEN:
        raise SchoolError(f"the dossier's overdrachtsoort {info.overdrachtsoort!r} is none of "
                          f"{', '.join(OVERDRACHTSOORTEN)}")
    now = _now()
    verzameldatum = iso_date("--verzameldatum", args.verzameldatum, SchoolError) or info.datum or now.date()
    record = DossierRecord(brin=brin, pgn=pgn, pgn_kind=pgn_kind(pgn), overdrachtsoort=info.overdrachtsoort,
                           overstap=info.overstap, dossier=data, verzameldatum=verzameldatum, klaargezet=True,
                           inzage=info.inzage,
                           toestemming=(info.inzage or info.datum or now.date()) if info.toestemming else None,
                           geweigerd=args.geweigerd, bijgewerkt=now)
    verdict = _verdict(record, _controle(config))
    with db.unit_of_work() as repo:
        SchoolRepository.of(repo).put_dossier(record)
    print(f"dossier of pupil {mask(pgn)} at {brin} prepared: {record.overdrachtsoort} {record.overstap or '-'}, "
          f"verzameldatum {_d(verzameldatum)}, inzage {_d(record.inzage)}, toestemming {_d(record.toestemming)}"
          f"{', release withheld' if record.geweigerd else ''}\n{verdict}")
    return EXIT_OK


def _change(db, args, what: str, change) -> int:
    from ..store.school_repository import SchoolRepository
    from ..school.uitlevering import mask

    pgn = _pgn(args.pgn)
    with db.unit_of_work() as repo:
        school = SchoolRepository.of(repo)
        brin = _brin(school, pgn, args.brin)
        current = school.dossier(brin, pgn)
        if current is None:
            raise SchoolError(f"school {brin} has no dossier for pupil {mask(pgn)}")
        school.update(brin, pgn, **change(current))
    print(f"pupil {mask(pgn)} at {brin}: {what}")
    return EXIT_OK


def _inzage(db, config, args) -> int:
    from ..school.dossierbestand import met_inzage

    datum = iso_date("--datum", args.datum, SchoolError) or _now().date()
    return _change(db, args, f"inzage recorded on {datum.isoformat()}",
                   lambda r: {"inzage": datum, "dossier": met_inzage(r.dossier, datum), "bijgewerkt": _now()})


def _toestemming(db, config, args) -> int:
    from ..school.dossierbestand import met_toestemming

    datum = iso_date("--datum", args.datum, SchoolError) or _now().date()
    return _change(db, args, f"toestemming recorded on {datum.isoformat()}",
                   lambda r: {"toestemming": datum, "dossier": met_toestemming(r.dossier), "bijgewerkt": _now()})


def _intrekken(db, config, args) -> int:
    return _change(db, args, "dossier withdrawn (no longer released)",
                   lambda r: {"klaargezet": False, "bijgewerkt": _now()})


def _weigeren(db, config, args) -> int:
    what = "release no longer withheld" if args.opheffen else "release withheld (LeveringGeweigerd)"
    return _change(db, args, what, lambda r: {"geweigerd": not args.opheffen, "bijgewerkt": _now()})


def _lijst(db, config, args) -> int:
    from ..store.school_repository import SchoolRepository

    with db.unit_of_work(readonly=True) as repo:
        entries = SchoolRepository.of(repo).overzicht(args.brin)
    rows = [[r.brin, r.masked_pgn, r.pgn_kind, r.overdrachtsoort, r.overstap or "-",
             "ja" if r.klaargezet else "nee", _d(r.inzage), _d(r.toestemming), _d(r.verzameldatum),
             "ja" if r.geweigerd else "nee", str(size)] for r, size in entries]
    ready = sum(1 for r, _ in entries if r.klaargezet and not r.geweigerd)
    print(f"dossiers ({len(rows)}, {ready} ready for release)\n" + table(
        ["BRIN", "PGN", "SOORT", "OVERDRACHTSOORT", "OVERSTAP", "KLAARGEZET", "INZAGE", "TOESTEMMING",
         "VERZAMELDATUM", "GEWEIGERD", "BYTES"], rows))
    return EXIT_OK


def _log(db, config, args) -> int:
    from ..store.school_repository import SchoolRepository

    with db.unit_of_work(readonly=True) as repo:
        entries = SchoolRepository.of(repo).uitleveringen(sessie_id=args.sessie, limit=args.laatste)
    rows = [[u.tijdstip.strftime("%Y-%m-%d %H:%M:%S"), u.sessie_id, u.doel_brin, u.aanvrager_oin, u.sessiecontrole,
             u.resultaat, (u.sha256 or "-")[:16], u.reden[:60]] for u in entries]
    print(f"documentRequests ({len(rows)})\n" + table(
        ["TIJDSTIP (UTC)", "SESSIE", "DOEL", "AANVRAGER OIN", "SESSIECONTROLE", "RESULTAAT", "SHA-256", "REDEN"],
        rows))
    return EXIT_OK


def _testleerlingen(db, config, args) -> int:
    from ..store.school_repository import SchoolRepository
    from ..school.testleerlingen import laad_testleerlingen

    if args.extra < 0:
        raise SchoolError("--extra is a number of pupils, 0 or more")
    now = _now()
    with db.unit_of_work() as repo:
        records = laad_testleerlingen(SchoolRepository.of(repo), datum=now.date(), now=now, extra=args.extra,
                                      seed=args.seed)
    print(f"{len(records)} synthetic dossiers prepared for test school {records[0].brin} (TEST ONLY):")
    for r in records:
        state = "release withheld" if r.geweigerd else (
            "binnen-BRIN only" if r.overdrachtsoort == "overdrachtbinnenbrin" else "ready")
        print(f"  {r.masked_pgn}  {r.pgn_kind}  {r.overdrachtsoort:21} {r.overstap or '-':6} {state}")
    return EXIT_OK


def _melden(db, config, args) -> int:
    """The source's side of a notification: a koppelsleutel from the TC (meldenNotificatie), remembered for the pupil,
    pushed to the target's notification endpoint (notificatieRequest). ``--doel SWV`` announces a dossier to a
    samenwerkingsverband; ``--doel OV --sessie ID`` tells the school that fetched the pupil's dossier in session ID
    that there is an update."""
    from ..client.bron import BronClient
    from ..client.osr import OsrClient
    from ..client.transport import https_session
    from ..oso import identifiers as ids
    from ..store.school_repository import SchoolRepository
    from ..school.uitlevering import mask

    pgn = _pgn(args.pgn)
    if not ids.is_brin(args.doel_brin):
        raise SchoolError(f"--doel-brin {args.doel_brin!r} is not a BRIN (two digits and two capitals)")
    if not ids.is_routeringskenmerk(args.doel_routeringskenmerk):
        raise SchoolError("--doel-routeringskenmerk is 20 digits or capitals")
    if (args.doel == "OV") != (args.sessie is not None):
        raise SchoolError("--sessie names the earlier session, for --doel OV (and only then)")
    if args.sessie is not None and not ids.is_uuid4(args.sessie):
        raise SchoolError("--sessie is a sessieId: a lower-case UUID")
    try:
        credentials, trust = config.credentials(), config.trust()
    except (OSError, ValueError) as exc:
        raise SchoolError(f"cannot load the gateway's certificate, key or trust anchors: {exc}") from None
    aanvraagdatum = None
    with db.unit_of_work(readonly=True) as repo:
        school = SchoolRepository.of(repo)
        brin = _brin(school, pgn, args.brin)
        record = school.dossier(brin, pgn)
        if record is None or not record.klaargezet:
            raise SchoolError(f"no dossier is prepared for pupil {mask(pgn)} at {brin}: klaarzetten first")
        rk = args.routeringskenmerk
        if rk is None:  # the school's aanleverpunt at this gateway's vendor, when the register here knows one
            ours = [a.routeringskenmerk for a in repo.aanleverpunten(brin)
                    if a.actief and a.vendor_oin == credentials.oin]
            if len(ours) != 1:
                raise SchoolError(f"give --routeringskenmerk (the register here knows {len(ours)} aanleverpunten of "
                                  f"{brin} served by OIN {credentials.oin})")
            rk = ours[0]
        if args.sessie is not None:  # OV: the earlier request, as the release log holds it
            asked = [u for u in school.uitleveringen(sessie_id=args.sessie) if u.bron_brin == brin]
            if not asked:
                raise SchoolError(f"the release log holds no documentRequest of session {args.sessie} for {brin}")
            aanvraagdatum = asked[-1].tijdstip
    session = https_session(config)
    client = BronClient(credentials, trust, tc_url=config.traffic_center_url,
                        tc_oin=config.tc_oin or (credentials.oin if not config.tc_url else None), session=session,
                        osr=OsrClient(config.osr_base_url, session=session))
    melding = client.melden_notificatie(bron_brin=brin, bron_routeringskenmerk=rk, doel_brin=args.doel_brin,
                                        doel_routeringskenmerk=args.doel_routeringskenmerk, doel=args.doel,
                                        sessie_id=args.sessie, aanvraagdatum=aanvraagdatum)
    if melding.resultaat != "Geslaagd" or not melding.koppelsleutel:
        print(f"meldenNotificatie: {melding.resultaat} {melding.reden}".rstrip(), file=sys.stderr)
        return EXIT_FAILED
    with db.unit_of_work() as repo:
        SchoolRepository.of(repo).koppel(melding.koppelsleutel, brin=brin, pgn=pgn, now=_now())
    print(f"pupil {mask(pgn)} at {brin} announced to {args.doel_brin} (doel {args.doel}): koppelsleutel "
          f"{melding.koppelsleutel}")
    if not melding.endpoint:
        print("neither the OSR nor the TC names the target's notification endpoint: tell the target the koppelsleutel "
              "yourself", file=sys.stderr)
        return EXIT_FAILED
    resultaat, reden = client.notificeer(melding.endpoint, koppelsleutel=melding.koppelsleutel, bron_brin=brin,
                                         bron_routeringskenmerk=rk, doel_brin=args.doel_brin,
                                         doel_routeringskenmerk=args.doel_routeringskenmerk, doel=args.doel)
    print(f"notificatieRequest to {melding.endpoint}: {resultaat} {reden}".rstrip())
    return EXIT_OK if resultaat == "NotificatieOntvangen" else EXIT_FAILED


# ---- running a command -------------------------------------------------------------------------------------------

def _run(args) -> int:
    from ..dossier import BundleError
    from ..oso.register import RegisterError

    return run_on_database(args, f"school {args.school_command}", lambda db, config: args.school_op(db, config, args),
                           (SchoolError, RegisterError, BundleError),
                           readonly=args.school_op in (_lijst, _log))  # reading never makes a database


def add_parser(subparsers) -> None:
    """Add ``school`` and its commands to the ``oso-gateway`` parser's subparsers."""
    common = database_options("the gateway's TOML configuration (database_url, bundles_dir)")
    pupil = argparse.ArgumentParser(add_help=False)
    pupil.add_argument("--pgn", required=True, metavar="N", help="the pupil's BSN or onderwijsnummer")
    pupil.add_argument("--brin", help="the school (needed only when several schools hold a dossier for the pupil)")

    school = subparsers.add_parser("school", parents=[common],
                                   help="the reference source school: prepare dossiers, inzage, toestemming, log")
    do = school.add_subparsers(dest="school_command", required=True, metavar="ACTION")

    def command(name: str, op, help: str, parents=()):
        p = do.add_parser(name, parents=[common, *parents], help=help)
        p.set_defaults(func=_run, school_op=op)
        return p

    p = command("klaarzetten", _klaarzetten, "prepare a pupil's dossier from a file (any OSO dossier)")
    p.add_argument("--file", required=True, metavar="DOSSIER.xml", help="the dossier (an OSO leerlingdossier, XML)")
    p.add_argument("--pgn", metavar="N", help="the pupil's BSN or onderwijsnummer (default: the one in the dossier)")
    p.add_argument("--brin", help="the school (default: the dossier's huidigeschool/brincode)")
    p.add_argument("--verzameldatum", metavar="DATE", help="when it was gathered (default: the dossier's "
                   "metadata/datum)")
    p.add_argument("--geweigerd", action="store_true", help="prepare it, but withhold release (LeveringGeweigerd)")
    p = command("inzage", _inzage, "record the parents' inzage (PO-PO, PO-VO)", [pupil])
    p.add_argument("--datum", metavar="DATE", help="default today")
    p = command("toestemming", _toestemming, "record toestemming for the transfer (VO-VO)", [pupil])
    p.add_argument("--datum", metavar="DATE", help="default today")
    command("intrekken", _intrekken, "withdraw a prepared dossier", [pupil])
    p = command("weigeren", _weigeren, "withhold release of a prepared dossier", [pupil])
    p.add_argument("--opheffen", action="store_true", help="release it again")
    p = command("lijst", _lijst, "the prepared dossiers (PGNs masked)")
    p.add_argument("--brin", help="one school only")
    p = command("log", _log, "the documentRequests answered: who asked, when, what was released")
    p.add_argument("--sessie", metavar="ID", help="one session only")
    p.add_argument("--laatste", type=_positive, metavar="N", help="the newest N only (1 or more)")
    p = command("melden", _melden, "notify a target: a koppelsleutel from the TC, pushed to the target's notification "
                "endpoint (doel SWV: a dossier for a samenwerkingsverband; OV: an updated dossier)", [pupil])
    p.add_argument("--doel-brin", required=True, help="the target school's (or SWV's) BRIN")
    p.add_argument("--doel-routeringskenmerk", required=True, help="the target's aanleverpunt")
    p.add_argument("--doel", choices=("SWV", "OV"), default="SWV",
                   help="SWV (default): announce the dossier to a samenwerkingsverband; OV: tell the school that "
                        "fetched it (--sessie) that it was updated")
    p.add_argument("--sessie", metavar="ID", help="with --doel OV: the session in which the target fetched the "
                   "dossier (the release log has it)")
    p.add_argument("--routeringskenmerk", help="the school's own aanleverpunt (default: the one the register here "
                   "knows for the school at this gateway's vendor)")
    p = command("testleerlingen", _testleerlingen, "load the test school's pupils (TEST ONLY, synthetic dossiers)")
    p.add_argument("--extra", type=_extra, default=0, metavar="N",
                   help=f"generated pupils besides the fixed ones (0 to {MAX_EXTRA})")
    p.add_argument("--seed", type=int, default=0, help="which generated pupils (the same seed, the same pupils)")
