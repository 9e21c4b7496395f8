"""The reference source's aanleverpunt (contract: wsdl/aanleverpunt-1.wsdl): ``documentRequest``, a thin adapter.

For each request, in this order:

1. **sessiecontrole** at the Traffic Center, with our own signed request (``gateway.client.bron``), carrying the
   fields as received. Nothing else happens first: no pupil is looked up before the TC confirmed the session.
2. only on ``Geslaagd``: the pupil, in a short *read* transaction — the zoeksleutel matched against the school's
   pupils with the chain key (``gateway.oso.zoeksleutel.zoek``), or a koppelsleutel the school issued itself.
3. the release rules (``gateway.school.uitlevering.beslis``: pure; it validates what it would release);
4. the release log, in a short *write* transaction: who asked (the verified signer), when, which session, what we
   answered, and the SHA-256 of what we released. If it cannot be written, nothing is released (a signed Server
   Fault is the answer).

**Transactions.** The middleware opens no unit of work for this endpoint: the replay id is remembered in a
transaction of its own (``DatabaseReplayStore``), committed before the service runs. The service holds no
transaction while it waits for the Traffic Center. On SQLite every unit of work takes the write lock at its start
(``BEGIN IMMEDIATE``); were it held across the HTTP call, a TC served by the same database (this gateway's own
``/tc``) would queue behind it while we wait for the TC: a deadlock until the busy time-out. On PostgreSQL it would
hold a connection and its locks for the length of a network call. The price: a message whose handling fails after
verification keeps its replay id, so it cannot be sent again as it is (a client sends a new message, with a new
MessageID, which zeep does anyway).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from spyne import AnyXml, Application, Date, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from ..oso.zoeksleutel import ChainKey, ZoeksleutelError, zoek
from ..school.uitlevering import Besluit, Controle, Uitlevering, Verzoek, beslis
from ..wsse.xmlparse import parse_untrusted
from ..web.security import ENVIRON_KEY
from . import models as m

log = logging.getLogger("oso.gateway.school")

NS = m.AP_NS
PATH = "/school/aanleverpunt"
WSDL, XSD = "aanleverpunt-1.wsdl", "aanleverpunt-1.xsd"
ACTIONS = frozenset({f"{NS}/document"})
BRON_KEY = "oso.school.bron"

DocumentRequest = m.model(NS, "documentRequest", [
    ("sessieId", m.req(Unicode)), ("bronRouteringskenmerk", m.req(Unicode)), ("bronBrin", m.req(Unicode)),
    ("doelBrin", m.req(Unicode)), ("overdrachtsoort", m.req(Unicode)), ("zoeksleutel", m.opt(Unicode)),
    ("pgnfrag", m.opt(Unicode)), ("koppelsleutel", m.opt(Unicode)), ("dossierVerzameldatum", m.opt(Date)),
])
DocumentResponse = m.model(NS, "documentResponse", [
    ("resultaat", m.req(Unicode)), ("dossierVerzameldatum", m.opt(Date)), ("dossier", m.opt(AnyXml)),
])


class ChainKeys:
    """The chain key(s) from the configured key file, read on first use (and again while the file is missing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._keys: tuple[ChainKey, ...] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> tuple[ChainKey, ...]:
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    try:
                        self._keys = (ChainKey.from_file(self.path),)
                    except (OSError, ZoeksleutelError) as exc:
                        log.error("no chain key (zoeksleutel_key %s): %s; no zoeksleutel can be matched",
                                  self.path, exc.strerror if isinstance(exc, OSError) else exc)
                        return ()
        return self._keys


@dataclass
class Bron:
    """What the service needs, made once per GatewayApp: the store, the TC client, the chain keys, validation."""

    database: object
    tc: object  # .sessiecontrole(Verzoek, aanvrager_oin=OIN) -> Sessiecontrole (gateway.client.bron.BronClient)
    keys: object  # () -> tuple[ChainKey, ...]
    controle: Controle


def _verzoek(r) -> Verzoek:
    return Verzoek(sessie_id=r.sessieId, bron_routeringskenmerk=r.bronRouteringskenmerk, bron_brin=r.bronBrin,
                   doel_brin=r.doelBrin, overdrachtsoort=r.overdrachtsoort, zoeksleutel=r.zoeksleutel,
                   pgnfrag=r.pgnfrag, koppelsleutel=r.koppelsleutel, verzameldatum=r.dossierVerzameldatum)


def _zoek_leerling(school, verzoek: Verzoek, keys):
    """The pupil's stored dossier, or None."""
    if verzoek.koppelsleutel is not None:
        koppeling = school.koppeling(verzoek.koppelsleutel)
        if koppeling is None or koppeling[0] != verzoek.bron_brin:
            return None
        return school.dossier(*koppeling)
    if verzoek.zoeksleutel is None or verzoek.pgnfrag is None:
        return None
    pgn = zoek(keys, verzoek.zoeksleutel, verzoek.pgnfrag, bron_brin=verzoek.bron_brin, doel_brin=verzoek.doel_brin,
               pupils=school.pupils(verzoek.bron_brin))
    return None if pgn is None else school.dossier(verzoek.bron_brin, pgn)


def beantwoord(bron: Bron, verzoek: Verzoek, *, aanvrager_oin: str, message_id: str,
               now: datetime | None = None) -> Besluit:
    """One documentRequest, from the sessiecontrole to the log entry (see the module docstring)."""
    from ..store.school_repository import SchoolRepository

    now = now or datetime.now(timezone.utc)
    # no transaction is held while the TC is asked
    sessiecontrole = bron.tc.sessiecontrole(verzoek, aanvrager_oin=aanvrager_oin)
    record, keys = None, ()
    if sessiecontrole.geslaagd:
        keys = bron.keys()
        with bron.database.unit_of_work(readonly=True) as repo:
            record = _zoek_leerling(SchoolRepository.of(repo), verzoek, keys)
    besluit = beslis(record, verzoek, sessiecontrole, now, controle=bron.controle)
    if besluit.resultaat == "LeerlingOnbekend" and verzoek.zoeksleutel is not None and not keys:
        besluit = replace(besluit, reden="no chain key is configured (zoeksleutel_key): no zoeksleutel can be matched")
    if besluit.bevindingen:  # rule ids and locations only: no values, no pupil data
        log.warning("session %s: dossier not released, validation errors: %s", verzoek.sessie_id,
                    "; ".join(besluit.bevindingen[:20]))
    entry = Uitlevering.van(verzoek, sessiecontrole, besluit, aanvrager_oin=aanvrager_oin, message_id=message_id,
                            tijdstip=now)
    with bron.database.unit_of_work() as repo:  # no log entry, no release: a failure here raises
        SchoolRepository.of(repo).add_uitlevering(entry)
    log.info("documentRequest session %s from %s for %s -> %s: sessiecontrole %s, %s%s", verzoek.sessie_id,
             aanvrager_oin, verzoek.doel_brin, verzoek.bron_brin, sessiecontrole.resultaat, besluit.resultaat,
             f" (sha256 {besluit.sha256[:16]}…)" if besluit.sha256 else "")
    return besluit


class AanleverpuntService(ServiceBase):
    @rpc(DocumentRequest, _returns=DocumentResponse, _body_style="bare",
         _in_message_name="documentRequest", _out_message_name="documentResponse")
    def document(ctx, r):
        env = ctx.transport.req_env
        verified, bron = env[ENVIRON_KEY], env[BRON_KEY]
        besluit = beantwoord(bron, _verzoek(r), aanvrager_oin=verified.oin, message_id=verified.message_id)
        dossier = None
        if besluit.dossier is not None:
            policy = bron.controle.policy
            dossier = parse_untrusted(besluit.dossier, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
        return DocumentResponse(resultaat=besluit.resultaat, dossierVerzameldatum=besluit.verzameldatum,
                                dossier=dossier)


def aanleverpunt_application() -> WsgiApplication:
    """spyne's WSGI application for the aanleverpunt. Put the security middleware (with the contract's schema) in
    front."""
    app = Application([AanleverpuntService], tns=NS, in_protocol=Soap11(validator=None), out_protocol=Soap11())
    return WsgiApplication(app, max_content_length=1024 * 1024)


def bron_for(config, credentials, trust, database) -> Bron:
    """The reference source's parts from the configuration: the TC at ``traffic_center_url`` (its answers must be
    signed by ``tc_oin``, or, when the TC is this gateway, by our own OIN), the chain key file, the bundles."""
    from functools import partial

    from ..client.bron import BronClient
    from ..client.transport import https_session
    from ..dossier import load_bundles

    tc_oin = getattr(config, "tc_oin", "") or (credentials.oin if not config.tc_url else None)
    bundles = load_bundles(config.bundles_dir) if config.bundles_dir else None
    tc = BronClient(credentials, trust, tc_url=config.traffic_center_url, tc_oin=tc_oin,
                    tls_session=partial(https_session, config))  # an https TC: two-way TLS (WT001)
    return Bron(database, tc, ChainKeys(config.zoeksleutel_key), Controle(bundles))


def mount(config, credentials, trust, database, *, tls: bool, bron: Bron | None = None):
    """The GatewayApp entry for ``PATH``: (the secured WSGI app, the contract's WSDL file name)."""
    from ..store import DatabaseReplayStore
    from ..web.app import load_schema
    from ..web.security import SecuredEndpoint, SecurityMiddleware

    endpoint = SecuredEndpoint(
        credentials, trust, config.policy(PATH, own_oin=credentials.oin, actions=ACTIONS),
        replay=DatabaseReplayStore(database),  # its own short transaction: see the module docstring
        schema=load_schema(XSD), unit_of_work=None,
        environ={BRON_KEY: bron or bron_for(config, credentials, trust, database)},
        require_tls_client=tls, name="aanleverpunt")
    return SecurityMiddleware(aanleverpunt_application(), endpoint), WSDL
