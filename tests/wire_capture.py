"""What crosses the wire, recorded, and searched for a PGN in any encoding.

``RecordingProxy``: a TCP proxy on loopback that every party talks to (the gateway's public address is the proxy's,
so the register's endpoints, wsa:To and the source's Traffic Center address all point at it). It forwards bytes to
the real server unchanged and keeps every byte of both directions of every connection: HTTP request and status
lines, headers, bodies.

``pgn_forms`` / ``find_pgn``: the forms a nine-digit number can take on the wire (decimal, UTF-16/32, hex of its
digits and of its value, base64 and base64url of its digits at each of the three alignments, percent-encoding, XML
character references, digits with spaces or punctuation between them), and a search for them.
"""

from __future__ import annotations

import base64
import html
import re
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Connection:
    upstream: bytearray = field(default_factory=bytearray)  # client → server
    downstream: bytearray = field(default_factory=bytearray)  # server → client


class RecordingProxy:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.target_port: int | None = None
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def clear(self) -> None:
        with self._lock:
            self.connections = []

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            conn = Connection()
            with self._lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(client, conn), daemon=True).start()

    def _serve(self, client: socket.socket, conn: Connection) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        done = threading.Event()

        def pipe(src, dst, record):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    with self._lock:
                        record.extend(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                done.set()

        t = threading.Thread(target=pipe, args=(server, client, conn.downstream), daemon=True)
        t.start()
        pipe(client, server, conn.upstream)
        t.join(10)
        client.close()
        server.close()

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def streams(self) -> list[tuple[str, bytes]]:
        with self._lock:
            out = []
            for i, c in enumerate(self.connections):
                out.append((f"connection {i} client->server", bytes(c.upstream)))
                out.append((f"connection {i} server->client", bytes(c.downstream)))
            return out


def http_messages(stream: bytes) -> list[tuple[bytes, bytes]]:
    """Split one direction of a connection into (head, body) HTTP messages (Content-Length framing)."""
    out, pos = [], 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            out.append((stream[pos:], b""))
            break
        head = stream[pos:end]
        m = re.search(rb"(?im)^content-length:\s*([0-9]+)\s*$", head)
        if m is None:
            assert not re.search(rb"(?im)^transfer-encoding:", head), "chunked bodies are not expected here"
            body_end = end + 4 if head.split(b" ", 1)[0] in (b"GET", b"HEAD") else len(stream)
        else:
            body_end = end + 4 + int(m.group(1))
        out.append((head, stream[end + 4:body_end]))
        pos = body_end
    return out


_WRAPPER_START = re.compile(rb"<(?P<p>[A-Za-z_][\w.-]*:)?dossier(?=[\s/>])[^>]*>")


def cut_dossier(body: bytes) -> tuple[bytes, int]:
    """The documentResponse body without its ``dossier`` element (the signed dossier legitimately names the pupil);
    and how many bytes were cut. The wrapper is the first ``dossier`` start tag in the body; it ends at the last
    end tag of that name."""
    m = _WRAPPER_START.search(body)
    if m is None:
        return body, 0
    end_tag = b"</" + (m.group("p") or b"") + b"dossier>"
    end = body.rfind(end_tag)
    assert end > m.start(), "a dossier start tag without its end tag"
    end += len(end_tag)
    return body[:m.start()] + body[end:], end - m.start()


def _b64_slices(data: bytes) -> list[bytes]:
    """The base64 (and base64url) characters that encode only ``data``, at each of the three alignments."""
    out = []
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + data + b"\0\0\0")
        first = -(-8 * k // 6)  # the first character fully inside the data's bits
        last = (8 * (k + len(data))) // 6  # one past the last character fully inside
        piece = enc[first:last]
        out += [piece, piece.replace(b"+", b"-").replace(b"/", b"_")]
    return out


def pgn_forms(pgn: str) -> list[tuple[str, re.Pattern]]:
    """(name, pattern) for every form searched."""
    d = pgn.encode()
    lit = lambda b: re.compile(re.escape(b))  # noqa: E731
    forms = [("decimal", lit(d)),
             ("utf-16-le", lit(pgn.encode("utf-16-le"))), ("utf-16-be", lit(pgn.encode("utf-16-be"))),
             ("utf-32-le", lit(pgn.encode("utf-32-le"))), ("utf-32-be", lit(pgn.encode("utf-32-be"))),
             ("hex of the digits", re.compile(re.escape(d.hex().encode()), re.I)),
             ("hex of the value", re.compile(re.escape(format(int(pgn), "x").encode()), re.I)),
             ("percent-encoded", re.compile(b"".join(b"%" + format(c, "02x").encode() for c in d), re.I)),
             ("spaced or punctuated", re.compile(rb"[\s.\-_/,:]{0,3}".join(re.escape(bytes([c])) for c in d)))]
    forms += [(f"base64 of the digits ({i})", lit(p)) for i, p in enumerate(_b64_slices(d))]
    return forms


def find_pgn(data: bytes, pgn: str) -> list[str]:
    """The names of the forms of ``pgn`` found in ``data`` (also after decoding XML/HTML character references)."""
    found = [name for name, pattern in pgn_forms(pgn) if pattern.search(data)]
    if b"&#" in data:
        decoded = html.unescape(data.decode("latin-1")).encode("latin-1", "replace")
        if decoded != data and pgn.encode() in decoded:
            found.append("character references")
    return found
