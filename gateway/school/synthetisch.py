"""Synthetic dossiers in the official OSO-gegevensset 2019.1 format, for pupils that do not exist.

Everything here is made up: the names (invented surnames), the addresses (Proefstraat, Oefenlaan, postcodes in
9999), the schools' history, and the numbers: a generated pupil's BSN is a **test BSN** (99999xxxx, the range kept
for testing, passing the elfproef), an onderwijsnummer one that starts with 1, passes its check and fails the
elfproef. The template is the builder below, written from the XSD and the business rules of the 2019.1 bundle;
the tests hold every profile to the official XSD and XSLTs.

Profiles (``PROFIELEN``): ``POPO``, ``POVO``, ``VOVO`` (overstapdossier), ``BB`` (overdrachtbinnenbrin, a PO
school), ``POSWV``, ``VOSWV`` (swv-dossier; ``SWV`` is POSWV). An SWV dossier carries no BSN or onderwijsnummer
(business rule PaO.LL12): the school knows the pupil by the number it keeps beside the dossier.

``categorie_uitlevering`` is consistent with the data: a category with data is VERPLICHT, one the receiving
sector may not have VERBODEN, the rest OPTIONEEL. ``verboden`` names categories to mark VERBODEN while their data
stays in the dossier: such a dossier is not valid as stored, and is what the release rules must strip
(``gateway.school.uitlevering.verwijder_categorieen``) before it may leave the school.
"""

from __future__ import annotations

import base64
import io
import random
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta

from lxml import etree
from lxml.builder import ElementMaker

from .. import __version__
from ..oso import identifiers as ids
from ..oso.zoeksleutel import pgn_kind

NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
STANDAARDVERSIE, VALIDATIEVERSIE = "2019.1", "2019.1.1"
E = ElementMaker(namespace=NS, nsmap={None: NS})

# profile -> (overdrachtsoort, overstap)
PROFIELEN: dict[str, tuple[str, str]] = {
    "POPO": ("overstapdossier", "POPO"),
    "POVO": ("overstapdossier", "POVO"),
    "VOVO": ("overstapdossier", "VOVO"),
    "BB": ("overdrachtbinnenbrin", "POPO"),
    "POSWV": ("swv-dossier", "POSWV"),
    "VOSWV": ("swv-dossier", "VOSWV"),
}
ALIASES = {"SWV": "POSWV", "BINNENBRIN": "BB"}
CATEGORIE_NAMEN = ("cat_metadata", "cat_ouderinzage", "cat_school", "cat_leerling", "cat_oudersverzorgers", "cat_vve",
                   "cat_schoolloopbaan", "cat_overstapadvies", "cat_onderwijsondersteuning", "cat_verzuim",
                   "cat_eindtoetsbo", "cat_toetsresultaten", "cat_handelingsplannen", "cat_cijferlijsten",
                   "cat_vombo", "cat_bijlagedocs")

_VOORNAMEN = ("Anouk", "Bram", "Daan", "Emma", "Fenna", "Gijs", "Hanna", "Ilse", "Jesse", "Lotte", "Mees", "Noor",
              "Olaf", "Pim", "Roos", "Sem", "Tess", "Vince", "Wout", "Yara")
_ACHTERNAMEN = ("Proefhoeve", "Testhuizen", "Voorbeeldt", "Oefenberg", "Steekproef", "Monsterveld", "Fictiefsma",
                "Verzinsel", "Bedachtink", "Denkbeeld", "Schijnhout", "Nepkamp")
_VOORVOEGSELS = (None, None, None, "van", "de", "van der", "ter")
_STRATEN = ("Proefstraat", "Oefenlaan", "Testweg", "Voorbeeldplein", "Monsterkade")
_PLAATS = "Proefdorp"


class ProfielError(ValueError):
    pass


def profiel(name: str) -> str:
    key = name.upper().replace("-", "")
    key = ALIASES.get(key, key)
    if key not in PROFIELEN:
        raise ProfielError(f"unknown profile {name!r}: one of {', '.join(PROFIELEN)} (SWV = POSWV)")
    return key


# ---- numbers -----------------------------------------------------------------------------------------------------

def test_bsn(rng: random.Random) -> str:
    """A BSN in the test range 999990000-999999999 that passes the elfproef."""
    while True:
        head = "99999" + "".join(str(rng.randrange(10)) for _ in range(3))
        d9 = sum(w * int(c) for w, c in zip(range(9, 1, -1), head)) % 11
        if d9 < 10 and ids.bsn_elfproef(head + str(d9)):
            return head + str(d9)


def test_onderwijsnummer(rng: random.Random) -> str:
    """An onderwijsnummer (starts with 1, passes its check) that does not pass the elfproef, so that it can never
    be taken for a BSN."""
    while True:
        head = "1" + "".join(str(rng.randrange(10)) for _ in range(7))
        d9 = sum(w * int(c) for w, c in zip(range(9, 1, -1), head)) % 11 - 5
        if 0 <= d9 <= 9:
            number = head + str(d9)
            if ids.onderwijsnummer_check(number) and not ids.bsn_elfproef(number):
                return number


# ---- pupils ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leerling:
    """A synthetic pupil."""

    pgn: str = field(repr=False)
    voornaam: str
    achternaam: str
    voorvoegsel: str | None
    geslacht: str  # codelijst 14: 1 female, 2 male (0 unknown)
    leerlingid: str
    nummer: int  # house number, for the address
    straat: str

    @property
    def pgn_kind(self) -> str:
        """BSN or ONR, as the zoeksleutel scheme tells them apart (gateway.oso.zoeksleutel.pgn_kind)."""
        return pgn_kind(self.pgn)


def genereer_leerling(rng: random.Random, *, pgn: str | None = None, onderwijsnummer: bool = False) -> Leerling:
    if pgn is None:
        pgn = test_onderwijsnummer(rng) if onderwijsnummer else test_bsn(rng)
    voornaam = rng.choice(_VOORNAMEN)
    return Leerling(pgn, voornaam, rng.choice(_ACHTERNAMEN), rng.choice(_VOORVOEGSELS),
                    "1" if voornaam in ("Anouk", "Emma", "Fenna", "Hanna", "Ilse", "Lotte", "Noor", "Roos", "Tess",
                                        "Yara") else "2",
                    f"SYN{rng.randrange(10**6):06d}", rng.randrange(1, 200), rng.choice(_STRATEN))


# ---- the template ------------------------------------------------------------------------------------------------

def _adres(soort: str, straat: str, nummer: int) -> etree._Element:
    return E.adres(E.soortadres(soort), E.straat(straat), E.nummer(str(nummer)), E.postcode("9999ZZ"),
                   E.plaats(_PLAATS), E.gemeente(_PLAATS), E.land("6030", omschrijving="Nederland"))


def _communicatie(soort: str, aanduiding: str, nummer: str) -> etree._Element:
    return E.communicatie(E.soort(soort), E.aanduiding(aanduiding), E.nummer(nummer), E.geheim("false"),
                          E.noodnummer("false"))


def _schooljaar(d: date) -> tuple[int, date, date]:
    start = d.year if d.month >= 8 else d.year - 1
    return start, date(start, 8, 1), date(start + 1, 7, 31)


def _bijlage(naam: str, tekst: str) -> etree._Element:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(naam, date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(info, tekst.encode("utf-8"))
    return E.document(E.bestandsnaam(naam.rsplit(".", 1)[0] + ".zip"), E.omschrijving("Synthetische bijlage"),
                      E.bestandsinhoud(base64.b64encode(buf.getvalue()).decode("ascii")))


def _verzorgers(ll: Leerling) -> list[etree._Element]:
    out = []
    for voornaam, geslacht, relatie, email in (("Marieke", "1", "1", "ouder1"), ("Joost", "2", "1", "ouder2")):
        parts = [E.voornaam(voornaam)]
        if ll.voorvoegsel:
            parts.append(E.voorvoegsel(ll.voorvoegsel))
        parts += [E.achternaam(ll.achternaam), E.geslacht(geslacht), E.adresgeheim("false"),
                  E.adreslijst(_adres("bezoek", ll.straat, ll.nummer)),
                  E.communicatielijst(_communicatie("telefoon", "prive", "0999000000"),
                                      _communicatie("e-mail", "prive", f"{email}@voorbeeld.example")),
                  E.relatietotkind(relatie), E.wettigevertegenwoordiger("true")]
        out.append(E.verzorger(*parts))
    return out


def _schoolloopbaan(brin: str, vestiging: str, datum: date, po: bool, jaren: int = 3) -> etree._Element:
    start, _, _ = _schooljaar(datum)
    groep_nu = 8 if po else 13  # codelijst 13: PO groep 1-8, VO leerjaar 11-16
    rows = []
    for k in range(jaren - 1, -1, -1):
        jaar = start - k
        groep = groep_nu - k
        rows.append(E.schoolloopbaan(
            E.schooljaar(f"{jaar}-{jaar + 1}"), E.groepscode(f"{groep if po else groep - 10}A"),
            E.jaargroep(str(groep)), E.begindatum(date(jaar, 8, 1).isoformat()),
            E.einddatum(min(date(jaar + 1, 7, 31), datum if k == 0 else date(jaar + 1, 7, 31)).isoformat()),
            E.brincode(brin), E.vestigingscode(vestiging)))
    return E.schoolloopbaanlijst(*rows)


def bouw_dossier(ll: Leerling, profile: str, *, brin: str = "00YY", vestiging: str = "00", datum: date,
                 inzage: date | None = None, toestemming: bool = False, verboden: tuple[str, ...] = (),
                 schoolnaam: str = "OSO Testschool (TEST ONLY)") -> bytes:
    """A dossier of ``profile`` for pupil ``ll``, gathered on ``datum`` (metadata/datum).

    ``inzage``: the day the parents inspected it (None: not yet; the inzage block then says false). ``toestemming``:
    consent given (VO-VO). ``verboden``: categories to mark VERBODEN while their data stays in (see the module
    docstring).
    """
    p = profiel(profile)
    overdrachtsoort, overstap = PROFIELEN[p]
    po = overstap.startswith("PO")
    swv = overdrachtsoort == "swv-dossier"
    overstapdossier = overdrachtsoort == "overstapdossier"
    start, _, _ = _schooljaar(datum)
    age = {"POPO": 9, "POVO": 11, "VOVO": 14, "POSWV": 8, "VOSWV": 13}[overstap]
    geboortedatum = date(datum.year - age, 1 + (ll.nummer % 12), 1 + (ll.nummer % 28))

    cats = {name: "OPTIONEEL" for name in CATEGORIE_NAMEN}
    for name in ("cat_metadata", "cat_school", "cat_leerling", "cat_oudersverzorgers", "cat_schoolloopbaan"):
        cats[name] = "VERPLICHT"
    data: dict[str, list[etree._Element]] = {}

    # ouderinzage
    if overstapdossier:
        parts = [E.voorlopigdossier("false"), E.inzage("true" if inzage else "false")]
        if inzage:
            parts += [E.inzagedatum(inzage.isoformat()), E.akkoord("Ja")]
        if overstap == "VOVO":
            parts.append(E.toestemming("Ja" if toestemming else "Onbekend"))
        data["cat_ouderinzage"] = [E.inzage(*parts)]
        cats["cat_ouderinzage"] = "VERPLICHT"
    else:
        cats["cat_ouderinzage"] = "OPT-UIT"
    # vve: a PO pupil's pre-school history; not for VO (business rules OVa.VV01/02, PaO.VV01-04)
    if po:
        data["cat_vve"] = [E.vanpeuterspeelzaal("true"), E.naampeuterspeelzaal("Peuterspeelzaal De Proeftuin")]
        cats["cat_vve"] = "VERPLICHT"
    else:
        cats["cat_vve"] = "VERBODEN"
    # overstapadvies: required in an overstapdossier (OVa.OA01); advies VO for POVO (OVa.OA02)
    if overstapdossier or p == "BB":
        advies = [E.advies("60"), E.wensouders("60")] if overstap == "POVO" else []
        data["cat_overstapadvies"] = [E.overstapadvies(*advies, E.profiel("basis"),
                                                       E.argumentatie("Synthetisch advies voor een testleerling."),
                                                       E.contactnodig("false"))]
        cats["cat_overstapadvies"] = "VERPLICHT"
    # onderwijsondersteuning
    oo = [E.medicijngebruik("false")]
    if swv:
        oo.append(E.opp(E.opp_ingangdatum(date(start, 9, 1).isoformat())))
    data["cat_onderwijsondersteuning"] = [E.onderwijsondersteuning(*oo)]
    cats["cat_onderwijsondersteuning"] = "VERPLICHT"
    # verzuim
    data["cat_verzuim"] = [E.verzuim(E.dagdelengeoorloofd(str(ll.nummer % 7)), E.dagdelenongeoorloofd("0"),
                                     E.meerdan25percent("false"))]
    cats["cat_verzuim"] = "VERPLICHT"
    # eindtoets basisonderwijs: not in a PO-PO or PO-SWV dossier (PaO.EB01); not generated otherwise
    if overstap in ("POPO", "POSWV"):
        cats["cat_eindtoetsbo"] = "VERBODEN"
    # toetsresultaten (from this school year: OVa.TR04)
    if po:
        afname = max(date(start, 8, 1), datum - timedelta(days=30))
        data["cat_toetsresultaten"] = [E.toetslijst(E.toets(
            E.toetsidentificatie(E.eldtoetscode("SYN-REKENEN"), E.leergebied("Rekenen-Wiskunde"),
                                 E.toetsnaam("Synthetische rekentoets")),
            E.afname(E.afnamedatum(afname.isoformat()), E.jaargroep("8" if overstap == "POVO" else "5")),
            E.resultaat(E.toetsscore(E.aantalopgaven("40"), E.aantalgoed(str(20 + ll.nummer % 20)))))
        )]
        cats["cat_toetsresultaten"] = "VERPLICHT"
    # cijferlijsten: VO
    if not po:
        data["cat_cijferlijsten"] = [E.cijferlijstlijst(E.cijferlijst(
            E.cijferlijstTypelijst(E.naam("Nederlands"), E.score(E.waarde("7.1")),
                                   E.naam("Wiskunde"), E.score(E.waarde("6.4"))),
            E.afnamedatum(datum.isoformat()), E.jaargroep("13")))]
        cats["cat_cijferlijsten"] = "VERPLICHT"
    # vo-mbo: never here
    cats["cat_vombo"] = "VERBODEN" if po else "OPTIONEEL"
    # bijlagedocumenten
    if overstap in ("POVO", "VOVO"):
        data["cat_bijlagedocs"] = [E.overigdocumentlijst(_bijlage("toelichting.txt",
                                                                  "Synthetische toelichting (TEST ONLY).\n"))]
        cats["cat_bijlagedocs"] = "VERPLICHT"
    for name in verboden:
        if name not in cats:
            raise ProfielError(f"unknown category {name!r}")
        cats[name] = "VERBODEN"

    metadata = E.metadata(
        E.deeldossier("LASLVS"), E.pakketnaam("OSO Gateway referentiebron"), E.pakketversie(__version__),
        E.datum(datum.isoformat()), E.standaardversie(STANDAARDVERSIE), E.validatieversie(VALIDATIEVERSIE),
        E.categorie_uitlevering(*(getattr(E, name)(cats[name]) for name in CATEGORIE_NAMEN)),
        E.overstap(overstap))

    leerling = [E.voornaam(ll.voornaam), E("voorletters-1", f"{ll.voornaam[0]}.")]
    if ll.voorvoegsel:
        leerling.append(E.voorvoegsel(ll.voorvoegsel))
    leerling += [E.achternaam(ll.achternaam), E.roepnaam(ll.voornaam), E.geboortedatum(geboortedatum.isoformat()),
                 E.geslacht(ll.geslacht), E.adresgeheim("false"),
                 E.adreslijst(_adres("bezoek", ll.straat, ll.nummer))]
    if not swv:  # an SWV dossier carries no BSN or onderwijsnummer (PaO.LL12)
        leerling.append(E.bsn(ll.pgn) if ll.pgn_kind == "BSN" else E.onderwijsnummer(ll.pgn))
    leerling += [E.leerlingid(ll.leerlingid), E.datuminschrijving(date(start - 2, 8, 1).isoformat()),
                 E.verzorgersaansprakelijk("true")]
    leerling += data.get("cat_overstapadvies", [])
    leerling += data.get("cat_vve", [])
    leerling.append(_schoolloopbaan(brin, vestiging, datum, po))
    for name in ("cat_onderwijsondersteuning", "cat_verzuim", "cat_toetsresultaten", "cat_cijferlijsten",
                 "cat_bijlagedocs"):
        leerling += data.get(name, [])
    leerling += _verzorgers(ll)

    school = E.huidigeschool(
        E.naam(schoolnaam), E.adreslijst(_adres("bezoek", "Schoolpad", 1)),
        E.communicatielijst(_communicatie("telefoon", "werk", "0999111111"),
                            _communicatie("e-mail", "werk", "administratie@testschool.example")),
        E.brincode(brin), E.vestigingscode(vestiging), E.aanleverpunt("1"), E.leerling(*leerling))
    root = E.dossier(metadata, E.overdrachtsoort(overdrachtsoort), *data.get("cat_ouderinzage", []), school)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
