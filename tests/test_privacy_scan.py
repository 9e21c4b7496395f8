"""The privacy scan: whole signed transfers of the test school's pupils and of the 12 official example dossiers go
through a gateway (Traffic Center and reference school in one process), plus refused messages that carry pupil
data; then every column of every journal row and every log line (JSON, at the serving level) is searched for any
identifying value of those pupils: their BSNs and onderwijsnummers in several encodings, the zoeksleutels made of
them, and every value of each dossier's ``leerling`` (names, dates of birth, addresses, ids, …). It must find
nothing, while the journal holds an entry for every message, accepted and refused alike."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
from datetime import datetime, timezone

import pytest
import requests
from lxml import etree
from sqlalchemy import text

from gateway.client.target import Doelsysteem
from gateway.oso.zoeksleutel import ChainKey, maak, pgn_kind
from gateway.school.dossierbestand import lees
from gateway.school.testleerlingen import TEST_LEERLINGEN
from gateway.school.uitlevering import DossierRecord
from gateway.store.school_repository import SchoolRepository
from gateway.store.testschool import (TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK, TEST_ROUTERINGSKENMERK,
                                      TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK)
from gateway.web.jsonlog import JsonFormatter
from gateway.web.local import LocalGateway
from gateway.wsse import ns, sign_request

from .conftest import GEGEVENSSET

EXAMPLES = sorted(GEGEVENSSET.glob("*/examples/*.xml"))
DOEL = {"overdrachtbinnenbrin": (TEST_BRIN, TEST_ROUTERINGSKENMERK),
        "swv-dossier": (TEST_SWV_BRIN, TEST_SWV_ROUTERINGSKENMERK),
        "overstapdossier": (TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK)}
TEST_SOORT = {"BB": "overdrachtbinnenbrin"}
AP = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"


def encodings(pgn: str) -> set[str]:
    """A nine-digit number as it might turn up: plain, grouped, as a number, encoded, hashed."""
    raw = pgn.encode()
    return {pgn, f"{pgn[:4]}.{pgn[4:6]}.{pgn[6:]}", f"{pgn[:3]} {pgn[3:6]} {pgn[6:]}",
            f"{pgn[:3]}-{pgn[3:6]}-{pgn[6:]}", str(int(pgn)), base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(), hashlib.sha256(raw).hexdigest(), hashlib.sha1(raw).hexdigest(), hashlib.md5(raw).hexdigest(),
            "".join(f"&#{ord(c)};" for c in pgn)}


def leerling_values(dossier: bytes) -> set[str]:
    """Every value of the dossier's pupil (names, birth dates, addresses, numbers, attachments' content)."""
    root = etree.fromstring(dossier)
    leerling = root.find(f".//{{{root.nsmap.get(None)}}}leerling")
    values = set()
    for el in (leerling.iter() if leerling is not None else ()):
        value = (el.text or "").strip() if isinstance(el.tag, str) and len(el) == 0 else ""
        if len(value) >= 6 and value not in ("false", "bezoek", "telefoon", "overig"):
            values.add(value[:64])
    return values


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


def test_no_pupil_data_in_the_journal_or_the_logs(tmp_path, captured_logs):
    secrets: dict[str, str] = {}  # value -> what it is

    def secret(value: str, what: str) -> None:
        if value:
            secrets[value] = what

    for p in TEST_LEERLINGEN:
        for e in encodings(p.pgn):
            secret(e, f"PGN of test pupil {p.pgn}")
        for name in (p.voornaam, p.achternaam, f"{p.voornaam} {p.achternaam}"):
            secret(name, "a test pupil's name")

    with LocalGateway(tmp_path / "gw", dashboard_key=str(tmp_path / "dashboard.key")) as gw:
        key = ChainKey.from_file(gw.config.zoeksleutel_key)
        now = datetime.now(timezone.utc)
        transfers = [(p.pgn, TEST_SOORT.get(p.profiel, "overstapdossier"), p.voornaam) for p in TEST_LEERLINGEN]
        with gw.database.unit_of_work() as repo:
            school = SchoolRepository.of(repo)
            for i, path in enumerate(EXAMPLES):
                data = path.read_bytes()
                info = lees(data)
                pgn = info.pgn or f"10{i:06d}4"  # the SWV examples carry no number: give them one
                school.put_dossier(DossierRecord(
                    brin=TEST_BRIN, pgn=pgn, pgn_kind=pgn_kind(pgn), overdrachtsoort=info.overdrachtsoort,
                    overstap=info.overstap, dossier=data, verzameldatum=now.date(), inzage=now.date(),
                    toestemming=now.date(), bijgewerkt=now))
                transfers.append((pgn, info.overdrachtsoort, path.name))
                for e in encodings(pgn):
                    secret(e, f"the PGN of {path.name}")
                for value in leerling_values(data):
                    secret(value, f"a value of the pupil in {path.name}")

        target = Doelsysteem.from_config(gw.config)
        results = {}
        for pgn, soort, what in transfers:
            doel_brin, doel_rk = DOEL[soort]
            account = target.transfer(pgn=pgn, bron_brin=TEST_BRIN, doel_brin=doel_brin,
                                      doel_routeringskenmerk=doel_rk, overdrachtsoort=soort)
            results[what] = account.resultaat
            zoeksleutel, _ = maak(key, pgn=pgn, bron_brin=TEST_BRIN, doel_brin=doel_brin)
            secret(zoeksleutel, f"the zoeksleutel of {what}")
            # (the pgnfrag is four digits: a search for it would find any number; the journal never reads it,
            # tests/test_journal.py holds that)
        assert results.pop("Sem") == "LeveringGeweigerd"
        assert set(results.values()) == {"OverdrachtGeslaagd"}, results

        # refused messages that carry pupil data: a documentRequest changed after signing, and a PGN where the
        # contract wants a BRIN
        creds, url = gw.config.credentials(), gw.url + "/school/aanleverpunt"
        zoeksleutel, pgnfrag = maak(key, pgn=TEST_LEERLINGEN[0].pgn, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN)
        body = (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body><ap:documentRequest xmlns:ap="{AP}">'
                f"<ap:bronBrin>{TEST_BRIN}</ap:bronBrin>"
                f"<ap:bronRouteringsKenmerk>{TEST_ROUTERINGSKENMERK}</ap:bronRouteringsKenmerk>"
                f"<ap:doelBrin>{{doel}}</ap:doelBrin>"
                f"<ap:doelRouteringsKenmerk>{TEST_DOEL_ROUTERINGSKENMERK}</ap:doelRouteringsKenmerk>"
                f"<ap:zoeksleutelPgnfrag><ap:zoeksleutel>{zoeksleutel}</ap:zoeksleutel>"
                f"<ap:pgnfrag>{pgnfrag}</ap:pgnfrag></ap:zoeksleutelPgnfrag>"
                "<ap:overdrachtsoort>overstapdossier</ap:overdrachtsoort>"
                "<ap:sessieId>0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b</ap:sessieId>"
                "</ap:documentRequest></soapenv:Body></soapenv:Envelope>")
        signed = sign_request(body.format(doel=TEST_DOEL_BRIN).encode(), creds, to=url, action=f"{AP}/document")
        tampered = signed.replace(b"overstapdossier", b"swv-dossier")
        misplaced = sign_request(body.format(doel=TEST_LEERLINGEN[0].pgn).encode(), creds, to=url,
                                 action=f"{AP}/document")
        for data in (tampered, misplaced):
            assert requests.post(url, data=data, headers={"Content-Type": "text/xml"}, timeout=10).status_code == 500

        with gw.database.unit_of_work(readonly=True) as repo:
            rows = repo.session.execute(text("SELECT * FROM journal ORDER BY id")).mappings().all()
    logs = captured_logs.getvalue()

    # an entry for every message: 4 per transfer (overdracht, documentRequest, sessiecontrole, afmelding) + 2 refused
    assert len(rows) == 4 * len(transfers) + 2
    assert sorted(r["rule"] for r in rows if r["verdict"] == "refused") == ["GW-XSD", "WB013"]
    assert sum(r["verdict"] == "accepted" for r in rows) == 4 * len(transfers)
    assert len(secrets) > 400 and '"oso.gateway.exchange"' in logs

    journal = "\n".join(" | ".join(f"{k}={v}" for k, v in r.items()) for r in rows)
    found = []
    for value, what in secrets.items():
        pattern = re.compile(r"(?<![0-9A-Za-z])" + re.escape(value) + r"(?![0-9A-Za-z])")
        for where, haystack in (("journal", journal), ("logs", logs)):
            m = pattern.search(haystack)
            if m:
                found.append(f"{what} ({value!r}) in the {where}: …{haystack[max(0, m.start() - 60):m.end() + 20]}…")
    assert not found, "\n".join(found)


def test_a_failing_statement_does_not_log_its_parameters(pki, tmp_path, captured_logs, monkeypatch):
    """A store error is logged with its traceback; SQLAlchemy would put the statement's parameters (here a
    zoeksleutel) in its message, unless the engine hides them."""
    from gateway.oso.sessie import Sessie
    from gateway.store import Database

    from .conftest import free_port
    from .tc_harness import DOEL_OIN, register_parties, start_tc
    from .test_journal import TC, overdracht

    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.migrate()
    register_parties(database)
    tc = start_tc(pki, database, free_port(), dashboard_key=str(tmp_path / "dashboard.key"))
    monkeypatch.setattr(Sessie, "new_id", staticmethod(lambda: "0b8f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"))
    zoeksleutel = base64.b64encode(b"\x01\x04test" + b"thisIsTheSecretZoeksleutelOfAPupil01").decode()
    try:
        for expected in (200, 500):  # the second session gets the same id: the INSERT fails
            data = sign_request(overdracht(zoeksleutel=zoeksleutel), pki.credentials("doel-las", DOEL_OIN),
                                to=tc.url + "/tc", action=f"{TC}/overdracht")
            r = requests.post(tc.url + "/tc", data=data, headers={"Content-Type": "text/xml"}, timeout=10)
            assert r.status_code == expected
    finally:
        tc.stop()
        database.dispose()
    logs = captured_logs.getvalue()
    assert "IntegrityError" in logs and "GW-INTERNAL" in r.text
    assert zoeksleutel not in logs and "hidden due to hide_parameters" in logs
