"""The test school's pupils: the chain's fixed test numbers, and generated pupils on request (TEST ONLY).

| PGN | dossier | a request gets |
|---|---|---|
| 127095823 | PO-PO overstapdossier, inzage recorded | OverdrachtGeslaagd |
| 127095824 | VO-VO overstapdossier, inzage and toestemming recorded | OverdrachtGeslaagd |
| 127095825 | PO-VO overstapdossier, inzage recorded, release withheld by the school | LeveringGeweigerd |
| 118716943 | binnen-BRIN dossier, cat_verzuim and cat_onderwijsondersteuning VERBODEN (*) | OverdrachtGeslaagd (**) |

(*) their data is in the stored dossier, and is left out of what is released. (**) in a binnen-BRIN transfer only.

Generated pupils (``extra``) take the profiles POPO, POVO, VOVO, BB, POSWV in turn, every fourth with an
onderwijsnummer instead of a BSN; each has inzage (and toestemming) recorded, so each is released. The same seed
gives the same pupils, so loading again (or loading more) changes nothing that is there.

All dossiers are synthetic (``gateway.school.synthetisch``) and dated ``datum`` (their verzameldatum).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ..oso.zoeksleutel import pgn_kind
from .synthetisch import PROFIELEN, Leerling, bouw_dossier, genereer_leerling
from .uitlevering import DossierRecord

TEST_BRIN, TEST_VESTIGING = "00YY", "00"
_CYCLE = ("POPO", "POVO", "VOVO", "BB", "POSWV")


@dataclass(frozen=True)
class TestLeerling:
    pgn: str
    profiel: str
    voornaam: str
    voorvoegsel: str | None
    achternaam: str
    geslacht: str
    inzage: bool = False
    toestemming: bool = False
    geweigerd: bool = False
    verboden: tuple[str, ...] = ()

    __test__ = False  # not a pytest class


TEST_LEERLINGEN = (
    TestLeerling("127095823", "POPO", "Pim", None, "Proefhoeve", "2", inzage=True),
    TestLeerling("127095824", "VOVO", "Lotte", "van", "Testhuizen", "1", inzage=True, toestemming=True),
    TestLeerling("127095825", "POVO", "Sem", None, "Voorbeeldt", "2", inzage=True, geweigerd=True),
    TestLeerling("118716943", "BB", "Noor", "de", "Oefenberg", "1",
                 verboden=("cat_verzuim", "cat_onderwijsondersteuning")),
)


class DossierStore(Protocol):
    def put_dossier(self, record: DossierRecord) -> None: ...


def _record(ll: Leerling, profiel: str, *, brin: str, datum: date, now: datetime, inzage: bool, toestemming: bool,
            geweigerd: bool = False, verboden: tuple[str, ...] = ()) -> DossierRecord:
    overdrachtsoort, overstap = PROFIELEN[profiel]
    data = bouw_dossier(ll, profiel, brin=brin, vestiging=TEST_VESTIGING, datum=datum,
                        inzage=datum if inzage else None, toestemming=toestemming, verboden=verboden)
    return DossierRecord(brin=brin, pgn=ll.pgn, pgn_kind=pgn_kind(ll.pgn), overdrachtsoort=overdrachtsoort,
                         overstap=overstap, dossier=data, verzameldatum=datum, klaargezet=True,
                         inzage=datum if inzage else None, toestemming=datum if toestemming else None,
                         geweigerd=geweigerd, bijgewerkt=now)


def school_records(*, datum: date, now: datetime, extra: int = 0, seed: int = 0,
                 brin: str = TEST_BRIN) -> list[DossierRecord]:
    """The fixed test pupils, then ``extra`` generated ones."""
    out = []
    for t in TEST_LEERLINGEN:
        ll = Leerling(t.pgn, t.voornaam, t.achternaam, t.voorvoegsel, t.geslacht, f"TST{t.pgn[-4:]}", 12,
                      "Proefstraat")
        out.append(_record(ll, t.profiel, brin=brin, datum=datum, now=now, inzage=t.inzage,
                           toestemming=t.toestemming, geweigerd=t.geweigerd, verboden=t.verboden))
    rng = random.Random(f"oso-testschool/{seed}")
    seen = {t.pgn for t in TEST_LEERLINGEN}
    while len(out) < len(TEST_LEERLINGEN) + extra:
        i = len(out) - len(TEST_LEERLINGEN)
        ll = genereer_leerling(rng, onderwijsnummer=(i % 4 == 3))
        if ll.pgn in seen:
            continue
        seen.add(ll.pgn)
        profiel = _CYCLE[i % len(_CYCLE)]
        out.append(_record(ll, profiel, brin=brin, datum=datum, now=now, inzage=True, toestemming=True))
    return out


def laad_testleerlingen(store: DossierStore, *, datum: date, now: datetime, extra: int = 0, seed: int = 0,
                        brin: str = TEST_BRIN) -> list[DossierRecord]:
    """Prepare the test pupils' dossiers in the store (each replaces what the store held for that pupil)."""
    records = school_records(datum=datum, now=now, extra=extra, seed=seed, brin=brin)
    for r in records:
        store.put_dossier(r)
    return records
