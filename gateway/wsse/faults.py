"""SOAP 1.1 Faults for refused messages: a standard fault code, a reason that names the rule, and a detail
with the rule id and the Digikoppeling technical fault code. The caller signs the envelope like any response."""

from __future__ import annotations

from lxml import etree

from . import ns
from .errors import SecurityError

DETAIL_NS = "urn:oso-gateway:fault:1"
FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"

_PREFIXES = {ns.SOAP11: "soapenv", ns.WSSE: "wsse", ns.WSU: "wsu", ns.WSA: "wsa"}


def fault_envelope(error: SecurityError) -> etree._Element:
    """An unsigned SOAP 1.1 envelope whose Body is the Fault for ``error``."""
    code_ns, code_local = error.faultcode
    prefix = _PREFIXES.get(code_ns, "f")
    nsmap = {"soapenv": ns.SOAP11, "gwf": DETAIL_NS}
    if prefix != "soapenv":
        nsmap[prefix] = code_ns
    envelope = etree.Element(f"{{{ns.SOAP11}}}Envelope", nsmap=nsmap)
    body = etree.SubElement(envelope, f"{{{ns.SOAP11}}}Body")
    fault = etree.SubElement(body, f"{{{ns.SOAP11}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"{prefix}:{code_local}"
    etree.SubElement(fault, "faultstring").text = error.faultstring
    detail = etree.SubElement(etree.SubElement(fault, "detail"), f"{{{DETAIL_NS}}}securityFault")
    etree.SubElement(detail, f"{{{DETAIL_NS}}}rule").text = error.rule
    if error.dk_code:
        etree.SubElement(detail, f"{{{DETAIL_NS}}}digikoppelingCode").text = error.dk_code
    etree.SubElement(detail, f"{{{DETAIL_NS}}}party").text = error.party
    if error.element:
        etree.SubElement(detail, f"{{{DETAIL_NS}}}element").text = error.element
    return envelope


def read_fault(body: etree._Element) -> dict[str, str | None]:
    """The parts of a Fault (our own or a peer's) a client reports: code, reason, rule, Digikoppeling code."""
    def text(path: str, namespaces=None) -> str | None:
        el = body.find(path, namespaces)
        return el.text.strip() if el is not None and el.text else None

    return {
        "faultcode": text("faultcode"),
        "faultstring": text("faultstring"),
        "rule": text(".//gwf:rule", {"gwf": DETAIL_NS}),
        "digikoppeling": text(".//gwf:digikoppelingCode", {"gwf": DETAIL_NS}),
    }
