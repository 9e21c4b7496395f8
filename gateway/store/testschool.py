"""The chain's test school (BRIN 00YY), served by a test vendor with the gateway's own test OIN (TEST ONLY)."""

from __future__ import annotations

from dataclasses import dataclass

from ..oso.register import Aanleverpunt, School, Sector, Vendor
from ..pki import DEFAULT_GATEWAY_OIN
from .repository import Repository

TEST_BRIN = "00YY"
TEST_VESTIGING = "00"
TEST_ROUTERINGSKENMERK = "0000000700000YY00931"
TEST_SCHOOL_NAAM = "OSO Testschool (TEST ONLY)"
TEST_VENDOR_NAAM = "OSO Gateway testleverancier (TEST ONLY)"


@dataclass(frozen=True)
class TestSchool:
    school: School
    vendor: Vendor
    aanleverpunt: Aanleverpunt

    __test__ = False  # not a test class


def entries(*, gateway_base_url: str) -> TestSchool:
    """The test school's register entries, for a gateway reachable at ``gateway_base_url``."""
    base = gateway_base_url.rstrip("/")
    return TestSchool(
        School(TEST_BRIN, TEST_VESTIGING, Sector.PO, TEST_SCHOOL_NAAM),
        Vendor(DEFAULT_GATEWAY_OIN, TEST_VENDOR_NAAM, gekwalificeerd=True),
        Aanleverpunt(TEST_ROUTERINGSKENMERK, TEST_BRIN, TEST_VESTIGING, DEFAULT_GATEWAY_OIN,
                     document_url=base + "/school/aanleverpunt", notificatie_url=base + "/school/doelsysteem"),
    )


def register_test_school(repo: Repository, *, gateway_base_url: str) -> TestSchool:
    """Register (or bring back to its known state) the test school, its vendor and its aanleverpunt. Idempotent:
    what is already right is left alone, what differs (another base URL, say) is updated."""
    t = entries(gateway_base_url=gateway_base_url)
    vendor = repo.vendor(t.vendor.oin)
    if vendor is None:
        repo.add_vendor(t.vendor)
    elif vendor != t.vendor:
        repo.update_vendor(t.vendor)
    school = repo.school(t.school.brin, t.school.vestiging)
    if school is None:
        repo.add_school(t.school)
    elif school != t.school:
        repo.update_school(t.school)
    ap = repo.aanleverpunt(t.aanleverpunt.routeringskenmerk)
    if ap is None:
        repo.add_aanleverpunt(t.aanleverpunt)
    elif ap != t.aanleverpunt:
        repo.update_aanleverpunt(t.aanleverpunt)
    return t


# --- the reference TARGET schools (the doelsysteem side of the dev set-up and the demo), TEST ONLY ---------------
TEST_DOEL_BRIN = "00ZZ"
TEST_DOEL_ROUTERINGSKENMERK = "0000000700000ZZ00000"
TEST_DOEL_NAAM = "OSO Testdoelschool (TEST ONLY)"
TEST_SWV_BRIN = "00SW"
TEST_SWV_ROUTERINGSKENMERK = "0000000700000SW00000"
TEST_SWV_NAAM = "OSO Testsamenwerkingsverband (TEST ONLY)"


def target_entries(*, gateway_base_url: str) -> list[tuple[School, Aanleverpunt]]:
    """The reference targets: a VO school (00ZZ) and a samenwerkingsverband (00SW, for the SWV flow), both served
    by the gateway's own test vendor; their notification endpoint is this gateway's /school/doelsysteem."""
    base = gateway_base_url.rstrip("/")
    out = []
    for brin, sector, naam, rk in ((TEST_DOEL_BRIN, Sector.VO, TEST_DOEL_NAAM, TEST_DOEL_ROUTERINGSKENMERK),
                                   (TEST_SWV_BRIN, Sector.SWV, TEST_SWV_NAAM, TEST_SWV_ROUTERINGSKENMERK)):
        out.append((School(brin, TEST_VESTIGING, sector, naam),
                    Aanleverpunt(rk, brin, TEST_VESTIGING, DEFAULT_GATEWAY_OIN,
                                 document_url=base + "/school/aanleverpunt",
                                 notificatie_url=base + "/school/doelsysteem")))
    return out


def register_test_target(repo: Repository, *, gateway_base_url: str) -> list[tuple[School, Aanleverpunt]]:
    """Register (or bring back to its known state) the reference target schools and their aanleverpunten, served by
    the test vendor (registered by ``register_test_school``, or here when it is missing). Idempotent."""
    vendor = Vendor(DEFAULT_GATEWAY_OIN, TEST_VENDOR_NAAM, gekwalificeerd=True)
    if repo.vendor(vendor.oin) is None:
        repo.add_vendor(vendor)
    targets = target_entries(gateway_base_url=gateway_base_url)
    for school, ap in targets:
        known = repo.school(school.brin, school.vestiging)
        if known is None:
            repo.add_school(school)
        elif known != school:
            repo.update_school(school)
        known_ap = repo.aanleverpunt(ap.routeringskenmerk)
        if known_ap is None:
            repo.add_aanleverpunt(ap)
        elif known_ap != ap:
            repo.update_aanleverpunt(ap)
    return targets
