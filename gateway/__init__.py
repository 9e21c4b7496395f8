"""OSO gateway: Traffic Center, WUS message security, reference school and conformance suite."""

import sys

if sys.version_info < (3, 11):  # pragma: no cover - depends on the interpreter
    raise SystemExit(f"oso-gateway needs Python 3.11, 3.12 or 3.13, not {sys.version_info[0]}.{sys.version_info[1]}")

__version__ = "0.1.0"
