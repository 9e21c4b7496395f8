"""What a service reads of the request it serves: the keys the security middleware puts in the WSGI environ.

The middleware (gateway/web/security.py) verifies the message, opens the message's transaction and validates the Body
against the contract before a service runs; it sets these keys. A service reads them here and never imports the web
layer.
"""

from __future__ import annotations

from datetime import datetime, timezone

VERIFIED = "oso.verified"  # the VerifiedMessage of the request (gateway.wsse)
REPO = "oso.repo"  # the Repository of the message's transaction, when the endpoint has one


def environ(ctx) -> dict:
    """The WSGI environ of a spyne method context."""
    return ctx.transport.req_env


def verified(ctx):
    return environ(ctx)[VERIFIED]


def repo(ctx):
    return environ(ctx)[REPO]


def now() -> datetime:
    return datetime.now(timezone.utc)
