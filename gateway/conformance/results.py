"""Verdicts: one Result per scenario, and the run's report that the terminal, JUnit and HTML views show.

A run never passes by default. Its outcome (``RunReport.outcome``) is

- ``FAILED`` when a *must* failed or could not be judged (an error);
- ``INCOMPLETE`` when a *must* was not applicable (not sent, nothing to judge) and the vendor did not waive it by id
  (``waived``): the suite could not show that the must holds, so it does not say it does;
- ``PASSED`` only when every *must* passed or was waived.

A scenario that passes must carry evidence: a PASSED verdict without a single exchanged byte is turned into an
ERROR ("passed on no evidence"), so a grader that looked at nothing cannot pass a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .catalogue import MUST, SHOULD, Scenario, for_role
from .evidence import HttpExchange

PASSED, FAILED, NOT_APPLICABLE, ERROR = "passed", "failed", "not applicable", "error"
VERDICTS = (PASSED, FAILED, NOT_APPLICABLE, ERROR)
# the run's outcome
RUN_PASSED, RUN_FAILED, RUN_INCOMPLETE = "PASSED", "FAILED", "INCOMPLETE"


@dataclass
class Result:
    scenario: Scenario
    verdict: str
    finding: str  # what the suite saw, in a sentence or two (never pupil data)
    evidence: list[HttpExchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    @property
    def blocking(self) -> bool:
        """A failed (or unjudgeable) *must*: the run's exit code is not 0."""
        return self.scenario.severity == MUST and self.verdict in (FAILED, ERROR)

    @property
    def has_evidence(self) -> bool:
        """At least one exchange with bytes in it (a request or an answer)."""
        return any(ex.request or ex.response for ex in self.evidence)


def _no_evidence(result: Result) -> Result:
    if result.verdict != PASSED or result.has_evidence:
        return result
    return Result(result.scenario, ERROR, "the scenario would have passed on no evidence (no message was judged): "
                  f"{result.finding}", result.evidence, result.notes)


@dataclass
class RunReport:
    role: str
    context: dict[str, str]  # what was tested, where (shown at the top of every report)
    results: list[Result] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished: datetime | None = None
    notes: list[str] = field(default_factory=list)
    # the test pupils' PGNs, only to redact them from every view (never shown)
    secrets: list[str] = field(default_factory=list, repr=False)
    waived: frozenset[str] = frozenset()  # scenario ids whose "not applicable" the vendor accepts (--waive ID)

    def judge(self, graders, suite, view) -> None:
        """Grade every scenario of the role with ``graders[id](suite, scenario)``, show each verdict, and finish."""
        for scenario in for_role(self.role):
            try:
                result = graders[scenario.id](suite, scenario)
            except Exception as exc:  # a bug of the suite must not hide the other verdicts
                result = Result(scenario, ERROR, f"the suite could not judge this scenario: {type(exc).__name__}: "
                                f"{str(exc)[:200]}")
            result = _no_evidence(result)
            if result.verdict == NOT_APPLICABLE and scenario.id in self.waived:
                result.notes.append("waived by the vendor (--waive): it does not make the run INCOMPLETE")
            self.results.append(result)
            view.verdict(result)
        self.finished = datetime.now(timezone.utc)

    def summary(self) -> dict[str, dict[str, int]]:
        out = {sev: {v: 0 for v in VERDICTS} for sev in (MUST, SHOULD)}
        for r in self.results:
            out[r.scenario.severity][r.verdict] += 1
        return out

    @property
    def unjudged_musts(self) -> list[Result]:
        """The *musts* that were not applicable and not waived: the run cannot say they hold."""
        return [r for r in self.results if r.scenario.severity == MUST and r.verdict == NOT_APPLICABLE
                and r.scenario.id not in self.waived]

    @property
    def outcome(self) -> str:
        if any(r.blocking for r in self.results):
            return RUN_FAILED
        if self.unjudged_musts or not self.results:
            return RUN_INCOMPLETE
        return RUN_PASSED

    @property
    def headline(self) -> str:
        """One line: the outcome and why."""
        outcome = self.outcome
        if outcome == RUN_PASSED:
            waived = [r.scenario.id for r in self.results if r.verdict == NOT_APPLICABLE and r.scenario.id in
                      self.waived]
            return "PASSED: every must holds" + (f" ({len(waived)} waived: {', '.join(waived)})" if waived else "")
        if outcome == RUN_FAILED:
            n = sum(1 for r in self.results if r.blocking)
            return f"FAILED: {n} must{'s' if n != 1 else ''} do{'es' if n == 1 else ''} not hold"
        ids = [r.scenario.id for r in self.unjudged_musts]
        return (f"INCOMPLETE: {len(ids)} must{'s' if len(ids) != 1 else ''} could not be judged "
                f"({', '.join(ids) or 'no scenario ran'}); make them applicable, or waive them with --waive ID")

    @property
    def exit_code(self) -> int:
        """0 only when the outcome is PASSED; 1 for FAILED and INCOMPLETE."""
        return 0 if self.outcome == RUN_PASSED else 1

    def result(self, scenario_id: str) -> Result:
        for r in self.results:
            if r.scenario.id == scenario_id:
                return r
        raise KeyError(scenario_id)

    @property
    def failed_ids(self) -> list[str]:
        return [r.scenario.id for r in self.results if r.verdict in (FAILED, ERROR)]

    @property
    def duration_s(self) -> float:
        end = self.finished or datetime.now(timezone.utc)
        return (end - self.started).total_seconds()
