"""The PGN never travels in clear: every byte of whole transfers, recorded on the wire, holds no test pupil's BSN or
onderwijsnummer in any encoding, outside the signed dossier itself.

A recording TCP proxy stands in front of the gateway, and the gateway is known to everyone by the proxy's address
(its public URL: the register's endpoints, wsa:To, the source's Traffic Center address), so all four round trips of
a transfer cross it: doel → TC overdracht, doel → source documentRequest, source → TC sessiecontrole (while the
source handles the documentRequest), doel → TC afmelding. HTTP request lines, headers and bodies, both ways, are
searched. The one legitimate carrier, the ``dossier`` element of a documentResponse, is cut out of that response
before the search (and the test checks that it did carry the number, so the recording is known to see it)."""

from __future__ import annotations

import base64
import random

import pytest

from gateway.client.target import Doelsysteem
from gateway.school.synthetisch import bouw_dossier, genereer_leerling
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK,
                                      TEST_ROUTERINGSKENMERK)
from gateway.web.local import LocalGateway

from .conftest import GEGEVENSSET
from .test_transfer_e2e import TODAY, klaarzetten
from .wire_capture import RecordingProxy, cut_dossier, find_pgn, http_messages, pgn_forms

TEST_PUPILS = ("127095823", "127095824", "127095825", "118716943")


@pytest.fixture(scope="module")
def wire():
    proxy = RecordingProxy()
    try:
        with LocalGateway(public_url=proxy.url, bundles_dir=str(GEGEVENSSET.parent)) as gw:
            proxy.target_port = gw.port
            yield proxy, gw
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def onr_pupil(wire):
    """A synthetic pupil known by an onderwijsnummer (the test pupils all have a BSN)."""
    _, gw = wire
    ll = genereer_leerling(random.Random("pgn-wire"), onderwijsnummer=True)
    klaarzetten(gw, bouw_dossier(ll, "POVO", brin=TEST_BRIN, datum=TODAY, inzage=TODAY), pgn=ll.pgn)
    return ll.pgn


def exchanges(proxy) -> list[tuple[str, bytes, bytes, bytes, bytes]]:
    """(name, request head, request body, response head, response body) of every round trip recorded."""
    out = []
    streams = proxy.streams()
    for (name, up), (_, down) in zip(streams[0::2], streams[1::2]):
        requests_, responses = http_messages(up), http_messages(down)
        assert len(requests_) == len(responses), name
        out += [(name, *rq, *rs) for rq, rs in zip(requests_, responses)]
    return out


def test_the_search_finds_every_form():
    pgn = "127095823"
    d = pgn.encode()
    samples = {
        "decimal": b"<bsn>" + d + b"</bsn>",
        "utf-16": pgn.encode("utf-16-le"),
        "hex": d.hex().upper().encode(),
        "value in hex": format(int(pgn), "X").encode(),
        "base64": base64.b64encode(b"x" + d + b"yz"),
        "base64url": base64.urlsafe_b64encode(b"ab" + d),
        "url": b"bsn=%31%32%37%30%39%35%38%32%33",
        "spaced": b"127 095 823",
        "dotted": b"127.09.58.23",
        "character references": b"&#49;&#50;&#55;&#48;&#57;&#53;&#56;&#50;&#51;",
    }
    for what, data in samples.items():
        assert find_pgn(b"<x>" + data + b"</x>", pgn), what
    assert find_pgn(b"<x>nothing 127095 here 823</x>", pgn) == []
    assert len(pgn_forms(pgn)) >= 15


def test_a_whole_transfer_never_carries_the_pgn_in_clear(wire, onr_pupil):
    proxy, gw = wire
    target = Doelsysteem.from_config(gw.config)
    assert target.tc_url.startswith(proxy.url)
    proxy.clear()
    accounts = [
        target.transfer(pgn="127095823", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                        doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK),
        target.transfer(pgn="127095825", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                        doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK),
        target.transfer(pgn="118716943", bron_brin=TEST_BRIN, doel_brin=TEST_BRIN,
                        doel_routeringskenmerk=TEST_ROUTERINGSKENMERK),
        target.transfer(pgn=onr_pupil, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                        doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK),
    ]
    assert [a.resultaat for a in accounts] == ["OverdrachtGeslaagd", "LeveringGeweigerd", "OverdrachtGeslaagd",
                                               "OverdrachtGeslaagd"]
    recorded = exchanges(proxy)
    soap = [rq_head for _, rq_head, _, _, _ in recorded if rq_head.startswith(b"POST ")]
    actions = [next(line.split(b":", 1)[1].strip().strip(b'"') for line in rq_head.split(b"\r\n")
                    if line.lower().startswith(b"soapaction:")).rsplit(b"/", 1)[1].decode() for rq_head in soap]
    # four round trips per transfer, in the order of the chain (the source's sessiecontrole is recorded on its own
    # connection, which opens while the documentRequest's is still waiting for its answer)
    assert sorted(actions) == sorted(["overdracht", "document", "sessiecontrole", "afmelding"] * 4)
    # and the target's OSR lookups of the aanleverpunten' addresses (GET, answered from a cache after the first)
    lookups = [rq_head.split(b"\r\n")[0] for _, rq_head, _, _, _ in recorded if not rq_head.startswith(b"POST ")]
    assert lookups and all(line.startswith(b"GET /osr/api/v2/endpoints?") for line in lookups), lookups
    assert all(rs_head.startswith(b"HTTP/1.") and b" 200 " in rs_head.split(b"\r\n")[0]
               for _, _, _, rs_head, _ in recorded)

    numbers = TEST_PUPILS + (onr_pupil,)
    carried = 0
    for name, rq_head, rq_body, rs_head, rs_body in recorded:
        if b"documentResponse" in rs_body:
            rs_body, cut = cut_dossier(rs_body)
            carried += cut > 0
        for part, data in (("request head", rq_head), ("request body", rq_body), ("response head", rs_head),
                           ("response body", rs_body)):
            for pgn in numbers:
                assert find_pgn(data, pgn) == [], f"{name}, {part}: PGN …{pgn[-2:]} found"
    assert carried == 3  # three dossiers were delivered, and each was cut out

    # the control: the dossiers that were cut out did name their pupils, so the recording does see them
    whole = b"".join(down for _, down in proxy.streams()[1::2])
    for pgn in ("127095823", "118716943", onr_pupil):
        assert find_pgn(whole, pgn), pgn


def test_on_the_wire_every_body_is_the_chains_own_message(wire):
    """A transfer as it crosses the wire: every SOAP Body, both ways, holds one element of the chain's OSO'22
    namespace, the request or response of the operation its wsa:Action names (no Body of the project's own former
    namespaces, no Fault)."""
    from lxml import etree

    from gateway import contracts

    proxy, gw = wire
    target = Doelsysteem.from_config(gw.config)
    proxy.clear()
    account = target.transfer(pgn="127095824", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                              doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    assert account.resultaat == "OverdrachtGeslaagd", account.render()
    soap = "{http://schemas.xmlsoap.org/soap/envelope/}"
    wsa = "{http://www.w3.org/2005/08/addressing}"
    seen = []
    for name, rq_head, rq_body, rs_head, rs_body in exchanges(proxy):
        if not rq_head.startswith(b"POST "):
            continue  # the OSR lookups (JSON)
        for direction, data in (("request", rq_body), ("response", rs_body)):
            root = etree.fromstring(data)
            [payload] = [c for c in root.find(f"{soap}Body") if isinstance(c.tag, str)]
            action = root.findtext(f"{soap}Header/{wsa}Action")
            found = contracts.operation_for_element(payload.tag)
            assert found is not None, f"{name} {direction}: {payload.tag} is not a message of the contract"
            op, is_request = found
            assert is_request == (direction == "request")
            assert action == (op.action if is_request else op.response_action), (name, direction, action)
            seen.append(etree.QName(payload).localname)
    assert sorted(seen) == sorted(["overdrachtRequest", "overdrachtResponse", "documentRequest", "documentResponse",
                                   "sessiecontroleRequest", "sessiecontroleResponse", "afmeldingRequest",
                                   "afmeldingResponse"])
