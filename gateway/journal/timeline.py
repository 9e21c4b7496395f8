"""A transfer's messages read back (sans-IO): what happened, what caused a failure, and who must act.

The cause is the first failure that no later success of the same operation overtook (a retry that worked is not a
cause). When the target closed the session with a result that is not a success, the cause is the message that
first answered with that result (e.g. the source's ``LeveringGeweigerd``), else the afmelding itself.

Only messages whose sender was verified tell a transfer's story: a refused message that did not verify changes no
assessment, whatever it claimed (``gateway.journal.entry``). Given only such messages (a trace by the MessageID of
one), the assessment says that message was refused and that nobody can be named as its sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..oso.resultaat import CODES, SUCCESS
from .advice import RESULT_ACTOR, Actor, explain, result_advice, rule_actor_role
from .entry import JournalEntry


@dataclass(frozen=True)
class Assessment:
    status: str  # "failed" | "succeeded" | "open" | "empty"
    headline: str
    cause: JournalEntry | None = None
    actor: Actor | None = None
    retried: tuple[JournalEntry, ...] = ()  # failures a later success overtook


def step(entry: JournalEntry) -> str:
    return f"{entry.service}.{entry.operation or '?'}"


def signer_text(entry: JournalEntry) -> str:
    if not entry.signer_verified:
        claim = f"; its certificate named {entry.claimed_oin}" if entry.claimed_oin else ""
        return f"unverified sender{claim}"
    if not entry.signer_oin:
        return "unknown sender"
    name = entry.vendor or "unregistered vendor"
    return f"{name} ({entry.signer_oin})"


def result_text(entry: JournalEntry) -> str:
    """The outcome in words: the refusal's rule and fault code, or the result code(s)."""
    if entry.verdict == "refused":
        dk = f" Digikoppeling {entry.dk_code}" if entry.dk_code else ""
        return f"{entry.rule} [{entry.faultcode}{dk}] {entry.reason or ''}".rstrip()
    text = entry.resultaat or "accepted"
    if entry.sessie_resultaat:
        text += f", session result {entry.sessie_resultaat}"
    return text


def _overtaken(failure: JournalEntry, later: Sequence[JournalEntry]) -> bool:
    return any(e.service == failure.service and e.operation == failure.operation and not e.failed for e in later)


def _party(role: str, cause: JournalEntry, entries: Sequence[JournalEntry]) -> str:
    if role == "sender":
        if not cause.signer_verified:
            peer = f" at {cause.peer}" if cause.peer else ""
            claim = (f" (its certificate named {cause.claimed_oin}, which proves nothing)" if cause.claimed_oin
                     else "")
            return f"the sender{peer}: the message did not verify, so no vendor can be named{claim}"
        if not cause.signer_oin:
            return "the sender (the message named no signer that could be read)"
        return f"the sending vendor {signer_text(cause)}"
    if role in ("bron", "doel"):
        brin = next((b for e in entries if (b := e.brin(f"{role}Brin"))), None)
        ops = ("sessiecontrole", "meldenNotificatie", "meldenTerugkoppeling") if role == "bron" else (
            "overdracht", "afmelding")
        vendor = next((e for e in entries if e.operation in ops and e.signer_verified and e.signer_oin), None)
        school = "the source school" if role == "bron" else "the target school"
        text = f"{school} {brin}" if brin else school
        return text + (f" and its vendor {signer_text(vendor)}" if vendor else "")
    if role == "register":
        return "the servicedesk (the register of schools, vendors and aanleverpunten)"
    return "the gateway's operators"


def actor_for(cause: JournalEntry, entries: Sequence[JournalEntry] = ()) -> Actor:
    """Who must act on a failed message, and what to do."""
    entries = entries or (cause,)
    if cause.verdict == "refused":
        role = rule_actor_role(cause.party)
        return Actor(role, _party(role, cause, entries), explain(cause.rule or "GW-INTERNAL")[1])
    code = cause.sessie_resultaat if cause.sessie_resultaat and cause.sessie_resultaat not in SUCCESS \
        else cause.resultaat
    role = RESULT_ACTOR.get(code or "", "sender")
    return Actor(role, _party(role, cause, entries), result_advice(code or ""))


def assess(entries: Sequence[JournalEntry]) -> Assessment:
    entries = sorted(entries, key=lambda e: e.received_at)
    if not entries:
        return Assessment("empty", "no messages in the journal")
    told = [e for e in entries if e.of_transfer]
    if not told:  # only refusals of messages that did not verify: they belong to no transfer
        cause = entries[0]
        return Assessment("failed", f"REFUSED, UNVERIFIED: {step(cause)} was refused: {result_text(cause)} (the "
                          "message did not verify: it is tied to no transfer and no vendor)", cause,
                          actor_for(cause, entries))
    entries = told
    closing = next((e for e in reversed(entries)
                    if e.operation == "afmelding" and e.verdict == "accepted" and e.sessie_resultaat), None)
    failures = [e for i, e in enumerate(entries) if e.failed and not _overtaken(e, entries[i + 1:])]
    retried = tuple(e for i, e in enumerate(entries) if e.failed and _overtaken(e, entries[i + 1:]))
    if closing is not None and closing.sessie_resultaat in SUCCESS:
        return Assessment("succeeded", f"SUCCEEDED: the session was closed with {closing.sessie_resultaat}",
                          retried=retried)
    if closing is not None:
        code = closing.sessie_resultaat
        cause = next((e for e in entries if e.resultaat == code), closing)
        meaning = CODES[code].meaning if code in CODES else code
        return Assessment("failed", f"FAILED: {step(cause)} answered {code} ({meaning})", cause,
                          actor_for(cause, entries), retried)
    if failures:
        cause = failures[0]
        if cause.verdict == "refused":
            headline = f"FAILED: {step(cause)} was refused: {result_text(cause)}"
        else:
            code = cause.outcome
            headline = f"FAILED: {step(cause)} answered {code} ({CODES[code].meaning})"
        return Assessment("failed", headline, cause, actor_for(cause, entries), retried)
    last = entries[-1]
    return Assessment("open", f"OPEN: no failure recorded; the last step was {step(last)} "
                      f"({result_text(last)})", retried=retried)
