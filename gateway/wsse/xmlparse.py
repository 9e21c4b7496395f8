"""The one safe parser for bytes from outside.

Every byte string that comes from a peer is parsed here and nowhere else: no DTD (any DOCTYPE is refused before
libxml2 sees it, R1008), no entity expansion, no network or file access, UTF-8 only (WS006), bounded size and depth.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from .errors import MalformedMessage

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_DEPTH = 100
# Attributes on one element. Canonicalisation (c14n, before any signature or certificate is trusted) sorts an
# element's attributes in quadratic time: 120,000 attributes on one element (1.3 MB) cost it half a minute.
MAX_ATTRIBUTES = 256
_TOO_MANY_ATTRIBUTES = etree.XPath(f"boolean(//*[count(@*) > {MAX_ATTRIBUTES}])")


class _NoResolver(etree.Resolver):
    """Resolves every external reference to nothing, so libxml2 never opens a file or socket."""

    def resolve(self, system_url, public_id, context):  # noqa: ARG002 - lxml's signature
        return self.resolve_string("", context)


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; one per thread.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=False,
            # Comments are not signed (exclusive c14n without comments): drop them while parsing, so that the
            # text on either side of one is one text node again and a reader sees what the signer signed
            # (<a>hal<!---->lo</a> reads "hallo", not "hal").
            remove_comments=True,
            collect_ids=False,
        )
        parser.resolvers.add(_NoResolver())
        _local.parser = parser
    return parser


_XML_DECL = re.compile(rb"<\?xml\s[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _check_prolog(data: bytes) -> None:
    """Refuse a DOCTYPE and any encoding but UTF-8 by reading the prolog only.

    A DOCTYPE can only stand in the prolog (before the root element), so scanning it is exact and cheap.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise MalformedMessage("WS006", "the message is not UTF-8 encoded", dk_code="0009")
    # UTF-16 and UCS-4 without a byte order mark (libxml2 detects them from "<" or "<?xml" and parses them), and
    # EBCDIC: a NUL can never stand in UTF-8 XML.
    if b"\x00" in data[:4] or data[:4] == b"\x4c\x6f\xa7\x94":
        raise MalformedMessage("WS006", "the message is not UTF-8 encoded", dk_code="0009")
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    m = _XML_DECL.match(data, pos)
    if m:
        enc = _ENCODING.search(m.group(0))
        if enc and enc.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise MalformedMessage("WS006", "the message is not UTF-8 encoded", dk_code="0009")
        pos = m.end()
    n = len(data)
    while pos < n:
        c = data[pos]
        if c in b" \t\r\n":
            pos += 1
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            if end < 0:
                return  # the parser reports it
            pos = end + 3
        elif data.startswith(b"<?", pos):
            end = data.find(b"?>", pos + 2)
            if end < 0:
                return
            pos = end + 2
        elif data.startswith(b"<!", pos):
            raise MalformedMessage("R1008", "a DTD (DOCTYPE) is not allowed in a message")
        else:
            return


def parse_untrusted(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> etree._Element:
    """Parse bytes from a peer and return the root element, or raise MalformedMessage."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_untrusted takes bytes")
    if len(data) > max_bytes:
        raise MalformedMessage("GW-SIZE", f"the message is larger than {max_bytes} bytes")
    data = bytes(data)
    _check_prolog(data)
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "ncoding" in text or "UTF-8" in text:
            raise MalformedMessage("WS006", "the message is not valid UTF-8", dk_code="0009") from None
        raise MalformedMessage("GW-XML", "the message is not well-formed XML") from None
    except ValueError:
        raise MalformedMessage("GW-XML", "the message is not well-formed XML") from None
    # libxml2 reports namespace errors (an undeclared prefix, xmlns:p="") without failing the parse, and lxml
    # raises for them only when no warning follows; such a tree has tags like "p:Security" in no namespace.
    if parser.error_log.filter_from_errors():
        raise MalformedMessage("GW-XML", "the message is not namespace-well-formed XML")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise MalformedMessage("R1008", "a DTD (DOCTYPE) is not allowed in a message")
    if (docinfo.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8"):
        raise MalformedMessage("WS006", "the message is not UTF-8 encoded", dk_code="0009")
    if _depth_probe(max_depth)(root):
        raise MalformedMessage("GW-XML", f"the message nests deeper than {max_depth} elements")
    if _TOO_MANY_ATTRIBUTES(root):
        raise MalformedMessage("GW-XML", f"an element carries more than {MAX_ATTRIBUTES} attributes")
    return root


_depth_probes: dict[int, etree.XPath] = {}


def _depth_probe(depth: int) -> etree.XPath:
    probe = _depth_probes.get(depth)
    if probe is None:
        probe = _depth_probes[depth] = etree.XPath("boolean(" + "/*" * (depth + 1) + ")")
    return probe
