"""``oso-gateway trace``: a transfer's timeline as text, the cause and the party that must act first."""

from __future__ import annotations

from datetime import timezone
from typing import Sequence

from ..journal.advice import explain
from ..journal.entry import JournalEntry
from ..journal.timeline import Assessment, assess, result_text, signer_text, step


def _time(entry: JournalEntry) -> str:
    t = entry.received_at.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def render(ident: str, entries: Sequence[JournalEntry], assessment: Assessment | None = None) -> list[str]:
    a = assessment or assess(entries)
    if not entries:
        return [f"{ident}: no messages in the journal (a sessieId, koppelsleutel or MessageID; entries older than the "
                "retention are removed)"]
    sessies = sorted({e.sessie_id for e in entries if e.sessie_id})
    lines = [f"{ident}: {a.headline}"]
    if a.actor is not None:
        lines.append(f"  who must act: {a.actor.who}")
        lines.append(f"  what to do: {a.actor.what}")
    if a.cause is not None and a.cause.rule:
        lines.append(f"  rule {a.cause.rule}: {explain(a.cause.rule)[0]}")
    if a.retried:
        lines.append(f"  {len(a.retried)} earlier failure(s) were overtaken by a later success of the same step")
    lines.append(f"  session(s): {', '.join(sessies) if sessies else '-'}; {len(entries)} message(s)")
    lines.append("")
    rows = [("time (UTC)", "step", "signer / vendor", "verdict", "result / rule", "latency")]
    for e in entries:
        outcome = result_text(e) if e.verdict == "refused" else (e.resultaat or "-") + (
            f" (session: {e.sessie_resultaat})" if e.sessie_resultaat else "")
        mark = " <- cause" if e is a.cause else ""
        rows.append((_time(e), step(e) + (" (sent)" if e.direction == "out" else ""), signer_text(e), e.verdict,
                     outcome + mark, f"{e.latency_ms:.1f} ms"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + f"  {r[5]:>9}  {r[4]}")
    return lines
