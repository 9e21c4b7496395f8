"""The reference source on a real HTTP port for tests: the GatewayApp (its /tc and /school/aanleverpunt) in a
threaded WSGI server, the test school and a target school registered, the chain key in a file, the test pupils
loaded; zeep clients built from wsdl/ that sign as the target's vendor."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from lxml import etree

from gateway import contracts
from gateway.config import Config
from gateway.oso.register import Aanleverpunt, School, Sector, Vendor
from gateway.oso.zoeksleutel import ChainKey, maak
from gateway.school.testleerlingen import laad_testleerlingen
from gateway.store.school_repository import SchoolRepository
from gateway.store.testschool import TEST_ROUTERINGSKENMERK, register_test_school, register_test_target
from gateway.web.app import GatewayApp

from .bundles_location import BUNDLES_DIR as BUNDLES
from .harness import serve, signed_client, stop, valid_body

DOSSIER_NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
OSO_NS = contracts.OSO_NS

BRON_BRIN, BRON_RK = "00YY", TEST_ROUTERINGSKENMERK
DOEL_OIN, STRANGER_OIN = "00000001000000000011", "00000001000000000033"
DOEL_BRIN, DOEL_RK = "11AA", "0000000700000AA00000"
DOEL_BB_RK = "0000000700000YY00932"  # the target's own aanleverpunt in 00YY, for binnen-BRIN transfers


def register_target(database) -> None:
    with database.unit_of_work() as repo:
        repo.add_vendor(Vendor(DOEL_OIN, "Doel LAS", True))
        repo.add_school(School(DOEL_BRIN, "00", Sector.VO, "Doelschool"))
        repo.add_aanleverpunt(Aanleverpunt(DOEL_RK, DOEL_BRIN, "00", DOEL_OIN, "https://doel.test/ap",
                                           "https://doel.test/notificatie"))
        repo.add_aanleverpunt(Aanleverpunt(DOEL_BB_RK, BRON_BRIN, "00", DOEL_OIN, "https://doel.test/bb"))


@dataclass
class RunningSchool:
    url: str
    httpd: object
    app: GatewayApp
    pki: object
    database: object
    key: ChainKey
    today: date
    config: Config

    def config_file(self, folder: Path) -> Path:
        """The gateway's configuration as a TOML file (for the commands)."""
        path = folder / "gateway.toml"
        c = self.config
        path.write_text("[gateway]\n" + "".join(f'{k} = "{getattr(c, k)}"\n' for k in (
            "cert", "key", "ca", "crl", "database_url", "zoeksleutel_key", "bundles_dir")) + f"port = {c.port}\n")
        return path

    def tc_client(self, name: str = "doel-las", oin: str = DOEL_OIN):
        return signed_client(self.pki, "trafficcenter", self.url + "/tc", name, oin)

    def ap_client(self, name: str = "doel-las", oin: str = DOEL_OIN, address: str | None = None):
        return signed_client(self.pki, "aanleverpunt", address or self.url + "/school/aanleverpunt", name, oin)

    def sessiecontroles(self, sessie_id: str) -> int:
        """How many sessiecontroleRequests for this session reached the TC (its journal)."""
        from sqlalchemy import text

        with self.database.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM journal WHERE operation = 'sessiecontrole' AND "
                                     "sessie_id = :s"), {"s": sessie_id}).scalar()

    def school(self, readonly: bool = True):
        """A context manager: the school's repository in one unit of work."""
        from contextlib import contextmanager

        @contextmanager
        def cm():
            with self.database.unit_of_work(readonly=readonly) as repo:
                yield SchoolRepository.of(repo)

        return cm()

    def stop(self):
        stop(self.httpd)


def start_school(pki, database, port: int, tmp: Path, **config) -> RunningSchool:
    key = ChainKey.generate("test")
    key_path = tmp / "zoeksleutel.key"
    key_path.write_text(key.to_text())
    gw = pki.gateway
    cfg = Config(port=port, cert=str(gw.cert_path), key=str(gw.key_path), ca=str(pki.ca), crl=str(pki.crl),
                 database_url=database.url, zoeksleutel_key=str(key_path), bundles_dir=str(BUNDLES), **config)
    now = datetime.now(timezone.utc)
    with database.unit_of_work() as repo:
        register_test_school(repo, gateway_base_url=cfg.base_url)
        register_test_target(repo, gateway_base_url=cfg.base_url)  # 00ZZ and the SWV 00SW, at our /school/doelsysteem
        laad_testleerlingen(SchoolRepository.of(repo), datum=now.date(), now=now, extra=5)
    register_target(database)
    app = GatewayApp(cfg, database=database)
    return RunningSchool(cfg.base_url, serve(app, port), app, pki, database, key, now.date(), cfg)


def zoeksleutel(key: ChainKey, pgn: str, bron_brin: str = BRON_BRIN, doel_brin: str = DOEL_BRIN) -> dict:
    """The zeep arguments that name the pupil: zoeksleutelPgnfrag."""
    zs, frag = maak(key, pgn=pgn, bron_brin=bron_brin, doel_brin=doel_brin)
    return {"zoeksleutelPgnfrag": {"zoeksleutel": zs, "pgnfrag": frag}}


def response_body(plugin) -> etree._Element:
    """The Body child of the last (verified) answer; it conforms to the contract."""
    return valid_body(plugin)


def dossier_bytes(body: etree._Element) -> bytes | None:
    """The dossier in a documentResponse Body, as a document of its own."""
    wrapper = body.find(f"{{{OSO_NS}}}dossier")
    if wrapper is None:
        return None
    (root,) = [c for c in wrapper if isinstance(c.tag, str)]
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def c14n(data: bytes) -> bytes:
    """Exclusive canonical XML (a dossier taken out of a SOAP Body keeps the Envelope's namespaces in scope)."""
    return etree.tostring(etree.fromstring(data), method="c14n", exclusive=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
