"""The live terminal view (rich): progress while the suite sends and waits, a line per verdict as it is made, and
the summary per severity at the end. On a terminal that is not interactive (CI logs) it prints plain lines."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .catalogue import MUST, SHOULD
from .evidence import redact_text
from .results import ERROR, FAILED, NOT_APPLICABLE, PASSED, Result, RunReport

_STYLE = {PASSED: "green", FAILED: "bold red", NOT_APPLICABLE: "yellow", ERROR: "bold magenta"}
_MARK = {PASSED: "PASS", FAILED: "FAIL", NOT_APPLICABLE: "N/A ", ERROR: "ERR "}


class LiveView:
    def __init__(self, console: Console | None = None, *, quiet: bool = False):
        self.console = console or Console(stderr=True, highlight=False)
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task = None
        self.secrets: list[str] = []

    # ---- set-up messages (what the vendor must do)
    def say(self, text: str, style: str | None = None) -> None:
        if not self.quiet:
            self.console.print(text, style=style, highlight=False, soft_wrap=True)

    # ---- progress of the exchanges
    def begin(self, what: str, total: int | None) -> None:
        if self.quiet:
            return
        self.end()
        self._progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[step]}"),
                                  console=self.console, transient=False)
        self._progress.start()
        self._task = self._progress.add_task(what, total=total, step="")

    def step(self, text: str, advance: int = 1) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=advance, step=text)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, step="done")
            self._progress.stop()
            self._progress = None

    # ---- verdicts
    def verdict(self, result: Result) -> None:
        if self.quiet:
            return
        s = result.scenario
        line = (f"[{_STYLE[result.verdict]}]{_MARK[result.verdict]}[/] {s.id:<38} [dim]{s.severity:<6}[/] "
                f"{redact_text(result.finding, self.secrets)[:150]}")
        self.console.print(line, highlight=False, soft_wrap=True)

    def summary(self, report: RunReport, outputs: list[str] = ()) -> None:
        if self.quiet:
            return
        self.end()
        counts = report.summary()
        table = Table(title=f"OSO conformance — {report.role} — {report.context.get('under test', '')}",
                      show_lines=False)
        table.add_column("severity")
        for v in (PASSED, FAILED, NOT_APPLICABLE, ERROR):
            table.add_column(v, justify="right", style=_STYLE[v])
        for sev in (MUST, SHOULD):
            table.add_row(sev, *(str(counts[sev][v]) for v in (PASSED, FAILED, NOT_APPLICABLE, ERROR)))
        self.console.print(table)
        failed = [r for r in report.results if r.verdict in (FAILED, ERROR)]
        for r in failed:
            self.console.print(f"[{_STYLE[r.verdict]}]{r.scenario.id}[/] ({r.scenario.severity}, "
                               f"{' '.join(r.scenario.rules)}): {redact_text(r.finding, self.secrets)}",
                               highlight=False, soft_wrap=True)
            self.console.print(f"   fix: {r.scenario.fix}", style="dim", highlight=False, soft_wrap=True)
        for path in outputs:
            self.console.print(f"report: {path}", highlight=False)
        for r in report.unjudged_musts:
            self.console.print(f"[{_STYLE[r.verdict]}]{r.scenario.id}[/] (must, not judged): "
                               f"{redact_text(r.finding, self.secrets)}", highlight=False, soft_wrap=True)
        self.console.print(f"[{'green' if report.exit_code == 0 else 'bold red'}]{report.headline}[/] "
                           f"({report.duration_s:.1f} s)", highlight=False, soft_wrap=True)
