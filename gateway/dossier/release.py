"""Release checks: what a source may send, and what a target may accept, in this transfer.

- ``categorie_uitlevering``: a category marked VERBODEN (the receiving sector may not have it) or OPT-UIT (the parents
  opted out) carries no data. Which elements belong to which category follows the Edustandaard business rules
  OS.cat01–OS.cat16 of the 2019.1 gegevensset (the XSLTs check the same; this check also holds without a bundle).
- inzage/toestemming as the overstap type requires: PO-PO and PO-VO need parental inspection (``inzage`` true),
  VO-VO needs consent (``toestemming`` Ja); binnen-BRIN and SWV dossiers need neither.
- ``overdrachtsoort`` and ``metadata/overstap`` agree with each other, and, when the caller passes the transfer it is
  part of (a ``Transfer``: the session's overdrachtsoort, overstap, source BRIN), with that transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .findings import ERROR, Finding, gateway, xpath_of

_L = "huidigeschool/leerling/"
_OO = _L + "onderwijsondersteuning/"

# category -> the paths (from the dossier root) of the data that belongs to it
CATEGORIES: dict[str, tuple[str, ...]] = {
    "cat_metadata": ("metadata", "overdrachtsoort"),
    "cat_ouderinzage": ("inzage",),
    "cat_oudersverzorgers": (_L + "verzorgersaansprakelijk", _L + "verzorger", _L + "aansprakelijkeinstelling"),
    "cat_vve": (_L + "vanpeuterspeelzaal", _L + "naampeuterspeelzaal", _L + "voorschools", _L + "vroegschools"),
    "cat_schoolloopbaan": (_L + "schoolloopbaanlijst",),
    "cat_overstapadvies": (_L + "overstapadvies",),
    # "toelichting_onderwijsbehoefte" is how the business rule OS.cat09 spells it; the XSD's element is
    # "toelichting_onderwijsbehoeften": both are listed, so the element is found whichever name a dossier uses.
    "cat_onderwijsondersteuning": tuple(_OO + n for n in (
        "toelichting_onderwijsbehoefte", "toelichting_onderwijsbehoeften", "diagnose", "medicijngebruik", "opp",
        "tlv", "arrangement_cluster12", "arrangement_pao", "lwoo", "rvc")),
    "cat_verzuim": (_L + "verzuim",),
    "cat_eindtoetsbo": (_L + "eindtoets_basisonderwijs",),
    "cat_toetsresultaten": (_L + "toetslijst",),
    "cat_handelingsplannen": (_OO + "handelingsplan",),
    "cat_cijferlijsten": (_L + "cijferlijstlijst",),
    "cat_vombo": tuple(_L + n for n in (
        "bevorderd", "examenresultaat", "resultaatvakkenvo", "certificaat", "competenties", "stage", "overigvombo")),
    "cat_bijlagedocs": (_L + "overigdocumentlijst",),
}

OVERSTAPDOSSIER, BINNENBRIN, SWV = "overstapdossier", "overdrachtbinnenbrin", "swv-dossier"
OVERDRACHTSOORTEN = (OVERSTAPDOSSIER, BINNENBRIN, SWV)
OVERSTAP_TYPES = {OVERSTAPDOSSIER: ("POPO", "POVO", "VOVO"), SWV: ("POSWV", "VOSWV")}
NEEDS_INZAGE = ("POPO", "POVO")
NEEDS_TOESTEMMING = ("VOVO",)


@dataclass(frozen=True)
class Transfer:
    """What the transfer this dossier travels in says about it (all optional)."""

    overdrachtsoort: str | None = None
    overstap: str | None = None
    bron_brin: str | None = None  # the source school's BRIN


def _find_path(root: etree._Element, ns: str, path: str) -> list[etree._Element]:
    return root.findall("/".join(f"{{{ns}}}{step}" for step in path.split("/")))


def check_categories(root: etree._Element) -> list[Finding]:
    ns = etree.QName(root).namespace or ""
    cats = root.find(f"{{{ns}}}metadata/{{{ns}}}categorie_uitlevering")
    if cats is None:
        return []
    out: list[Finding] = []
    for cat in cats:
        if not isinstance(cat.tag, str):
            continue
        name = etree.QName(cat).localname
        value = (cat.text or "").strip()
        if value not in ("VERBODEN", "OPT-UIT") or name not in CATEGORIES:
            continue
        rule = "DOS-CAT-VERBODEN" if value == "VERBODEN" else "DOS-CAT-OPTUIT"
        why = "VERBODEN" if value == "VERBODEN" else "OPT-UIT (the parents opted out)"
        for path in CATEGORIES[name]:
            for el in _find_path(root, ns, path):
                out.append(gateway(ERROR, rule, f"category {name} is {why}, but the dossier carries its "
                                   f"'{etree.QName(el).localname}'", xpath_of(el)))
    return out


def check_release(root: etree._Element, transfer: Transfer | None = None) -> list[Finding]:
    """Categories, inzage/toestemming and overdrachtsoort consistency (see the module docstring)."""
    ns = etree.QName(root).namespace or ""
    out = check_categories(root)
    q = lambda path: "/".join(f"{{{ns}}}{s}" for s in path.split("/"))  # noqa: E731
    soort_el = root.find(q("overdrachtsoort"))
    soort = (soort_el.text or "").strip() if soort_el is not None else None
    overstap_el = root.find(q("metadata/overstap"))
    overstap = (overstap_el.text or "").strip() if overstap_el is not None else None
    here = xpath_of(root)

    # overdrachtsoort <-> overstap
    if soort is None:
        out.append(gateway(ERROR, "DOS-OVERDRACHTSOORT", "the dossier has no overdrachtsoort", here))
    elif soort not in OVERDRACHTSOORTEN:
        out.append(gateway(ERROR, "DOS-OVERDRACHTSOORT", f"overdrachtsoort {soort[:40]!r} is none of "
                           f"{', '.join(OVERDRACHTSOORTEN)}", xpath_of(soort_el)))
    else:
        allowed = OVERSTAP_TYPES.get(soort)
        where = xpath_of(overstap_el) if overstap_el is not None else xpath_of(soort_el)
        if allowed is not None and overstap not in allowed:
            out.append(gateway(ERROR, "DOS-OVERDRACHTSOORT", f"a dossier with overdrachtsoort {soort} has overstap "
                               f"{' or '.join(allowed)}, not {overstap!r}", where))
        if soort == BINNENBRIN and overstap in OVERSTAP_TYPES[SWV]:
            out.append(gateway(ERROR, "DOS-OVERDRACHTSOORT", f"a binnen-BRIN dossier cannot have overstap {overstap}",
                               where))

    # inzage / toestemming
    if soort == OVERSTAPDOSSIER and overstap in NEEDS_INZAGE:
        inzage = root.find(q("inzage"))
        if inzage is None:
            out.append(gateway(ERROR, "DOS-INZAGE", f"a {overstap} overstapdossier needs the parents' inspection, "
                               "but the dossier has no inzage block", here))
        else:
            flag = (inzage.findtext(q("inzage")) or "").strip()
            if flag not in ("true", "1"):
                out.append(gateway(ERROR, "DOS-INZAGE", f"a {overstap} overstapdossier needs the parents' "
                                   "inspection, but inzage is not true", xpath_of(inzage)))
    if soort == OVERSTAPDOSSIER and overstap in NEEDS_TOESTEMMING:
        inzage = root.find(q("inzage"))
        consent = (inzage.findtext(q("toestemming")) or "").strip() if inzage is not None else None
        if consent != "Ja":
            said = "no toestemming" if not consent else f"toestemming {consent[:20]!r}"
            out.append(gateway(ERROR, "DOS-TOESTEMMING", f"a {overstap} overstapdossier needs consent "
                               f"(toestemming Ja), but the dossier has {said}",
                               xpath_of(inzage) if inzage is not None else here))

    # the transfer it travels in
    if transfer is not None:
        if transfer.overdrachtsoort is not None and soort != transfer.overdrachtsoort:
            out.append(gateway(ERROR, "DOS-OVERDRACHTSOORT", f"the transfer is a {transfer.overdrachtsoort}, the "
                               f"dossier a {soort!r}", xpath_of(soort_el) if soort_el is not None else here))
        if transfer.overstap is not None and overstap != transfer.overstap:
            out.append(gateway(ERROR, "DOS-OVERDRACHTSOORT", f"the transfer is a {transfer.overstap} overstap, the "
                               f"dossier's overstap is {overstap!r}",
                               xpath_of(overstap_el) if overstap_el is not None else here))
        if transfer.bron_brin is not None:
            brin = root.findtext(q("huidigeschool/brincode"))
            if brin != transfer.bron_brin:
                out.append(gateway(ERROR, "DOS-BRON", f"the transfer's source school is {transfer.bron_brin}, the "
                                   f"dossier's huidigeschool is {brin!r}", here))
    return out
