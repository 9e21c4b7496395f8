"""The reference target (a doelsysteem): ``Doelsysteem`` runs the sans-IO transfer of ``gateway.client.overdracht``
over signed SOAP, through the one call path every party uses (``gateway.client.call.Caller``).

It is built ONCE (keys, trust, the chain key, the zeep clients from ``wsdl/``: each WSDL is parsed once, and one
service proxy is kept per address); ``transfer`` may then be called many times, from several threads. Each step is
timed; a received dossier is validated (the configured bundles and the gateway's own checks); the result is a
``TransferAccount``.

Where an aanleverpunt is asked: the address the OSR-style register (``gateway.client.osr``) gives for its
routeringskenmerk; when the register does not know it, the address the TC named. Whose answers count: the
``leverancierOin`` the TC named for the aanleverpunt (the gateway's extension), else the vendor the register names;
an aanleverpunt for which neither is known is asked without a pinned signer, and the account says so.

What a failure does (no retry storm): a result code is the chain's answer and is reported as it is; a Fault that
refuses our message is reported, never retried; an answer that cannot be verified (an aanleverpunt's answer signed by
another OIN than its vendor included) is reported, never retried; a transient failure — a transport error
(connection refused or reset, a time-out, a non-SOAP HTTP error) or a server-side Fault (the peer's own trouble: a
database restarting, a worker going away) — is retried at most ``RETRIES`` times, after 1 s and then 2 s (never
faster than one a second), each time with a new message (a new MessageID, Timestamp and signature). So an afmelding that met a restarting TC is sent
again; one that still fails leaves the session open until it expires, and the account says the TC did not confirm.
"""

from __future__ import annotations

import time
from datetime import date, datetime

from ..oso.zoeksleutel import ChainKey
from .call import TRANSPORT, Attempt, Caller, Failure, Reply
from .overdracht import (Call, FlowResult, Keep, Step, TransferAccount, TransferError, TransferRequest,
                         describe_leerling, flow, leerling_fields, result_for_failure)
from .transport import https_session

RETRIES = 2  # transient failures (gateway.client.call): at most this many new messages after the first


class LookupFailed(Exception):
    """The TC could not be asked (transport, a Fault, an answer that did not verify): nothing was started."""


class Doelsysteem:
    """The reference target. Build once; ``transfer`` may be called many times (and from several threads)."""

    def __init__(self, credentials, trust, *, tc_url: str, chain_key: ChainKey | None = None, bundles=None,
                 dossier_policy=None, policy=None, timeout: float = 30.0, session=None, tc_oin: str | None = None,
                 osr=None):
        from ..dossier import DossierPolicy, IdentityPolicy, KENNISNET_TEST_SCHOOL

        self.credentials = credentials
        self.chain_key = chain_key
        self.tc_url = tc_url.rstrip("/")
        # the OIN that must have signed the TC's answers (None: any signer the trust store accepts), as the
        # reference source's BronClient does: any other party of the PKI could otherwise answer in the TC's name
        self.tc_oin = tc_oin
        self.bundles = bundles
        self.osr = osr  # gateway.client.osr.OsrClient, or None: the TC's addresses only
        # The chain's test school's fixed test numbers need not pass the elfproef (only when it is the source).
        self.dossier_policy = dossier_policy or DossierPolicy(
            identity=IdentityPolicy(test_schools=(KENNISNET_TEST_SCHOOL,)))
        self.caller = Caller(credentials, trust, policy=policy, timeout=timeout, session=session)

    @property
    def signature(self):
        """The WUS plug-in of this target's calls (its ``last_request`` / ``last_response`` per thread)."""
        return self.caller.signature

    @classmethod
    def from_config(cls, config, **overrides) -> "Doelsysteem":
        """The target as a gateway's configuration describes it: its certificate and key (``cert``/``key``), trust
        (``ca``/``crl``), the chain key (``zoeksleutel_key``), the TC (``traffic_center_url``), the OSR-style register
        (``osr_url``), the bundles. Peers at https addresses are called over two-way TLS (``transport.https_session``)."""
        from pathlib import Path

        from ..dossier import load_bundles
        from .osr import OsrClient

        key_path = Path(config.zoeksleutel_key)
        chain_key = ChainKey.from_file(key_path) if key_path.is_file() else None
        bundles = load_bundles(config.bundles_dir) if config.bundles_dir else None
        # the TC's answers must be signed by ``tc_oin``, or, when the TC is this gateway, by our own OIN
        credentials = config.credentials()
        tc_oin = config.tc_oin or (credentials.oin if not config.tc_url else None)
        session = https_session(config)
        args = dict(tc_url=config.traffic_center_url, chain_key=chain_key, bundles=bundles, tc_oin=tc_oin,
                    session=session, osr=OsrClient(config.osr_base_url, session=session))
        args.update(overrides)
        return cls(credentials, config.trust(), **args)

    def doel_aanleverpunt(self, doel_brin: str) -> str:
        """The routeringskenmerk of the target school's aanleverpunt, when the TC knows exactly one (an
        overzichtAanleverpunt lookup); TransferError when it knows none or several, LookupFailed when the TC could not
        be asked."""
        reply = self.caller.call("overzichtAanleverpunt", self.tc_url, {"brin": doel_brin}, signer=self.tc_oin,
                                 retries=RETRIES)
        if reply.failure is not None:
            raise LookupFailed(f"cannot ask the TC for {doel_brin}'s aanleverpunten: {reply.failure.text}")
        rks = [a.routeringskenmerk for a in reply.answer.aanleverpunten]
        if reply.resultaat != "Geslaagd" or len(rks) != 1:
            raise TransferError(f"the TC answers {reply.resultaat} with {len(rks)} aanleverpunten for {doel_brin}: "
                                "name yours with --doel-routeringskenmerk")
        return rks[0]

    # -- one call, timed, retried after a transient failure -------------------------------------------------------

    def resolve(self, call: Call) -> tuple[str | None, str | None, str]:
        """(address, signer to pin, note) for a Call: the TC for its operations; for a document request the OSR's
        address of the aanleverpunt (else the TC's), and its vendor (the TC's leverancierOin, else the OSR's)."""
        if call.operation != "document":
            return self.tc_url, self.tc_oin, ""
        found = self.osr.endpoint(call.routeringskenmerk) if self.osr is not None else None
        address = found.url if found is not None else call.endpoint
        signer = call.leverancier_oin or (found.leverancier_oin if found is not None else None)
        notes = []
        if found is None and call.endpoint:
            notes.append("address from the TC (the OSR does not know the aanleverpunt)")
        if signer is None:
            notes.append("no vendor known for the aanleverpunt: its answer is believed from any trusted signer")
        return address, signer, "; ".join(notes)

    def invoke(self, call: Call) -> tuple[Reply, list[Step]]:
        """Make one call (signed; the answer verified, pinned and checked against the contract), timed, and retried
        once with a new message after a transport error. ``transfer`` runs the whole flow through this; a test or a
        conformance check may send a single step of its own."""
        address, signer, note = self.resolve(call)
        if address is None:
            failure = Failure(TRANSPORT, "no address known for the aanleverpunt (neither the TC nor the OSR names "
                              "one)")
            reply = Reply(failure=failure, attempts=(Attempt(0.0, failure),))
        else:
            reply = self.caller.call(call.operation, address, call.args, signer=signer, retries=RETRIES)
        steps = []
        for n, attempt in enumerate(reply.attempts, 1):
            last = n == len(reply.attempts)
            notes = [note] if note else []
            if not last:
                notes.append("retrying with a new message")
            elif reply.failure is None:
                notes.append(self._note(call, reply))
            steps.append(Step(call.operation, address or "-", reply.resultaat if last else None, attempt.ms,
                              call.routeringskenmerk, n, attempt.failure, "; ".join(x for x in notes if x)))
        return reply, steps

    @staticmethod
    def _note(call: Call, reply: Reply) -> str:
        if call.operation == "overdracht":
            n = len(reply.answer.aanleverpunten)
            return f"{n} aanleverpunt{'en' if n != 1 else ''} to ask" if reply.resultaat == "Geslaagd" else ""
        if call.operation == "afmelding":
            return f"reported {call.args['resultaat']} of {call.args['bronRouteringsKenmerk']}"
        if call.operation == "document" and reply.answer.dossier is not None:
            return f"dossier {len(reply.answer.dossier):,} bytes"
        return ""

    # -- the transfer ----------------------------------------------------------------------------------------------

    def transfer(self, *, bron_brin: str, doel_brin: str, doel_routeringskenmerk: str, pgn: str | None = None,
                 koppelsleutel: str | None = None, overdrachtsoort: str | None = None,
                 dossier_verzameldatum: date | datetime | None = None,
                 bron_routeringskenmerk: str | None = None, keep=None) -> TransferAccount:
        """Run one transfer (``keep``: as ``run``). Raises TransferError for a request that cannot be made (nothing
        was sent)."""
        request = TransferRequest(bron_brin, doel_brin, doel_routeringskenmerk, pgn, koppelsleutel,
                                  overdrachtsoort, dossier_verzameldatum, bron_routeringskenmerk)
        return self.run(request, keep)

    def run(self, request: TransferRequest, keep=None) -> TransferAccount:
        """Run the flow of ``request``: every call through ``invoke``; the dossier (the last one delivered, as
        afmelding's ties go) validated. ``keep(dossier) -> str`` keeps a received dossier durably before the
        afmelding and returns where; an OSError it raises means the dossier was not kept (the TC is not told it
        arrived). Without ``keep`` the dossier is only held in the account."""
        t0 = time.perf_counter()
        leerling = leerling_fields(request, self.chain_key)
        account = TransferAccount(request, leerling=describe_leerling(leerling))
        gen = flow(request, leerling)
        try:
            call = next(gen)
            while True:
                if isinstance(call, Keep):
                    call = gen.send(self._keep(keep, call, account))
                    continue
                reply, steps = self.invoke(call)
                account.steps.extend(steps)
                call = gen.send(reply)
        except StopIteration as stop:
            result: FlowResult = stop.value
        account.sessie_id = result.sessie_id
        account.resultaat = result.resultaat
        account.confirmed = result.confirmed
        account.failed_at = result.failed_at
        account.not_kept = result.not_kept
        delivered = [a for a in result.asked if a.dossier is not None]
        if delivered:
            chosen = delivered[-1]  # as afmelding's ties: the last one asked
            account.dossier, account.dossier_from = chosen.dossier, chosen.routeringskenmerk
            account.report = self.check(chosen.dossier, request)
        account.total_ms = (time.perf_counter() - t0) * 1000
        return account

    @staticmethod
    def _keep(keep, instruction: Keep, account: TransferAccount) -> str | None:
        if keep is None:
            return None
        try:
            account.kept_at = keep(instruction.dossier)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            return f"cannot write the dossier: {where}{exc.strerror or exc}"
        return None

    def check(self, dossier: bytes, request: TransferRequest):
        """Validate a received dossier (the configured bundles, the gateway's own checks, the transfer's facts)."""
        from ..dossier import Transfer, validate

        return validate(dossier, self.bundles, policy=self.dossier_policy,
                        transfer=Transfer(overdrachtsoort=request.soort, bron_brin=request.bron_brin))

    # -- feedback from a samenwerkingsverband to the school that announced a dossier -------------------------------

    def terugkoppeling(self, notice, tekst: str) -> tuple[str, str]:
        """Give feedback on the dossier a notification announced (``notice``: the ``OntvangenNotificatie`` this
        target recorded): ``meldenTerugkoppeling`` at the TC, then ``terugkoppelingRequest`` to the school's LAS at
        the address the OSR gives (else the TC's). Returns (result code, why when there is none)."""
        fields = dict(bronBrin=notice.doel_brin, bronRouteringsKenmerk=notice.doel_routeringskenmerk,
                      doelBrin=notice.bron_brin, doelRouteringsKenmerk=notice.bron_routeringskenmerk,
                      koppelsleutel=notice.koppelsleutel, terugkoppeling=tekst)
        melding = self.caller.call("meldenTerugkoppeling", self.tc_url, fields, signer=self.tc_oin)
        if melding.failure is not None:
            return "TrafficCenterNietBeschikbaar", f"TC: {melding.failure.text}"
        if melding.resultaat != "Geslaagd":
            return melding.resultaat, "the TC refused the feedback"
        found = self.osr.endpoint(notice.bron_routeringskenmerk) if self.osr is not None else None
        address = (found.notificatie_url if found is not None and found.notificatie_url else None) \
            or melding.answer.url
        if not address:
            return "AfnemerNietBekend", "neither the OSR nor the TC names the school's endpoint"
        reply = self.caller.call("terugkoppeling", address, fields, signer=notice.afzender_oin)
        if reply.failure is not None:
            return result_for_failure(reply.failure), f"LAS: {reply.failure.text}"
        return reply.resultaat, ""

