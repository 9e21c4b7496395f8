"""The OSR-style endpoint lookup (``GET /osr/api/v2/endpoints``) served from the gateway's register, and the reference
parties resolving endpoints through it (``gateway.client.osr``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from gateway import contracts
from gateway.client.osr import OsrClient, OsrEndpoint
from gateway.client.overdracht import Call
from gateway.client.target import Doelsysteem
from gateway.oso.register import Aanleverpunt
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, TEST_ROUTERINGSKENMERK,
                                      TEST_SWV_ROUTERINGSKENMERK)
from gateway.web.local import LocalGateway
from gateway.web.osr import brin_of_school_oin

NS = contracts.OSO_NS


@pytest.fixture(scope="module")
def gw():
    with LocalGateway(pupils=False) as running:
        yield running


def lookup(gw, **params):
    return requests.get(gw.url + "/osr/api/v2/endpoints", params=params, timeout=10)


def test_one_aanleverpunt_by_its_routing_id(gw):
    r = lookup(gw, service_version_namespace=NS, routing_id=TEST_ROUTERINGSKENMERK)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    [endpoint] = r.json()
    assert endpoint == {
        "url": gw.url + "/school/aanleverpunt", "routing_id": TEST_ROUTERINGSKENMERK,
        "school_oin": "0000000700000YY00000", "service_version_namespace": NS, "start_date": None, "end_date": None,
        "attributes": "LAS", "gateway": {"notificatie_url": gw.url + "/school/doelsysteem",
                                         "leverancier_oin": gw.config.credentials().oin, "brin": TEST_BRIN}}


def test_every_active_aanleverpunt_of_a_school(gw):
    with gw.database.unit_of_work() as repo:
        repo.add_aanleverpunt(Aanleverpunt("0000000700000YY00932", TEST_BRIN, "00", gw.config.credentials().oin,
                                           "https://elders.test/ap", actief=False))
    r = lookup(gw, service_version_namespace=NS, school_oin="0000000700000YY00000")
    assert [e["routing_id"] for e in r.json()] == [TEST_ROUTERINGSKENMERK]  # the inactive one is not answered
    assert lookup(gw, service_version_namespace=NS, routing_id="0000000700000YY00932").json() == []


@pytest.mark.parametrize("params", [
    dict(routing_id=TEST_ROUTERINGSKENMERK),                                                 # no namespace
    dict(service_version_namespace=NS),                                                      # neither key
    dict(service_version_namespace=NS, routing_id=TEST_ROUTERINGSKENMERK, school_oin="0000000700000YY00000"),
    dict(service_version_namespace=NS, routing_id="0000000700000yy00931"),                   # not a routeringskenmerk
    dict(service_version_namespace=NS, school_oin="00000001000000000011"),                   # a vendor's OIN
    dict(service_version_namespace=NS, routing_id=TEST_ROUTERINGSKENMERK, reference_date="morgen"),
], ids=["no-namespace", "no-key", "both-keys", "lower-case", "not-a-school-oin", "bad-date"])
def test_a_question_it_cannot_answer_is_a_400_that_says_why(gw, params):
    r = lookup(gw, **params)
    assert r.status_code == 400 and r.json()["error"]


def test_another_service_version_knows_nothing_here(gw):
    r = lookup(gw, service_version_namespace="http://xml.kennisnet.nl/schemas/Overstapservice/20180404",
               routing_id=TEST_ROUTERINGSKENMERK)
    assert (r.status_code, r.json()) == (200, [])


def test_it_is_read_only(gw):
    assert requests.post(gw.url + "/osr/api/v2/endpoints", data=b"{}", timeout=10).status_code == 405
    assert requests.get(gw.url + "/osr/api/v2/elders", timeout=10).status_code == 404


def test_a_school_oin_names_its_brin():
    assert brin_of_school_oin("0000000700000YY00000") == "00YY"
    assert brin_of_school_oin("0000000700004HR00000") == "04HR"
    for other in ("0000000700000YY00931", "00000001000000000011", "0000000700000yy00000", "short"):
        assert brin_of_school_oin(other) is None


# ---- the client, and the reference parties resolving through it ----------------------------------------------------

def test_the_client_reads_an_endpoint_and_keeps_it_for_a_while(gw, monkeypatch):
    client = OsrClient(gw.url + "/osr", ttl=60)
    asked = []
    real = client._ask
    monkeypatch.setattr(client, "_ask", lambda rk: asked.append(rk) or real(rk))
    found = client.endpoint(TEST_DOEL_ROUTERINGSKENMERK)
    assert found == OsrEndpoint(TEST_DOEL_ROUTERINGSKENMERK, gw.url + "/school/aanleverpunt",
                                gw.url + "/school/doelsysteem", gw.config.credentials().oin)
    assert client.endpoint(TEST_DOEL_ROUTERINGSKENMERK) == found and asked == [TEST_DOEL_ROUTERINGSKENMERK]
    assert client.endpoint("0000000700000QQ00000") is None


def test_a_flood_of_made_up_routeringskenmerken_neither_grows_the_cache_nor_asks_about_junk(monkeypatch):
    """Junk is never asked about; made-up but well-formed routeringskenmerken are, once each, and the cache stays
    within max_entries (the oldest go first)."""
    client = OsrClient("http://127.0.0.1:9/osr", ttl=600, max_entries=100)
    asked = []
    monkeypatch.setattr(client, "_ask", lambda rk: asked.append(rk) or None)
    for junk in ("", "x" * 5000, "not a routeringskenmerk", "0000000700000yy00931"):
        assert client.endpoint(junk) is None
    assert asked == []
    made_up = [f"00000007000{n:09d}" for n in range(1000)]
    for rk in made_up:
        assert client.endpoint(rk) is None
    assert len(asked) == 1000 and len(client._cache) <= 100  # noqa: SLF001
    assert made_up[-1] in client._cache and made_up[0] not in client._cache  # noqa: SLF001
    client.endpoint(made_up[-1])
    assert len(asked) == 1000  # the newest is still kept


def test_a_register_that_cannot_be_reached_resolves_nothing():
    assert OsrClient("http://127.0.0.1:9/osr", timeout=2).endpoint(TEST_ROUTERINGSKENMERK) is None


class _Register:
    """An OSR stand-in that knows the given endpoints, and counts the questions."""

    def __init__(self, known: dict):
        self.known, self.asked = known, []

    def endpoint(self, rk):
        self.asked.append(rk)
        return self.known.get(rk)


def test_the_target_asks_at_the_osrs_address_and_pins_the_osrs_vendor(gw):
    target = Doelsysteem.from_config(gw.config)
    call = Call("document", {}, endpoint="https://van-de-tc.test/ap", routeringskenmerk=TEST_ROUTERINGSKENMERK)
    target.osr = _Register({TEST_ROUTERINGSKENMERK: OsrEndpoint(TEST_ROUTERINGSKENMERK, "https://uit-osr.test/ap",
                                                                None, "00000001000000000022")})
    assert target.resolve(call) == ("https://uit-osr.test/ap", "00000001000000000022", "")
    # the TC's leverancierOin, when it names one, is the signer to pin
    assert target.resolve(replace(call, leverancier_oin="00000001000000000011"))[1] == "00000001000000000011"
    target.osr = _Register({})
    address, signer, note = target.resolve(call)
    assert (address, signer) == ("https://van-de-tc.test/ap", None)
    assert "address from the TC" in note and "any trusted signer" in note
    # the TC's own operations go to the TC, pinned to its OIN, without a lookup
    assert target.resolve(Call("overdracht", {})) == (target.tc_url, target.tc_oin, "")
    assert target.osr.asked == [TEST_ROUTERINGSKENMERK]


def test_a_whole_transfer_resolves_its_aanleverpunt_through_the_lookup(gw):
    """The reference target of a gateway asks the gateway's own lookup (osr_url defaults to its /osr)."""
    from gateway.school.testleerlingen import laad_testleerlingen
    from gateway.store.school_repository import SchoolRepository

    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    with gw.database.unit_of_work() as repo:
        laad_testleerlingen(SchoolRepository.of(repo), datum=now.date(), now=now)
    target = Doelsysteem.from_config(gw.config)
    assert target.osr.base_url == gw.url + "/osr"
    account = target.transfer(pgn="127095823", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                              doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    assert account.resultaat == "OverdrachtGeslaagd", account.render()
    [document] = [s for s in account.steps if s.operation == "document"]
    assert document.endpoint == gw.url + "/school/aanleverpunt" and "address from the TC" not in document.note


def test_the_source_delivers_a_notification_at_the_osrs_notification_address(gw):
    from gateway.client.bron import BronClient

    seen = _Register({TEST_SWV_ROUTERINGSKENMERK: OsrEndpoint(TEST_SWV_ROUTERINGSKENMERK, "https://x.test/ap",
                                                              "https://uit-osr.test/notificatie")})
    client = BronClient(gw.config.credentials(), gw.config.trust(), tc_url=gw.config.traffic_center_url,
                        tc_oin=gw.config.credentials().oin, osr=seen)
    melding = client.melden_notificatie(bron_brin=TEST_BRIN, bron_routeringskenmerk=TEST_ROUTERINGSKENMERK,
                                        doel_brin="00SW", doel_routeringskenmerk=TEST_SWV_ROUTERINGSKENMERK,
                                        doel="SWV")
    assert melding.resultaat == "Geslaagd" and melding.endpoint == "https://uit-osr.test/notificatie"
    assert seen.asked == [TEST_SWV_ROUTERINGSKENMERK]
