"""``oso-gateway pki init | issue``: a PKIoverheid-shaped TEST PKI (gateway/pki.py), never for production."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import EXIT_OK, EXIT_USAGE


def _init(args) -> int:
    from ..pki import DEFAULT_GATEWAY_OIN, PkiError, init_pki

    if not args.dir.strip():
        print("pki init: --dir names the folder to make the PKI in (it may not be empty)", file=sys.stderr)
        return EXIT_USAGE
    try:
        gw = init_pki(args.dir, gateway_oin=args.oin or DEFAULT_GATEWAY_OIN)
    except (PkiError, FileExistsError, OSError) as exc:
        print(f"pki init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    d = Path(args.dir)
    print(f"test PKI (TEST ONLY) in {d}: ca.pem, crl.pem, {gw.cert_path.name}, {gw.key_path.name} (OIN {gw.oin})")
    return EXIT_OK


def _issue(args) -> int:
    from ..pki import PkiError, issue

    try:
        party = issue(args.dir, args.name, args.oin, expired=args.expired, not_yet_valid=args.not_yet_valid,
                      revoked=args.revoked, no_digital_signature=args.no_digital_signature,
                      untrusted=args.untrusted, key_size=args.key_size, no_oin=args.no_oin)
    except (PkiError, FileExistsError, OSError) as exc:
        print(f"pki issue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{party.cert_path}\n{party.key_path}")
    return EXIT_OK


def add_parser(sub) -> None:
    pki = sub.add_parser("pki", help="a PKIoverheid-shaped TEST PKI (never for production)",
                         description="A PKIoverheid-shaped TEST PKI: a root and an issuing CA, their CRLs, and party "
                                     "certificates with the OIN in subject.serialNumber. Every name says TEST ONLY; "
                                     "the CA keys sit unencrypted beside the certificates.")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True, metavar="ACTION")
    init = pki_sub.add_parser("init", help="root CA, issuing CA, CRL, and the gateway's certificate + key")
    init.add_argument("--dir", required=True, help="the folder to make it in (must not hold a PKI already)")
    init.add_argument("--oin", default=None, help="the gateway's OIN (default: the test OIN)")
    init.set_defaults(func=_init)
    iss = pki_sub.add_parser("issue", help="a party certificate with its OIN in subject.serialNumber")
    iss.add_argument("--dir", required=True, help="the folder `pki init` made")
    iss.add_argument("--name", required=True, help="the party's name: its files are NAME.cert.pem and NAME.key.pem")
    iss.add_argument("--oin", required=True, help="the party's OIN (20 digits)")
    iss.add_argument("--key-size", type=int, choices=(1024, 2048, 3072, 4096), default=2048,
                     help="RSA key size in bits (default 2048; 1024 only to test that weak keys are refused)")
    flags = iss.add_mutually_exclusive_group()
    flags.add_argument("--expired", action="store_true", help="validity ended yesterday (to test the check of PKI002)")
    flags.add_argument("--not-yet-valid", action="store_true", help="validity starts in 30 days (to test the check of PKI002)")
    iss.add_argument("--revoked", action="store_true", help="also put it on the CRL (crl.pem is rewritten)")
    iss.add_argument("--no-digital-signature", action="store_true",
                     help="a key usage without digitalSignature (to test GW-KEYUSAGE)")
    iss.add_argument("--untrusted", action="store_true", help="issue from a separate CA that ca.pem does not hold")
    iss.add_argument("--no-oin", action="store_true", help="no OIN in subject.serialNumber (to test PKI001); --oin is "
                     "only recorded in the PKI's index")
    iss.set_defaults(func=_issue)
