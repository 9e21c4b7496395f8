"""One transfer as a target (a doelsysteem) runs it, sans-IO: what to ask whom, in which order, and what to tell the
Traffic Center at the end; and the account of what happened.

    1. doel → TC            overdracht      (the zoeksleutel and pgnfrag, or a koppelsleutel: never the PGN)
    2. doel → each source    document        (the aanleverpunten the TC handed out, in that order; each answer
                                             believed only when signed by the vendor the TC named for it)
       (3. the source checks the session at the TC; 4. it answers with the dossier or a result code)
    5. doel → TC            afmelding       (each aanleverpunt's result, in the order asked; the TC keeps the best,
                                             ties going to the last one asked)

``flow(request, leerling)`` is a generator (after h11): it yields the ``Call`` to make next and is sent the ``Reply``
to it; it returns a ``FlowResult``. No sockets, no zeep: ``gateway.client.target.Doelsysteem`` runs it over signed
SOAP, and the tests run it with replies made by hand.

**Project choice** — what the target reports to the TC (afmelding) for a source that gave no result code: no answer
(a transport error, twice) or a Server Fault → ``Timeout``; a Client or WS-Security Fault (our message was refused)
or an answer we could not verify or read → ``OngeldigVerzoek``. An answer (a documentResponse or a signed Fault)
signed by another OIN than the aanleverpunt's ``leverancierOin`` in the overdrachtResponse did not verify. A Fault
counts as a Server Fault when its code is soap:Server or it carries Digikoppeling code 0051 (not available).

When the TC itself gives no result code at ``overdracht``, no session is opened and the transfer ends with: no answer
or a Server Fault → ``TrafficCenterNietBeschikbaar`` (the TC's trouble, not the request's); a Client or WS-Security
Fault, or an answer we could not verify or read → ``OngeldigVerzoek``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Generator

from ..oso import resultaat as rc
from ..oso.zoeksleutel import ChainKey, maak

OVERSTAPDOSSIER, BINNENBRIN, SWV = "overstapdossier", "overdrachtbinnenbrin", "swv-dossier"
OVERDRACHTSOORTEN = (OVERSTAPDOSSIER, BINNENBRIN, SWV)

# The Failure kinds, and the code a source's failure is reported with in afmelding (see the module docstring).
TRANSPORT, FAULT, UNVERIFIED, PROTOCOL = "transport", "fault", "unverified", "protocol"


class TransferError(ValueError):
    """The request cannot be made at all (caller's mistake): no transfer was started."""


@dataclass(frozen=True)
class TransferRequest:
    """What the target asks for. ``pgn`` stays here: only its zoeksleutel ever leaves (and ``repr`` hides it)."""

    bron_brin: str
    doel_brin: str
    doel_routeringskenmerk: str
    pgn: str | None = field(default=None, repr=False)
    koppelsleutel: str | None = None
    overdrachtsoort: str | None = None  # default: swv-dossier with a koppelsleutel, binnen-BRIN when BRINs agree
    dossier_verzameldatum: date | None = None

    def __post_init__(self):
        if (self.pgn is None) == (self.koppelsleutel is None):
            raise TransferError("name the pupil by a PGN (BSN or onderwijsnummer) or by a koppelsleutel, not both")
        if self.pgn is not None and not (len(self.pgn) == 9 and self.pgn.isdigit()):
            raise TransferError("a BSN or onderwijsnummer is nine digits")
        if self.overdrachtsoort is not None and self.overdrachtsoort not in OVERDRACHTSOORTEN:
            raise TransferError(f"overdrachtsoort is one of {', '.join(OVERDRACHTSOORTEN)}")

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
    args: dict
    endpoint: str | None = None
    routeringskenmerk: str | None = None  # the source aanleverpunt asked (document)
    # the OIN that must have signed the answer (document: the aanleverpunt's leverancierOin as the TC named it);
    # None: any signer the trust store accepts (the TC's answers are pinned by Doelsysteem.tc_oin instead)
    leverancier_oin: str | None = None


@dataclass(frozen=True)
class Failure:
    kind: str  # transport | fault | unverified | protocol
    text: str
    server_side: bool = True  # a Fault's code: soap:Server or Digikoppeling 0051 (True), else soap:Client (False)


@dataclass(frozen=True)
class Reply:
    """The answer to a Call: a result code with its fields, or a Failure (no usable answer)."""

    resultaat: str | None = None
    fields: dict = field(default_factory=dict)
    failure: Failure | None = None


@dataclass(frozen=True)
class Asked:
    """What one source aanleverpunt answered, as it goes into afmelding."""

    routeringskenmerk: str
    resultaat: str
    dossier: bytes | None = None


@dataclass(frozen=True)
class FlowResult:
    sessie_id: str | None
    resultaat: str  # the session's result (the TC's sessieResultaat), or why no session was opened
    asked: tuple[Asked, ...] = ()
    confirmed: bool = False  # the TC confirmed the result in its afmeldingResponse
    failed_at: str | None = None  # the operation whose failure decided the outcome


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
    """How the requests name the pupil: zoeksleutel + pgnfrag (made here from the PGN), or the koppelsleutel."""
    if request.koppelsleutel is not None:
        return {"koppelsleutel": request.koppelsleutel}
    if key is None:
        raise TransferError("a transfer by PGN needs the chain key (zoeksleutel_key) to make the zoeksleutel")
    zoeksleutel, pgnfrag = maak(key, pgn=request.pgn, bron_brin=request.bron_brin, doel_brin=request.doel_brin)
    return {"zoeksleutel": zoeksleutel, "pgnfrag": pgnfrag}


def flow(request: TransferRequest, leerling: dict) -> Generator[Call, Reply, FlowResult]:
    """The target's side of one transfer. Yields Calls; is sent a Reply for each; returns the FlowResult."""
    soort = request.soort
    opened = yield Call("overdracht", {
        "doelBrin": request.doel_brin, "doelRouteringskenmerk": request.doel_routeringskenmerk,
        "bronBrin": request.bron_brin, "overdrachtsoort": soort, **leerling})
    if opened.failure is not None:
        return FlowResult(None, result_for_tc_failure(opened.failure), failed_at="overdracht")
    sessie_id = opened.fields.get("sessieId")
    aanleverpunten = opened.fields.get("aanleverpunten") or ()
    if opened.resultaat != "Geslaagd" or not sessie_id:
        return FlowResult(None, opened.resultaat or "OngeldigVerzoek")
    if not aanleverpunten:  # the TC opened a session with nobody to ask: there is nothing to close it with
        return FlowResult(sessie_id, "GeenAanleverpunt")

    asked: list[Asked] = []
    failures = 0
    for rk, endpoint, leverancier_oin in aanleverpunten:
        args = {"sessieId": sessie_id, "bronRouteringskenmerk": rk, "bronBrin": request.bron_brin,
                "doelBrin": request.doel_brin, "overdrachtsoort": soort, **leerling}
        if request.dossier_verzameldatum is not None:
            args["dossierVerzameldatum"] = request.dossier_verzameldatum
        answer = yield Call("document", args, endpoint=endpoint, routeringskenmerk=rk,
                            leverancier_oin=leverancier_oin)
        if answer.failure is not None:
            failures += 1
            asked.append(Asked(rk, result_for_failure(answer.failure)))
        else:
            asked.append(Asked(rk, answer.resultaat, answer.fields.get("dossier")))

    closed = yield Call("afmelding", {"sessieId": sessie_id, "aanleverpuntResultaat": [
        {"routeringskenmerk": a.routeringskenmerk, "resultaat": a.resultaat} for a in asked]})
    local_best = rc.best([a.resultaat for a in asked])
    all_failed = failures == len(asked)
    if closed.failure is None and closed.resultaat == "Geslaagd" and closed.fields.get("sessieResultaat"):
        return FlowResult(sessie_id, closed.fields["sessieResultaat"], tuple(asked), confirmed=True,
                          failed_at="document" if all_failed else None)
    return FlowResult(sessie_id, local_best, tuple(asked), confirmed=False,
                      failed_at="document" if all_failed else None)


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

    @property
    def findings(self) -> tuple:
        return tuple(self.report.findings) if self.report is not None else ()

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.failure is not None]

    @property
    def exit_code(self) -> int:
        """0 a dossier arrived; 1 the chain refused (a result code); 3 a Fault, an unverifiable answer or no
        answer at all decided the outcome."""
        if self.dossier is not None:
            return EXIT_DOSSIER
        if self.failed_at is not None:
            return EXIT_FAILURE
        return EXIT_REFUSED

    def render(self, *, written_to: str | None = None) -> str:
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
            where = f", written to {written_to}" if written_to else ""
            lines.append(f"  dossier: {len(self.dossier):,} bytes from {self.dossier_from}{where}")
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
    if "koppelsleutel" in leerling:
        return f"koppelsleutel {leerling['koppelsleutel']}"
    z = leerling["zoeksleutel"]
    return f"zoeksleutel {z[:24]}… ({leerling['pgnfrag']}; the PGN itself is not sent)"
