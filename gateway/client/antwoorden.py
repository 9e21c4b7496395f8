"""The answers of the chain, typed: what a verified, contract-valid response Body says, as frozen values.

``read(operation, body)`` turns a response Body element (already verified and checked against the contract) into the
answer of its operation. Optional elements the gateway's extension adds (``urn:oso-gateway:extensie:1``) are read when
present and are None otherwise: a real peer never sends them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from ..contracts import GW_NS, OSO_NS


@dataclass(frozen=True)
class AanleverpuntAdres:
    """An aanleverpunt as the TC hands it out: whom to ask, where (when it says), whose signature to believe."""

    routeringskenmerk: str
    url: str | None = None
    leverancier_oin: str | None = None  # gateway extension: the only signer whose answers count


@dataclass(frozen=True)
class Antwoord:
    """An answer that carries only a result code (afmelding, notificatie, terugkoppeling)."""

    resultaat: str


@dataclass(frozen=True)
class OverdrachtAntwoord:
    resultaat: str
    sessie_id: str | None = None
    aanleverpunten: tuple[AanleverpuntAdres, ...] = ()


@dataclass(frozen=True)
class SessiecontroleAntwoord:
    resultaat: str
    sector: str | None = None


@dataclass(frozen=True)
class DocumentAntwoord:
    resultaat: str
    dossier: bytes | None = None  # the dossier as a document of its own (UTF-8)


@dataclass(frozen=True)
class MeldenNotificatieAntwoord:
    resultaat: str
    koppelsleutel: str | None = None
    url: str | None = None  # where to deliver the notificatieRequest


@dataclass(frozen=True)
class MeldenTerugkoppelingAntwoord:
    resultaat: str
    url: str | None = None  # where to deliver the terugkoppelingRequest


@dataclass(frozen=True)
class OverzichtAntwoord:
    resultaat: str
    aanleverpunten: tuple[AanleverpuntAdres, ...] = ()


@dataclass(frozen=True)
class PingAntwoord:
    resultaat: str
    afzender_oin: str | None = None
    tijdstip: datetime | None = None
    versie: str | None = None


def _text(parent: etree._Element, name: str, ns: str = OSO_NS) -> str | None:
    el = parent.find(f"{{{ns}}}{name}")
    return el.text.strip() if el is not None and el.text is not None else None


def _aanleverpunten(body: etree._Element) -> tuple[AanleverpuntAdres, ...]:
    return tuple(AanleverpuntAdres(_text(a, "routeringsKenmerk"), _text(a, "url"), _text(a, "leverancierOin", GW_NS))
                 for a in body.findall(f"{{{OSO_NS}}}aanleverpunt"))


def dossier_of(body: etree._Element) -> bytes | None:
    """The dossier carried by a verified documentResponse Body, as a document of its own (UTF-8, no SOAP namespaces
    left over), or None."""
    wrapper = body.find(f"{{{OSO_NS}}}dossier")
    if wrapper is None:
        return None
    children = [c for c in wrapper if isinstance(c.tag, str)]
    if len(children) != 1:
        return None
    dossier = children[0]
    inherited = wrapper.nsmap
    own = [p for p, uri in dossier.nsmap.items() if p is not None and inherited.get(p) != uri]
    root = copy.deepcopy(dossier)
    # the envelope's declarations came along with the copy: drop those the dossier does not use (its own stay)
    etree.cleanup_namespaces(root, keep_ns_prefixes=own)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _tijdstip(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def read(operation: str, body: etree._Element):
    """The typed answer of ``operation`` from its response Body element."""
    r = _text(body, "resultaat")
    if operation == "overdracht":
        return OverdrachtAntwoord(r, _text(body, "sessieId"), _aanleverpunten(body))
    if operation == "sessiecontrole":
        return SessiecontroleAntwoord(r, _text(body, "sector"))
    if operation == "document":
        return DocumentAntwoord(r, dossier_of(body))
    if operation == "meldenNotificatie":
        return MeldenNotificatieAntwoord(r, _text(body, "koppelsleutel"), _text(body, "url"))
    if operation == "meldenTerugkoppeling":
        return MeldenTerugkoppelingAntwoord(r, _text(body, "url"))
    if operation == "overzichtAanleverpunt":
        return OverzichtAntwoord(r, _aanleverpunten(body))
    if operation == "ping":
        return PingAntwoord(r, _text(body, "afzenderOin", GW_NS), _tijdstip(_text(body, "tijdstip", GW_NS)),
                            _text(body, "versie", GW_NS))
    return Antwoord(r)
