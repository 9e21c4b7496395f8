"""The journal entry of one exchange, built from what the security middleware saw (sans-IO: values in, a value out).

One entry per exchange, holding both halves: the request and the answer to it. ``direction`` says whose request
it was: ``in`` — a peer's request that the gateway answered (every service behind the security middleware);
``out`` is reserved for requests the gateway sends as a client and the peer's answers (not recorded yet).

**No pupil data.** The Body is never kept, and only these elements are read from it, by their contract names
(xsd/overstapservice-20200910.xsd), in the chain's namespace, never inside a ``dossier`` or a ``zoeksleutelPgnfrag``:
the BRINs (``doelBrin``, ``bronBrin``, ``brin``), the routeringskenmerken (``doelRouteringsKenmerk``,
``bronRouteringsKenmerk``, ``routeringsKenmerk``), ``sessieId``, ``koppelsleutel`` and ``resultaat`` (the answer's
result; in an afmeldingRequest, the session's result the target reports). Each value is kept only when it has the
shape its contract type prescribes (a BRIN is ``[0-9]{2}[A-Z]{2}``, a sessieId a lower-case UUID, a koppelsleutel an
upper-case GUID, a resultaat a code of the table, …), so a refused message that carries something else in those
elements leaves nothing of it here. The zoeksleutel, pgnfrag (both derived from the PGN), feedback texts, names,
PGNs and the dossier are never read. A koppelsleutel is a random GUID the TC issues for a notification: like a
sessieId it names a transfer, not a pupil, and is kept so a trace can follow the notification flow into its session. A fault's reason is kept with quoted values and long digit runs masked.
The raw messages are kept only as their SHA-256 digests and sizes.

**Only what verified counts.** A refused message whose signature, certificate or freshness did not verify (the
middleware had no ``VerifiedMessage``, or its TLS client certificate was not the signer's) tells us nothing we may
believe: its entry names no session, koppelsleutel, school or vendor (``sessie_id``, ``koppelsleutel``, ``brins``,
``routeringskenmerken``, ``signer_oin`` and ``vendor`` stay empty, ``signer_verified`` is False). What it claimed is
kept apart, in the contract's shape, as ``claimed_id`` (the sessieId, else the koppelsleutel) and ``claimed_oin``
(the OIN of the certificate it carried): a trace never follows those, and they change no session's state. The same
holds for a verified request the Traffic Center answered ``SessieOnbekend``: the sessieId it named is no session's,
so it is kept as claimed too (a vendor cannot make up sessions on the dashboard).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from lxml import etree

from .. import contracts
from ..oso import identifiers as ids
from ..oso.resultaat import CODES, SUCCESS
from ..wsse import ns, oin_of
from ..wsse.errors import UNREADABLE_RULES, SecurityError
from ..wsse.faults import _PREFIXES
from ..wsse.checks import WSSE_BST
from ..wsse.xmlparse import DEFAULT_MAX_BYTES, parse_untrusted

_OPERATION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_MESSAGE_ID = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]{1,250}")
_RESPONSE_MESSAGE_ID = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?MessageID\b[^>]*>\s*([^<\s]{1,256})\s*</")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DIGITS = re.compile(r"[0-9]{7,}")
MAX_VALUES = 24  # BRINs / routeringskenmerken kept per entry

BRIN_ELEMENTS = ("doelBrin", "bronBrin", "brin")
RK_ELEMENTS = ("doelRouteringsKenmerk", "bronRouteringsKenmerk", "routeringsKenmerk")
_SHAPES = {
    **{name: ids.is_brin for name in BRIN_ELEMENTS},
    **{name: ids.is_routeringskenmerk for name in RK_ELEMENTS},
    "sessieId": ids.is_uuid4,
    "koppelsleutel": ids.is_koppelsleutel,
    "resultaat": lambda v: v in CODES,
}
_SKIP = frozenset({"dossier", "zoeksleutelPgnfrag", "terugkoppeling"})  # never looked into
# Answers that say the request's sessieId names no session: the id is kept as claimed, not as the entry's session.
NO_SUCH_SESSION = frozenset({"SessieOnbekend"})


@dataclass(frozen=True)
class JournalEntry:
    received_at: datetime
    direction: str  # "in" | "out"
    service: str
    operation: str | None
    message_id: str | None  # the request's wsa:MessageID
    relates_to: str | None  # the request's wsa:RelatesTo (rare)
    response_message_id: str | None  # the answer's wsa:MessageID (its RelatesTo is message_id)
    sessie_id: str | None
    koppelsleutel: str | None
    signer_oin: str | None
    signer_verified: bool  # False: the OIN was read from a refused message's certificate, unverified
    vendor: str | None
    brins: tuple[str, ...]  # "element=value", e.g. "bronBrin=00YY"
    routeringskenmerken: tuple[str, ...]
    verdict: str  # "accepted" | "refused"
    resultaat: str | None
    sessie_resultaat: str | None
    faultcode: str | None
    rule: str | None
    dk_code: str | None
    party: str | None  # whose fault a refusal is: "Client" (the sender) or "Server" (the gateway)
    reason: str | None
    latency_ms: float
    request_size: int
    response_size: int
    request_sha256: str
    response_sha256: str | None
    peer: str | None = None
    # A sessieId (else koppelsleutel) the message named without it tying the message to that transfer: read from a
    # message that did not verify, or named in a request the TC answered SessieOnbekend. Never followed by a trace.
    claimed_id: str | None = None
    # The OIN in the certificate of a message that did not verify: what it claimed, never who sent it.
    claimed_oin: str | None = None

    @property
    def of_transfer(self) -> bool:
        """Whether the entry may count in a transfer's story: its sender was verified. An unverified refusal is
        tied to no transfer, whatever it claimed."""
        return self.signer_verified

    @property
    def failed(self) -> bool:
        """Refused, or answered with a result code that is not a success."""
        return (self.verdict == "refused" or (self.resultaat is not None and self.resultaat not in SUCCESS)
                or (self.sessie_resultaat is not None and self.sessie_resultaat not in SUCCESS))

    @property
    def outcome(self) -> str:
        """What a reader wants to know first: the rule of a refusal, else the (session) result code."""
        if self.verdict == "refused":
            return self.rule or "refused"
        if self.sessie_resultaat and self.sessie_resultaat not in SUCCESS:
            return self.sessie_resultaat
        return self.resultaat or "accepted"

    def brin(self, element: str) -> str | None:
        return _first(self.brins, element)

    def routeringskenmerk(self, element: str) -> str | None:
        return _first(self.routeringskenmerken, element)


def _first(pairs: tuple[str, ...], element: str) -> str | None:
    prefix = element + "="
    return next((p[len(prefix):] for p in pairs if p.startswith(prefix)), None)


@dataclass
class _Fields:
    brins: list[str]
    rks: list[str]
    sessie_id: str | None = None
    koppelsleutel: str | None = None
    resultaat: str | None = None
    sessie_resultaat: str | None = None

    def add(self, path: str, name: str, value: str, *, answer: bool) -> None:
        if name in BRIN_ELEMENTS or name in RK_ELEMENTS:
            target = self.brins if name in BRIN_ELEMENTS else self.rks
            pair = f"{path}={value}"
            if pair not in target and len(target) < MAX_VALUES:
                target.append(pair)
        elif name == "sessieId":
            self.sessie_id = self.sessie_id or value
        elif name == "koppelsleutel":
            self.koppelsleutel = self.koppelsleutel or value
        elif name == "resultaat" and "." not in path:
            if answer:  # the answer's own result
                self.resultaat = self.resultaat or value
            else:  # a result a request reports: the session's, in afmelding
                self.sessie_resultaat = self.sessie_resultaat or value


def _read_fields(payload: etree._Element | None, fields: _Fields, *, answer: bool) -> None:
    """The named elements of a contract Body: the payload's children and grandchildren in the chain's namespace."""
    if payload is None or not isinstance(payload.tag, str):
        return
    q = etree.QName(payload)
    if q.namespace != contracts.OSO_NS:
        return
    for child in payload:
        if not isinstance(child.tag, str):
            continue
        cq = etree.QName(child)
        if cq.namespace != q.namespace or cq.localname in _SKIP:
            continue
        _take(fields, cq.localname, cq.localname, child, answer)
        for grandchild in child:
            if isinstance(grandchild.tag, str):
                gq = etree.QName(grandchild)
                if gq.namespace == q.namespace:
                    _take(fields, f"{cq.localname}.{gq.localname}", gq.localname, grandchild, answer)


def _take(fields: _Fields, path: str, name: str, element: etree._Element, answer: bool) -> None:
    shape = _SHAPES.get(name)
    if shape is None or len(element):
        return
    value = (element.text or "").strip()
    if shape(value):
        fields.add(path, name, value, answer=answer)


def body_fields(request: etree._Element | None, answer: etree._Element | None = None) -> _Fields:
    """The journal's fields of a request Body and its answer's Body (either may be None)."""
    fields = _Fields([], [])
    _read_fields(request, fields, answer=False)
    _read_fields(answer, fields, answer=True)
    return fields


def operation_of(action: str | None, payload: etree._Element | None = None) -> str | None:
    """The operation: the one whose request carries this wsa:Action, else the last segment of another Action,
    else the Body element's name without Request."""
    if action:
        op = contracts.operation_for_action(action)
        if op is not None:
            return op.name
        tail = action.rstrip("/").rsplit("/", 1)[-1]
        if _OPERATION.fullmatch(tail):
            return tail
    if payload is not None and isinstance(payload.tag, str):
        name = etree.QName(payload).localname
        name = name[:-len("Request")] if name.endswith("Request") else name
        if _OPERATION.fullmatch(name):
            return name
    return None


def clean_message_id(value: str | None) -> str | None:
    """A MessageID as kept: an absolute URI of printable ASCII, else its SHA-256 (it was read, not trusted)."""
    if not value:
        return None
    value = value.strip()
    if _MESSAGE_ID.fullmatch(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def redact(text: str | None, limit: int = 300) -> str | None:
    """A reason as kept: quoted values and runs of 7+ digits masked, at most ``limit`` characters."""
    if not text:
        return None
    text = _QUOTED.sub("'…'", text)
    text = _DIGITS.sub("…", text)
    return text[:limit]


def faultcode_text(error: SecurityError) -> str:
    code_ns, local = error.faultcode
    return f"{_PREFIXES.get(code_ns, 'f')}:{local}"  # as the Fault itself writes it


def response_message_id(response: bytes) -> str | None:
    """The MessageID of an answer the gateway signed (its first MessageID element, in its Header)."""
    m = _RESPONSE_MESSAGE_ID.search(response, 0, 65536)
    return clean_message_id(m.group(1).decode("ascii", "replace")) if m else None


@dataclass(frozen=True)
class _Unverified:
    """What can be read of a refused request (untrusted: values are kept only in their contract shape)."""

    action: str | None = None
    message_id: str | None = None
    relates_to: str | None = None
    payload: etree._Element | None = None
    signer_oin: str | None = None


def read_refused(data: bytes, error: SecurityError | None, *, root: etree._Element | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> _Unverified:
    """Best effort, for the journal of a refused request: its Action, MessageID, RelatesTo, Body element and the
    OIN in the certificate it carries (none of it verified). ``root`` is the tree the middleware already parsed;
    without it the bytes are parsed here."""
    if root is None:
        if not data or (error is not None and error.rule in UNREADABLE_RULES):
            return _Unverified()
        try:
            root = parse_untrusted(data, max_bytes=max_bytes)
        except SecurityError:
            return _Unverified()
    header = root.find(f"{{{ns.SOAP11}}}Header")
    body = root.find(f"{{{ns.SOAP11}}}Body")
    payload = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None

    def wsa(name: str) -> str | None:
        el = header.find(f"{{{ns.WSA}}}{name}") if header is not None else None
        if el is None or len(el):
            return None
        return (el.text or "").strip() or None

    signer = None
    bst = header.find(f"{{{ns.WSSE}}}Security/{WSSE_BST}") if header is not None else None
    if bst is not None and bst.text:
        try:
            signer = oin_of(x509.load_der_x509_certificate(base64.b64decode("".join(bst.text.split()))))
        except Exception:  # an unreadable certificate names nobody
            signer = None
    action = wsa("Action")
    return _Unverified(action if action and len(action) <= 256 else None, wsa("MessageID"), wsa("RelatesTo"),
                       payload, signer)


def entry_from_exchange(ex, *, vendor: str | None = None) -> JournalEntry:
    """The entry of one exchange seen by the security middleware (``gateway.web.security.Exchange``)."""
    vm, error = ex.verified, ex.error
    answer_payload = None
    if ex.answer is not None and error is None:
        body = ex.answer.find(f"{{{ns.SOAP11}}}Body")
        answer_payload = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    if vm is not None:
        action, message_id, relates_to, payload = vm.action, vm.message_id, vm.relates_to, vm.body
        signer, verified, claimed_oin = vm.oin, True, None
    else:
        seen = read_refused(ex.request, error, root=getattr(ex, "refused", None))
        action, message_id, relates_to, payload = seen.action, seen.message_id, seen.relates_to, seen.payload
        signer, verified, claimed_oin = None, False, seen.signer_oin
    fields = body_fields(payload, answer_payload)
    sessie_id, koppelsleutel, claimed = fields.sessie_id, fields.koppelsleutel, None
    brins, rks = tuple(fields.brins), tuple(fields.rks)
    if not verified:
        # nothing an unverified message says ties it to a transfer, a school or a vendor: kept as a claim at most
        claimed = fields.sessie_id or fields.koppelsleutel
        sessie_id = koppelsleutel = None
        brins = rks = ()
    elif error is None and fields.resultaat in NO_SUCH_SESSION and sessie_id:
        claimed, sessie_id = sessie_id, None
    return JournalEntry(
        received_at=ex.received_at,
        direction="in",
        service=ex.service,
        operation=operation_of(action, payload),
        message_id=clean_message_id(message_id),
        relates_to=clean_message_id(relates_to),
        response_message_id=response_message_id(ex.response) if ex.response else None,
        sessie_id=sessie_id,
        koppelsleutel=koppelsleutel,
        signer_oin=signer if signer and ids.is_oin(signer) else None,
        signer_verified=verified,
        vendor=vendor if verified else None,
        brins=brins,
        routeringskenmerken=rks,
        verdict="refused" if error is not None else "accepted",
        resultaat=fields.resultaat if error is None else None,
        sessie_resultaat=fields.sessie_resultaat if error is None else None,
        faultcode=faultcode_text(error) if error is not None else None,
        rule=error.rule if error is not None else None,
        dk_code=error.dk_code if error is not None else None,
        party=error.party if error is not None else None,
        reason=redact(error.reason) if error is not None else None,
        latency_ms=round(ex.latency_s * 1000, 3),
        request_size=len(ex.request),
        response_size=len(ex.response),
        request_sha256=hashlib.sha256(ex.request).hexdigest(),
        response_sha256=hashlib.sha256(ex.response).hexdigest() if ex.response else None,
        peer=(ex.peer or None) and ex.peer[:64],
        claimed_id=claimed,
        claimed_oin=claimed_oin if claimed_oin and ids.is_oin(claimed_oin) else None,
    )


def with_vendor(entry: JournalEntry, vendor: str | None) -> JournalEntry:
    return entry if vendor == entry.vendor else replace(entry, vendor=vendor)
