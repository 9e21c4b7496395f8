"""``oso-gateway conformance list | source | target``: the suite's commands (a module of gateway/commands)."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# --------------------------------------------------------------------------------------------------------- list
def _list(args) -> int:
    from ..conformance.catalogue import SCENARIOS, rule_text

    chosen = [s for s in SCENARIOS if args.role in (None, s.role)]
    if args.format == "rules":
        print(rules_table(chosen))
        return EXIT_OK
    if args.format == "markdown":
        print("| id | role | severity | rules | checks |\n|---|---|---|---|---|")
        for s in chosen:
            print(f"| `{s.id}` | {s.role} | {s.severity} | {', '.join(s.rules)} | {s.title} |")
        return EXIT_OK
    for s in chosen:
        print(f"{s.id}  [{s.role}, {s.severity.upper()}]  {s.title}")
        if args.verbose:
            for rule in s.rules:
                print(textwrap.fill(f"rule {rule}: {rule_text(rule)}", 110, initial_indent="    ",
                                    subsequent_indent="      "))
            for label, text in (("sends", s.sends), ("expects", s.expects), ("fix", s.fix)):
                print(textwrap.fill(f"{label}: {text}", 110, initial_indent="    ", subsequent_indent="      "))
        else:
            print(f"    rules: {', '.join(s.rules)}")
    print(f"\n{len(chosen)} scenarios ({sum(1 for s in chosen if s.severity == 'must')} must, "
          f"{sum(1 for s in chosen if s.severity == 'should')} should)")
    return EXIT_OK


def rules_table(scenarios) -> str:
    """Markdown: every rule the scenarios hold a vendor to, with the scenarios that judge it (by role)."""
    from ..conformance.catalogue import rule_text

    by_rule: dict[str, list] = {}
    for sc in scenarios:
        for rule in sc.rules:
            by_rule.setdefault(rule, []).append(sc)
    lines = ["| rule | what it asks | source scenarios | target scenarios |", "|---|---|---|---|"]
    for rule in sorted(by_rule, key=lambda r: (not r.startswith("OSO-"), r)):
        cells = [", ".join(f"`{sc.id}`" for sc in by_rule[rule] if sc.role == role) or "—"
                 for role in ("source", "target")]
        lines.append(f"| `{rule}` | {rule_text(rule)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ shared
class UsageError(Exception):
    pass


def _suite_credentials(args, workdir: Path, view) -> tuple[str, str, str | None]:
    """(cert, key, the CA file the vendor must trust, when the suite made its own TEST PKI)."""
    if args.cert or args.key:
        if not (args.cert and args.key):
            raise UsageError("--cert and --key go together")
        return args.cert, args.key, None
    from ..conformance.reference import OTHER_VENDOR_OIN, SUITE_OIN
    from ..pki import init_pki, issue

    folder = workdir / "suite-pki"
    if not (folder / "ca.pem").exists():
        init_pki(folder, gateway_name="conformance-suite", gateway_oin=SUITE_OIN, label="OSO Conformance Suite")
        issue(folder, "conformance-other", OTHER_VENDOR_OIN)  # another vendor, for OSO-BRON-ANDERE-LEVERANCIER
    return (str(folder / "conformance-suite.cert.pem"), str(folder / "conformance-suite.key.pem"),
            str(folder / "ca.pem"))


def _bad_certs(args, workdir: Path) -> dict:
    """Certificates of the suite's own TEST CA that a receiver must refuse (expired, not yet valid, revoked, not for
    signing), made once in its PKI; none when the suite signs with the vendor's --cert (their scenarios are then not
    applicable)."""
    from ..conformance.reference import BAD_CERT_FLAGS, SUITE_OIN
    from ..pki import issue
    from ..wsse import Credentials

    if getattr(args, "bad_certs", None):
        folder = Path(args.bad_certs)
        found = {kind: Credentials.from_files(folder / f"{kind}.cert.pem", folder / f"{kind}.key.pem")
                 for kind in BAD_CERT_FLAGS if (folder / f"{kind}.cert.pem").is_file()}
        if not found:
            raise UsageError(f"--bad-certs {folder}: no {', '.join(f'{k}.cert.pem' for k in BAD_CERT_FLAGS)} in it")
        return found
    folder = workdir / "suite-pki"
    if args.cert or not (folder / "ca.pem").exists():
        return {}
    out = {}
    for kind, flags in BAD_CERT_FLAGS.items():
        name = f"conformance-{kind}"
        if not (folder / f"{name}.cert.pem").exists():
            issue(folder, name, SUITE_OIN, **flags)
        out[kind] = Credentials.from_files(folder / f"{name}.cert.pem", folder / f"{name}.key.pem")
    return out


def _other_credentials(args, workdir: Path) -> tuple[str | None, str | None]:
    """A second trusted certificate of another OIN: --other-cert/--other-key, or the one of the suite's TEST PKI."""
    if getattr(args, "other_cert", None):
        return args.other_cert, args.other_key or args.other_cert
    folder = workdir / "suite-pki"
    if not args.cert and (folder / "conformance-other.cert.pem").exists():
        return str(folder / "conformance-other.cert.pem"), str(folder / "conformance-other.key.pem")
    return None, None


def _chain_key(args, workdir: Path, view):
    from ..oso.zoeksleutel import ChainKey

    if args.zoeksleutel_key:
        return ChainKey.from_file(args.zoeksleutel_key), args.zoeksleutel_key
    path = workdir / "zoeksleutel.key"
    if not path.exists():
        path.write_text(ChainKey.generate("conformance").to_text(), encoding="ascii")
        path.chmod(0o600)
    return ChainKey.from_file(path), str(path)


def _bundles(args):
    from ..dossier import load_bundles
    from ..dossier.bundles import default_bundles_dir

    candidates = [args.bundles] if args.bundles else [default_bundles_dir()]
    for c in candidates:
        if c and Path(c).is_dir():
            return load_bundles(c)
    if args.bundles:
        raise UsageError(f"--bundles {args.bundles}: no such folder")
    return None


def _check_vendor_cert(args) -> None:
    if not args.vendor_cert:
        return
    from cryptography import x509

    from ..wsse import TrustStore
    from ..wsse.errors import SecurityError

    cert = x509.load_pem_x509_certificate(Path(args.vendor_cert).read_bytes())
    try:
        oin = TrustStore.from_files(args.ca, args.crl).check(cert)
    except SecurityError as err:
        raise UsageError(f"--vendor-cert is not trusted with --ca/--crl: {err.rule}: {err.reason}") from None
    if oin != args.vendor_oin:
        raise UsageError(f"--vendor-cert carries OIN {oin}, not --vendor-oin {args.vendor_oin}")


def _write_reports(args, report, view) -> list[str]:
    from ..conformance.report import html_report, junit_xml

    written = []
    if args.junit:
        Path(args.junit).write_bytes(junit_xml(report))
        written.append(args.junit)
    if args.html:
        Path(args.html).write_text(html_report(report), encoding="utf-8")
        written.append(args.html)
    return written


def _view(args):
    from ..conformance.live import LiveView

    return LiveView(quiet=args.quiet)


def _check_args(args, role: str) -> None:
    """Everything the run needs, checked before anything is made or sent: the vendor's identifiers, the addresses,
    the report files, the ports the suite will listen on. UsageError naming the first that is wrong."""
    from urllib.parse import urlsplit

    from ..config import Config
    from ..oso import identifiers as ids
    from ..web.preflight import NotReady, check_port
    from .common import check_writable

    checks = [("--vendor-oin", args.vendor_oin, ids.is_oin, "20 digits"),
              ("--routeringskenmerk", args.routeringskenmerk, ids.is_routeringskenmerk, "20 digits or capitals"),
              ("--brin", args.brin, ids.is_brin, "two digits and two capitals, e.g. 12AB"),
              ("--vestiging", args.vestiging, ids.is_vestiging, "two digits, e.g. 00")]
    for option, value, valid, form in checks:
        if not valid(value):
            raise UsageError(f"{option} {value!r} is not {form}")
    urls = [("--endpoint", getattr(args, "endpoint", None)), ("--tc-public-url", getattr(args, "tc_public_url", None)),
            ("--public-url", getattr(args, "public_url", None))]
    for option, value in urls:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"{option} {value!r} is not an http:// or https:// address")
    for option, path in (("--junit", args.junit), ("--html", args.html)):
        if path:
            try:
                check_writable(path)
            except OSError as exc:
                raise UsageError(f"{option} {path} cannot be written: {exc.strerror or exc}") from None
    bad = getattr(args, "bad_certs", None)
    if bad and not Path(bad).is_dir():
        raise UsageError(f"--bad-certs {bad}: no such folder")
    for option in ("cert", "key", "ca", "crl", "vendor_cert", "zoeksleutel_key", "other_cert",
                   "other_key", "tls_client_cert", "tls_client_key", "tls_ca", "tc_tls_cert", "tc_tls_key",
                   "tls_cert", "tls_key"):
        path = getattr(args, option, None)
        if path and not Path(path).is_file():
            raise UsageError(f"--{option.replace('_', '-')} {path}: no such file")
    from ..conformance.catalogue import for_role

    ids = {sc.id for sc in for_role(role)}
    for waived in args.waive:
        if waived not in ids:
            raise UsageError(f"--waive {waived}: no scenario of the {role} role has that id "
                             f"(`oso-gateway conformance list --role {role}` lists them)")
    host, port = (args.tc_host, args.tc_port) if role == "source" else (args.host, args.port)
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port} is not from 1 to 65535")
    try:
        check_port(Config(host=host, port=port))
    except NotReady as exc:
        raise UsageError(str(exc)) from None


def _workdir(args) -> Path:
    folder = Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ------------------------------------------------------------------------------------------------------ source
def _source(args) -> int:
    from ..conformance.serving import TlsSettings
    from ..conformance.source import PreflightFailed, SourceOptions, SourceSuite, TestPupils

    view = _view(args)
    try:
        _check_args(args, "source")
        workdir = _workdir(args)
        _check_vendor_cert(args)
        cert, key, suite_ca = _suite_credentials(args, workdir, view)
        chain_key, key_path = _chain_key(args, workdir, view)
        pupils = TestPupils(zonder_inzage=args.pupil_zonder_inzage, zonder_toestemming=args.pupil_zonder_toestemming)
        options = SourceOptions(
            endpoint=args.endpoint, vendor_oin=args.vendor_oin, routeringskenmerk=args.routeringskenmerk,
            brin=args.brin, vestiging=args.vestiging, sector=args.sector, cert=cert, key=key, ca=args.ca,
            crl=args.crl, chain_key=chain_key, workdir=workdir, bundles=_bundles(args), pupils=pupils,
            tc_host=args.tc_host, tc_port=args.tc_port, tc_public_url=args.tc_public_url,
            tc_tls=TlsSettings(args.tc_tls_cert, args.tc_tls_key, args.ca) if args.tc_tls_cert else None,
            tls_client_cert=args.tls_client_cert, tls_client_key=args.tls_client_key, tls_ca=args.tls_ca,
            waived=frozenset(args.waive), suite_ca=suite_ca)
        options.other_cert, options.other_key = _other_credentials(args, workdir)
        options.bad_certs = _bad_certs(args, workdir)
        suite = SourceSuite(options, view)
    except (UsageError, ValueError, OSError) as exc:
        print(f"conformance source: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        tc_url = suite.start()
        view.say(f"The suite's Traffic Center: [bold]{tc_url}[/] — configure it as your aanleverpunt's TC "
                 "(sessiecontrole).")
        view.say(f"The suite's OSR-style register: [bold]{suite.osr_url}[/] — it names the vendor of each of the "
                 "suite's doel aanleverpunten (a documentRequest counts only when that vendor signed it).")
        view.say(f"The suite signs as OIN {suite.creds.oin}" + (f" with a TEST certificate: trust {suite_ca} "
                                                                 f"with the CRLs of {Path(suite_ca).parent / 'crl.pem'}"
                                                                 if suite_ca else "") + ".")
        view.say(f"Chain key for the zoeksleutel: {key_path}")
        if args.wait:
            view.say(f"Waiting {args.wait} s before the first request …")
            time.sleep(args.wait)
        report = suite.run()
    except PreflightFailed as exc:
        view.end()
        print(f"conformance source: preflight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        suite.close()
    written = _write_reports(args, report, view)
    view.summary(report, written)
    return report.exit_code


# ------------------------------------------------------------------------------------------------------ target
def _target(args) -> int:
    from ..conformance.source import PreflightFailed

    try:
        from ..conformance.target import TargetOptions, TargetSuite
    except ImportError as exc:  # pragma: no cover - the target role needs the reference school
        print(f"conformance target: not available ({exc})", file=sys.stderr)
        return EXIT_USAGE
    from ..conformance.serving import TlsSettings

    view = _view(args)
    try:
        _check_args(args, "target")
        workdir = _workdir(args)
        _check_vendor_cert(args)
        cert, key, suite_ca = _suite_credentials(args, workdir, view)
        chain_key, key_path = _chain_key(args, workdir, view)
        options = TargetOptions(
            vendor_oin=args.vendor_oin, routeringskenmerk=args.routeringskenmerk, brin=args.brin,
            vestiging=args.vestiging, sector=args.sector, cert=cert, key=key, ca=args.ca, crl=args.crl,
            chain_key=chain_key, chain_key_path=key_path, workdir=workdir, bundles=_bundles(args),
            host=args.host, port=args.port, public_url=args.public_url,
            tls=TlsSettings(args.tls_cert, args.tls_key, args.ca) if args.tls_cert else None,
            timeout_s=args.timeout, surfaced=args.surfaced, max_attempts=args.max_attempts,
            waived=frozenset(args.waive))
        suite = TargetSuite(options, view)
    except (UsageError, ValueError, OSError) as exc:
        print(f"conformance target: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        suite.start()
        view.say(f"The suite signs as OIN {suite.creds.oin}" + (f" with a TEST certificate: trust {suite_ca}"
                                                                 if suite_ca else "") + ".")
        view.say(f"Chain key for the zoeksleutel: {key_path}")
        view.say(suite.instructions())
        report = suite.run()
    except PreflightFailed as exc:
        view.end()
        print(f"conformance target: preflight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        suite.close()
    written = _write_reports(args, report, view)
    view.summary(report, written)
    return report.exit_code


# --------------------------------------------------------------------------------------------------- reference
def _reference(args) -> int:
    """The whole suite against our own reference source and target, in this process."""
    from ..conformance.reference import reference_pki, run_source, run_target
    from ..conformance.report import html_report, junit_xml
    from ..dossier.bundles import default_bundles_dir

    view = _view(args)
    try:
        bundles = _bundles(args)
        if args.reports:
            from .common import check_writable

            Path(args.reports).mkdir(parents=True, exist_ok=True)
            check_writable(str(Path(args.reports) / "source.html"))
        workdir = _workdir(args)
        pki = reference_pki(workdir / "pki")
    except (UsageError, ValueError, OSError) as exc:
        print(f"conformance reference: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bundles_dir = str(args.bundles or default_bundles_dir() or "")
    if bundles is None:
        view.say("No official dossier bundles (--bundles, or `oso-gateway bundles fetch`): OSO-BRON-DOSSIER-VALID "
                 "cannot be judged and the source role will be INCOMPLETE.", style="yellow")
    reports = []
    for role in (("source", "target") if args.role == "both" else (args.role,)):
        view.say(f"[bold]Role {role}[/]: the suite against our reference {role} …")
        if role == "source":
            report = run_source(workdir / "source", pki, bundles=bundles, bundles_dir=bundles_dir, view=view)
        else:
            report = run_target(workdir / "target", pki, bundles=bundles, view=view)
        written = []
        if args.reports:
            for name, data in ((f"{role}.junit.xml", junit_xml(report)),
                               (f"{role}.html", html_report(report).encode("utf-8"))):
                (Path(args.reports) / name).write_bytes(data)
                written.append(str(Path(args.reports) / name))
        view.summary(report, written)
        reports.append(report)
    for report in reports:
        print(f"{report.role}: {report.headline}")
    return EXIT_OK if all(r.exit_code == 0 for r in reports) else EXIT_FAILED


# ------------------------------------------------------------------------------------------------------ parser
def _common(p, *, vendor_side: str) -> None:
    p.add_argument("--vendor-oin", required=True, help="the OIN of the vendor's certificate (subject.serialNumber)")
    p.add_argument("--routeringskenmerk", required=True, help=f"the vendor's {vendor_side} aanleverpunt")
    p.add_argument("--brin", required=True, help="the BRIN of the vendor's school under test")
    p.add_argument("--vestiging", default="00", help="the vestiging of that school (default 00)")
    p.add_argument("--sector", default="PO", choices=("PO", "VO", "SWV"), help="the sector of that school")
    p.add_argument("--cert", help="the suite's signing certificate (PEM; default: a TEST PKI the suite makes in "
                   "--workdir, whose CA the vendor must trust)")
    p.add_argument("--key", help="the suite's private key (PEM)")
    p.add_argument("--ca", required=True, help="trust anchors for the vendor's certificate (root and intermediate "
                   "CA certificates, PEM)")
    p.add_argument("--crl", help="CRLs of those CAs (PEM)")
    p.add_argument("--vendor-cert", help="the vendor's certificate: checked against --ca/--crl and --vendor-oin "
                   "before anything is sent")
    p.add_argument("--zoeksleutel-key", help="the chain key (kid:base64) both sides compute zoeksleutels with "
                   "(default: one the suite makes in --workdir)")
    p.add_argument("--bundles", help="folder of official dossier bundles, one subfolder per standaardversie")
    p.add_argument("--workdir", default="var/conformance", help="where the suite keeps its TC database and PKI")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--quiet", action="store_true", help="no live view (the exit code still tells)")
    p.add_argument("--waive", action="append", default=[], metavar="ID", help="accept that this must scenario "
                   "is not applicable (repeatable); without it a must that could not be judged makes the run "
                   "INCOMPLETE (exit 1)")


def add_parser(subparsers) -> None:
    conf = subparsers.add_parser("conformance", help="test a vendor's source or target against the chain's rules "
                                 "(exit 0 only when every must holds)")
    sub = conf.add_subparsers(dest="conformance_command", required=True, metavar="ACTION")

    lst = sub.add_parser("list", help="the scenario catalogue")
    lst.add_argument("--role", choices=("source", "target"), help="the scenarios of one role only")
    lst.add_argument("--format", choices=("text", "markdown", "rules"), default="text",
                     help="text (default), a markdown table of the scenarios, or 'rules': a markdown table of every "
                     "rule with the scenarios that judge it")
    lst.add_argument("-v", "--verbose", action="store_true", help="also the rule texts, what is sent and expected, "
                     "and how to fix a failure")
    lst.set_defaults(func=_list)

    ref = sub.add_parser("reference", help="the whole suite against the gateway's own reference source and target, "
                         "in this process: what a passing run looks like (exit 0 only when both pass)")
    ref.add_argument("--role", choices=("source", "target", "both"), default="both", help="which role (default both)")
    ref.add_argument("--bundles", help="folder of official dossier bundles (default: the gateway's bundles folder)")
    ref.add_argument("--workdir", default="var/conformance-reference", help="where the run keeps its TEST PKI and "
                     "databases")
    ref.add_argument("--reports", metavar="DIR", help="write <role>.junit.xml and <role>.html there")
    ref.add_argument("--quiet", action="store_true", help="no live view (the last lines and the exit code still tell)")
    ref.set_defaults(func=_reference)

    src = sub.add_parser("source", help="the suite plays target and Traffic Center; drives your documentRequest "
                         "endpoint")
    src.add_argument("--endpoint", required=True, help="your aanleverpunt's documentRequest URL (its wsa:To)")
    _common(src, vendor_side="source")
    src.add_argument("--tls-client-cert", help="the suite's TLS client certificate towards an https endpoint")
    src.add_argument("--tls-client-key", help="its private key (PEM)")
    src.add_argument("--tls-ca", help="CAs of your TLS server certificate (default: --ca)")
    src.add_argument("--tc-host", default="127.0.0.1", help="where the suite's TC listens")
    src.add_argument("--tc-port", type=int, default=8470, help="the port of the suite's TC (default 8470)")
    src.add_argument("--tc-public-url", help="the TC's address as your system reaches it (default: http://host:port)")
    src.add_argument("--tc-tls-cert", help="serve the suite's TC over two-way TLS with this certificate")
    src.add_argument("--tc-tls-key", help="its private key (PEM)")
    src.add_argument("--other-cert", help="a second certificate your system trusts, of another OIN (another "
                     "vendor): for OSO-BRON-ANDERE-LEVERANCIER (default: the suite's own TEST PKI has one)")
    src.add_argument("--other-key", help="its private key (PEM; default: in --other-cert's file)")
    src.add_argument("--bad-certs", metavar="DIR", help="certificates of a CA your system trusts that it must "
                     "refuse, with their keys: expired, not-yet-valid, revoked, no-signing, no-oin (<kind>.cert.pem, "
                     "<kind>.key.pem); default: made in the suite's own TEST PKI (none with --cert)")
    src.add_argument("--pupil-zonder-inzage", metavar="BSN", help="a pupil whose PO dossier is ready, no inzage")
    src.add_argument("--pupil-zonder-toestemming", metavar="BSN", help="a pupil whose VO-VO dossier is ready, no "
                     "toestemming")
    src.add_argument("--wait", type=float, default=0, help="seconds to wait after the TC is up, before the first "
                     "request")
    src.set_defaults(func=_source)

    tgt = sub.add_parser("target", help="the suite plays Traffic Center and test school; grades the transfers your "
                         "target runs")
    _common(tgt, vendor_side="target")
    tgt.add_argument("--host", default="127.0.0.1", help="where the suite's TC and test school listen")
    tgt.add_argument("--port", type=int, default=8471, help="their port (default 8471)")
    tgt.add_argument("--public-url", help="their address as your system reaches it (default: http://host:port)")
    tgt.add_argument("--tls-cert", help="serve over two-way TLS with this certificate (client certificates from --ca)")
    tgt.add_argument("--tls-key", help="its private key (PEM)")
    tgt.add_argument("--timeout", type=float, default=600, help="seconds to wait for your transfers (default 600)")
    tgt.add_argument("--max-attempts", type=int, default=4, help="attempts allowed on the TC's Fault (default 4)")
    tgt.add_argument("--surfaced", metavar="FILE", help="what your system showed the school for the run (a log or "
                     "export), for OSO-DOEL-FINDINGS-SURFACED")
    tgt.set_defaults(func=_target)
