"""The reference source's aanleverpunt (contract: wsdl/aanleverpunt-20200910.wsdl): ``documentRequest``, a thin
adapter.

For each request, in this order:

1. **who may ask**: the vendor the register names for the request's doel aanleverpunt (the request must be signed by
   it). Anyone else — a trusted party that is not that vendor, or an aanleverpunt the register does not know — gets
   ``LeverancierNietGeautoriseerd`` at once: we call out to nobody on their behalf, so a flood of such requests
   costs no call to the TC (and no thread waiting for one).
2. **sessiecontrole** at the Traffic Center, with our own signed request (``gateway.client.bron``), carrying the
   fields as received. No pupil is looked up before the TC confirmed the session.
3. only on ``Geslaagd``, in a short *read* transaction: the pupil — the zoeksleutel matched against the school's
   pupils with the chain key (``gateway.oso.zoeksleutel.zoek``), or a koppelsleutel the school was given.
4. the release rules (``gateway.school.uitlevering.beslis``: pure; it validates what it would release);
5. the release log, in a short *write* transaction: who asked (the verified signer), when, which session, what we
   answered, and the SHA-256 of what we released. If it cannot be written, nothing is released (a signed Server
   Fault is the answer).

**A release is idempotent** per session, requester and aanleverpunt: when this requester was given the dossier in
this session before (a retry, after an answer that was lost with a worker or a connection) and the TC still says the
session is open, it gets the same bytes again — the SHA-256 the log holds — without a second log entry (and the TC
counts the aanleverpunt's sessiecontrole once). Once the session is closed, the TC's answer refuses it, as any
request.

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
from datetime import datetime
from pathlib import Path
from typing import Callable

from spyne import ServiceBase, rpc
from spyne.server.wsgi import WsgiApplication

from ..oso.zoeksleutel import ChainKey, ZoeksleutelError, zoek
from ..school.uitlevering import Besluit, Controle, Sessiecontrole, Uitlevering, Verzoek, beslis
from ..wsse.xmlparse import parse_untrusted
from . import context
from . import models as m

log = logging.getLogger("oso.gateway.school")

SERVICE = "aanleverpunt"
BRON_KEY = "oso.school.bron"


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
    tc: object  # .sessiecontrole(Verzoek) -> Sessiecontrole (gateway.client.bron.BronClient)
    keys: object  # () -> tuple[ChainKey, ...]
    controle: Controle
    # whose a doel aanleverpunt is: routeringskenmerk -> the registered vendor's OIN, or None. None here: the
    # register in ``database`` (the gateway's own); bron_for asks the configured OSR-style register instead
    doel_leverancier: Callable[[str], str | None] | None = None


def _verzoek(r, aanvrager_oin: str) -> Verzoek:
    zoeksleutel, pgnfrag, koppelsleutel = m.leerling(r)
    moment = r.dossierVerzameldatum
    return Verzoek(sessie_id=r.sessieId, bron_routeringskenmerk=r.bronRouteringsKenmerk, bron_brin=r.bronBrin,
                   doel_brin=r.doelBrin, doel_routeringskenmerk=r.doelRouteringsKenmerk,
                   overdrachtsoort=r.overdrachtsoort, aanvrager_oin=aanvrager_oin, zoeksleutel=zoeksleutel,
                   pgnfrag=pgnfrag, koppelsleutel=koppelsleutel,
                   verzameldatum=moment.date() if moment is not None else None)


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


def _released_before(bron: Bron, verzoek: Verzoek, besluit: Besluit):
    """The log entry of the same release to the same requester in this session, when there is one."""
    from ..school.uitlevering import RELEASED
    from ..store.school_repository import SchoolRepository

    if besluit.resultaat != RELEASED:
        return None
    with bron.database.unit_of_work(readonly=True) as repo:
        earlier = SchoolRepository.of(repo).uitgeleverd(
            sessie_id=verzoek.sessie_id, aanvrager_oin=verzoek.aanvrager_oin,
            bron_routeringskenmerk=verzoek.bron_routeringskenmerk, resultaat=RELEASED)
    return earlier if earlier is not None and earlier.sha256 == besluit.sha256 else None


NOT_ASKED = "NietGevraagd"  # the release log's sessiecontrole column when the TC was not asked (step 1)


def _doel_leverancier(bron: Bron, verzoek: Verzoek) -> str | None:
    """The OIN of the vendor registered for the request's doel aanleverpunt (None: the register does not know it):
    asked at the OSR-style register outside any transaction (it may be a network call), or read in our own."""
    if bron.doel_leverancier is not None:
        return bron.doel_leverancier(verzoek.doel_routeringskenmerk)
    with bron.database.unit_of_work(readonly=True) as repo:
        doel = repo.aanleverpunt(verzoek.doel_routeringskenmerk)
        return doel.vendor_oin if doel is not None else None


def beantwoord(bron: Bron, verzoek: Verzoek, *, message_id: str, now: datetime | None = None) -> Besluit:
    """One documentRequest, from the sessiecontrole to the log entry (see the module docstring)."""
    from ..store.school_repository import SchoolRepository

    now = now or context.now()
    doel_leverancier = _doel_leverancier(bron, verzoek)
    if doel_leverancier != verzoek.aanvrager_oin:  # nobody is called on behalf of anyone else
        sessiecontrole = Sessiecontrole(NOT_ASKED, reden="the requester is not the vendor registered for the doel "
                                        "aanleverpunt")
        # beslis's own rule on the requester decides; what the TC would have said does not enter into it
        besluit = beslis(None, verzoek, Sessiecontrole("Geslaagd"), now, doel_leverancier=doel_leverancier)
    else:
        # no transaction is held while the TC is asked
        sessiecontrole = bron.tc.sessiecontrole(verzoek)
        record, keys = None, ()
        if sessiecontrole.geslaagd:
            with bron.database.unit_of_work(readonly=True) as repo:
                keys = bron.keys()
                record = _zoek_leerling(SchoolRepository.of(repo), verzoek, keys)
        besluit = beslis(record, verzoek, sessiecontrole, now, doel_leverancier=doel_leverancier,
                         controle=bron.controle)
    if besluit.resultaat == "LeerlingOnbekend" and verzoek.zoeksleutel is not None and not bron.keys():
        besluit = replace(besluit, reden="no chain key is configured (zoeksleutel_key): no zoeksleutel can be matched")
    if besluit.bevindingen:  # rule ids and locations only: no values, no pupil data
        log.warning("session %s: dossier not released, validation errors: %s", verzoek.sessie_id,
                    "; ".join(besluit.bevindingen[:20]))
    earlier = _released_before(bron, verzoek, besluit)
    if earlier is not None:  # the same bytes to the same requester in this session: released once, logged once
        log.info("documentRequest session %s from %s: the same dossier again (release log entry %s)",
                 verzoek.sessie_id, verzoek.aanvrager_oin, earlier.id)
        return besluit
    entry = Uitlevering.van(verzoek, sessiecontrole, besluit, message_id=message_id, tijdstip=now)
    with bron.database.unit_of_work() as repo:  # no log entry, no release: a failure here raises
        SchoolRepository.of(repo).add_uitlevering(entry)
    log.info("documentRequest session %s from %s for %s -> %s: sessiecontrole %s, %s%s", verzoek.sessie_id,
             verzoek.aanvrager_oin, verzoek.doel_brin, verzoek.bron_brin, sessiecontrole.resultaat,
             besluit.resultaat, f" (sha256 {besluit.sha256[:16]}…)" if besluit.sha256 else "")
    return besluit


class AanleverpuntService(ServiceBase):
    @rpc(m.DocumentRequest, _returns=m.DocumentResponse, _body_style="bare",
         _in_message_name="documentRequest", _out_message_name="documentResponse")
    def document(ctx, r):
        env = context.environ(ctx)
        verified, bron = env[context.VERIFIED], env[BRON_KEY]
        besluit = beantwoord(bron, _verzoek(r, verified.oin), message_id=verified.message_id)
        dossier = None
        if besluit.dossier is not None:
            policy = bron.controle.policy
            dossier = parse_untrusted(besluit.dossier, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
        return m.DocumentResponse(resultaat=besluit.resultaat, dossier=dossier)


def application() -> WsgiApplication:
    """spyne's WSGI application for the aanleverpunt. Put the security middleware (gateway.web.mounts) in front."""
    return m.wsgi_application(AanleverpuntService, "Aanleverpunt", 1024 * 1024)


def bron_for(config, credentials, trust, database) -> Bron:
    """The reference source's parts from the configuration: the TC at ``traffic_center_url`` (its answers must be
    signed by ``tc_oin``, or, when the TC is this gateway, by our own OIN), the OSR-style register targets are
    resolved at (``osr_url``: also where the doel aanleverpunten' vendors are looked up; without it, this gateway's
    own register is read), the chain key file, the bundles. Peers at https addresses are called over two-way TLS (WT001)."""
    from ..client.bron import BronClient
    from ..client.osr import OsrClient
    from ..client.transport import https_session
    from ..dossier import load_bundles

    tc_oin = config.tc_oin or (credentials.oin if not config.tc_url else None)
    bundles = load_bundles(config.bundles_dir) if config.bundles_dir else None
    session = https_session(config)
    osr = OsrClient(config.osr_base_url, session=session)
    # one thread of each worker stays free for what this gateway answers itself (its own /tc, when it is the TC)
    tc = BronClient(credentials, trust, tc_url=config.traffic_center_url, tc_oin=tc_oin, session=session, osr=osr,
                    max_concurrent=max(1, config.threads - 1))
    def doel_leverancier(rk: str) -> str | None:
        found = osr.endpoint(rk)
        return found.leverancier_oin if found is not None else None

    # without osr_url this gateway's own register is read directly; with it, that register names the vendors
    return Bron(database, tc, ChainKeys(config.zoeksleutel_key), Controle(bundles),
                doel_leverancier if config.osr_url else None)
