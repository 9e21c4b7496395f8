"""``oso-gateway bundles fetch | check``: the official OSO gegevensset bundle, pinned to one commit of Edustandaard's
repository (gateway/dossier/official.py), fetched into a bundles dir and checked against its pinned sha256s."""

from __future__ import annotations

import sys

from .common import EXIT_FAILURE, EXIT_NO, EXIT_OK, EXIT_USAGE


def _fetch(args) -> int:
    from ..dossier import official
    from ..dossier.bundles import FETCHED_DIR

    bundles_dir = args.dir if args.dir is not None else str(FETCHED_DIR)
    try:
        got = official.fetch(bundles_dir, args.archive, force=args.force, progress=lambda m: print(m, flush=True))
    except official.DownloadError as exc:
        print(f"bundles fetch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except official.OfficialError as exc:
        print(f"bundles fetch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the folder could be checked, but not written after all (nothing is left of it)
        print(f"bundles fetch: cannot write {bundles_dir}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    pinned = f"{len(official.MANIFEST)} files as pinned ({official.REPOSITORY} at {official.COMMIT[:12]})"
    if got.fetched:
        print(f"{got.path}: OSO gegevensset {official.VERSION}, {pinned}")
    else:
        print(f"{got.path} is already there and verifies: {pinned}; nothing fetched (--force fetches it again)")
    print(f"use it with --bundles {bundles_dir}, or bundles_dir = \"{bundles_dir}\" in the configuration"
          + ("; `oso-gateway validate` and `conformance` use it when none is given" if args.dir is None else ""))
    return EXIT_OK


def _check(args) -> int:
    from pathlib import Path

    from ..dossier import official
    from ..dossier.bundles import FETCHED_DIR

    bundles_dir = Path(args.dir if args.dir is not None else FETCHED_DIR)
    if not bundles_dir.is_dir():
        print(f"bundles check: {bundles_dir}: no such folder (`oso-gateway bundles fetch` makes it)", file=sys.stderr)
        return EXIT_USAGE
    try:
        problems = official.verify(bundles_dir)
    except OSError as exc:
        print(f"bundles check: {exc.filename or bundles_dir}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    folder = bundles_dir / official.VERSION
    pinned = f"{official.REPOSITORY} at {official.COMMIT[:12]}"
    if not problems:
        print(f"{folder}: all {len(official.MANIFEST)} files as pinned ({pinned})")
        return EXIT_OK
    for p in problems:
        print(f"{p.what}: {folder / p.path}")
    print(f"{folder}: {len(problems)} file{'s' if len(problems) != 1 else ''} not as pinned ({pinned}); "
          f"`oso-gateway bundles fetch --dir {bundles_dir} --force` fetches them again")
    return EXIT_NO


def add_parser(sub) -> None:
    b = sub.add_parser("bundles", help="the official dossier bundles: fetch them, check them",
                       description="The official OSO gegevensset bundle of Edustandaard (XSD and business-rule "
                                   "XSLTs), pinned to one commit of\nthe public repository "
                                   "edustandaard/oso-gegevensset and to the sha256 of each of its files.")
    b_sub = b.add_subparsers(dest="bundles_command", required=True, metavar="ACTION")
    f = b_sub.add_parser("fetch", help="download the pinned bundle and assemble it in a bundles dir",
                         description="Download the archive of the pinned commit (or read --archive), take from it "
                                     "every pinned file by its sha256,\nand put them in DIR/2019.1, laid out as the "
                                     "gateway reads them. Nothing is left behind when it fails.")
    f.add_argument("--dir", default=None,
                   help="the bundles dir to put it in (default: var/bundles, under the working folder)")
    f.add_argument("--archive", metavar="FILE_OR_URL", default=None,
                   help="read the commit's archive (.tar.gz) from this local file or http(s) URL, e.g. a mirror, "
                        "instead of GitHub")
    f.add_argument("--force", action="store_true",
                   help="replace DIR/2019.1 when it is already there (default: keep it when it verifies)")
    f.set_defaults(func=_fetch)
    c = b_sub.add_parser("check", help="compare a bundles dir with the pinned sha256s",
                         description="Compare every pinned file of DIR/2019.1 with its pinned sha256; exit status 1 "
                                     "when one is missing or differs,\nor when an XSD or XSLT is there that is not "
                                     "pinned.")
    c.add_argument("--dir", default=None,
                   help="the bundles dir to check (default: var/bundles, under the working folder)")
    c.set_defaults(func=_check)
