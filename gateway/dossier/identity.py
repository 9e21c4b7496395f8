"""Identity checks that hold without a bundle: BSN, onderwijsnummer, BRIN, vestiging, dates that exist.

The XSD of a bundle checks the *shape* of BRIN and vestiging codes and most dates; it does not know the elfproef,
the onderwijsnummer check, or that ``gbageboortedatum`` (DD-MM-EEJJ, a plain pattern) and ``geboortemaand``
(EEJJ-MM) name a day or month that exists. These checks also run when no bundle fits.

Test numbers: Kennisnet's test school (BRIN ``00YY``) serves fixed test pupils whose BSNs ``127095823``,
``127095824`` and ``127095825`` do not pass the elfproef. A test school is configured as a ``TestSchool`` (its BRIN
and its numbers); such a number is accepted only in a dossier whose ``huidigeschool/brincode`` is that school's
BRIN, and each acceptance is reported as an ``info`` finding (``DOS-TESTNUMBER``), so it is never silent. Nothing is
configured by default: the check is the real one unless a caller opts in (``oso-gateway validate --test-school``).
The 12 official example dossiers need no exception: all their BSNs pass the elfproef.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from lxml import etree

from ..oso import identifiers as ids
from .findings import ERROR, INFO, Finding, gateway, xpath_of

_NINE_DIGITS = re.compile(r"[0-9]{9}")
# xs:date lexical form: optional minus, year of 4+ digits, month, day, optional time zone
_XS_DATE = re.compile(r"-?([0-9]{4,})-([0-9]{2})-([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")
_DMY_DATE = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
_YEAR_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")

# Elements of brincodeType and vestigingscodeType in the OSO-gegevensset (2019.1).
BRIN_ELEMENTS = frozenset({"brincode", "teruggeplaatstnaarbrin", "lgfbrincode", "arrangement_brin", "opdc_brin"})
VESTIGING_ELEMENTS = frozenset({"vestigingscode", "arrangement_vestigingscode", "opdc_vestigingscode",
                                "ambulantvestigingscode"})
DATE_ELEMENTS_EXTRA = frozenset({"onderwijssinds"})  # xs:date elements whose name has no "datum"


@dataclass(frozen=True)
class TestSchool:
    """A test school whose fixed test pupils carry numbers that need not pass the number checks."""

    brin: str
    numbers: frozenset[str]

    __test__ = False  # not a pytest class


KENNISNET_TEST_SCHOOL = TestSchool(
    brin="00YY",
    # the chain's test pupils (PO-PO, VO-VO, LeveringGeweigerd, binnen-BRIN); 118716943 passes the elfproef anyway
    numbers=frozenset({"127095823", "127095824", "127095825", "118716943"}),
)


@dataclass(frozen=True)
class IdentityPolicy:
    test_schools: tuple[TestSchool, ...] = ()


# The chain's identifiers have one home: gateway.oso.identifiers.
bsn_valid = ids.bsn_elfproef
onderwijsnummer_valid = ids.onderwijsnummer_check
brin_valid = ids.is_brin
vestiging_valid = ids.is_vestiging


def _real_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def date_exists(value: str) -> bool | None:
    """True/False for an xs:date (or DD-MM-EEJJ) that does/does not exist; None when it is not a date at all."""
    m = _XS_DATE.fullmatch(value)
    if m:
        year = int(m.group(1))
        if year > 9999:  # beyond what anyone means in a school record; xs:date allows it, Python's date does not
            return False
        if value.startswith("-") or year == 0:
            return False
        return _real_date(year, int(m.group(2)), int(m.group(3)))
    m = _DMY_DATE.fullmatch(value)
    if m:
        return int(m.group(3)) > 0 and _real_date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    return None


def _school_brin(el: etree._Element, ns: str) -> str | None:
    for anc in el.iterancestors(f"{{{ns}}}huidigeschool"):
        b = anc.findtext(f"{{{ns}}}brincode")
        return b
    return None


def _test_school_accepts(policy: IdentityPolicy, el: etree._Element, ns: str, value: str) -> TestSchool | None:
    if not policy.test_schools:
        return None
    brin = _school_brin(el, ns)
    for school in policy.test_schools:
        if school.brin == brin and value in school.numbers:
            return school
    return None


def check_identity(root: etree._Element, policy: IdentityPolicy = IdentityPolicy()) -> list[Finding]:
    """BSN, onderwijsnummer, BRIN and vestiging codes, and dates, anywhere in the dossier."""
    ns = etree.QName(root).namespace or ""
    prefix = f"{{{ns}}}" if ns else ""
    out: list[Finding] = []
    for el in root.iter(etree.Element):
        tag = el.tag
        if not tag.startswith(prefix):
            continue
        name = tag[len(prefix):]
        if "}" in name:
            continue  # another namespace
        if name in ("bsn", "onderwijsnummer"):
            _check_number(el, name, ns, policy, out)
        elif name in BRIN_ELEMENTS:
            value = el.text or ""
            if not brin_valid(value):
                out.append(gateway(ERROR, "DOS-BRIN", f"'{name}' is not a BRIN code (two digits and two capitals, "
                                   f"e.g. 00YY): {value[:20]!r}", xpath_of(el)))
        elif name in VESTIGING_ELEMENTS:
            value = el.text or ""
            if not vestiging_valid(value):
                out.append(gateway(ERROR, "DOS-VESTIGING", f"'{name}' is not a vestigingscode (two digits): "
                                   f"{value[:20]!r}", xpath_of(el)))
        elif "datum" in name or name in DATE_ELEMENTS_EXTRA:
            value = (el.text or "").strip()
            ok = date_exists(value)
            if ok is None:
                out.append(gateway(ERROR, "DOS-DATE", f"'{name}' is not a date: {value[:30]!r}", xpath_of(el)))
            elif not ok:
                out.append(gateway(ERROR, "DOS-DATE", f"'{name}' names a day that does not exist: {value[:30]!r}",
                                   xpath_of(el)))
        elif name == "geboortemaand":
            value = (el.text or "").strip()
            m = _YEAR_MONTH.fullmatch(value)
            if not m or not (1 <= int(m.group(2)) <= 12) or int(m.group(1)) == 0:
                out.append(gateway(ERROR, "DOS-DATE", f"'geboortemaand' is not a month that exists (EEJJ-MM): "
                                   f"{value[:30]!r}", xpath_of(el)))
    return out


def _check_number(el, name: str, ns: str, policy: IdentityPolicy, out: list[Finding]) -> None:
    value = el.text or ""
    ok = bsn_valid(value) if name == "bsn" else onderwijsnummer_valid(value)
    if ok:
        return
    school = _test_school_accepts(policy, el, ns, value)
    if school is not None:
        out.append(gateway(INFO, "DOS-TESTNUMBER", f"the {name} is a test number of test school {school.brin} "
                           "and was accepted without the check", xpath_of(el)))
        return
    # never echo the number itself: it identifies a pupil
    if not _NINE_DIGITS.fullmatch(value):
        text = f"the {name} is not 9 digits"
    elif name == "bsn":
        text = "the BSN does not pass the elfproef"
    elif value[0] != "1":
        text = "the onderwijsnummer does not start with 1"
    else:
        text = "the onderwijsnummer does not pass its check ((9·d1 + … + 2·d8) mod 11 = d9 + 5)"
    rule = "DOS-BSN" if name == "bsn" else "DOS-ONDERWIJSNUMMER"
    out.append(gateway(ERROR, rule, text, xpath_of(el)))
