"""Evidence: the messages exchanged (raw bytes, HTTP status and headers), and how they are shown without pupil data.

Everything a report shows of a message passes through ``redact``: the dossier's content is replaced by its size and
digest, the zoeksleutel and pgnfrag (both derived from the PGN) are replaced by a mark, every nine-digit number that
could be a PGN and every known test PGN in any encoding becomes ``[PGN]``, and long base64 runs (tokens, signature
values) are shortened.
``pgn_encodings`` is also what the PGN-in-clear scenarios scan the wire with.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lxml import etree

from ..contracts import OSO_NS
from ..wsse.xmlparse import parse_untrusted

_NINE_DIGITS = re.compile(rb"(?<![0-9])[0-9]{9}(?![0-9])")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=\r\n]{120,}")
_TEXT_BODY_TYPES = ("xml", "text", "json", "html")


@dataclass
class HttpExchange:
    """One HTTP round trip as evidence: who sent what to whom, and what came back."""

    label: str
    url: str
    request: bytes = b""
    request_headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    response: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    sent_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t0: float = field(default_factory=time.perf_counter)
    t1: float | None = None
    error: str | None = None  # a transport failure (connection refused, TLS, time-out)
    direction: str = "suite → vendor"

    @property
    def elapsed_ms(self) -> float | None:
        return None if self.t1 is None else (self.t1 - self.t0) * 1000


def pgn_encodings(pgn: str) -> list[tuple[str, bytes]]:
    """The forms in which a PGN could leak onto the wire, each with a name: its digits (also spaced, dotted or
    dashed in groups of three), base64 of them at each alignment inside a longer text, hex, and UTF-16."""
    digits = pgn.encode("ascii")
    groups = [pgn[i:i + 3] for i in range(0, len(pgn), 3)]
    forms = [("digits", digits)]
    forms += [(f"digits separated by {name}", sep.join(groups).encode()) for name, sep in
              (("spaces", " "), ("dots", "."), ("dashes", "-"))]
    for pad in range(3):
        # base64 of the digits at each alignment in a longer string: the characters that depend only on them
        enc = base64.b64encode(b"\0" * pad + digits)
        start = -(-pad * 4 // 3)  # the first base64 character that no byte before the digits influences
        end = ((pad + len(digits)) // 3) * 4  # the last one no byte after them influences
        if end - start >= 8:
            forms.append((f"base64 (alignment {pad})", enc[start:end]))
    forms += [("hex", digits.hex().encode()),
              ("UTF-16LE", pgn.encode("utf-16-le")), ("UTF-16BE", pgn.encode("utf-16-be"))]
    return forms


def find_pgns(data: bytes, pgns: list[str]) -> list[tuple[int, str]]:
    """Which of ``pgns`` (by position in the list) occur in ``data``, and in which form (safe to show: never the
    PGN itself)."""
    hits = []
    for n, pgn in enumerate(pgns):
        for label, form in pgn_encodings(pgn):
            if form in data:
                hits.append((n, label))
                break
    return hits


def without_dossier(data: bytes) -> bytes:
    """The message with the content of its documentResponse/dossier removed (the one place a PGN may travel).
    A message that does not parse is returned as it is (scanned whole)."""
    try:
        root = parse_untrusted(data)
    except Exception:  # not XML, or refused by the safe parser: scan the bytes as they are
        return data
    changed = False
    for el in root.iter(f"{{{OSO_NS}}}dossier"):
        for child in list(el):
            el.remove(child)
        el.text = None
        changed = True
    return etree.tostring(root) if changed else data


def _summarise_dossiers(root: etree._Element) -> None:
    for name in ("zoeksleutel", "pgnfrag"):
        for el in root.iter(f"{{{OSO_NS}}}{name}"):
            el.text = f"[{name} REDACTED]"
    for el in root.iter(f"{{{OSO_NS}}}dossier"):
        content = b"".join(etree.tostring(c) for c in el)
        for child in list(el):
            el.remove(child)
        el.text = None
        el.append(etree.Comment(f" dossier REDACTED: {len(content)} bytes, sha256 "
                                f"{hashlib.sha256(content).hexdigest()[:16]}… "))


def redact(data: bytes, pgns: list[str] = (), *, limit: int = 60_000) -> str:
    """A message as a report may show it: pretty-printed XML when it parses, pupil data removed."""
    text_bytes = data
    try:
        root = parse_untrusted(data)
        _summarise_dossiers(root)
        text_bytes = etree.tostring(root, pretty_print=True, encoding="UTF-8")
    except Exception:  # not a message we can read: show the bytes, redacted all the same
        pass
    for pgn in pgns:
        for _, form in pgn_encodings(pgn):
            text_bytes = text_bytes.replace(form, b"[PGN]")
    text_bytes = _NINE_DIGITS.sub(b"[PGN?]", text_bytes)
    text_bytes = _BASE64_RUN.sub(lambda m: m.group(0)[:24] + f"…[{len(m.group(0))} chars]".encode(), text_bytes)
    text = text_bytes.decode("utf-8", errors="replace")
    if len(text) > limit:
        text = text[:limit] + f"\n… [{len(text) - limit} more characters]"
    return text


def redact_headers(headers: dict[str, str], pgns: list[str] = ()) -> str:
    lines = [f"{k}: {v}" for k, v in headers.items()]
    return redact("\n".join(lines).encode("utf-8", "replace"), pgns)


def redact_text(text: str, pgns: list[str] = ()) -> str:
    """A finding or note: the same redaction (a finding never needs a PGN or zoeksleutel)."""
    return redact(text.encode("utf-8"), pgns)
