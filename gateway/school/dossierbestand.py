"""What a dossier file says about itself, and the two changes the school makes to it after preparing it.

``lees(data)``: the school (``huidigeschool/brincode``), the pupil's BSN or onderwijsnummer when the dossier carries
one (an SWV dossier may not), the overdrachtsoort, the overstap, the date it was gathered (``metadata/datum``), and
whether the parents had inzage or gave toestemming. Any OSO dossier is read, not only ours: the official example
dossiers can be prepared as they are.

``met_inzage`` / ``met_toestemming``: record inzage or toestemming in the dossier's own ``inzage`` block, so that
what is released tells the target the same as the school's records. A dossier that already says so is returned
unchanged (the very bytes); so is one whose ``categorie_uitlevering`` keeps the inzage block out (cat_ouderinzage
VERBODEN or OPT-UIT).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lxml import etree

from ..dossier import DossierPolicy
from ..dossier.validate import DOSSIER_NS
from ..wsse.errors import SecurityError
from ..wsse.xmlparse import parse_untrusted
from .uitlevering import SCHOOL_POLICY, WITHHELD_VALUES

# The XSD's sequences where the school inserts elements.
_DOSSIER_ORDER = ("metadata", "overdrachtsoort", "inzage", "huidigeschool")
_INZAGE_ORDER = ("voorlopigdossier", "inzage", "inzagedatum", "akkoord", "redennietakkoord", "toestemming")


class DossierFileError(ValueError):
    """The bytes are not an OSO dossier the school can prepare."""


@dataclass(frozen=True)
class DossierInfo:
    namespace: str
    brin: str | None
    pgn: str | None = field(repr=False)  # the BSN or onderwijsnummer in the dossier, if any
    overdrachtsoort: str | None
    overstap: str | None
    datum: date | None  # metadata/datum: when the dossier was gathered
    inzage: date | None  # inzage true: its inzagedatum (else metadata/datum)
    toestemming: bool  # toestemming "Ja"


def _parse(data: bytes, policy: DossierPolicy) -> etree._Element:
    try:
        root = parse_untrusted(data, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
    except SecurityError as exc:
        raise DossierFileError(f"not readable as a dossier: {exc.reason}") from None
    qn = etree.QName(root)
    if qn.localname != "dossier" or not DOSSIER_NS.fullmatch(qn.namespace or ""):
        raise DossierFileError(f"the root element is {{{qn.namespace or ''}}}{qn.localname}, not an OSO dossier")
    return root


def _text(root: etree._Element, ns: str, path: str) -> str | None:
    el = root.find("/".join(f"{{{ns}}}{step}" for step in path.split("/")))
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def lees(data: bytes, *, policy: DossierPolicy = SCHOOL_POLICY) -> DossierInfo:
    root = _parse(data, policy)
    ns = etree.QName(root).namespace
    datum = _date(_text(root, ns, "metadata/datum"))
    inzage = None
    if (_text(root, ns, "inzage/inzage") or "") in ("true", "1"):
        inzage = _date(_text(root, ns, "inzage/inzagedatum")) or datum
    pgn = _text(root, ns, "huidigeschool/leerling/bsn") or _text(root, ns, "huidigeschool/leerling/onderwijsnummer")
    return DossierInfo(ns, _text(root, ns, "huidigeschool/brincode"), pgn, _text(root, ns, "overdrachtsoort"),
                       _text(root, ns, "metadata/overstap"), datum, inzage,
                       _text(root, ns, "inzage/toestemming") == "Ja")


def _insert(parent: etree._Element, name: str, order: tuple[str, ...]) -> etree._Element:
    """The child ``name`` of ``parent``, made in its place in the XSD's sequence when it is not there."""
    ns = etree.QName(parent).namespace
    existing = parent.find(f"{{{ns}}}{name}")
    if existing is not None:
        return existing
    el = etree.Element(f"{{{ns}}}{name}")
    later = set(order[order.index(name) + 1:])
    for i, child in enumerate(parent):
        if isinstance(child.tag, str) and etree.QName(child).localname in later:
            parent.insert(i, el)
            break
    else:
        parent.append(el)
    return el


def _inzage_block(root: etree._Element) -> etree._Element | None:
    """The dossier's inzage block (made when missing), or None when categorie_uitlevering keeps it out."""
    ns = etree.QName(root).namespace
    cat = _text(root, ns, "metadata/categorie_uitlevering/cat_ouderinzage")
    if cat in WITHHELD_VALUES:
        return None
    block = root.find(f"{{{ns}}}inzage")
    if block is None:
        block = _insert(root, "inzage", _DOSSIER_ORDER)
        _insert(block, "voorlopigdossier", _INZAGE_ORDER).text = "false"
    return block


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def met_inzage(data: bytes, datum: date, *, policy: DossierPolicy = SCHOOL_POLICY) -> bytes:
    """The dossier with inzage recorded (inzage true, inzagedatum, akkoord "Onbekend" when it has none)."""
    root = _parse(data, policy)
    ns = etree.QName(root).namespace
    if (_text(root, ns, "inzage/inzage") in ("true", "1") and _text(root, ns, "inzage/inzagedatum")
            and _text(root, ns, "inzage/akkoord")):
        return data
    block = _inzage_block(root)
    if block is None:
        return data
    _insert(block, "inzage", _INZAGE_ORDER).text = "true"
    when = _insert(block, "inzagedatum", _INZAGE_ORDER)
    if not (when.text or "").strip():
        when.text = datum.isoformat()
    akkoord = _insert(block, "akkoord", _INZAGE_ORDER)
    if not (akkoord.text or "").strip():
        akkoord.text = "Onbekend"  # codelijst 37: whether the parents agree with the content is not known here
    return _serialise(root)


def met_toestemming(data: bytes, *, policy: DossierPolicy = SCHOOL_POLICY) -> bytes:
    """The dossier with toestemming "Ja"."""
    root = _parse(data, policy)
    ns = etree.QName(root).namespace
    if _text(root, ns, "inzage/toestemming") == "Ja":
        return data
    block = _inzage_block(root)
    if block is None:
        return data
    _insert(block, "toestemming", _INZAGE_ORDER).text = "Ja"
    return _serialise(root)
