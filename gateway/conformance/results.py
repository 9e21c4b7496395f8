"""Verdicts: one Result per scenario, and the run's report that the terminal, JUnit and HTML views show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .catalogue import MUST, SHOULD, Scenario, for_role
from .evidence import HttpExchange

PASSED, FAILED, NOT_APPLICABLE, ERROR = "passed", "failed", "not applicable", "error"
VERDICTS = (PASSED, FAILED, NOT_APPLICABLE, ERROR)


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

    def judge(self, graders, suite, view) -> None:
        """Grade every scenario of the role with ``graders[id](suite, scenario)``, show each verdict, and finish."""
        for scenario in for_role(self.role):
            try:
                result = graders[scenario.id](suite, scenario)
            except Exception as exc:  # a bug of the suite must not hide the other verdicts
                result = Result(scenario, ERROR, f"the suite could not judge this scenario: {type(exc).__name__}: "
                                f"{str(exc)[:200]}")
            self.results.append(result)
            view.verdict(result)
        self.finished = datetime.now(timezone.utc)

    def summary(self) -> dict[str, dict[str, int]]:
        out = {sev: {v: 0 for v in VERDICTS} for sev in (MUST, SHOULD)}
        for r in self.results:
            out[r.scenario.severity][r.verdict] += 1
        return out

    @property
    def exit_code(self) -> int:
        return 1 if any(r.blocking for r in self.results) else 0

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
