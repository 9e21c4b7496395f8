"""A Traffic Center on a real HTTP port for tests: the gateway app in a threaded WSGI server, a register with two
qualified vendors (a target's and a source's), and zeep clients built from wsdl/trafficcenter-20200910.wsdl that
sign as one or the other."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lxml import etree

from gateway.config import Config
from gateway.oso.register import Aanleverpunt, School, Sector, Vendor
from gateway.web.app import GatewayApp

from tests.harness import serve, signed_client, stop, valid_body


DOEL_OIN, BRON_OIN, STRANGER_OIN = "00000001000000000011", "00000001000000000022", "00000001000000000033"
DOEL_BRIN, BRON_BRIN = "11AA", "00YY"
DOEL_RK, BRON_RK, SWV_RK = "0000000700000AA00000", "0000000700000YY00931", "0000000700000SW00000"
ZOEKSLEUTEL, PGNFRAG = base64.b64encode(bytes(range(40))).decode(), "0823"


def register_parties(database) -> None:
    with database.unit_of_work() as repo:
        for oin, name in ((DOEL_OIN, "Doel LAS"), (BRON_OIN, "Bron LAS"), (STRANGER_OIN, "Ander LAS")):
            repo.add_vendor(Vendor(oin, name, True))
        repo.add_school(School(DOEL_BRIN, "00", Sector.VO, "Doelschool"))
        repo.add_school(School(BRON_BRIN, "00", Sector.PO, "Testschool"))
        repo.add_school(School("44SW", "00", Sector.SWV, "Samenwerkingsverband"))
        repo.add_aanleverpunt(Aanleverpunt(DOEL_RK, DOEL_BRIN, "00", DOEL_OIN, "https://doel.test/ap",
                                           "https://doel.test/notificatie"))
        repo.add_aanleverpunt(Aanleverpunt(BRON_RK, BRON_BRIN, "00", BRON_OIN, "https://bron.test/ap"))
        repo.add_aanleverpunt(Aanleverpunt(SWV_RK, "44SW", "00", DOEL_OIN, "https://swv.test/ap",
                                           "https://swv.test/notificatie"))


@dataclass
class RunningTc:
    url: str
    server: object
    pki: object
    database: object

    def client(self, name: str, oin: str):
        """A zeep TC service proxy signing as party ``name`` (OIN ``oin``), and its plug-in."""
        return signed_client(self.pki, "trafficcenter", self.url + "/tc", name, oin)

    def stop(self):
        stop(self.server)


def start_tc(pki, database, port: int, **config) -> RunningTc:
    gw = pki.gateway
    cfg = Config(port=port, cert=str(gw.cert_path), key=str(gw.key_path), ca=str(pki.ca), crl=str(pki.crl),
                 database_url=database.url, **config)
    return RunningTc(cfg.base_url, serve(GatewayApp(cfg, database=database), port), pki, database)


def assert_valid_response(plugin) -> etree._Element:
    """The Body of the last answer conforms to the contract; returns it."""
    return valid_body(plugin)
