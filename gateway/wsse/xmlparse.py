"""The one safe parser for bytes from outside.

Every byte string that comes from a peer is parsed here and nowhere else: no DTD (any DOCTYPE is refused before
libxml2 sees it, R1008), no entity expansion, no network or file access, UTF-8 only (WS006), and bounded: size,
nesting depth, elements, attributes, namespace declarations and processing instructions (``Limits``).

The bounds hold WHILE parsing, so memory and time are bounded by the limits, not by the message: a tree is only
built as far as the first bound exceeded. Two routes give the same tree and the same verdicts:

- the fast route, for nearly every real message: counts over the raw bytes give upper bounds on the
  counted things (every element and processing instruction opens with ``<``, every attribute and namespace
  declaration holds a literal ``=``, every declaration's name starts with ``xmlns``). When those upper bounds are
  within the limits, no bound can be exceeded, and the message is parsed in one call; only its depth and processing
  instructions are then counted on the (bounded) tree;
- the counted route, otherwise: an ``XMLPullParser`` is fed 64 KiB at a time and every element, attribute and
  namespace declaration is counted from its events as it is parsed; the first bound exceeded stops the feeding.
  One start tag is only parsed once it is complete, so before feeding, a stretch of the message without ``<``
  longer than 64 KiB (the only place where a start tag with thousands of attributes can be) whose ``=`` count
  exceeds what one element may carry has its start tag's attributes counted (at most the limits' worth) first.

Refusals are ``MalformedMessage`` with rule GW-XML (GW-SIZE for the byte limit) and a reason that names the bound
and never carries content of the message. The limits and the measurements behind their defaults: docs/limits.md.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, fields, replace

from lxml import etree

from .errors import MalformedMessage

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_DEPTH = 100
# libxml2's limits without XML_PARSE_HUGE (Limits.huge_text): a text node, and one piece of markup (a start tag, an
# attribute value, a CDATA section, a processing instruction, a comment), are at most this many bytes.
PARSER_TEXT_LIMIT = 10_000_000
_PARSER_NAME_LIMIT = 50_000
_PARSER_DEPTH_LIMIT, _PARSER_DEPTH_LIMIT_HUGE = 256, 2048


@dataclass(frozen=True)
class Limits:
    """The bounds a message must keep to be parsed at all (docs/limits.md has the table and the measurements).

    The defaults admit every message of the contract with wide margin, a documentResponse carrying a dossier
    included (the largest measured message: 890 elements, depth 16, 3 attributes on an element, 69 attributes in
    all, 5 namespace declarations on an element, 7 in scope, 21 in all, no processing instruction), while keeping
    the tree of a hostile message to some tens of MB:

    ``max_bytes`` (32 MiB): the message's size; larger ones are refused before parsing (GW-SIZE).
    ``max_depth`` (100): nesting depth, the root element being at depth 1.
    ``max_elements`` (200,000): elements in the message.
    ``max_attributes`` (256): attributes on one element, namespace declarations not counted. Canonicalisation sorts
    an element's attributes in quadratic time.
    ``max_attributes_total`` (200,000): attributes in the message.
    ``max_ns_per_element`` (64): namespace declarations (``xmlns``, ``xmlns:p``) on one element.
    ``max_ns_in_scope`` (128): namespace declarations on an element and all its ancestors, a redeclared prefix
    counted again: what exclusive canonicalisation of the element has to look through.
    ``max_ns_total`` (200,000): namespace declarations in the message.
    ``max_processing_instructions`` (100): processing instructions in the message, prolog included.
    ``huge_text`` (False): allow a text node (or a single attribute value, CDATA section, …) larger than 10 MB
    (10,000,000 bytes, libxml2's limit otherwise). Only for a message that carries a dossier with large base64
    attachments: the client reading a documentResponse (``Policy.carrying_dossier``).
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_elements: int = 200_000
    max_attributes: int = 256
    max_attributes_total: int = 200_000
    max_ns_per_element: int = 64
    max_ns_in_scope: int = 128
    max_ns_total: int = 200_000
    max_processing_instructions: int = 100
    huge_text: bool = False

    def __post_init__(self):
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if name == "huge_text":
                if not isinstance(value, bool):
                    raise ValueError("huge_text must be True or False")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
        if self.max_ns_in_scope < self.max_ns_per_element:
            raise ValueError("max_ns_in_scope must be at least max_ns_per_element")


DEFAULT_LIMITS = Limits()
# Kept for callers that read it: the default bound on attributes of one element.
MAX_ATTRIBUTES = DEFAULT_LIMITS.max_attributes


class _NoResolver(etree.Resolver):
    """Resolves every external reference to nothing, so libxml2 never opens a file or socket."""

    def resolve(self, system_url, public_id, context):  # noqa: ARG002 - lxml's signature
        return self.resolve_string("", context)


# The parser's settings on both routes.
_SAFE = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_blank_text=False,
    # Comments are not signed (exclusive c14n without comments): drop them while parsing, so that the text on
    # either side of one is one text node again and a reader sees what the signer signed (<a>hal<!---->lo</a>
    # reads "hallo", not "hal").
    remove_comments=True,
    collect_ids=False,
)

_local = threading.local()


def _parser(huge_text: bool = False) -> etree.XMLParser:
    # lxml parsers are not thread-safe; one per thread (and per huge_text).
    name = "huge_parser" if huge_text else "parser"
    parser = getattr(_local, name, None)
    if parser is None:
        parser = etree.XMLParser(huge_tree=huge_text, **_SAFE)
        parser.resolvers.add(_NoResolver())
        setattr(_local, name, parser)
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


# ------------------------------------------------------------------------------------------------ refusals


def _bound(reason: str) -> MalformedMessage:
    return MalformedMessage("GW-XML", reason)


def _too_deep(limits: Limits) -> MalformedMessage:
    return _bound(f"the message nests deeper than {limits.max_depth} elements")


def _too_many_elements(limits: Limits) -> MalformedMessage:
    return _bound(f"the message has more than {limits.max_elements} elements")


def _too_many_attributes(limits: Limits) -> MalformedMessage:
    return _bound(f"an element carries more than {limits.max_attributes} attributes")


def _too_many_attributes_total(limits: Limits) -> MalformedMessage:
    return _bound(f"the message carries more than {limits.max_attributes_total} attributes in all")


def _too_many_ns_per_element(limits: Limits) -> MalformedMessage:
    return _bound(f"an element carries more than {limits.max_ns_per_element} namespace declarations")


def _too_many_ns_in_scope(limits: Limits) -> MalformedMessage:
    return _bound(f"more than {limits.max_ns_in_scope} namespace declarations are in scope of an element "
                  "(on it and its ancestors)")


def _too_many_ns_total(limits: Limits) -> MalformedMessage:
    return _bound(f"the message carries more than {limits.max_ns_total} namespace declarations in all")


def _too_many_pis(limits: Limits) -> MalformedMessage:
    return _bound(f"the message holds more than {limits.max_processing_instructions} processing instructions")


def _syntax_refusal(exc: etree.XMLSyntaxError, limits: Limits) -> MalformedMessage:
    """The refusal for a parse error: a true reason for libxml2's own limits, else not well-formed."""
    # the error that stopped the parse (exc.error_log may still hold errors of this thread's parser's last parse)
    message = text = str(exc)
    if "Excessive depth" in message:  # 256 without XML_PARSE_HUGE, 2048 with; our own bound is checked before it
        depth = _PARSER_DEPTH_LIMIT_HUGE if limits.huge_text else _PARSER_DEPTH_LIMIT
        return _bound(f"the message nests deeper than {min(limits.max_depth, depth)} elements")
    if "Text node too long" in message or "huge text node" in message:
        return _bound(f"the message holds a text node larger than 10 MB ({PARSER_TEXT_LIMIT:,} bytes); only a "
                      "message carrying a dossier may (huge_text)")
    if "Name too long" in message:
        return _bound(f"the message holds a name longer than {_PARSER_NAME_LIMIT:,} characters")
    if not limits.huge_text and any(m in message for m in ("Buffer size limit exceeded", "too big", "too long",
                                                           "Huge input lookup")):
        return _bound(f"the message holds a tag, attribute value, CDATA section, comment or processing "
                      f"instruction larger than 10 MB ({PARSER_TEXT_LIMIT:,} bytes)")
    if getattr(exc, "code", None) == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
        return _bound("the message exceeds a resource limit of the XML parser")
    if "ncoding" in text or "UTF-8" in text:
        return MalformedMessage("WS006", "the message is not valid UTF-8", dk_code="0009")
    return _bound("the message is not well-formed XML")


# ----------------------------------------------------------------------------------- the counted route

_CHUNK = 64 * 1024  # bytes fed at a time: a bound exceeded costs at most this much parsing beyond it
_RUN = 64 * 1024  # a start tag longer than this is looked at before parsing (_check_long_tags)
_TAG_NAME = re.compile(rb"<[^\s/>=<\"'!?][^\s/>=<\"']*")
_ATTRIBUTE = re.compile(rb"""[ \t\r\n]+([^\s=/>"'<]+)[ \t\r\n]*=[ \t\r\n]*(?:"[^"<]*"|'[^'<]*')""")


def _check_long_tags(data: bytes, limits: Limits) -> None:
    """Count the attributes and namespace declarations of every start tag longer than _RUN bytes, up to the limits.

    libxml2 builds an element with all its attributes before anyone hears of it, and a 10 MB start tag holds two
    million of them (some 170 MB of tree); with huge_text even the 10 MB bound is gone. A start tag holds no ``<``,
    so a long one lies in a long stretch without ``<``; such a stretch covers a whole aligned block of _RUN/2 bytes,
    so probing each block for a ``<`` (one memchr, which stops at the first) finds every one. A stretch whose ``=``
    count is within what one element may carry cannot hold an element over the limits (base64 text, the usual long
    stretch, has at most two); for another, the start tag it opens with is read attribute by attribute, at most
    the limits' worth, with a pattern that cannot backtrack.
    """
    n = len(data)
    half = _RUN // 2
    carry = limits.max_attributes + limits.max_ns_per_element
    off = 0
    while off + half <= n:
        if data.find(b"<", off, off + half) != -1:
            off += half
            continue
        start = data.rfind(b"<", 0, off)  # the '<' that opens the stretch (-1: none)
        end = data.find(b"<", off)
        end = n if end < 0 else end
        if start >= 0 and data.count(b"=", start, end) > carry:
            _count_tag(data, start, limits)
        off = end + 1


def _count_tag(data: bytes, pos: int, limits: Limits) -> None:
    name = _TAG_NAME.match(data, pos)
    if name is None:  # an end tag, comment, CDATA section or processing instruction
        return
    pos = name.end()
    attributes = declarations = 0
    while True:
        m = _ATTRIBUTE.match(data, pos)
        if m is None:
            return
        qname = m.group(1)
        if qname == b"xmlns" or qname.startswith(b"xmlns:"):
            declarations += 1
            if declarations > limits.max_ns_per_element:
                raise _too_many_ns_per_element(limits)
        else:
            attributes += 1
            if attributes > limits.max_attributes:
                raise _too_many_attributes(limits)
        pos = m.end()


def _parse_counted(data: bytes, limits: Limits) -> tuple[etree._Element, etree.XMLParser]:
    """Parse while counting from the parser's events; raise at the first bound exceeded."""
    _check_long_tags(data, limits)
    parser = etree.XMLPullParser(events=("start", "end", "start-ns", "pi"), huge_tree=limits.huge_text, **_SAFE)
    parser.resolvers.add(_NoResolver())
    max_depth, max_elements = limits.max_depth, limits.max_elements
    max_attributes, max_attributes_total = limits.max_attributes, limits.max_attributes_total
    max_ns_per_element, max_ns_in_scope, max_ns_total = (
        limits.max_ns_per_element, limits.max_ns_in_scope, limits.max_ns_total)
    elements = attributes = ns_total = pis = 0
    pending = 0  # declarations read for the element whose start event comes next
    in_scope = 0  # declarations on the open elements
    open_ns: list[int] = []  # declarations of each open element, outermost first (its length is the depth)
    try:
        for off in range(0, len(data), _CHUNK):
            parser.feed(data[off:off + _CHUNK])
            for event, item in parser.read_events():
                if event == "start":
                    elements += 1
                    if elements > max_elements:
                        raise _too_many_elements(limits)
                    if len(open_ns) >= max_depth:
                        raise _too_deep(limits)
                    open_ns.append(pending)
                    in_scope += pending
                    pending = 0
                    count = len(item.keys())
                    if count:
                        if count > max_attributes:
                            raise _too_many_attributes(limits)
                        attributes += count
                        if attributes > max_attributes_total:
                            raise _too_many_attributes_total(limits)
                elif event == "end":
                    in_scope -= open_ns.pop()
                elif event == "start-ns":
                    # the declarations of one element come together, just before its start event
                    pending += 1
                    ns_total += 1
                    if pending > max_ns_per_element:
                        raise _too_many_ns_per_element(limits)
                    if in_scope + pending > max_ns_in_scope:
                        raise _too_many_ns_in_scope(limits)
                    if ns_total > max_ns_total:
                        raise _too_many_ns_total(limits)
                else:  # pi
                    pis += 1
                    if pis > limits.max_processing_instructions:
                        raise _too_many_pis(limits)
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise _syntax_refusal(exc, limits) from None
    except ValueError:
        raise _bound("the message is not well-formed XML") from None
    return root, parser


# -------------------------------------------------------------------------------------- the fast route

_PIS = etree.XPath("count(//processing-instruction())")


def _within_by_counting_bytes(data: bytes, limits: Limits) -> bool:
    """Whether upper bounds read off the raw bytes already keep every count within ``limits`` (depth and processing
    instructions aside): each element and processing instruction opens with '<', each attribute and namespace
    declaration holds a literal '=' (names cannot be written as references), each declaration's name is written
    'xmlns…'."""
    # an element takes at least 4 bytes ("<a/>"), a processing instruction 5: a short message needs no count
    if len(data) // 4 > limits.max_elements and data.count(b"<") > limits.max_elements:
        return False
    equals = data.count(b"=")
    if equals > limits.max_attributes or equals > limits.max_attributes_total:
        return False
    declarations = data.count(b"xmlns")
    return declarations <= limits.max_ns_per_element and declarations <= limits.max_ns_total  # per element ≤ in scope


def _parse_fast(data: bytes, limits: Limits) -> tuple[etree._Element, etree.XMLParser]:
    parser = _parser(limits.huge_text)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_refusal(exc, limits) from None
    except ValueError:
        raise _bound("the message is not well-formed XML") from None
    if _depth_probe(limits.max_depth)(root):
        raise _too_deep(limits)
    if _PIS(root) > limits.max_processing_instructions:
        raise _too_many_pis(limits)
    return root, parser


_depth_probes: dict[int, etree.XPath] = {}


def _depth_probe(depth: int) -> etree.XPath:
    probe = _depth_probes.get(depth)
    if probe is None:
        probe = _depth_probes[depth] = etree.XPath("boolean(" + "/*" * (depth + 1) + ")")
    return probe


# --------------------------------------------------------------------------------------------------- entry


def parse_untrusted(
    data: bytes, *, max_bytes: int | None = None, max_depth: int | None = None, limits: Limits | None = None
) -> etree._Element:
    """Parse bytes from a peer and return the root element, or raise MalformedMessage.

    ``limits`` (default ``DEFAULT_LIMITS``) bounds the message; ``max_bytes`` and ``max_depth``, when given,
    override those two of them."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_untrusted takes bytes")
    limits = limits or DEFAULT_LIMITS
    if (max_bytes is not None and max_bytes != limits.max_bytes) or (
            max_depth is not None and max_depth != limits.max_depth):
        limits = replace(limits, max_bytes=limits.max_bytes if max_bytes is None else max_bytes,
                         max_depth=limits.max_depth if max_depth is None else max_depth)
    if len(data) > limits.max_bytes:
        raise MalformedMessage("GW-SIZE", f"the message is larger than {limits.max_bytes} bytes")
    data = bytes(data)
    _check_prolog(data)
    if _within_by_counting_bytes(data, limits):
        root, parser = _parse_fast(data, limits)
    else:
        root, parser = _parse_counted(data, limits)
    # libxml2 reports namespace errors (an undeclared prefix, xmlns:p="") without failing the parse, and lxml
    # raises for them only when no warning follows; such a tree has tags like "p:Security" in no namespace.
    if parser.error_log.filter_from_errors():
        raise MalformedMessage("GW-XML", "the message is not namespace-well-formed XML")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise MalformedMessage("R1008", "a DTD (DOCTYPE) is not allowed in a message")
    if (docinfo.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8"):
        raise MalformedMessage("WS006", "the message is not UTF-8 encoded", dk_code="0009")
    return root
