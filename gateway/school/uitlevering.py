"""The release rules of the reference source, as one pure function: ``beslis(record, verzoek, sessiecontrole, now)``.

A dossier leaves the school only when every rule below holds, checked in this order; the first that fails names the
result code (``gateway.oso.resultaat``):

1. the Traffic Center confirmed the session (``sessiecontroleResponse`` Geslaagd); otherwise the TC's own code is
   the answer (or TrafficCenterNietBeschikbaar / Timeout when it could not be asked) — **no sessiecontrole, no
   dossier**;
2. the documentRequest was signed by the vendor the register names for its doel aanleverpunt
   (``doelRouteringsKenmerk``, which the TC just confirmed is the session's): else ``LeverancierNietGeautoriseerd``.
   The doel aanleverpunt is how the chain binds a session to its requester: a party that learnt a sessieId and a
   zoeksleutel can name the session's aanleverpunt, but cannot sign as its vendor;
3. the zoeksleutel (or koppelsleutel) names a pupil of the school: else ``LeerlingOnbekend``;
4. a dossier is prepared ("klaargezet") for this kind of transfer: else ``LeerlinginfoNietBeschikbaar`` (a
   binnen-BRIN dossier is not released in an overstap, nor an overstapdossier in a binnen-BRIN transfer);
5. the school has not withheld it: else ``LeveringGeweigerd``;
6. inzage was recorded (overstap PO-PO, PO-VO) or toestemming (VO-VO), on or before today: else
   ``LeerlinginfoNietOpvraagbaar``; a binnen-BRIN transfer, and an SWV dossier, need neither;
7. the dossier was gathered on or after the day of the requested dossierVerzameldatum (the moment's own date, in its
   own offset: the school keeps the day it gathered a dossier): else ``VerzameldatumNietBereikt``;
8. what is released carries no data of a category that ``metadata/categorie_uitlevering`` marks VERBODEN (the
   receiving sector may not have it) or OPT-UIT (the parents opted out): those elements are removed
   (``verwijder_categorieen``; which elements belong to which category is ``gateway.dossier.release.CATEGORIES``);
9. what is released passes validation (``gateway.dossier.validate``: the bundle's XSD and business rules when a
   bundle is configured, and the gateway's own checks, the test school's test numbers allowed): else
   ``LeveringGeweigerd``. Only error findings refuse; a dossier no bundle fits is released on the gateway's own
   checks, and the decision says so.

Then: ``OverdrachtGeslaagd`` with the bytes to release. Decisions carry a reason for the school's log; no reason
ever names the pupil or quotes the dossier.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from lxml import etree

from ..dossier import (KENNISNET_TEST_SCHOOL, CANNOT_VALIDATE, BundleRegistry, DossierPolicy, IdentityPolicy, Report,
                       Transfer, validate)
from ..dossier.release import BINNENBRIN, CATEGORIES, NEEDS_INZAGE, NEEDS_TOESTEMMING
from ..oso.resultaat import CODES
from ..wsse.errors import SecurityError
from ..wsse.xmlparse import parse_untrusted

GESLAAGD = "Geslaagd"
RELEASED = "OverdrachtGeslaagd"
# The categorie_uitlevering values whose data must not travel.
WITHHELD_VALUES = ("VERBODEN", "OPT-UIT")
# cat_metadata cannot be left out (the dossier would lose its metadata): a dossier that marks it VERBODEN is not
# released as it is, because validation refuses it (business rule OS.cat01).
_NEVER_STRIPPED = frozenset({"cat_metadata"})
# Containers that only group a category's elements: removed when stripping leaves them empty.
_CONTAINERS = frozenset({"onderwijsondersteuning"})

# The source's validation: the test school's fixed test numbers (which fail the elfproef) are let through, in a
# dossier of that school only (gateway.dossier.identity).
SCHOOL_POLICY = DossierPolicy(identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,)))


def mask(pgn: str | None) -> str:
    """A PGN as people may see it: every digit but the last two hidden."""
    if not pgn:
        return "-"
    return "*" * max(len(pgn) - 2, 0) + pgn[-2:]


@dataclass(frozen=True)
class DossierRecord:
    """A pupil's prepared dossier as the school keeps it."""

    brin: str
    pgn: str = field(repr=False)
    pgn_kind: str  # BSN | ONR
    overdrachtsoort: str  # overstapdossier | overdrachtbinnenbrin | swv-dossier (of the dossier itself)
    overstap: str | None  # POPO, POVO, VOVO, POSWV, VOSWV (metadata/overstap)
    dossier: bytes = field(repr=False)
    verzameldatum: date
    klaargezet: bool = True
    inzage: date | None = None
    toestemming: date | None = None
    geweigerd: bool = False  # the school withholds release
    bijgewerkt: datetime | None = None

    @property
    def masked_pgn(self) -> str:
        return mask(self.pgn)


@dataclass(frozen=True)
class Verzoek:
    """A documentRequest, as received (after the security middleware verified and schema-validated it)."""

    sessie_id: str
    bron_routeringskenmerk: str
    bron_brin: str
    doel_brin: str
    doel_routeringskenmerk: str
    overdrachtsoort: str
    aanvrager_oin: str  # the verified signer of the documentRequest
    zoeksleutel: str | None = None
    pgnfrag: str | None = None
    koppelsleutel: str | None = None
    verzameldatum: date | None = None


@dataclass(frozen=True)
class Sessiecontrole:
    """What the Traffic Center answered to our sessiecontroleRequest (or why it could not be asked)."""

    resultaat: str
    doel_sector: str | None = None
    reden: str = ""

    @property
    def geslaagd(self) -> bool:
        return self.resultaat == GESLAAGD


@dataclass(frozen=True)
class Besluit:
    resultaat: str
    dossier: bytes | None = field(default=None, repr=False)  # the bytes to release, only with OverdrachtGeslaagd
    reden: str = ""
    verzameldatum: date | None = None  # the dossier's, told to the target when useful
    verwijderd: tuple[str, ...] = ()  # the categories whose data was left out of what is released
    bevindingen: tuple[str, ...] = ()  # "rule at location" of the errors that refused it (no values)

    def __post_init__(self):
        if self.resultaat not in CODES:
            raise ValueError(f"unknown result code {self.resultaat!r}")
        if (self.dossier is not None) != (self.resultaat == RELEASED):
            raise ValueError("a dossier is released with OverdrachtGeslaagd, and only then")

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.dossier).hexdigest() if self.dossier is not None else None


@dataclass(frozen=True)
class Uitlevering:
    """One entry of the school's release log: who asked, when, in which session, and what was released (its
    SHA-256 and size). Never the PGN, never the dossier."""

    tijdstip: datetime
    sessie_id: str
    bron_routeringskenmerk: str
    bron_brin: str
    doel_brin: str
    overdrachtsoort: str
    aanvrager_oin: str  # the verified signer of the documentRequest
    message_id: str  # the documentRequest's wsa:MessageID
    sessiecontrole: str  # what the TC answered (or TrafficCenterNietBeschikbaar / Timeout)
    resultaat: str  # what we answered
    reden: str
    sha256: str | None = None
    grootte: int | None = None
    id: int | None = None

    @classmethod
    def van(cls, verzoek: Verzoek, sessiecontrole: Sessiecontrole, besluit: Besluit, *, message_id: str,
            tijdstip: datetime) -> "Uitlevering":
        return cls(tijdstip, verzoek.sessie_id, verzoek.bron_routeringskenmerk, verzoek.bron_brin, verzoek.doel_brin,
                   verzoek.overdrachtsoort, verzoek.aanvrager_oin, message_id, sessiecontrole.resultaat, besluit.resultaat,
                   besluit.reden[:1000], besluit.sha256,
                   len(besluit.dossier) if besluit.dossier is not None else None)


class Controle:
    """Validation of what is about to be released: the configured bundles (None: the gateway's own checks only)."""

    def __init__(self, bundles: BundleRegistry | None = None, policy: DossierPolicy = SCHOOL_POLICY):
        self.bundles = bundles
        self.policy = policy

    def __call__(self, data: bytes, transfer: Transfer) -> Report:
        return validate(data, self.bundles, policy=self.policy, transfer=transfer)


def verwijder_categorieen(data: bytes, *, policy: DossierPolicy = SCHOOL_POLICY) -> tuple[bytes, tuple[str, ...]]:
    """The dossier without the data of every category its ``categorie_uitlevering`` marks VERBODEN or OPT-UIT, and
    the names of the categories whose elements were removed. Without anything to remove, the very bytes given are
    returned (so a dossier released as it is stays byte-identical). Raises SecurityError for bytes the safe parser
    refuses."""
    root = parse_untrusted(data, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
    ns = etree.QName(root).namespace or ""
    cats = root.find(f"{{{ns}}}metadata/{{{ns}}}categorie_uitlevering")
    if cats is None:
        return data, ()
    removed: list[str] = []
    for cat in cats:
        if not isinstance(cat.tag, str):
            continue
        name = etree.QName(cat).localname
        if name in _NEVER_STRIPPED or (cat.text or "").strip() not in WITHHELD_VALUES:
            continue
        for path in CATEGORIES.get(name, ()):
            for el in root.findall("/".join(f"{{{ns}}}{step}" for step in path.split("/"))):
                parent = el.getparent()
                _remove(el)
                if name not in removed:
                    removed.append(name)
                if (parent is not None and etree.QName(parent).localname in _CONTAINERS
                        and not any(isinstance(c.tag, str) for c in parent)):
                    _remove(parent)
    if not removed:
        return data, ()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), tuple(removed)


def _remove(el: etree._Element) -> None:
    """Remove an element with the whitespace that followed it (its tail), keeping the indentation of the rest."""
    parent = el.getparent()
    if parent is None:
        return
    previous = el.getprevious()
    if el.tail and not el.tail.strip():
        if previous is not None:
            previous.tail = el.tail
        else:
            parent.text = el.tail
    parent.remove(el)


def _errors(report: Report) -> tuple[str, ...]:
    return tuple(f"{f.rule or f.source}@{f.location or '-'}" for f in report.errors)


def beslis(record: DossierRecord | None, verzoek: Verzoek, sessiecontrole: Sessiecontrole, now: datetime, *,
           doel_leverancier: str | None, controle: Callable[[bytes, Transfer], Report] | None = None) -> Besluit:
    """Whether, and what, the school releases for this documentRequest (see the module docstring).
    ``doel_leverancier`` is the OIN of the vendor the register names for the request's doel aanleverpunt (None: the
    register does not know it)."""
    if not sessiecontrole.geslaagd:
        code = sessiecontrole.resultaat if sessiecontrole.resultaat in CODES else "TrafficCenterNietBeschikbaar"
        return Besluit(code, reden=f"sessiecontrole: {sessiecontrole.resultaat}"
                       + (f" ({sessiecontrole.reden})" if sessiecontrole.reden else ""))
    if doel_leverancier is None or doel_leverancier != verzoek.aanvrager_oin:
        return Besluit("LeverancierNietGeautoriseerd", reden="the documentRequest is not signed by the vendor "
                       "registered for its doel aanleverpunt" if doel_leverancier else "the register does not know "
                       "the doel aanleverpunt")
    if record is None:
        return Besluit("LeerlingOnbekend", reden="no pupil of the school matches the request")
    if not record.klaargezet:
        return Besluit("LeerlinginfoNietBeschikbaar", reden="the dossier is not prepared (or was withdrawn)")
    if record.overdrachtsoort != verzoek.overdrachtsoort:
        return Besluit("LeerlinginfoNietBeschikbaar", reden=f"the prepared dossier's overdrachtsoort is "
                       f"{record.overdrachtsoort}, the transfer's {verzoek.overdrachtsoort}")
    if record.geweigerd:
        return Besluit("LeveringGeweigerd", reden="the school withholds release of this dossier")
    today = now.date()
    if verzoek.overdrachtsoort != BINNENBRIN:
        if record.overstap in NEEDS_INZAGE and (record.inzage is None or record.inzage > today):
            return Besluit("LeerlinginfoNietOpvraagbaar", reden=f"a {record.overstap} dossier needs the parents' inzage first")
        if record.overstap in NEEDS_TOESTEMMING and (record.toestemming is None or record.toestemming > today):
            return Besluit("LeerlinginfoNietOpvraagbaar", reden=f"a {record.overstap} dossier needs toestemming first")
    if verzoek.verzameldatum is not None and record.verzameldatum < verzoek.verzameldatum:
        return Besluit("VerzameldatumNietBereikt", reden=f"gathered {record.verzameldatum.isoformat()}, asked for "
                       f"{verzoek.verzameldatum.isoformat()} or later", verzameldatum=record.verzameldatum)
    check = controle or Controle()
    policy = getattr(check, "policy", SCHOOL_POLICY)
    try:
        released, removed = verwijder_categorieen(record.dossier, policy=policy)
    except SecurityError as exc:
        return Besluit("LeveringGeweigerd", reden=f"the stored dossier cannot be read ({exc.rule})",
                       bevindingen=(f"{exc.rule}@-",))
    report = check(released, Transfer(overdrachtsoort=verzoek.overdrachtsoort, bron_brin=verzoek.bron_brin))
    if report.errors or not report.is_dossier:
        errors = _errors(report)
        rules = sorted({e.split("@", 1)[0] for e in errors})
        return Besluit("LeveringGeweigerd", reden=f"the dossier fails validation: {len(errors)} error(s) "
                       f"({', '.join(rules[:8])})", bevindingen=errors)
    notes = []
    if removed:
        notes.append(f"left out: {', '.join(removed)}")
    if report.status == CANNOT_VALIDATE:
        notes.append(f"validated by the gateway's own checks only ({report.problem})")
    return Besluit(RELEASED, released, reden="; ".join(notes) or "released", verzameldatum=record.verzameldatum,
                   verwijderd=removed)
