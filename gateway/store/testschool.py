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
