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


_VALUE = re.compile(r"(The value|value) '[^']*'")


def scrub(message: str) -> str:
    """A schema error as it may be told to anyone: the values it quotes are left out."""
    return _VALUE.sub(r"\1", message)


def schema_errors(element: etree._Element, limit: int = 20) -> list[str]:
    """What is wrong with a Body element against the contract (scrubbed, at most ``limit``); [] when it conforms."""
    with schema() as s:
        if s.validate(element):
            return []
        return [scrub(f"line {e.line}: {e.message}") for e in list(s.error_log)[:limit]] or ["does not conform"]


def schema_error(element: etree._Element) -> str | None:
    """The first thing wrong with a Body element against the contract (scrubbed), or None when it conforms."""
    with schema() as s:
        if s.validate(element):
            return None
        entry = s.error_log.last_error
        return scrub(entry.message if entry is not None else "the element does not conform")[:300]
