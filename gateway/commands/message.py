"""``oso-gateway sign``, ``verify`` and ``diagnose``: raw SOAP messages signed, or judged, per the WUS profile and the
contract."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import EXIT_NO, EXIT_OK, EXIT_USAGE, iso_time, load_trust, message_check_options, read_input


def _request_of(command: str, path: str) -> tuple[str, str] | None:
    """(wsa:MessageID, ds:SignatureValue) of the signed request in file ``path`` (``--response-to``), or None after
    one line on stderr."""
    from ..wsse import ns, parse_untrusted
    from ..wsse.errors import SecurityError

    try:
        root = parse_untrusted(Path(path).read_bytes())
    except OSError as exc:
        print(f"{command}: cannot read --response-to {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    except SecurityError as err:
        print(f"{command}: --response-to {path} is not a signed request: {err.rule}: {err.reason}", file=sys.stderr)
        return None
    header = f"{{{ns.SOAP11}}}Header"
    if root.find(f"{header}/{{{ns.WSA}}}RelatesTo") is not None:
        print(f"{command}: --response-to {path} is itself a response (it carries wsa:RelatesTo): give the request",
              file=sys.stderr)
        return None
    ids = root.findall(f"{header}/{{{ns.WSA}}}MessageID")
    values = root.findall(f"{header}/{{{ns.WSSE}}}Security/{{{ns.DS}}}Signature/{{{ns.DS}}}SignatureValue")
    message_id = (ids[0].text or "").strip() if len(ids) == 1 and not len(ids[0]) else ""
    signature_value = "".join((values[0].text or "").split()) if len(values) == 1 else ""
    if not (message_id and signature_value):
        print(f"{command}: --response-to {path} is not a signed request (it needs one wsa:MessageID and one "
              "ds:SignatureValue)", file=sys.stderr)
        return None
    return message_id, signature_value


def _sign(args) -> int:
    from ..wsse import Credentials, parse_untrusted, sign_envelope
    from ..wsse.errors import SecurityError
    from ..wsse.faults import FAULT_ACTION

    try:
        creds = Credentials.from_files(args.cert, args.key)
        data = read_input(args.file)
        if args.response_to:
            from ..wsse import ns

            request = _request_of("sign", args.response_to)
            if request is None:
                return EXIT_USAGE
            root = parse_untrusted(data)
            is_fault = root.find(f"{{{ns.SOAP11}}}Body/{{{ns.SOAP11}}}Fault") is not None
            action = args.action or (FAULT_ACTION if is_fault else None)
            if not action:
                print("sign: --action is required", file=sys.stderr)
                return EXIT_USAGE
            signed = sign_envelope(root, creds, action=action, relates_to=request[0], confirmation=request[1],
                                   to=args.to)
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


NO_CRL = "revocation NOT checked (no --crl)"
NO_REQUEST = "RelatesTo and SignatureConfirmation NOT checked: give --response-to REQUEST"


def _kind_of(data: bytes, bound: bool) -> str:
    """How a message is judged: as the response to ``--response-to``, as a response without its request (it carries
    wsa:RelatesTo), or as a request. Bytes that cannot be read are judged as a request (the verdict says why)."""
    from ..wsse import parse_untrusted
    from ..wsse.diagnose import REQUEST, kind_of
    from ..wsse.errors import SecurityError

    if bound:
        return kind_of(None, bound=True)
    try:
        return kind_of(parse_untrusted(data), bound=False)
    except SecurityError:
        return REQUEST


def _verify_one(data: bytes, kind: str, request: tuple[str, str] | None, policy, trust, soap_action, at):
    """The VerifiedMessage of one message judged as ``kind``, or a SecurityError raised."""
    from .. import contracts
    from ..wsse import ns, verify, verify_response
    from ..wsse.checks import check_to
    from ..wsse.diagnose import REQUEST, RESPONSE, UNBOUND_RESPONSE
    from ..wsse.errors import AddressingError
    from ..wsse.verify import verify_response_without_request

    if kind == RESPONSE:
        vm = verify_response(data, request_message_id=request[0], request_signature_value=request[1],
                             policy=policy, trust=trust, now=at)
    elif kind == UNBOUND_RESPONSE:
        vm = verify_response_without_request(data, policy=policy, trust=trust, now=at)
    else:
        vm = verify(data, policy=policy, trust=trust, soap_action=soap_action, now=at)
    # a response may leave wsa:To out or make it anonymous; one that names an address must name --to's
    if kind != REQUEST and vm.to is not None and vm.to.split("?", 1)[0] != ns.WSA_ANONYMOUS:
        check_to(vm.to, policy)
    # as the gateway answers it: the Action must be an operation of the contract whose request (or response) the
    # Body is (a Fault answers any operation)
    if not vm.is_fault:
        problem = contracts.action_mismatch(vm.action, vm.body.tag if vm.body is not None else None)
        if problem is not None:
            raise AddressingError("WSA-ACTION", problem, dk_code="0006")
    return vm


def _one_stdin(command: str, files: list[str]) -> bool:
    """stdin can be read once: '-' at most once among the files (else one line on stderr)."""
    if files.count("-") > 1:
        print(f"{command}: '-' (stdin) can be given once", file=sys.stderr)
        return False
    return True


def _verify(args) -> int:
    from datetime import timedelta

    from ..wsse import Policy
    from ..wsse.diagnose import REQUEST, RESPONSE, UNBOUND_RESPONSE
    from ..wsse.errors import SecurityError

    if not _one_stdin("verify", args.files):
        return EXIT_USAGE
    trust = load_trust("verify", args.ca, args.crl)
    if trust is None:
        return EXIT_USAGE
    request = None
    if args.response_to is not None:
        request = _request_of("verify", args.response_to)
        if request is None:
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
        kind = _kind_of(data, request is not None)
        notes = ([NO_REQUEST] if kind == UNBOUND_RESPONSE else []) + ([] if trust.has_crls else [NO_CRL])
        tail = "".join(f"; {note}" for note in notes)
        try:
            vm = _verify_one(data, kind, request, policy, trust, args.soap_action, at)
        except SecurityError as err:
            code = err.faultcode[1]
            dk = f" Digikoppeling {err.dk_code}" if err.dk_code else ""
            judged = "" if kind == REQUEST else " (judged as a response)"
            print(f"{name}: INVALID {err.rule} [{code}{dk}] {err.reason}{judged}{tail}")
            worst = max(worst, EXIT_NO)
            continue
        what = "Fault" if vm.is_fault else "response"
        if kind == RESPONSE:
            head = f"VALID {what} to {request[0]}, "
        elif kind == UNBOUND_RESPONSE:
            head = f"VALID {what} (RelatesTo {vm.relates_to}), "
        else:
            head = "VALID "
        print(f"{name}: {head}signer OIN {vm.oin}, action {vm.action}, MessageID {vm.message_id}, "
              f"signed {vm.created.isoformat()}{tail}")
    return worst


def _diagnose(args) -> int:
    from ..servicedesk.diagnose import render, run

    if not _one_stdin("diagnose", args.files):
        return EXIT_USAGE
    try:
        at = iso_time(args.at)
    except ValueError:
        print("diagnose: --at takes an ISO 8601 time, e.g. 2026-11-28T12:00:00Z", file=sys.stderr)
        return EXIT_USAGE
    trust = None
    if args.ca:
        trust = load_trust("diagnose", args.ca, args.crl)
        if trust is None:
            return EXIT_USAGE
    elif args.crl is not None:
        print("diagnose: --crl needs --ca (the CAs whose CRLs they are)", file=sys.stderr)
        return EXIT_USAGE
    request = (None, None)
    if args.response_to is not None:
        request = _request_of("diagnose", args.response_to)
        if request is None:
            return EXIT_USAGE
    worst = EXIT_OK
    for i, name in enumerate(args.files):
        try:
            data = read_input(name)
        except OSError as exc:
            print(f"{name}: UNREADABLE {exc.strerror}")
            worst = max(worst, EXIT_USAGE)
            continue
        report = run(data, trust=trust, at=at, to=args.to, soap_action=args.soap_action, skew_s=args.skew,
                     request_message_id=request[0], request_signature_value=request[1])
        if i:
            print()
        print("\n".join(render(name, report)))
        if report.failures or report.diagnosis.verdict is not None:
            worst = max(worst, EXIT_NO)
    return worst


def add_parser(sub) -> None:
    sign = sub.add_parser("sign", help="sign an unsigned SOAP 1.1 envelope per WUS 2W-be-S (stdout)")
    sign.add_argument("file", nargs="?", help="the envelope (default: stdin)")
    sign.add_argument("--cert", required=True, help="the signing certificate (PEM; its subject.serialNumber is the "
                                                    "signer's OIN)")
    sign.add_argument("--key", required=True, help="its private key (PEM, unencrypted)")
    sign.add_argument("--to", help="wsa:To (required for a request)")
    sign.add_argument("--action", help="wsa:Action (required for a request)")
    sign.add_argument("--response-to", metavar="REQUEST", help="sign a response to this signed request")
    sign.set_defaults(func=_sign)

    ver = sub.add_parser("verify", help="verify signed messages; prints every verdict with its rule id")
    ver.add_argument("files", nargs="+", metavar="FILE", help="a signed message as received ('-': stdin)")
    message_check_options(ver, ca_required=True, ca_help="PEM file with the root and intermediate CA certificates",
                          to_help="require wsa:To to be this address")
    ver.set_defaults(func=_verify)

    p = sub.add_parser("diagnose", help="every check of the security profile and the contract on raw messages, "
                                        "each explained")
    p.add_argument("files", nargs="+", metavar="FILE", help="a raw message as received ('-': stdin)")
    message_check_options(p, ca_required=False, to_help="the address it was sent to (wsa:To must be it)",
                          ca_help="PEM file with the root and intermediate CA certificates (else trust is not checked)")
    p.set_defaults(func=_diagnose)
