"""Message-building helpers shared by the WS-Security tests (sign/verify, the attack catalogue, the fuzzer).

The mutation tools (parse, mutate, recompute what an attacker can recompute, re-sign with a key the attacker holds)
live in gateway.conformance.mutations, where the conformance suite builds its hostile requests with them; they are
re-exported here. They are written against lxml, hashlib and cryptography directly, not against the gateway's own
signer internals. What is only for these tests (a test payload, envelopes, safety assertions) stays here.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from lxml import etree

from gateway.conformance.mutations import (  # noqa: F401 - re-exported for the tests
    MD5_DIGEST,
    RSA_SHA1,
    SHA1_DIGEST,
    add_reference,
    by_id,
    c14n,
    drop_reference,
    one,
    q,
    redigest,
    reference_to,
    references,
    resign,
    to_bytes,
    tree,
    xp,
)
from gateway.conformance.mutations import NS as _NS
from gateway.wsse.errors import SecurityError

NS = {**_NS, "m": "urn:test:oso:aanvraag"}
PAYLOAD_NS = NS["m"]
ACTION = "urn:test:oso:aanvraag"
PAYLOAD = (
    b'<m:aanvraag xmlns:m="urn:test:oso:aanvraag">'
    b"<m:leerling nummer=\"12345\">Jan Jansen</m:leerling>"
    b"<m:tekst>hallo wereld</m:tekst>"
    b"</m:aanvraag>"
)


def envelope(payload: bytes = PAYLOAD, *, header: bool = True) -> bytes:
    """A bare SOAP 1.1 envelope around ``payload``, as a client builds it before signing."""
    head = b"<soapenv:Header/>" if header else b""
    return (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        + head + b"<soapenv:Body>" + payload + b"</soapenv:Body></soapenv:Envelope>"
    )


def fault_envelope(reason: str = "the request could not be read") -> bytes:
    return envelope(
        b"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>"
        + reason.encode() + b"</faultstring></soapenv:Fault>"
    )


def reading(element: etree._Element) -> list:
    """What a program reading ``element`` with lxml sees: every node's tag, attributes, text and tail."""
    out = []
    for node in element.iter():
        tail = node.tail if node is not element else None
        out.append((str(node.tag), sorted(node.attrib.items()), node.text, tail))
    return out


def signature_value(data: bytes) -> str:
    return "".join(one(tree(data), "//ds:SignatureValue").text.split())


def utc(when: datetime) -> datetime:
    return when.astimezone(timezone.utc)


def ms(when: datetime) -> datetime:
    """``when`` truncated to the milliseconds a signed Timestamp carries."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


_PATH = re.compile(r"(/(tmp|etc|home|work|usr|var|proc|root)\b)|(\.(py|pem|key|der)\b)|(file:)|([A-Za-z]:\\)")
_LINE = re.compile(r"line \d+|column \d+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def assert_safe_message(err: SecurityError, *secrets: str) -> None:
    """A refusal's text names the rule and says why, and leaks nothing: no paths, no traceback, no key or
    certificate material, none of the given secrets."""
    for text in (str(err), err.reason, err.faultstring):
        assert text.startswith(err.rule + ": ") or text == err.reason
        assert "Traceback" not in text and 'File "' not in text and not _LINE.search(text), text
        assert not _PATH.search(text), text
        assert not _BASE64_RUN.search(text), text
        assert "BEGIN" not in text and "PRIVATE" not in text and "root:" not in text
        for secret in secrets:
            assert secret not in text, text
