"""The reference target without a gateway: the sans-IO flow (calls out, replies in), the account, the dossier taken
from a verified Body, and the retry rules of ``Doelsysteem`` against sockets that misbehave."""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import date, datetime, timezone

import pytest
from lxml import etree

from gateway.client.antwoorden import (AanleverpuntAdres, Antwoord, DocumentAntwoord, OverdrachtAntwoord,
                                      dossier_of)
from gateway.client.call import FAULT, PROTOCOL, TRANSPORT, UNVERIFIED, Failure, Reply, fault_failure
from gateway.client.overdracht import (Call, Keep, Step, TransferAccount, TransferError, TransferRequest, flow,
                                      leerling_fields, result_for_failure)
from gateway.client.target import Doelsysteem
from gateway.contracts import OSO_NS
from gateway.oso.zoeksleutel import ChainKey

from .conftest import POVO_FULL

PGN = "127095823"
KEY = ChainKey("test", b"k" * 32)
RK1, RK2 = "0000000700000YY00931", "0000000700000YY00932"
DOEL_RK = "0000000700000ZZ00000"
SID = "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"
KOPPEL = "0B8F6A2E-3C1D-4E5F-8A9B-0C1D2E3F4A5B"


def request(**kw) -> TransferRequest:
    args = dict(bron_brin="00YY", doel_brin="00ZZ", doel_routeringskenmerk=DOEL_RK, pgn=PGN)
    args.update(kw)
    return TransferRequest(**args)


def drive(req: TransferRequest, replies: dict, everything: list | None = None) -> tuple[list[Call], object]:
    """Run the flow, answering each Call from ``replies`` (operation or (operation, rk) → Reply; "keep" → what the
    target says when asked to keep a dossier: None kept, else why not). ``everything`` collects the Keeps too."""
    calls = []
    gen = flow(req, leerling_fields(req, KEY))
    call = next(gen)
    try:
        while True:
            if everything is not None:
                everything.append(call)
            if isinstance(call, Keep):
                call = gen.send(replies.get("keep"))
                continue
            calls.append(call)
            reply = replies.get((call.operation, call.routeringskenmerk)) or replies[call.operation]
            call = gen.send(reply)
    except StopIteration as stop:
        return calls, stop.value


BRON_OIN = "00000001000000000022"
OPENED = Reply(OverdrachtAntwoord("Geslaagd", SID, (AanleverpuntAdres(RK1, "http://bron/ap1", BRON_OIN),
                                                    AanleverpuntAdres(RK2, "http://bron/ap2", BRON_OIN))))
ACK = Reply(Antwoord("OverdrachtGeslaagd"))


def document(resultaat: str, dossier: bytes | None = None) -> Reply:
    return Reply(DocumentAntwoord(resultaat, dossier))


def test_a_refusal_at_the_tc_ends_the_flow_without_a_session():
    calls, result = drive(request(), {"overdracht": Reply(OverdrachtAntwoord("AfnemerNietBekend"))})
    assert [c.operation for c in calls] == ["overdracht"]
    assert (result.sessie_id, result.resultaat, result.failed_at) == (None, "AfnemerNietBekend", None)


def test_each_aanleverpunt_is_asked_in_order_and_afmelding_reports_the_best():
    replies = {"overdracht": OPENED,
               ("document", RK1): document("OverdrachtGeslaagd", b"<d1/>"),
               ("document", RK2): document("LeveringGeweigerd"),
               "afmelding": ACK}
    calls, result = drive(request(dossier_verzameldatum=date(2024, 1, 1)), replies)
    assert [(c.operation, c.endpoint) for c in calls] == [
        ("overdracht", None), ("document", "http://bron/ap1"), ("document", "http://bron/ap2"), ("afmelding", None)]
    # a date is sent as that day's start, a moment with its offset
    assert calls[1].args["dossierVerzameldatum"] == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert calls[1].args["bronRouteringsKenmerk"] == RK1 and calls[1].args["sessieId"] == SID
    assert calls[1].args["doelRouteringsKenmerk"] == DOEL_RK
    assert [c.leverancier_oin for c in calls] == [None, BRON_OIN, BRON_OIN, None]  # each answer pinned to its vendor
    assert calls[3].args == {"bronBrin": "00YY", "bronRouteringsKenmerk": RK1, "doelBrin": "00ZZ",
                             "doelRouteringsKenmerk": DOEL_RK, "sessieId": SID, "resultaat": "OverdrachtGeslaagd"}
    assert result.resultaat == "OverdrachtGeslaagd" and result.confirmed and result.afgemeld_bij == RK1
    assert [a.dossier for a in result.asked] == [b"<d1/>", None]


def test_a_tie_goes_to_the_last_aanleverpunt_asked():
    replies = {"overdracht": OPENED, "document": document("LeveringGeweigerd"), "afmelding": ACK}
    calls, result = drive(request(), replies)
    assert (calls[3].args["bronRouteringsKenmerk"], calls[3].args["resultaat"]) == (RK2, "LeveringGeweigerd")


def test_a_source_that_fails_is_closed_with_the_documented_code():
    replies = {"overdracht": OPENED,
               ("document", RK1): Reply(failure=Failure(TRANSPORT, "unreachable")),
               ("document", RK2): Reply(failure=Failure(FAULT, "signed Fault soapenv:Client", server_side=False)),
               "afmelding": Reply(failure=Failure(TRANSPORT, "unreachable"))}
    calls, result = drive(request(), replies)
    # Timeout (RK1) ranks below OngeldigVerzoek (RK2): the best is reported with its aanleverpunt
    assert (calls[3].args["bronRouteringsKenmerk"], calls[3].args["resultaat"]) == (RK2, "OngeldigVerzoek")
    assert result.resultaat == "OngeldigVerzoek" and not result.confirmed
    assert result.failed_at == "document"


@pytest.mark.parametrize("failure, resultaat", [
    (Failure(TRANSPORT, "unreachable"), "TrafficCenterNietBeschikbaar"),
    (Failure(FAULT, "signed Fault soapenv:Server", server_side=True), "TrafficCenterNietBeschikbaar"),
    (Failure(FAULT, "signed Fault soapenv:Client", server_side=False), "OngeldigVerzoek"),
    (Failure(UNVERIFIED, "bad signature"), "OngeldigVerzoek"),
    (Failure(PROTOCOL, "not the contract"), "OngeldigVerzoek"),
])
def test_no_answer_at_overdracht_ends_the_flow_with_the_documented_code(failure, resultaat):
    """The TC's own trouble (no answer, a Server Fault) is TrafficCenterNietBeschikbaar; a refusal of our message
    (a Client or WS-Security Fault) or an answer we cannot use is OngeldigVerzoek."""
    calls, result = drive(request(), {"overdracht": Reply(failure=failure)})
    assert [c.operation for c in calls] == ["overdracht"]
    assert (result.sessie_id, result.resultaat, result.failed_at) == (None, resultaat, "overdracht")


def _fault(code: str, message: str, dk_code: str | None = None):
    detail = ""
    if dk_code is not None:
        detail = (f'<detail><gwf:securityFault xmlns:gwf="urn:x"><gwf:digikoppelingCode>{dk_code}'
                  '</gwf:digikoppelingCode></gwf:securityFault></detail>')
    return etree.fromstring(f'<s:Fault xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><faultcode>{code}'
                            f'</faultcode><faultstring>{message}</faultstring>{detail}</s:Fault>')


@pytest.mark.parametrize("fault, server_side", [
    (_fault("soapenv:Server", "GW-INTERNAL: down"), True),
    (_fault("soapenv:Client", "GW-XSD: no"), False),
    (_fault("wsse:FailedAuthentication", "PKI002: revoked [Digikoppeling 0002]", "0002"), False),
    # Digikoppeling 0051 (not available) is the peer's trouble, whatever faultcode carries it
    (_fault("soapenv:Client", "down", "0051"), True),
    (_fault("f:Unavailable", "the service is not available [Digikoppeling 0051]"), True),
])
def test_a_fault_is_the_peers_trouble_when_soap_server_or_digikoppeling_0051(fault, server_side):
    failure = fault_failure(fault)
    assert (failure.kind, failure.server_side) == (FAULT, server_side)


def test_the_failure_codes():
    assert result_for_failure(Failure(TRANSPORT, "x")) == "Timeout"
    assert result_for_failure(Failure(FAULT, "x", server_side=True)) == "Timeout"
    assert result_for_failure(Failure(FAULT, "x", server_side=False)) == "OngeldigVerzoek"
    assert result_for_failure(Failure(UNVERIFIED, "x")) == "OngeldigVerzoek"


def test_the_pgn_never_reaches_a_call():
    replies = {"overdracht": OPENED, "document": document("LeveringGeweigerd"), "afmelding": ACK}
    calls, _ = drive(request(), replies)
    for call in calls:
        assert PGN not in repr(call.args)
    named = calls[0].args["zoeksleutelPgnfrag"]
    assert re.fullmatch(r"[0-9]{4}", named["pgnfrag"]) and named["zoeksleutel"].endswith("=")
    assert calls[1].args["zoeksleutelPgnfrag"] == named
    assert PGN not in repr(request())


def test_a_koppelsleutel_names_the_pupil_and_makes_it_an_swv_transfer():
    req = request(pgn=None, koppelsleutel=KOPPEL)
    assert leerling_fields(req, None) == {"koppelsleutel": KOPPEL}
    assert req.soort == "swv-dossier"
    assert request(doel_brin="00YY").soort == "overdrachtbinnenbrin"
    assert request().soort == "overstapdossier"


@pytest.mark.parametrize("kw", [dict(koppelsleutel=KOPPEL), dict(pgn=None), dict(pgn="12345"),
                                dict(overdrachtsoort="verhuizing"), dict(pgn=None, koppelsleutel=SID),
                                dict(bron_brin="0YY"), dict(doel_brin="00zz"), dict(doel_routeringskenmerk="123"),
                                dict(bron_routeringskenmerk="0000000700000yy00931")])
def test_requests_that_cannot_be_made(kw):
    with pytest.raises(TransferError):
        request(**kw)


def test_no_chain_key_no_zoeksleutel():
    with pytest.raises(TransferError):
        leerling_fields(request(), None)


def test_the_dossier_is_taken_out_of_the_envelope_unchanged_in_content():
    original = POVO_FULL.read_bytes()
    dossier = etree.fromstring(original)
    envelope = etree.fromstring(
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsu="urn:wsu"><s:Body>'
        b'<ap:documentResponse xmlns:ap="' + OSO_NS.encode() + b'"><ap:resultaat>OverdrachtGeslaagd'
        b'</ap:resultaat><ap:dossier/></ap:documentResponse></s:Body></s:Envelope>')
    body = envelope[0][0]
    body.find(f"{{{OSO_NS}}}dossier").append(dossier)
    out = dossier_of(body)
    assert out.startswith(b"<?xml") and b"soap/envelope" not in out and b"urn:wsu" not in out
    c14n = lambda data: etree.tostring(etree.fromstring(data), method="c14n")  # noqa: E731
    assert c14n(out) == c14n(original)
    assert dossier_of(etree.Element(f"{{{OSO_NS}}}documentResponse")) is None
    # a declaration of the dossier's own stays, even unused; one of the envelope's goes
    own = etree.fromstring(b'<d:dossier xmlns:d="urn:d" xmlns:x="urn:unused"><d:a/></d:dossier>')
    del body.find(f"{{{OSO_NS}}}dossier")[0]
    body.find(f"{{{OSO_NS}}}dossier").append(own)
    assert c14n(dossier_of(body)) == b'<d:dossier xmlns:d="urn:d" xmlns:x="urn:unused"><d:a></d:a></d:dossier>'


def test_the_account_tells_a_script_and_a_person_what_happened():
    acc = TransferAccount(request(), leerling="by zoeksleutel and pgnfrag", sessie_id=SID,
                          steps=[Step("overdracht", "http://tc", "Geslaagd", 3.0),
                                 Step("document", "http://ap", None, 5.0, RK1, 1, Failure(TRANSPORT, "timed out"),
                                      "retrying with a new message"),
                                 Step("document", "http://ap", "LeveringGeweigerd", 5.0, RK1, 2)],
                          resultaat="LeveringGeweigerd", confirmed=True)
    assert acc.exit_code == 1
    text = acc.render()
    assert "LeveringGeweigerd" in text and "attempt 2" in text and "timed out" in text
    assert "the new school contacts the old school" in text and PGN not in text
    acc.failed_at = "document"
    assert acc.exit_code == 3
    acc.dossier = b"<dossier/>"
    assert acc.exit_code == 0


# ---- the retry rules, against sockets that misbehave -------------------------------------------------------------

class Listener:
    """A TCP listener on loopback that counts connections and answers each one with ``reply`` (or closes it);
    ``reply`` may be a function of the request's body."""

    def __init__(self, reply):
        self.reply = reply
        self.count = 0
        self.requests: list[bytes] = []
        self.times: list[float] = []  # when each connection came (time.monotonic)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            self.times.append(time.monotonic())
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length: *([0-9]+)", head).group(1))
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.requests.append(body)
                except (OSError, AttributeError):
                    continue
                if self.reply is not None:
                    conn.sendall(self.reply(body) if callable(self.reply) else self.reply)

    def close(self):
        self.sock.close()


@pytest.fixture
def target(pki):
    return Doelsysteem(pki.credentials("doel-las", "00000001000000000011"), pki.trust(), tc_url="http://x/tc",
                       chain_key=KEY, timeout=3)


def _point_tc_at(target, url: str) -> None:
    """The target's Traffic Center is at ``url`` from now on."""
    target.tc_url = url


def test_a_transport_error_is_retried_twice_with_a_new_message_after_a_pause(target):
    listener = Listener(None)  # accepts, reads, hangs up: no answer
    try:
        _point_tc_at(target, listener.url + "/tc")
        account = target.transfer(pgn=PGN, bron_brin="00YY", doel_brin="00ZZ", doel_routeringskenmerk=DOEL_RK)
    finally:
        listener.close()
    assert listener.count == 3
    ids = [etree.fromstring(r).findtext(".//{http://www.w3.org/2005/08/addressing}MessageID")
           for r in listener.requests]
    assert len(set(ids)) == 3  # a new message each time, not the same one sent again
    gaps = [b - a for a, b in zip(listener.times, listener.times[1:])]
    assert gaps[0] >= 0.95 and gaps[1] >= 1.95, gaps  # after 1 s, then 2 s: never a storm
    assert [(s.operation, s.attempt, s.failure.kind) for s in account.steps] == [
        ("overdracht", 1, "transport"), ("overdracht", 2, "transport"), ("overdracht", 3, "transport")]
    assert account.resultaat == "TrafficCenterNietBeschikbaar" and account.exit_code == 3


def test_an_answer_that_does_not_verify_is_not_retried(target):
    body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
            b'<faultcode>s:Server</faultcode><faultstring>unsigned</faultstring></s:Fault></s:Body></s:Envelope>')
    listener = Listener(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    try:
        call = Call("document", {
            "bronBrin": "00YY", "bronRouteringsKenmerk": RK1, "doelBrin": "00ZZ", "doelRouteringsKenmerk": DOEL_RK,
            "zoeksleutelPgnfrag": {"zoeksleutel": "AQR0ZXN0" + "A" * 40, "pgnfrag": "0823"},
            "overdrachtsoort": "overstapdossier", "sessieId": SID}, endpoint=listener.url + "/ap", routeringskenmerk=RK1)
        reply, steps = target.invoke(call)
    finally:
        listener.close()
    assert listener.count == 1
    assert reply.failure.kind == UNVERIFIED and len(steps) == 1


def test_a_signed_server_fault_of_the_tc_is_retried_then_tc_niet_beschikbaar(pki, target):
    """The TC answers overdracht with a signed soap:Server Fault (Digikoppeling 0051): its trouble, not the
    request's, which a new message may get through (a database restarting). Asked three times, each a new message;
    then reported as TrafficCenterNietBeschikbaar (exit 3)."""
    from gateway.wsse import ns, sign_response
    from gateway.wsse.errors import ServerSecurityError
    from gateway.wsse.faults import FAULT_ACTION, fault_envelope

    tc = pki.credentials("gateway")

    def signed_fault(request_body: bytes) -> bytes:
        root = etree.fromstring(request_body)
        mid = root.findtext(f"{{{ns.SOAP11}}}Header/{{{ns.WSA}}}MessageID")
        sv = root.findtext(f".//{{{ns.DS}}}SignatureValue")
        fault = sign_response(fault_envelope(ServerSecurityError("GW-INTERNAL", "the Traffic Center is not available",
                                                                 dk_code="0051")),
                              tc, relates_to=mid, confirmation="".join(sv.split()), action=FAULT_ACTION)
        return (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: "
                + str(len(fault)).encode() + b"\r\nConnection: close\r\n\r\n" + fault)

    listener = Listener(signed_fault)
    try:
        _point_tc_at(target, listener.url + "/tc")
        account = target.transfer(pgn=PGN, bron_brin="00YY", doel_brin="00ZZ", doel_routeringskenmerk=DOEL_RK)
    finally:
        listener.close()
    assert listener.count == 3
    ids = {etree.fromstring(r).findtext(".//{http://www.w3.org/2005/08/addressing}MessageID")
           for r in listener.requests}
    assert len(ids) == 3
    step = account.steps[-1]
    assert (step.operation, step.attempt, step.failure.kind, step.failure.server_side) == ("overdracht", 3, FAULT,
                                                                                            True)
    assert "0051" in step.failure.text
    assert (account.resultaat, account.failed_at, account.exit_code) == ("TrafficCenterNietBeschikbaar",
                                                                          "overdracht", 3)


def test_the_dossier_is_kept_before_the_tc_is_told_and_not_told_when_it_could_not_be():
    replies = {"overdracht": OPENED,
               ("document", RK1): document("LeveringGeweigerd"),
               ("document", RK2): document("Geslaagd", b"<d2/>"),
               "afmelding": ACK}
    seen: list = []
    calls, result = drive(request(), replies, seen)
    kinds = [type(c).__name__ if isinstance(c, Keep) else c.operation for c in seen]
    assert kinds == ["overdracht", "document", "document", "Keep", "afmelding"]
    assert seen[3] == Keep(b"<d2/>", RK2)
    assert result.confirmed and result.not_kept is None

    calls, result = drive(request(), {**replies, "keep": "cannot write the dossier: /full: No space left on device"})
    assert [c.operation for c in calls] == ["overdracht", "document", "document"]  # no afmelding
    assert (result.failed_at, result.confirmed) == ("bewaren", False)
    assert result.not_kept.endswith("No space left on device")


def test_an_account_of_a_dossier_not_kept_exits_3_and_says_the_tc_was_not_told():
    account = TransferAccount(request(), sessie_id=SID, resultaat="Geslaagd", dossier=b"<d/>", dossier_from=RK1,
                              not_kept="cannot write the dossier: out.xml: Permission denied")
    assert account.exit_code == 3
    text = account.render()
    assert "NOT KEPT: cannot write the dossier: out.xml: Permission denied" in text
    assert "the TC was not told (no afmelding)" in text


def test_no_dossier_means_nothing_to_keep():
    replies = {"overdracht": OPENED, "document": document("LeveringGeweigerd"), "afmelding": ACK}
    seen: list = []
    drive(request(), replies, seen)
    assert not any(isinstance(c, Keep) for c in seen) and seen[-1].operation == "afmelding"
