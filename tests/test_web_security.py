"""The security middleware over real HTTP: a zeep client built from wsdl/trafficcenter-20200910.wsdl calls the TC's
ping; hostile requests get a signed SOAP Fault naming the rule, never a traceback or a bare 500."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import zeep.exceptions
from lxml import etree

from gateway import contracts
from gateway.client import WusSignature, client_for
from gateway.config import Config
from gateway.web.app import GatewayApp
from gateway.wsse import Policy, sign_request, verify_response
from gateway.wsse import ns
from gateway.wsse.errors import SecurityError
from tests.harness import serve, signed_client, stop

ROOT = Path(__file__).resolve().parents[1]
PING_WSDL = contracts.wsdl_path("trafficcenter")
PING_ACTION = f"{contracts.OSO_NS}/ping"


@pytest.fixture(scope="module")
def gateway(pki, tmp_path_factory):
    from gateway.store import Database
    from tests.conftest import free_port

    port = free_port()
    gw = pki.gateway
    db = f"sqlite:///{tmp_path_factory.mktemp('db')}/gateway.db"
    Database(db).migrate()
    config = Config(port=port, cert=str(gw.cert_path), key=str(gw.key_path), ca=str(pki.ca), crl=str(pki.crl),
                    database_url=db)
    httpd = serve(GatewayApp(config), port)
    yield config.base_url
    stop(httpd)


@pytest.fixture
def ping(pki, gateway):
    return signed_client(pki, "trafficcenter", gateway + "/tc", "vendor")


def test_signed_ping_round_trip(ping, pki):
    service, plugin = ping
    answer = service.ping()
    assert answer.resultaat == "Geslaagd"
    assert answer.afzenderOin == pki.credentials("vendor").oin  # the service saw the verified signer
    response = plugin.last_response
    assert response.oin == pki.credentials("gateway").oin  # answered and signed by the gateway
    assert response.relates_to == plugin.last_request[0]
    assert response.confirmations == (plugin.last_request[1],)


def test_served_wsdl_is_the_file(gateway):
    r = requests.get(gateway + "/tc?wsdl", timeout=10)
    assert r.status_code == 200
    assert r.content == PING_WSDL.read_bytes()
    for name in ("overstapservice-20200910.xsd", "gateway-extensie-1.xsd"):
        xsd = requests.get(gateway + "/xsd/" + name, timeout=10)
        assert xsd.content == (ROOT / "xsd" / name).read_bytes()
    assert requests.get(gateway + "/xsd/../setup.cfg", timeout=10).status_code == 404


def _post(url, data, soap_action='""'):
    return requests.post(url, data=data, headers={"Content-Type": "text/xml; charset=utf-8",
                                                  "SOAPAction": soap_action}, timeout=10)


def _unsigned_ping() -> bytes:
    return (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            b'<p:pingRequest xmlns:p="http://xml.kennisnet.nl/schemas/Overstapservice/20200910"/>'
            b"</soapenv:Body></soapenv:Envelope>")


def _fault(response, pki):
    """The answer is a Fault signed by the gateway; returns (faultcode, faultstring, rule)."""
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/xml")
    assert b"Traceback" not in response.content
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{ns.SOAP11}}}Body/{{{ns.SOAP11}}}Fault")
    assert fault is not None
    # signed by the gateway, echoing what it could read of the request
    relates = root.findtext(f"{{{ns.SOAP11}}}Header/{{{ns.WSA}}}RelatesTo") or ""
    conf = root.find(f".//{{{ns.WSSE11}}}SignatureConfirmation")
    vm = verify_response(response.content, request_message_id=relates,
                         request_signature_value=conf.get("Value") if conf is not None else "",
                         policy=Policy(), trust=pki.trust(), allow_unbound_fault=not relates)
    assert vm.is_fault and vm.oin == pki.credentials("gateway").oin
    rule = fault.find(".//{urn:oso-gateway:fault:1}rule")
    return fault.findtext("faultcode"), fault.findtext("faultstring"), rule.text if rule is not None else None


def test_unsigned_request_gets_signed_fault(gateway, pki):
    code, reason, rule = _fault(_post(gateway + "/tc", _unsigned_ping()), pki)
    assert code == "wsse:InvalidSecurity" and rule == "WB003"
    assert "WB003" in reason


def test_soap_action_mismatch(gateway, pki):
    signed = sign_request(_unsigned_ping(), pki.credentials("vendor"), to=gateway + "/tc", action=PING_ACTION)
    code, reason, rule = _fault(_post(gateway + "/tc", signed, soap_action='"urn:other"'), pki)
    assert rule == "WS002" and "0003" in reason


def test_wrong_to_refused(gateway, pki):
    signed = sign_request(_unsigned_ping(), pki.credentials("vendor"), to="http://elsewhere/tc", action=PING_ACTION)
    code, _, rule = _fault(_post(gateway + "/tc", signed), pki)
    assert (code, rule) == ("wsa:DestinationUnreachable", "WSA-TO")


def test_unknown_action_refused(gateway, pki):
    signed = sign_request(_unsigned_ping(), pki.credentials("vendor"), to=gateway + "/tc", action="urn:x:other")
    _, _, rule = _fault(_post(gateway + "/tc", signed), pki)
    assert rule == "WSA-ACTION"


def test_replay_refused_over_http(gateway, pki):
    signed = sign_request(_unsigned_ping(), pki.credentials("vendor"), to=gateway + "/tc", action=PING_ACTION)
    assert _post(gateway + "/tc", signed).status_code == 200
    _, _, rule = _fault(_post(gateway + "/tc", signed), pki)
    assert rule == "GW-REPLAY"


def test_fault_relates_to_refused_request(gateway, pki):
    """A refused but readable request gets a Fault that relates to it and confirms its signature."""
    signed = sign_request(_unsigned_ping(), pki.credentials("vendor"), to="http://elsewhere/tc", action=PING_ACTION)
    request = etree.fromstring(signed)
    mid = request.findtext(f"{{{ns.SOAP11}}}Header/{{{ns.WSA}}}MessageID")
    sv = "".join(request.findtext(f".//{{{ns.DS}}}SignatureValue").split())
    r = _post(gateway + "/tc", signed)
    vm = verify_response(r.content, request_message_id=mid, request_signature_value=sv, policy=Policy(),
                         trust=pki.trust())
    assert vm.is_fault and vm.relates_to == mid and vm.confirmations == (sv,)


@pytest.mark.parametrize("body", [
    b"",
    b"not xml",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body/></soapenv:Envelope>",
])
def test_garbage_gets_a_fault_not_a_crash(gateway, pki, body):
    code, reason, rule = _fault(_post(gateway + "/tc", body), pki)
    assert rule is not None and rule in reason
    assert "/etc/passwd" not in reason


def test_oversize_refused_before_reading(gateway, pki):
    big = b"<x>" + b"a" * (33 * 1024 * 1024) + b"</x>"
    code, reason, rule = _fault(_post(gateway + "/tc", big), pki)
    assert rule == "GW-SIZE"


def test_client_refuses_unsigned_or_foreign_answer(pki, gateway):
    """The plug-in verifies answers: trusting another CA, the gateway's answer is refused."""
    from gateway.pki import init_pki

    other = Path(pki.dir).parent / "other-pki"
    if not other.exists():
        init_pki(other)
    from gateway.wsse import TrustStore

    plugin = WusSignature(pki.credentials("vendor"), TrustStore.from_files(other / "ca.pem", other / "crl.pem"))
    _, service = client_for(PING_WSDL, plugin, address=gateway + "/tc")
    with pytest.raises(SecurityError) as info:
        service.ping()
    assert info.value.rule == "PKI002"


def test_signed_fault_reaches_zeep_as_fault(pki, gateway):
    """A refused request: the plug-in verifies the signed Fault and zeep raises it as a Fault."""
    plugin = WusSignature(pki.credentials("expired-vendor", expired=True), pki.trust())
    _, service = client_for(PING_WSDL, plugin, address=gateway + "/tc")
    with pytest.raises(zeep.exceptions.Fault) as info:
        service.ping()
    assert "PKI002" in info.value.message
