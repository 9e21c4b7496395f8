"""One transfer as a target (a doelsysteem) runs it, sans-IO: what to ask whom, in which order, and what to tell the
Traffic Center at the end; and the account of what happened.

    1. doel → TC            overdracht      (the zoeksleutelPgnfrag, or a koppelsleutel: never the PGN)
    2. doel → each source    document        (the aanleverpunten the TC handed out, in that order; each answer
                                             believed only when signed by the vendor the TC named for it)
       (3. the source checks the session at the TC; 4. it answers with the dossier or a result code)
       (the dossier the best answer delivered is kept — written durably — by the target before the TC is told)
    5. doel → TC            afmelding       (the best result over all aanleverpunten asked and the aanleverpunt that
                                             gave it, ties going to the last one asked; the TC acknowledges with
                                             OverdrachtGeslaagd)

``flow(request, leerling)`` is a generator (after h11): it yields the ``Call`` to make next and is sent the
``gateway.client.call.Reply`` to it (a typed answer of ``gateway.client.antwoorden``, or a ``Failure``); before the
afmelding it yields ``Keep`` for a received dossier and is sent None when the dossier is kept, or why it could not
be; it returns a ``FlowResult``. No sockets, no zeep: ``gateway.client.target.Doelsysteem`` runs it over signed SOAP, and the tests run
it with replies made by hand.

**Project choice** — what the target reports to the TC (afmelding) for a source that gave no result code: no answer
(a transport error, twice) or a Server Fault → ``Timeout``; a Client or WS-Security Fault (our message was refused)
or an answer we could not verify or read → ``OngeldigVerzoek``. An answer (a documentResponse or a signed Fault)
signed by another OIN than the aanleverpunt's ``leverancierOin`` in the overdrachtResponse did not verify. A Fault
counts as a Server Fault when its code is soap:Server or it carries Digikoppeling code 0051 (not available).

When the TC itself gives no result code at ``overdracht``, no session is opened and the transfer ends with: no answer
or a Server Fault → ``TrafficCenterNietBeschikbaar`` (the TC's trouble, not the request's); a Client or WS-Security
Fault, or an answer we could not verify or read → ``OngeldigVerzoek``.

**Project choice** — a dossier the target could not keep (its disk is full, its folder cannot be written) is not
reported as delivered: no afmelding is sent, so the TC never records ``OverdrachtGeslaagd`` for it; the session stays
open until it expires (the journal shows the transfer unfinished, the doel to act), and the transfer can be run
again once the target can keep what it receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Generator

from ..oso import identifiers as ids
from ..oso import resultaat as rc
from ..oso.zoeksleutel import ChainKey, maak
from .call import FAULT, TRANSPORT, Failure, Reply

OVERSTAPDOSSIER, BINNENBRIN, SWV = "overstapdossier", "overdrachtbinnenbrin", "swv-dossier"
OVERDRACHTSOORTEN = (OVERSTAPDOSSIER, BINNENBRIN, SWV)

class TransferError(ValueError):
    """The request cannot be made at all (caller's mistake): no transfer was started."""


def check_parties(*, bron_brin: str | None = None, doel_brin: str | None = None,
                  doel_routeringskenmerk: str | None = None, bron_routeringskenmerk: str | None = None,
                  koppelsleutel: str | None = None) -> None:
    """The form of each field given (None: not given yet); TransferError naming the first that is wrong."""
    for name, value in (("bron-brin", bron_brin), ("doel-brin", doel_brin)):
        if value is not None and not ids.is_brin(value):
            raise TransferError(f"{name} {value!r} is not a BRIN: two digits and two capitals, e.g. 00YY")
    for name, value in (("doel-routeringskenmerk", doel_routeringskenmerk),
                        ("bron-routeringskenmerk", bron_routeringskenmerk)):
        if value is not None and not ids.is_routeringskenmerk(value):
            raise TransferError(f"{name} {value!r} is not a routeringskenmerk: 20 digits or capitals")
    if koppelsleutel is not None and not ids.is_koppelsleutel(koppelsleutel):
        raise TransferError("a koppelsleutel is a GUID in capitals, e.g. 19677A96-B737-402E-B3B8-24A3EEF32000")


@dataclass(frozen=True)
class TransferRequest:
    """What the target asks for. ``pgn`` stays here: only its zoeksleutel ever leaves (and ``repr`` hides it).
    Every field is checked here, before anything is sent."""

    bron_brin: str
    doel_brin: str
    doel_routeringskenmerk: str
    pgn: str | None = field(default=None, repr=False)
    koppelsleutel: str | None = None
    overdrachtsoort: str | None = None  # default: swv-dossier with a koppelsleutel, binnen-BRIN when BRINs agree
    dossier_verzameldatum: date | datetime | None = None  # a date means that day, 00:00 UTC
    bron_routeringskenmerk: str | None = None  # ask only this aanleverpunt of the bron school

    def __post_init__(self):
        check_parties(bron_brin=self.bron_brin or "", doel_brin=self.doel_brin or "",
                      doel_routeringskenmerk=self.doel_routeringskenmerk or "",
                      bron_routeringskenmerk=self.bron_routeringskenmerk, koppelsleutel=self.koppelsleutel)
        if (self.pgn is None) == (self.koppelsleutel is None):
            raise TransferError("name the pupil by a PGN (BSN or onderwijsnummer) or by a koppelsleutel, not both")
        if self.pgn is not None and not (len(self.pgn) == 9 and self.pgn.isdigit()):
            raise TransferError("a BSN or onderwijsnummer is nine digits")
        if self.overdrachtsoort is not None and self.overdrachtsoort not in OVERDRACHTSOORTEN:
            raise TransferError(f"overdrachtsoort is one of {', '.join(OVERDRACHTSOORTEN)}")

    @property
    def verzameldatum(self) -> datetime | None:
        """The dossierVerzameldatum as sent: a moment with its offset."""
        d = self.dossier_verzameldatum
        if d is None or isinstance(d, datetime):
            return d if d is None or d.tzinfo is not None else d.replace(tzinfo=timezone.utc)
        return datetime.combine(d, time(0, 0), tzinfo=timezone.utc)

    @property
    def soort(self) -> str:
        if self.overdrachtsoort:
            return self.overdrachtsoort
        if self.koppelsleutel is not None:
            return SWV
        return BINNENBRIN if self.bron_brin == self.doel_brin else OVERSTAPDOSSIER


# ---- the sans-IO flow ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One request to make: ``operation`` of the TC (endpoint None: the configured TC) or of a source aanleverpunt."""

    operation: str  # overdracht | document | afmelding
    args: dict  # the request's fields, by their contract names
    endpoint: str | None = None  # document: the address the TC named (the target may resolve another at the OSR)
    routeringskenmerk: str | None = None  # the source aanleverpunt asked (document)
    # the OIN that must have signed the answer (document: the aanleverpunt's leverancierOin as the TC named it);
    # None: any signer the trust store accepts (the TC's answers are pinned by Doelsysteem.tc_oin instead)
    leverancier_oin: str | None = None


@dataclass(frozen=True)
class Keep:
    """Keep this dossier durably before the TC is told the transfer succeeded. Sent back: None when it was kept, or
    why it could not be (one line)."""

    dossier: bytes
    routeringskenmerk: str


@dataclass(frozen=True)
class Asked:
    """What one source aanleverpunt answered."""

    routeringskenmerk: str
    resultaat: str
    dossier: bytes | None = None


@dataclass(frozen=True)
class FlowResult:
    sessie_id: str | None
    resultaat: str  # the session's result (the best over all aanleverpunten asked), or why no session was opened
    asked: tuple[Asked, ...] = ()
    confirmed: bool = False  # the TC acknowledged the afmelding (OverdrachtGeslaagd)
    failed_at: str | None = None  # the operation whose failure decided the outcome
    afgemeld_bij: str | None = None  # the routeringskenmerk reported in the afmelding (the best result's)
    not_kept: str | None = None  # why the received dossier could not be kept (then no afmelding was sent)


def result_for_failure(failure: Failure) -> str:
    """The code a target reports in afmelding for a source that gave none (project choice, module docstring)."""
    if failure.kind == TRANSPORT or (failure.kind == FAULT and failure.server_side):
        return "Timeout"
    return "OngeldigVerzoek"


def result_for_tc_failure(failure: Failure) -> str:
    """How a transfer ends when the TC gave no result code at overdracht (module docstring)."""
    if failure.kind == TRANSPORT or (failure.kind == FAULT and failure.server_side):
        return "TrafficCenterNietBeschikbaar"
    return "OngeldigVerzoek"


def leerling_fields(request: TransferRequest, key: ChainKey | None) -> dict:
    """How the requests name the pupil: zoeksleutelPgnfrag (made here from the PGN), or the koppelsleutel."""
    if request.koppelsleutel is not None:
        return {"koppelsleutel": request.koppelsleutel}
    if key is None:
        raise TransferError("a transfer by PGN needs the chain key (zoeksleutel_key) to make the zoeksleutel")
    zoeksleutel, pgnfrag = maak(key, pgn=request.pgn, bron_brin=request.bron_brin, doel_brin=request.doel_brin)
    return {"zoeksleutelPgnfrag": {"zoeksleutel": zoeksleutel, "pgnfrag": pgnfrag}}


def flow(request: TransferRequest, leerling: dict) -> Generator[Call, Reply, FlowResult]:
    """The target's side of one transfer. Yields Calls; is sent a Reply for each; returns the FlowResult."""
    soort = request.soort
    partijen = {"bronBrin": request.bron_brin}
    if request.bron_routeringskenmerk is not None:
        partijen["bronRouteringsKenmerk"] = request.bron_routeringskenmerk
    partijen.update(doelBrin=request.doel_brin, doelRouteringsKenmerk=request.doel_routeringskenmerk)
    opened = yield Call("overdracht", {**partijen, **leerling, "overdrachtsoort": soort})
    if opened.failure is not None:
        return FlowResult(None, result_for_tc_failure(opened.failure), failed_at="overdracht")
    answer = opened.answer
    if answer.resultaat != "Geslaagd" or not answer.sessie_id:
        return FlowResult(None, answer.resultaat or "OngeldigVerzoek")
    sessie_id = answer.sessie_id
    if not answer.aanleverpunten:  # the TC opened a session with nobody to ask: there is nothing to close it with
        return FlowResult(sessie_id, "GeenAanleverpunt")

    asked: list[Asked] = []
    failures = 0
    for ap in answer.aanleverpunten:
        args = {"bronBrin": request.bron_brin, "bronRouteringsKenmerk": ap.routeringskenmerk,
                "doelBrin": request.doel_brin, "doelRouteringsKenmerk": request.doel_routeringskenmerk, **leerling,
                "overdrachtsoort": soort, "sessieId": sessie_id}
        if request.verzameldatum is not None:
            args["dossierVerzameldatum"] = request.verzameldatum
        reply = yield Call("document", args, endpoint=ap.url, routeringskenmerk=ap.routeringskenmerk,
                           leverancier_oin=ap.leverancier_oin)
        if reply.failure is not None:
            failures += 1
            asked.append(Asked(ap.routeringskenmerk, result_for_failure(reply.failure)))
        else:
            asked.append(Asked(ap.routeringskenmerk, reply.answer.resultaat, reply.answer.dossier))

    best = asked[rc.best_index([a.resultaat for a in asked])]
    if best.dossier is not None:
        not_kept = yield Keep(best.dossier, best.routeringskenmerk)
        if not_kept is not None:  # never tell the TC a dossier arrived that this target does not hold
            return FlowResult(sessie_id, best.resultaat, tuple(asked), failed_at="bewaren", not_kept=not_kept)
    closed = yield Call("afmelding", {
        "bronBrin": request.bron_brin, "bronRouteringsKenmerk": best.routeringskenmerk, "doelBrin": request.doel_brin,
        "doelRouteringsKenmerk": request.doel_routeringskenmerk, "sessieId": sessie_id, "resultaat": best.resultaat})
    confirmed = closed.failure is None and closed.resultaat == "OverdrachtGeslaagd"
    return FlowResult(sessie_id, best.resultaat, tuple(asked), confirmed=confirmed,
                      failed_at="document" if failures == len(asked) else None,
                      afgemeld_bij=best.routeringskenmerk)


# ---- the account -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    operation: str
    endpoint: str
    resultaat: str | None  # the answer's result code; None when there was no usable answer
    ms: float
    routeringskenmerk: str | None = None
    attempt: int = 1
    failure: Failure | None = None
    note: str = ""


EXIT_DOSSIER, EXIT_REFUSED, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


@dataclass
class TransferAccount:
    """What happened in one transfer, for a person (``render``) and for a script (``exit_code``)."""

    request: TransferRequest
    leerling: str = ""  # how the pupil was named (zoeksleutel or koppelsleutel), never the PGN
    sessie_id: str | None = None
    steps: list[Step] = field(default_factory=list)
    resultaat: str | None = None
    confirmed: bool = False
    dossier: bytes | None = None
    dossier_from: str | None = None  # the routeringskenmerk that delivered it
    report: object | None = None  # gateway.dossier.Report of the received dossier
    total_ms: float = 0.0
    failed_at: str | None = None
    kept_at: str | None = None  # where the dossier was kept (None: the caller asked for it not to be written)
    not_kept: str | None = None  # why the dossier could not be kept: no afmelding was sent

    @property
    def findings(self) -> tuple:
        return tuple(self.report.findings) if self.report is not None else ()

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.failure is not None]

    @property
    def exit_code(self) -> int:
        """0 a dossier arrived (and was kept, when asked); 1 the chain refused (a result code); 3 a Fault, an
        unverifiable answer, no answer at all, or a dossier that could not be kept decided the outcome."""
        if self.not_kept is not None:
            return EXIT_FAILURE
        if self.dossier is not None:
            return EXIT_DOSSIER
        if self.failed_at is not None:
            return EXIT_FAILURE
        return EXIT_REFUSED

    def render(self) -> str:
        r = self.request
        lines = [f"OSO transfer {r.bron_brin} -> {r.doel_brin} ({r.soort}), doel aanleverpunt "
                 f"{r.doel_routeringskenmerk}",
                 f"  pupil:   {self.leerling}",
                 f"  sessie:  {self.sessie_id or '(none opened)'}"]
        for i, s in enumerate(self.steps, 1):
            what = s.resultaat if s.resultaat else f"no answer ({s.failure.kind})" if s.failure else "-"
            extra = []
            if s.routeringskenmerk:
                extra.append(s.routeringskenmerk)
            if s.attempt > 1:
                extra.append(f"attempt {s.attempt}")
            if s.failure:
                extra.append(s.failure.text)
            if s.note:
                extra.append(s.note)
            lines.append(f"  {i}. {s.operation:<11} {s.endpoint:<46} {what:<26} {s.ms:7.0f} ms"
                         + (f"  {'; '.join(extra)}" if extra else ""))
        code = rc.CODES.get(self.resultaat or "")
        confirmed = "confirmed by the TC" if self.confirmed else "not confirmed by the TC"
        lines.append(f"  result:  {self.resultaat}" + (f" ({confirmed})" if self.sessie_id else ""))
        if code is not None:
            lines.append(f"           {code.meaning}; the caller should: {code.caller_should}")
        if self.dossier is not None:
            where = f", written to {self.kept_at}" if self.kept_at else (", not kept (no --out)" if self.not_kept
                                                                          is None else "")
            lines.append(f"  dossier: {len(self.dossier):,} bytes from {self.dossier_from}{where}")
            if self.not_kept is not None:
                lines.append(f"  NOT KEPT: {self.not_kept}")
                lines.append("           the TC was not told (no afmelding): the session stays open until it "
                             "expires; run the transfer again once the dossier can be written")
            if self.report is not None:
                rep = self.report
                how = f"bundle {rep.bundle}, profile {rep.profile}" if rep.bundle else (rep.problem or "")
                lines.append(f"  checked: {rep.status} ({how}): {len(rep.errors)} error(s), "
                             f"{len(rep.warnings)} warning(s)")
                for f in rep.findings[:10]:
                    lines.append(f"           {f.severity} {f.rule or ''} {f.text[:160]}"
                                 + (f" at {f.location}" if f.location else ""))
                if len(rep.findings) > 10:
                    lines.append(f"           … and {len(rep.findings) - 10} more")
        else:
            lines.append("  dossier: none received")
        lines.append(f"  total:   {self.total_ms:.0f} ms")
        return "\n".join(lines)


def describe_leerling(leerling: dict) -> str:
    """How the pupil was named, for the account: the koppelsleutel, or that a zoeksleutel was sent (neither the
    zoeksleutel nor the pgnfrag is shown: both are derived from the PGN)."""
    if "koppelsleutel" in leerling:
        return f"koppelsleutel {leerling['koppelsleutel']}"
    return "by zoeksleutel and pgnfrag (docs/zoeksleutel.md; the PGN itself is not sent)"
