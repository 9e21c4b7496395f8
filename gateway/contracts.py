"""The published contracts, in one place: the files in ``wsdl/`` and ``xsd/``, the chain's namespace, the operations
of each service (read from the WSDL files themselves: their Body elements and wsa:Actions), schema loading, and how a
schema error is told without echoing a value.

Every other room asks here: the security middleware (which Actions a service serves, which Body element each Action
carries, the XSD), the spyne services (the namespace), the clients (the WSDL to build zeep from, the XSD their
answers must meet), the servicedesk (which operation a message is) and the conformance suite. No other module opens
a contract file.

The contract is OSO'21 / OSO'22: namespace ``http://xml.kennisnet.nl/schemas/Overstapservice/20200910``, as the
public examples show it (docs/contract.md: per operation, what follows the public record and what is inferred). The
gateway's own additions to its answers live in ``urn:oso-gateway:extensie:1`` and are always optional.
"""

from __future__ import annotations

import queue
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lxml import etree

OSO_NS = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
GW_NS = "urn:oso-gateway:extensie:1"
VERSION = "20200910"

# gateway/contract/wsdl and …/xsd are links to the repository's top-level wsdl/ and xsd/ (the one source): a wheel
# carries the files themselves there, so an installed gateway finds its contract beside its code
_FILES = Path(__file__).resolve().parent / "contract"
WSDL_DIR = _FILES / "wsdl"
XSD_DIR = _FILES / "xsd"
XSD_FILE = "overstapservice-20200910.xsd"

_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_WSAM = "http://www.w3.org/2007/05/addressing/metadata"


def q(local: str) -> str:
    """The Clark name of a chain element: ``{namespace}local``."""
    return f"{{{OSO_NS}}}{local}"


@dataclass(frozen=True)
class Operation:
    """One operation of a service: its Body elements and WS-Addressing Actions, as its WSDL declares them."""

    name: str  # overdracht, document, notificatie, …
    service: str  # trafficcenter | aanleverpunt | doelsysteem
    request: str  # the request's Body element, Clark notation
    response: str
    action: str  # the request's wsam:Action
    response_action: str

    @property
    def request_name(self) -> str:
        return etree.QName(self.request).localname

    @property
    def response_name(self) -> str:
        return etree.QName(self.response).localname


@dataclass(frozen=True)
class Service:
    name: str
    wsdl: Path
    operations: tuple[Operation, ...]

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(op.action for op in self.operations)

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(f"{self.name} has no operation {name}")


def _read_wsdl(path: Path) -> Service:
    root = etree.parse(str(path)).getroot()
    tns = root.get("targetNamespace")
    messages = {}
    for msg in root.iter(f"{{{_WSDL}}}message"):
        part = msg.find(f"{{{_WSDL}}}part")
        prefix, _, local = part.get("element").rpartition(":")
        messages[msg.get("name")] = f"{{{part.nsmap.get(prefix or None, tns)}}}{local}"
    name = path.name.rsplit("-", 1)[0]
    ops = []
    for op in root.find(f"{{{_WSDL}}}portType").iter(f"{{{_WSDL}}}operation"):
        inp, out = op.find(f"{{{_WSDL}}}input"), op.find(f"{{{_WSDL}}}output")
        ops.append(Operation(op.get("name"), name, messages[inp.get("message").rpartition(":")[2]],
                             messages[out.get("message").rpartition(":")[2]], inp.get(f"{{{_WSAM}}}Action"),
                             out.get(f"{{{_WSAM}}}Action")))
    return Service(name, path, tuple(ops))


@lru_cache(maxsize=1)
def services() -> dict[str, Service]:
    """The services of the contract, by name (trafficcenter, aanleverpunt, doelsysteem), from ``wsdl/``."""
    return {s.name: s for s in (_read_wsdl(p) for p in sorted(WSDL_DIR.glob(f"*-{VERSION}.wsdl")))}


def service(name: str) -> Service:
    return services()[name]


@lru_cache(maxsize=1)
def _by_action() -> dict[str, Operation]:
    return {op.action: op for s in services().values() for op in s.operations}


@lru_cache(maxsize=1)
def _by_element() -> dict[str, tuple[Operation, bool]]:
    out = {}
    for s in services().values():
        for op in s.operations:
            out[op.request] = (op, True)
            out[op.response] = (op, False)
    return out


def operation_for_action(action: str | None) -> Operation | None:
    """The operation whose request carries this wsa:Action (None: no operation of the contract)."""
    return _by_action().get(action or "")


def operation_for_element(tag: str) -> tuple[Operation, bool] | None:
    """(the operation, True for its request / False for its response) of a Body element, by Clark name."""
    return _by_element().get(tag)


@lru_cache(maxsize=1)
def _by_response_action() -> dict[str, Operation]:
    return {op.response_action: op for s in services().values() for op in s.operations}


def operation_for_response_action(action: str | None) -> Operation | None:
    """The operation whose answer carries this wsa:Action (None: no answer of the contract)."""
    return _by_response_action().get(action or "")


# ---- files ------------------------------------------------------------------------------------------------------

def action_mismatch(action: str | None, body_tag: str | None) -> str | None:
    """Why wsa:Action and the Body's element do not belong together (WSA-ACTION), or None when they do: the Action
    names an operation of the contract whose request — or, for a response action, whose response — is the Body.
    The text names the operation and elements only, never values."""
    answer = operation_for_action(action) is None and operation_for_response_action(action) is not None
    op = operation_for_response_action(action) if answer else operation_for_action(action)
    if op is None:
        return f"no WSDL in wsdl/ has an operation with the action {action}"
    expected = op.response if answer else op.request
    if expected != body_tag:
        held = etree.QName(body_tag).localname if body_tag else "nothing"
        return (f"{op.service} operation {op.name} {'answers' if answer else 'takes'} "
                f"{etree.QName(expected).localname}, but the Body holds {held}")
    return None


def wsdl_path(service_name: str) -> Path:
    return service(service_name).wsdl


def published_file(folder: str, name: str) -> Path | None:
    """A contract file as served at ``/wsdl/NAME`` or ``/xsd/NAME``, or None (no other names, no paths)."""
    base, suffix = {"wsdl": (WSDL_DIR, ".wsdl"), "xsd": (XSD_DIR, ".xsd")}.get(folder, (None, None))
    if base is None or "/" in name or "\\" in name or not name.endswith(suffix):
        return None
    path = base / name
    return path if path.is_file() else None


# ---- the schema -------------------------------------------------------------------------------------------------

# Compiled XMLSchema objects, lent out one at a time: an XMLSchema's error log is its own state, so two threads may
# not validate with one at once, and compiling one per thread would cost a compile for every request of a server
# that starts a thread per connection. A pool keeps as many as threads validate at the same moment.
_pool: queue.SimpleQueue = queue.SimpleQueue()


def _compile() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / XSD_FILE)))


@contextmanager
def schema():
    """The contract's XSD (its imports resolved from ``xsd/``), lent to this caller until the block ends."""
    try:
        s = _pool.get_nowait()
    except queue.Empty:
        s = _compile()
    try:
        yield s
    finally:
        _pool.put(s)


# ---- telling a schema error without a word of the request -------------------------------------------------------
#
# libxml2 quotes the instance in its messages: a value ("'123456782' is not a valid value of the atomic type …"), an
# element or attribute name the sender chose, a namespace. Its message is therefore never passed on as it is: it is
# read against the few templates a Body can produce, and told again from the template's fixed words and from tokens
# of the contract itself (its element, attribute and type names, its facets). Whatever does not fit a template
# becomes a message of fixed words: nothing of the request can pass, whatever shape the request has.

_XS = "http://www.w3.org/2001/XMLSchema"
_XS_BUILTIN = re.compile(r"(?:\{" + re.escape(_XS) + r"\}|xs:)[A-Za-z]{1,32}")
_CONTENT_TYPES = frozenset({"element-only", "empty", "simple", "mixed"})
_PREFIX = re.compile(r"Element '(?P<el>.*?)'(?:, attribute '(?P<attr>.*?)')?: (?P<rest>.*)", re.DOTALL)
_FACET_TEMPLATES = [  # (template of the rest, how it is told again)
    (re.compile(r"\[facet 'pattern'\] The value '.*' is not accepted by the pattern '(?P<p>.*)'\.?", re.DOTALL),
     lambda m, known: "[facet 'pattern'] the value is not accepted by the pattern"
                      + (f" '{m['p']}'" if m["p"] in known else " of its type")),
    (re.compile(r"\[facet 'enumeration'\] The value '.*' is not an element of the set \{(?P<set>.*)\}\.?", re.DOTALL),
     lambda m, known: "[facet 'enumeration'] the value is not one of "
                      + (f"{{{m['set']}}}" if _known_set(m["set"], known) else "the values its type allows")),
    (re.compile(r"\[facet '(?P<f>maxLength|minLength|length)'\] The value has a length of '(?P<n>[0-9]{1,9})'; "
                r"this (?P<verb>exceeds|underruns|differs from) the allowed (?P<which>maximum |minimum )?length of "
                r"'(?P<limit>[0-9]{1,9})'\.?"),
     lambda m, known: f"[facet '{m['f']}'] the value has a length of {m['n']}; this {m['verb']} the allowed "
                      f"{m['which'] or ''}length of {m['limit']}"),
    (re.compile(r"\[facet '(?P<f>[A-Za-z]{1,20})'\] The value .*", re.DOTALL),
     lambda m, known: f"[facet '{m['f']}'] the value does not meet the facet"),
    (re.compile(r"'.*' is not a valid value of the (?P<kind>(?:local )?(?:atomic|list|union)) type"
                r"(?: '(?P<t>.*)')?\.?", re.DOTALL),
     lambda m, known: f"the value is not a valid value of the {m['kind']} type"
                      + (f" '{m['t']}'" if m["t"] and _known_name(m["t"], known) else "")),
    (re.compile(r"This element is not expected\.(?: Expected is (?P<exp>.*?))?\.?", re.DOTALL),
     lambda m, known: "this element is not expected here" + _expected(m["exp"], known)),
    (re.compile(r"Missing child element\(s\)\.(?: Expected is (?P<exp>.*?))?\.?", re.DOTALL),
     lambda m, known: "missing child element(s)" + _expected(m["exp"], known)),
    (re.compile(r"Character content other than whitespace is not allowed because the content type is "
                r"'(?P<ct>[a-z-]{1,20})'\.?"),
     lambda m, known: "character content other than whitespace is not allowed"
                      + (f" (the content type is '{m['ct']}')" if m["ct"] in _CONTENT_TYPES else "")),
    (re.compile(r"Element content is not allowed, because the (?:content type is a simple type definition|"
                r"type definition is simple)\.?"),
     lambda m, known: "element content is not allowed: the type is simple"),
    (re.compile(r"The attribute '.*' is not allowed\.?", re.DOTALL),
     lambda m, known: "this attribute is not allowed"),
    (re.compile(r"The attribute '(?P<a>.*)' is required but missing\.?", re.DOTALL),
     lambda m, known: "the attribute" + (f" '{m['a']}'" if _known_name(m["a"], known) else "")
                      + " is required but missing"),
    (re.compile(r"No matching global declaration available for the validation root\.?"),
     lambda m, known: "no matching global declaration available for the validation root"),
]
_WHOLE = [  # messages without an element
    (re.compile(r"No matching global declaration available for the validation root\.?"),
     "no matching global declaration available for the validation root"),
]


@lru_cache(maxsize=1)
def _contract_tokens() -> frozenset[str]:
    """What the contract's own XSD files say: element, attribute and type names (plain and in Clark notation) and
    facet values. Only these (and XML Schema's built-in type names) may be quoted in a schema error told to anyone."""
    out: set[str] = set()
    for path in sorted(XSD_DIR.glob("*.xsd")):
        root = etree.parse(str(path)).getroot()
        tns = root.get("targetNamespace") or ""
        for el in root.iter(f"{{{_XS}}}*"):
            name = el.get("name")
            if name:
                out.update({name, f"{{{tns}}}{name}"})
            for attr in ("type", "base", "ref"):
                value = el.get(attr)
                if value:
                    prefix, _, local = value.rpartition(":")
                    out.update({value, local, f"{{{el.nsmap.get(prefix or None, tns)}}}{local}"})
            if etree.QName(el).localname in ("pattern", "enumeration", "length", "minLength", "maxLength"):
                out.add(el.get("value") or "")
    out.discard("")
    return frozenset(out)


def _known_name(text: str, known: frozenset[str]) -> bool:
    return text in known or bool(_XS_BUILTIN.fullmatch(text))


def _known_set(text: str, known: frozenset[str]) -> bool:
    items = [i.strip() for i in text.split(",")]
    return all(len(i) >= 2 and i[0] == i[-1] == "'" and i[1:-1] in known for i in items)


_EXPECTED_NAME = re.compile(r"\{[^{}]*\}[A-Za-z_][\w.-]*|[A-Za-z_][\w.-]*")


def _expected(text: str | None, known: frozenset[str]) -> str:
    """ " (expected: …)" when libxml2's list of expected elements names only elements of the contract."""
    if not text:
        return ""
    inner = text.strip()
    if inner.startswith("one of "):
        inner = inner[len("one of "):]
    if not (inner.startswith("(") and inner.endswith(")")):
        return ""
    names = [n.strip() for n in inner[1:-1].split(",")]
    if not names or not all(_EXPECTED_NAME.fullmatch(n) and n in known for n in names):
        return ""
    return f"; expected: {', '.join(names)}"


def scrub(message: str) -> str:
    """A schema error as it may be told to anyone (a Fault's reason, a log line): libxml2's message told again from
    its template's own words and the contract's names and facets, without a value, name or namespace of the
    instance; one that fits no known template becomes "… does not conform to the contract"."""
    known = _contract_tokens()
    text = (message or "").strip()
    for template, told in _WHOLE:
        if template.fullmatch(text):
            return told
    m = _PREFIX.fullmatch(text)
    if m is None:
        return "the element does not conform to the contract"
    where = f"Element '{m['el']}'" if m["el"] in known else "An element that is not in the contract"
    if m["attr"] is not None:
        where += (f", attribute '{m['attr']}'" if _known_name(m["attr"], known)
                  else ", an attribute that is not in the contract")
    for template, tell in _FACET_TEMPLATES:
        found = template.fullmatch(m["rest"].strip())
        if found is not None:
            return f"{where}: {tell(found, known)}."
    return f"{where}: does not conform to the contract."


def schema_errors(element: etree._Element, limit: int = 20) -> list[str]:
    """What is wrong with a Body element against the contract (scrubbed, at most ``limit``); [] when it conforms."""
    with schema() as s:
        if s.validate(element):
            return []
        return [f"line {e.line}: {scrub(e.message)}" for e in list(s.error_log)[:limit]] or ["does not conform"]


def schema_error(element: etree._Element) -> str | None:
    """The first thing wrong with a Body element against the contract (scrubbed), or None when it conforms."""
    with schema() as s:
        if s.validate(element):
            return None
        entry = s.error_log.last_error
        return scrub(entry.message if entry is not None else "the element does not conform")[:300]
