"""The ``oso-gateway`` command: parses arguments, calls the rooms of the package, prints, sets the exit code."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .cli_common import iso_time, load_trust, message_check_options, read_input

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _pki_init(args) -> int:
    from .pki import DEFAULT_GATEWAY_OIN, PkiError, init_pki

    try:
        gw = init_pki(args.dir, gateway_oin=args.oin or DEFAULT_GATEWAY_OIN)
    except (PkiError, FileExistsError) as exc:
        print(f"pki init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    d = Path(args.dir)
    print(f"test PKI (TEST ONLY) in {d}: ca.pem, crl.pem, {gw.cert_path.name}, {gw.key_path.name} (OIN {gw.oin})")
    return EXIT_OK


def _pki_issue(args) -> int:
    from .pki import PkiError, issue

    try:
        party = issue(args.dir, args.name, args.oin, expired=args.expired, not_yet_valid=args.not_yet_valid,
                      revoked=args.revoked, no_digital_signature=args.no_digital_signature,
                      untrusted=args.untrusted, key_size=args.key_size)
    except (PkiError, FileExistsError, FileNotFoundError) as exc:
        print(f"pki issue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{party.cert_path}\n{party.key_path}")
    return EXIT_OK


def _sign(args) -> int:
    from .wsse import Credentials, parse_untrusted, sign_envelope
    from .wsse.errors import SecurityError
    from .wsse.faults import FAULT_ACTION

    try:
        creds = Credentials.from_files(args.cert, args.key)
        data = read_input(args.file)
        if args.response_to:
            from .wsse import ns

            request = parse_untrusted(Path(args.response_to).read_bytes())
            mid = request.find(f"{{{ns.SOAP11}}}Header/{{{ns.WSA}}}MessageID")
            sv = request.find(f".//{{{ns.DS}}}SignatureValue")
            if mid is None or sv is None:
                print("sign: --response-to needs a signed request (wsa:MessageID and ds:SignatureValue)",
                      file=sys.stderr)
                return EXIT_USAGE
            root = parse_untrusted(data)
            is_fault = root.find(f"{{{ns.SOAP11}}}Body/{{{ns.SOAP11}}}Fault") is not None
            action = args.action or (FAULT_ACTION if is_fault else None)
            if not action:
                print("sign: --action is required", file=sys.stderr)
                return EXIT_USAGE
            signed = sign_envelope(root, creds, action=action, relates_to=mid.text.strip(),
                                   confirmation="".join(sv.text.split()), to=args.to)
        else:
            if not (args.to and args.action):
                print("sign: a request needs --to and --action", file=sys.stderr)
                return EXIT_USAGE
            signed = sign_envelope(data, creds, to=args.to, action=args.action, from_oin=creds.oin)
    except (OSError, ValueError, SecurityError) as exc:
        print(f"sign: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.buffer.write(signed.to_bytes())
    return EXIT_OK


def _verify(args) -> int:
    from datetime import timedelta

    from .wsse import Policy, verify
    from .wsse.errors import SecurityError

    trust = load_trust("verify", args.ca, args.crl)
    if trust is None:
        return EXIT_USAGE
    try:
        at = iso_time(args.at)
    except ValueError:
        print("verify: --at takes an ISO 8601 time, e.g. 2026-11-28T12:00:00Z", file=sys.stderr)
        return EXIT_USAGE
    policy = Policy(endpoint=args.to, clock_skew=timedelta(seconds=args.skew))
    worst = EXIT_OK
    for name in args.files:
        try:
            data = read_input(name)
        except OSError as exc:
            print(f"{name}: UNREADABLE {exc.strerror}")
            worst = max(worst, EXIT_USAGE)
            continue
        try:
            vm = verify(data, policy=policy, trust=trust, soap_action=args.soap_action, now=at)
        except SecurityError as err:
            code = f"{{{err.faultcode[0]}}}{err.faultcode[1]}".rsplit("}", 1)[1]
            dk = f" Digikoppeling {err.dk_code}" if err.dk_code else ""
            print(f"{name}: INVALID {err.rule} [{code}{dk}] {err.reason}")
            worst = max(worst, EXIT_INVALID)
            continue
        print(f"{name}: VALID signer OIN {vm.oin}, action {vm.action}, MessageID {vm.message_id}, "
              f"signed {vm.created.isoformat()}")
    return worst


def _serve(args) -> int:
    from .config import ConfigError, load_config
    from .web.server import serve

    try:
        config = load_config(args.config, host=args.host, port=args.port, workers=args.workers)
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return serve(config, dev=args.dev)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oso-gateway", description="OSO gateway: Traffic Center, WUS security, tools.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pki = sub.add_parser("pki", help="a PKIoverheid-shaped TEST PKI (never for production)")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True, metavar="ACTION")
    init = pki_sub.add_parser("init", help="root CA, issuing CA, CRL, and the gateway's certificate + key")
    init.add_argument("--dir", required=True)
    init.add_argument("--oin", default=None, help="the gateway's OIN (default: the test OIN)")
    init.set_defaults(func=_pki_init)
    iss = pki_sub.add_parser("issue", help="a party certificate with its OIN in subject.serialNumber")
    iss.add_argument("--dir", required=True)
    iss.add_argument("--name", required=True)
    iss.add_argument("--oin", required=True)
    iss.add_argument("--key-size", type=int, default=2048)
    flags = iss.add_mutually_exclusive_group()
    flags.add_argument("--expired", action="store_true")
    flags.add_argument("--not-yet-valid", action="store_true")
    iss.add_argument("--revoked", action="store_true", help="also put it on the CRL (crl.pem is rewritten)")
    iss.add_argument("--no-digital-signature", action="store_true")
    iss.add_argument("--untrusted", action="store_true", help="issue from a separate CA that ca.pem does not hold")
    iss.set_defaults(func=_pki_issue)

    sign = sub.add_parser("sign", help="sign an unsigned SOAP 1.1 envelope per WUS 2W-be-S (stdout)")
    sign.add_argument("file", nargs="?", help="the envelope (default: stdin)")
    sign.add_argument("--cert", required=True)
    sign.add_argument("--key", required=True)
    sign.add_argument("--to", help="wsa:To (required for a request)")
    sign.add_argument("--action", help="wsa:Action (required for a request)")
    sign.add_argument("--response-to", metavar="REQUEST", help="sign a response to this signed request")
    sign.set_defaults(func=_sign)

    ver = sub.add_parser("verify", help="verify signed messages; prints every verdict with its rule id")
    ver.add_argument("files", nargs="+", metavar="FILE")
    message_check_options(ver, ca_required=True, ca_help="PEM file with the root and intermediate CA certificates",
                          to_help="require wsa:To to be this address")
    ver.set_defaults(func=_verify)

    srv = sub.add_parser("serve", help="run the gateway (WSGI server, several worker processes)")
    srv.add_argument("--config", help="TOML file (environment: OSO_GATEWAY_<SETTING>)")
    srv.add_argument("--dev", action="store_true",
                     help="development: make a test PKI under var/ when there is none, plain HTTP on loopback")
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.add_argument("--workers", type=int)
    srv.set_defaults(func=_serve)
    _add_room_commands(sub)
    return p


def _add_room_commands(sub) -> None:
    """Rooms that own their commands add them here (each imports only what its parser needs)."""
    from .dossier.cli import add_parser as add_validate
    from .store.register_cli import add_parser as add_register

    add_validate(sub)
    add_register(sub)
    # the servicedesk: trace, diagnose, purge, operator (gateway/servicedesk/cli.py)
    from .servicedesk.cli import add_parser as add_servicedesk

    add_servicedesk(sub)
    # the reference source: `school …` (gateway/school/cli.py)
    from .school.cli import add_parser as add_school

    add_school(sub)
    # the reference target: `transfer` and `demo` (gateway/client/cli.py)
    from .client.cli import add_parser as add_target

    add_target(sub)
    # the conformance suite: `conformance list | source | target` (gateway/conformance/cli.py)
    from .conformance.cli import add_parser as add_conformance

    add_conformance(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
