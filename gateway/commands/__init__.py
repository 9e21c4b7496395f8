"""The ``oso-gateway`` command: one package for every sub-command. Each module parses its arguments, calls the rooms
of the package (the rooms never import this one), prints, and returns an exit status from the one table in
``common.EXIT_CODES``."""

from __future__ import annotations

import os
import sys

from .common import EXIT_OK, Parser


def build_parser() -> Parser:
    from .. import __version__
    from . import bundles, conformance, message, pki, register, school, serve, servicedesk, transfer, validate

    p = Parser(prog="oso-gateway", description="OSO gateway: Traffic Center, WUS security, reference school, "
                                               "conformance suite and servicedesk tools.")
    p.add_argument("--version", action="version", version=f"oso-gateway {__version__}",
                   help="print the version and exit")
    # the sub-commands, in the order of `oso-gateway --help`: each module adds its own
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(sub)
    transfer.add_parser(sub)
    school.add_parser(sub)
    register.add_parser(sub)
    conformance.add_parser(sub)
    validate.add_parser(sub)
    message.add_parser(sub)
    servicedesk.add_parser(sub)
    bundles.add_parser(sub)
    pki.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
