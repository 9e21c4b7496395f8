"""OSO gateway: Traffic Center, WUS message security, reference school and conformance suite."""

import sys

if sys.version_info[:2] != (3, 11):  # pragma: no cover - depends on the interpreter
    raise SystemExit(
        "oso-gateway needs Python 3.11: spyne 2.14, the newest release, does not import on "
        f"Python {sys.version_info[0]}.{sys.version_info[1]}. Create the environment with python3.11 "
        "(`make run` does this for you)."
    )

__version__ = "0.1.0"
