"""Golden tests of the published contract (xsd/overstapservice-20200910.xsd, OSO'21/'22).

What this file holds the contract to:

* The public record. ``tests/golden/`` holds one Body element per example that /work/shared/docs/oso-wire.md marks
  [W] in the namespace http://xml.kennisnet.nl/schemas/Overstapservice/20200910, plus the notificatieResponse
  ([W-old], re-typed in that namespace). The files are our own re-typing of the skeletons in oso-wire.md, not copies;
  a comment at the top of each says which section it re-types and which placeholder values we filled in. Every one
  of them must validate: if the schema refuses one, the schema is wrong, not the example.
* Strictness. Variants built from each golden file with lxml must be refused: a renamed element, the wiki tables'
  lower-case "Routeringskenmerk", the OSO'18 namespace, a wrong order, an unknown or missing element, an
  unqualified child, both halves of the Leerling choice at once, a lower-case koppelsleutel, and doel PaO (OSO'18).
* The gateway's own extension elements (urn:oso-gateway:extensie:1) are optional: nothing the chain sends needs
  them, and a pingResponse without them validates.
* The WSDL side: the services and their operations, every Body element declared in the XSD, every wsa:Action unique.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest
from lxml import etree

from gateway import contracts

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = sorted(GOLDEN_DIR.glob("*.xml"))

OSO_NS = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
OSO18_NS = "http://xml.kennisnet.nl/schemas/Overstapservice/20180404"
GW_NS = "urn:oso-gateway:extensie:1"
XS = "http://www.w3.org/2001/XMLSchema"


def q(local: str) -> str:
    return f"{{{OSO_NS}}}{local}"


def load(path: Path) -> etree._Element:
    """The Body element of a golden file (the comment before it is not part of it)."""
    return etree.parse(str(path), etree.XMLParser(remove_blank_text=True)).getroot()


def wire(element: etree._Element) -> etree._Element:
    """The element as a peer would receive it: serialised and parsed again."""
    return etree.fromstring(etree.tostring(element))


def golden_id(path: Path) -> str:
    return path.name.removesuffix(".xml")


# ---- (a) every golden file validates ----------------------------------------------------------------------------

def test_the_golden_set_is_complete():
    assert [p.name for p in GOLDEN] == ["meldenNotificatieRequest.oso22.xml", "notificatieRequest.oso22.xml",
                                        "notificatieResponse.oso22.xml", "sessiecontroleRequest.oso22.xml"]


@pytest.mark.parametrize("path", GOLDEN, ids=golden_id)
def test_golden_file_conforms(path: Path):
    root = load(path)
    assert etree.QName(root).namespace == OSO_NS
    assert etree.QName(root).localname == path.name.split(".")[0], "the file is named after its Body element"
    assert contracts.operation_for_element(root.tag) is not None, "the Body element belongs to an operation"
    error = contracts.schema_error(root)
    assert error is None, f"{path.name} is a [W] example and the contract refuses it: {error}"


# ---- (b) variants of the golden files must be refused -----------------------------------------------------------
# A variant takes a copy of a golden Body element and changes it in place; it returns None where it does not apply
# (e.g. no koppelsleutel to lower-case).

Variant = Callable[[etree._Element], "etree._Element | None"]


def _rename(old: str, new: str) -> Variant:
    def variant(root):
        el = root.find(f".//{q(old)}")
        if el is None:
            return None
        el.tag = q(new)
        return root
    return variant


def _swap(first: int, second: int) -> Variant:
    def variant(root):
        children = list(root)
        if len(children) < 2:
            return None
        a, b = children[first], children[second]
        ia, ib = root.index(a), root.index(b)
        root.remove(a)
        root.insert(ib, a)
        root.remove(b)
        root.insert(ia, b)
        return root
    return variant


def _remove(index: int) -> Variant:
    def variant(root):
        children = list(root)
        if len(children) < (1 if index == 0 else 2):  # with one child, "last" is "first": not twice
            return None
        root.remove(children[index])
        return root
    return variant


def _append(tag: str, text: str) -> Variant:
    def variant(root):
        etree.SubElement(root, tag).text = text
        return root
    return variant


def _old_namespace(root):
    for el in root.iter(etree.Element):
        if etree.QName(el).namespace == OSO_NS:
            el.tag = f"{{{OSO18_NS}}}{etree.QName(el).localname}"
    return root


def _unqualified_child(root):
    first = root[0]
    first.tag = etree.QName(first).localname
    return root


def _both_leerling_keys(root):
    pair = root.find(q("zoeksleutelPgnfrag"))
    if pair is None:
        return None
    key = etree.Element(q("koppelsleutel"))
    key.text = "19677A96-B737-402E-B3B8-24A3EEF32000"
    pair.addnext(key)
    return root


def _koppelsleutel(text: str) -> Variant:
    """The koppelsleutel set to ``text``; in a Leerling choice it takes the place of zoeksleutelPgnfrag."""
    def variant(root):
        key = root.find(q("koppelsleutel"))
        if key is None:
            pair = root.find(q("zoeksleutelPgnfrag"))
            if pair is None:
                return None
            key = etree.Element(q("koppelsleutel"))
            pair.addprevious(key)
            root.remove(pair)
        key.text = text
        return root
    return variant


def _doel(value: str) -> Variant:
    def variant(root):
        el = root.find(q("doel"))
        if el is None:
            return None
        el.text = value
        return root
    return variant


REFUSED: dict[str, Variant] = {
    "bronBrin-as-bronBRIN": _rename("bronBrin", "bronBRIN"),
    "bronRouteringsKenmerk-as-bronRouteringskenmerk": _rename("bronRouteringsKenmerk", "bronRouteringskenmerk"),
    "doelRouteringsKenmerk-as-doelRouteringskenmerk": _rename("doelRouteringsKenmerk", "doelRouteringskenmerk"),
    "resultaat-as-Resultaat": _rename("resultaat", "Resultaat"),
    "zoeksleutel-as-zoekSleutel": _rename("zoeksleutel", "zoekSleutel"),
    "namespace-20180404": _old_namespace,
    "first-child-unqualified": _unqualified_child,
    "first-two-children-swapped": _swap(0, 1),
    "last-two-children-swapped": _swap(-2, -1),
    "unknown-element-appended": _append(q("opmerking"), "onbekend"),
    "gateway-extension-appended": _append(f"{{{GW_NS}}}versie", "1"),
    "first-child-removed": _remove(0),
    "last-child-removed": _remove(-1),
    "zoeksleutelPgnfrag-and-koppelsleutel": _both_leerling_keys,
    "koppelsleutel-lower-case": _koppelsleutel("19677a96-b737-402e-b3b8-24a3eef32000"),
    "doel-PaO": _doel("PaO"),
}

# Controls: changes the contract accepts, so that a refusal above is known to come from what the variant broke.
ACCEPTED: dict[str, Variant] = {
    "koppelsleutel-upper-case": _koppelsleutel("19677A96-B737-402E-B3B8-24A3EEF32000"),
}


def _cases(variants: dict[str, Variant]) -> list:
    cases = []
    for path in GOLDEN:
        for name, variant in variants.items():
            if variant(copy.deepcopy(load(path))) is not None:
                cases.append(pytest.param(path, name, id=f"{golden_id(path)}:{name}"))
    return cases


def _variant(path: Path, name: str, variants: dict[str, Variant]) -> etree._Element:
    return wire(variants[name](copy.deepcopy(load(path))))


@pytest.mark.parametrize(("path", "name"), _cases(REFUSED))
def test_variant_is_refused(path: Path, name: str):
    assert contracts.schema_error(load(path)) is None, f"{path.name} itself does not validate: the variant proves nothing"
    element = _variant(path, name, REFUSED)
    assert contracts.schema_error(element) is not None, (
        f"the contract accepts {name} of {path.name}:\n{etree.tostring(element, pretty_print=True).decode()}")


@pytest.mark.parametrize(("path", "name"), _cases(ACCEPTED))
def test_control_variant_is_accepted(path: Path, name: str):
    element = _variant(path, name, ACCEPTED)
    error = contracts.schema_error(element)
    assert error is None, f"{name} of {path.name}: {error}"


def test_every_golden_file_meets_the_variants_meant_for_it():
    """The variants the brief asks for reach the messages they are about (a typo in a name would skip them)."""
    ids = {p.id for p in _cases(REFUSED)}
    for stem in ("sessiecontroleRequest.oso22", "meldenNotificatieRequest.oso22", "notificatieRequest.oso22"):
        for name in ("bronBrin-as-bronBRIN", "bronRouteringsKenmerk-as-bronRouteringskenmerk", "namespace-20180404",
                     "first-two-children-swapped", "unknown-element-appended", "first-child-removed"):
            assert f"{stem}:{name}" in ids
    for name in ("resultaat-as-Resultaat", "namespace-20180404", "unknown-element-appended", "first-child-removed"):
        assert f"notificatieResponse.oso22:{name}" in ids
    assert "sessiecontroleRequest.oso22:zoeksleutelPgnfrag-and-koppelsleutel" in ids
    assert "sessiecontroleRequest.oso22:koppelsleutel-lower-case" in ids
    assert "notificatieRequest.oso22:doel-PaO" in ids


# ---- (c) the gateway's own extension elements are optional ------------------------------------------------------

@pytest.mark.parametrize("path", GOLDEN, ids=golden_id)
def test_golden_files_carry_no_gateway_extension(path: Path):
    assert not [el for el in load(path).iter(etree.Element) if etree.QName(el).namespace == GW_NS]


def test_ping_response_without_extension_conforms():
    ping = etree.fromstring(f'<oso:pingResponse xmlns:oso="{OSO_NS}"><oso:resultaat>Geslaagd</oso:resultaat>'
                            f'</oso:pingResponse>')
    error = contracts.schema_error(ping)
    assert error is None, error


def test_ping_response_with_extension_conforms():
    ping = etree.fromstring(f'<oso:pingResponse xmlns:oso="{OSO_NS}" xmlns:gw="{GW_NS}">'
                            f'<oso:resultaat>Geslaagd</oso:resultaat>'
                            f'<gw:afzenderOin>00000001234567890000</gw:afzenderOin>'
                            f'<gw:tijdstip>2022-01-20T11:17:33+01:00</gw:tijdstip>'
                            f'<gw:versie>20200910-gw1</gw:versie>'
                            f'</oso:pingResponse>')
    error = contracts.schema_error(ping)
    assert error is None, error


# ---- (d) the services of the WSDL files and the XSD ------------------------------------------------------------

SERVICES = {
    "trafficcenter": ["overdracht", "sessiecontrole", "afmelding", "meldenNotificatie", "meldenTerugkoppeling",
                      "overzichtAanleverpunt", "ping"],
    "aanleverpunt": ["document"],
    "doelsysteem": ["notificatie", "terugkoppeling"],
}


def _xsd_elements() -> set[str]:
    """The top-level elements of the contract's XSD, in Clark notation."""
    root = etree.parse(str(contracts.XSD_DIR / contracts.XSD_FILE)).getroot()
    tns = root.get("targetNamespace")
    return {f"{{{tns}}}{el.get('name')}" for el in root.findall(f"{{{XS}}}element")}


def test_services_and_their_operations():
    got = {name: sorted(op.name for op in s.operations) for name, s in contracts.services().items()}
    assert got == {name: sorted(ops) for name, ops in SERVICES.items()}


def test_every_body_element_is_declared_in_the_xsd():
    declared = _xsd_elements()
    missing = [(s.name, op.name, tag) for s in contracts.services().values() for op in s.operations
               for tag in (op.request, op.response) if tag not in declared]
    assert not missing


def test_every_action_is_unique():
    actions = [a for s in contracts.services().values() for op in s.operations for a in (op.action, op.response_action)]
    assert all(actions), "every request and response has a wsa:Action"
    assert [a for a, n in Counter(actions).items() if n > 1] == []
