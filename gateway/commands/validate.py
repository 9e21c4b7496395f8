"""``oso-gateway validate FILE… [--bundles DIR] [--config FILE] [--format text|json]``.

Exit status (the CLI's table): 0 every file is valid; 1 at least one is not valid; 2 at least one could not be
validated (unreadable, no bundles, or no bundle fits it: its gateway findings are still printed). The worst file
decides. The bundles: ``--bundles``, else the configuration's ``bundles_dir`` (environment
``OSO_GATEWAY_BUNDLES_DIR``), else the folder ``oso-gateway bundles fetch`` fills.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import EXIT_NO, EXIT_OK, EXIT_USAGE

EXIT_VALID, EXIT_INVALID, EXIT_CANNOT = EXIT_OK, EXIT_NO, EXIT_USAGE


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="validate OSO dossiers: the Edustandaard XSD and business rules, plus the gateway's checks",
        description="Validate OSO dossiers against the official Edustandaard bundle of their standaardversie "
        "(XSD + business-rule XSLT) and the gateway's own checks (safe parsing, identity, release, attachments). "
        "Exit 0: all valid; 1: some not valid; 2: some could not be validated (unreadable, no bundles, or no "
        "bundle fits).")
    p.add_argument("files", nargs="+", metavar="FILE", help="a dossier ('-': stdin)")
    p.add_argument("--bundles", metavar="DIR", default=None,
                   help="the bundles: one folder per standaardversie (default: the configuration's bundles_dir, "
                        "environment OSO_GATEWAY_BUNDLES_DIR, else what `oso-gateway bundles fetch` fetched)")
    p.add_argument("--config", metavar="FILE", help="TOML file (environment: OSO_GATEWAY_<SETTING>), for bundles_dir")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text (default), or one JSON document with every finding")
    p.add_argument("--test-school", action="store_true",
                   help="accept the BSNs of Kennisnet's test school 00YY (127095823, 127095824, 127095825), which "
                   "fail the elfproef, in dossiers from that school (reported as info)")
    p.set_defaults(func=run)


def _exit_for(status: str) -> int:
    return {"valid": EXIT_VALID, "invalid": EXIT_INVALID}.get(status, EXIT_CANNOT)


def run(args) -> int:
    from ..dossier.bundles import BundleError, load_bundles
    from ..dossier.identity import KENNISNET_TEST_SCHOOL, IdentityPolicy
    from ..dossier.validate import DEFAULT_POLICY, DossierPolicy, validate

    policy = DEFAULT_POLICY
    if args.test_school:
        policy = DossierPolicy(identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,)))
    from ..config import ConfigError, load_config
    from ..dossier.bundles import default_bundles_dir

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bundles_dir = args.bundles or config.bundles_dir or default_bundles_dir()
    registry = None
    setup_problem = None
    if bundles_dir:
        try:
            registry = load_bundles(bundles_dir)
        except BundleError as exc:
            setup_problem = f"cannot use the bundles dir: {exc}"
    else:
        setup_problem = ("no bundles: --bundles DIR, the configuration's bundles_dir, or `oso-gateway bundles fetch` "
                         "(the official ones, from Edustandaard)")

    results = []
    worst = EXIT_VALID
    for name in args.files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            results.append({"file": name, "status": "unreadable", "problem": exc.strerror or str(exc)})
            worst = max(worst, EXIT_CANNOT)
            continue
        try:
            report = validate(data, registry, policy=policy)
        except BundleError as exc:  # a bundle folder that does not compile
            results.append({"file": name, "status": "cannot-validate", "problem": str(exc)})
            worst = max(worst, EXIT_CANNOT)
            continue
        entry = {"file": name, **report.to_dict()}
        if report.problem and setup_problem and registry is None:
            entry["problem"] = setup_problem
        results.append(entry)
        worst = max(worst, _exit_for(report.status))

    if args.format == "json":
        json.dump({"exit": worst, "files": results}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for entry in results:
            _print_text(entry)
    return worst


_LABEL = {"valid": "VALID", "invalid": "NOT VALID", "cannot-validate": "CANNOT VALIDATE", "unreadable": "UNREADABLE"}


def _print_text(entry: dict) -> None:
    out = sys.stdout
    status = entry["status"]
    head = f"{entry['file']}: {_LABEL.get(status, status.upper())}"
    if entry.get("bundle"):
        head += f" (bundle {entry['bundle']}, {entry.get('profile')} rules)"
    counts = entry.get("counts")
    if counts:
        head += f" — {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
    out.write(head + "\n")
    if entry.get("problem"):
        out.write(f"  {entry['problem']}\n")
    for source, findings in (entry.get("findings") or {}).items():
        if not findings:
            continue
        out.write(f"  {source} ({len(findings)})\n")
        for f in findings:
            where = f" at {f['location']}" if f.get("location") else ""
            doc = f" [document {f['document']!r}]" if f.get("document") else ""
            rule = f" {f['rule']}" if f.get("rule") else ""
            out.write(f"    {f['severity'].upper()}{rule}{doc}{where}: {f['text']}\n")
