"""Attacks found in a security review, each replayed against the running code (or the verifier it runs first).

- DoS: canonicalisation sorts an element's attributes (and the namespaces an InclusiveNamespaces PrefixList names)
  in quadratic time, and it runs on the Body before any signature or certificate is trusted; a 1.3 MB message with
  120,000 attributes on one element cost half a minute of one worker's CPU.
- /metrics and the journal took an unnamed service's name from the request's path: POST /school/doelsysteem/,
  /school/doelsysteem//, … each made a new metrics series and journal "service", without any signature.
- The reference target read the Traffic Center's answers from any party the PKI trusts: a rogue "TC" signed by
  another vendor's certificate was believed (its result codes, its sessieId, its aanleverpunten).
- It believed a documentResponse (and a signed Fault) from any party the PKI trusts, too: whoever answered at an
  aanleverpunt's address could hand the target a dossier in another vendor's name. The TC now names the vendor
  registered for each aanleverpunt (leverancierOin), and the target believes only that vendor's signature.
"""

from __future__ import annotations

import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

import pytest
import requests

from gateway import contracts
from gateway.client.overdracht import Call
from gateway.client.target import Doelsysteem
from gateway.config import Config
from gateway.store import Database
from gateway.store.doelsysteem import DoelsysteemStore
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, TEST_ROUTERINGSKENMERK,
                                      TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK)
from gateway.web.app import GatewayApp
from gateway.web.local import LocalGateway
from gateway.wsse import Policy, sign_request, verify
from gateway.wsse.errors import SecurityError
from gateway.wsse.xmlparse import parse_untrusted

from .conftest import free_port

TC = "http://127.0.0.1:8080/tc"
OSO = contracts.OSO_NS.encode()
PING = f"{contracts.OSO_NS}/ping"


def _envelope(payload: bytes) -> bytes:
    return (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body>' + payload
            + b"</s:Body></s:Envelope>")


def _refusal(data: bytes, trust) -> tuple[SecurityError, float]:
    t0 = time.perf_counter()
    with pytest.raises(SecurityError) as caught:
        verify(data, policy=Policy(endpoint=TC), trust=trust)
    return caught.value, time.perf_counter() - t0


# ---- DoS: quadratic canonicalisation, unauthenticated ---------------------------------------------------------------

def test_an_element_with_a_hundred_thousand_attributes_is_refused_before_canonicalisation(pki):
    payload = b'<m:pingRequest xmlns:m="' + OSO + b'"><m:x/></m:pingRequest>'
    data = sign_request(_envelope(payload), pki.credentials("vendor"), to=TC, action=PING)
    # no key is needed: the Body is canonicalised for its digest before the SignatureValue or the certificate count
    attrs = b" ".join(b'a%d="1"' % i for i in range(100_000))
    data = data.replace(b"<m:x/>", b"<m:x " + attrs + b"/>", 1)
    assert len(data) < 2 * 1024 * 1024
    err, seconds = _refusal(data, pki.trust())
    assert err.rule == "GW-XML" and "attributes" in err.reason
    assert seconds < 2.0


def test_a_modest_number_of_attributes_still_parses():
    attrs = b" ".join(b'a%d="1"' % i for i in range(256))
    assert parse_untrusted(b"<a " + attrs + b"/>").get("a255") == "1"
    with pytest.raises(SecurityError):
        parse_untrusted(b"<a " + attrs + b' a256="1"/>')


def test_an_inclusive_namespaces_prefix_list_of_thousands_is_refused(pki):
    """A PrefixList of 40,000 prefixes: refused by its length (WB007), before any c14n. (Declarations of that many
    prefixes are refused by the parser's bounds already: tests/test_parser_bounds.py.)"""
    payload = b'<m:pingRequest xmlns:m="' + OSO + b'"/>'
    data = sign_request(_envelope(payload), pki.credentials("vendor"), to=TC, action=PING)
    prefixes = b" ".join(b"p%d" % i for i in range(40_000))
    transform = b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    assert transform in data
    data = data.replace(transform, b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
                        b'<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="'
                        + prefixes + b'"/></ds:Transform>', 1)
    err, seconds = _refusal(data, pki.trust())
    assert err.rule == "WB007" and "PrefixList" in err.reason
    assert seconds < 2.0


# ---- metrics and journal labels chosen by the sender ------------------------------------------------------------------

class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def gw():
    with LocalGateway() as running:
        yield running


def test_a_path_with_trailing_slashes_makes_no_new_service_name(gw):
    from gateway.store.journal import recent_refusals

    for path in ("/school/doelsysteem/", "/school/doelsysteem//", "/school/doelsysteem///"):
        answer = requests.post(gw.config.base_url + path, data=b"<x/>", headers={"Content-Type": "text/xml"})
        assert answer.status_code == 500  # a signed Fault
    metrics = requests.get(gw.config.base_url + "/metrics").text
    assert 'service="/school/doelsysteem' not in metrics
    with gw.database.unit_of_work(readonly=True) as repo:
        services = {e.service for e in recent_refusals(repo, limit=50)}
    assert not any(s.startswith("/") for s in services), services
    assert "doelsysteem" in services


# ---- the reference target believes only the Traffic Center ---------------------------------------------------------

@pytest.fixture
def rogue_tc(gw, tmp_path):
    """A gateway of its own, at another address, signing with another vendor's certificate of the same PKI: what a
    party that can answer in the TC's place (DNS, a proxy, a wrong tc_url) would run."""
    from gateway.pki import issue

    party = issue(gw.folder / "pki", "rogue-tc", "00000001000000000077")
    port = free_port()
    url = f"sqlite:///{tmp_path}/rogue.db"
    Database(url).migrate()
    cfg = Config(port=port, cert=str(party.cert_path), key=str(party.key_path), ca=gw.config.ca, crl=gw.config.crl,
                 database_url=url, journal=0, dashboard_key=str(tmp_path / "dash.key"))
    httpd = make_server("127.0.0.1", port, GatewayApp(cfg), server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield cfg.base_url + "/tc"
    httpd.shutdown()
    httpd.server_close()


def test_the_reference_target_pins_the_traffic_centers_oin(gw):
    target = Doelsysteem.from_config(gw.config)
    assert target.tc_oin == gw.config.credentials().oin


def test_an_answer_signed_by_another_party_than_the_tc_is_not_believed(gw, rogue_tc):
    target = Doelsysteem.from_config(gw.config, tc_url=rogue_tc)
    account = target.transfer(pgn="127095823", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                              doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    [step] = account.steps
    assert step.failure is not None and step.failure.kind == "unverified", account.render()
    assert "PKI001" in step.failure.text and account.resultaat != "AfnemerNietBekend"
    assert account.exit_code == 3


def test_the_genuine_tc_is_still_believed(gw):
    target = Doelsysteem.from_config(gw.config)
    reply, _ = target.invoke(Call("overzichtAanleverpunt", {"brin": TEST_BRIN}))
    assert reply.failure is None and reply.resultaat == "Geslaagd"


# ---- the reference target believes only the aanleverpunt's own vendor ------------------------------------------------

ROGUE_OIN = "00000001000000000078"


@pytest.fixture
def rogue_source(gw, monkeypatch):
    """The source's answers signed with another trusted vendor's certificate (what a party answering at the
    aanleverpunt's address would send); its sessiecontrole at the TC is still the genuine source's."""
    from dataclasses import replace

    from gateway.pki import issue
    from gateway.web.mounts import AANLEVERPUNT_PATH
    from gateway.wsse import Credentials

    party = issue(gw.folder / "pki", "rogue-source", ROGUE_OIN)
    middleware = gw.app.services[AANLEVERPUNT_PATH][0]
    monkeypatch.setattr(middleware, "endpoint", replace(
        middleware.endpoint, credentials=Credentials.from_files(party.cert_path, party.key_path)))


def _to_00zz(target):
    return target.transfer(pgn="127095823", bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                           doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)


def test_the_tc_names_the_vendor_of_each_aanleverpunt(gw):
    target = Doelsysteem.from_config(gw.config)
    reply = target.caller.call("overzichtAanleverpunt", target.tc_url, {"brin": TEST_BRIN}, signer=target.tc_oin)
    assert {a.leverancier_oin for a in reply.answer.aanleverpunten} == {gw.config.credentials().oin}


def test_a_document_response_signed_by_another_vendor_is_not_believed(gw, rogue_source):
    account = _to_00zz(Doelsysteem.from_config(gw.config))
    overdracht, document, afmelding = account.steps
    assert document.failure is not None and document.failure.kind == "unverified", account.render()
    assert "PKI001" in document.failure.text and ROGUE_OIN in document.failure.text
    assert account.dossier is None and account.exit_code == 3
    assert afmelding.resultaat == "OverdrachtGeslaagd" and account.resultaat == "OngeldigVerzoek"  # as unverified


def test_a_signed_fault_from_another_party_than_the_aanleverpunts_vendor_is_not_believed(gw):
    """A Fault signed by the TC (the gateway's OIN) where the aanleverpunt's vendor is another: unverified."""
    target = Doelsysteem.from_config(gw.config)
    call = Call("document", {"bronBrin": TEST_BRIN, "bronRouteringsKenmerk": "0" * 20, "doelBrin": TEST_DOEL_BRIN,
                             "doelRouteringsKenmerk": TEST_DOEL_ROUTERINGSKENMERK,
                             "koppelsleutel": "0B8F6A2E-3C1D-4E5F-8A9B-0C1D2E3F4A5B",
                             "overdrachtsoort": "overstapdossier", "sessieId": "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"},
                endpoint=gw.config.base_url + "/tc", routeringskenmerk="0" * 20, leverancier_oin=ROGUE_OIN)
    reply, [step] = target.invoke(call)
    assert reply.failure is not None and reply.failure.kind == "unverified", step
    assert "PKI001" in reply.failure.text
    # the same Fault from the vendor named is reported as the Fault it is
    reply, _ = target.invoke(Call(call.operation, call.args, endpoint=call.endpoint,
                                  routeringskenmerk=call.routeringskenmerk,
                                  leverancier_oin=gw.config.credentials().oin))
    assert reply.failure is not None and reply.failure.kind == "fault"


def test_the_genuine_source_is_still_believed(gw):
    account = _to_00zz(Doelsysteem.from_config(gw.config))
    assert account.resultaat == "OverdrachtGeslaagd" and account.dossier is not None, account.render()


# ---- an unsigned Body smuggled to spyne as a MIME part (SwA) ------------------------------------------------------

def _terugkoppeling(koppelsleutel: str, tekst: str) -> bytes:
    """An SWV's feedback to the test school's LAS, carrying ``tekst`` (which the school's endpoint stores)."""
    return _envelope(
        b'<m:terugkoppelingRequest xmlns:m="' + OSO + b'"><m:bronBrin>' + TEST_SWV_BRIN.encode() + b"</m:bronBrin>"
        b"<m:bronRouteringsKenmerk>" + TEST_SWV_ROUTERINGSKENMERK.encode() + b"</m:bronRouteringsKenmerk>"
        b"<m:doelBrin>" + TEST_BRIN.encode() + b"</m:doelBrin><m:doelRouteringsKenmerk>"
        + TEST_ROUTERINGSKENMERK.encode() + b"</m:doelRouteringsKenmerk><m:koppelsleutel>" + koppelsleutel.encode()
        + b"</m:koppelsleutel><m:terugkoppeling>" + tekst.encode() + b"</m:terugkoppeling></m:terugkoppelingRequest>")


def _announced(gw) -> str:
    """A koppelsleutel the test school announced to the SWV (the TC's record of its meldenNotificatie): feedback is
    taken only on a koppelsleutel the school itself gave that SWV."""
    import uuid
    from datetime import datetime, timedelta, timezone

    from gateway.oso.trafficcenter import Notificatie

    k = str(uuid.uuid4()).upper()
    now = datetime.now(timezone.utc)
    with gw.database.unit_of_work() as repo:
        repo.add_notificatie(Notificatie(k, TEST_ROUTERINGSKENMERK, TEST_BRIN, TEST_SWV_BRIN,
                                         TEST_SWV_ROUTERINGSKENMERK, "swv-dossier", "SWV", now,
                                         now + timedelta(days=14)))
    return k


def _stored_feedback(gw, koppelsleutel: str) -> list[str]:
    with gw.database.unit_of_work(readonly=True) as repo:
        return [t.tekst for t in DoelsysteemStore(repo).terugkoppelingen(koppelsleutel=koppelsleutel)]


@pytest.mark.parametrize("content_type", ["multipart/related; boundary=BND", 'multipart/related; boundary="BND"; '
                                          'type="text/xml"'])
def test_a_mime_part_after_the_envelope_is_not_what_the_service_reads(gw, content_type):
    """The verified message is the signer's feedback ("genuine"); after its Envelope, a processing instruction
    (ignored by XML, by c14n and by the verifier) holds a MIME part with another, unsigned, envelope. Sent as
    multipart/related, spyne used to collapse the MIME message and take that unsigned Body in the signer's name."""
    url = gw.config.base_url + "/school/doelsysteem"
    k = _announced(gw)
    action = f"{contracts.OSO_NS}/terugkoppeling"
    signed = sign_request(_terugkoppeling(k, "genuine"), gw.config.credentials(), to=url, action=action)
    data = signed + b"\n<?x\n--BND\nContent-Type: text/xml\n\n" + _terugkoppeling(k, "FORGED") + b"\n--BND--\n?>"
    answer = requests.post(url, data=data, headers={"Content-Type": content_type, "SOAPAction": '""'})
    assert b"FORGED" not in answer.content
    assert "FORGED" not in _stored_feedback(gw, k)
    assert answer.status_code == 500 or _stored_feedback(gw, k) == ["genuine"]


def test_a_charset_in_the_content_type_does_not_change_what_the_service_reads(gw):
    url = gw.config.base_url + "/school/doelsysteem"
    k = _announced(gw)
    signed = sign_request(_terugkoppeling(k, "café"), gw.config.credentials(), to=url,
                          action=f"{contracts.OSO_NS}/terugkoppeling")
    answer = requests.post(url, data=signed, headers={"Content-Type": "text/xml; charset=iso-8859-1"})
    assert answer.status_code == 200, answer.content
    assert _stored_feedback(gw, k) == ["café"]  # read as the UTF-8 that was signed, not re-decoded as Latin-1
