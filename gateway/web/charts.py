"""Server-rendered SVG charts for the dashboard: no JavaScript, a title and a description for screen readers (the
page also shows the same numbers as a table), colours from the Okabe-Ito palette (told apart with colour-blindness;
each has at least 3:1 contrast on white) and a text legend."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterable, Sequence

from markupsafe import Markup, escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8F6A00", "#56B4E9", "#000000", "#6E6E6E")
OTHER = "other"


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    counts: tuple[int, ...]  # one per bucket


@dataclass(frozen=True)
class StackedBars:
    title: str
    buckets: tuple[date, ...]
    series: tuple[Series, ...]

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(sum(s.counts[i] for s in self.series) for i in range(len(self.buckets)))


def stack_by_day(items: Iterable, *, title: str, when: Callable[[object], datetime], key: Callable[[object], str],
                 days: int, today: date, max_series: int = len(PALETTE) - 1) -> StackedBars:
    """Counts of ``items`` per day (the last ``days`` days up to ``today``) and per ``key``; the biggest keys get a
    series each, the rest are added up as "other"."""
    buckets = tuple(today - timedelta(days=days - 1 - i) for i in range(days))
    index = {d: i for i, d in enumerate(buckets)}
    per_key: dict[str, list[int]] = {}
    totals: Counter = Counter()
    for item in items:
        i = index.get(when(item).date())
        if i is None:
            continue
        k = key(item)
        per_key.setdefault(k, [0] * days)[i] += 1
        totals[k] += 1
    top = [k for k, _ in totals.most_common() if k != OTHER][:max_series]
    series = [Series(k, PALETTE[n], tuple(per_key[k])) for n, k in enumerate(top)]
    rest = [k for k in per_key if k not in top]
    if rest:
        series.append(Series(OTHER, PALETTE[len(series)], tuple(sum(per_key[k][i] for k in rest)
                                                                for i in range(days))))
    return StackedBars(title, buckets, tuple(series))


def _ticks(top: int) -> list[int]:
    if top <= 5:
        return list(range(0, top + 1))
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10**4, 10**5, 10**6)
                if top / s <= 5)
    return list(range(0, top + step, step))


def svg(chart: StackedBars, *, chart_id: str, width: int = 720, height: int = 260) -> Markup:
    left, right, top_pad, bottom = 44, 8, 10, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    totals = chart.totals
    ticks = _ticks(max(totals or (0,)) or 1)
    ymax = ticks[-1] or 1
    n = max(len(chart.buckets), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    total = sum(totals)
    desc = (f"{total} failures over {n} days" + (": " + "; ".join(
        f"{s.name} {sum(s.counts)}" for s in chart.series) if chart.series else ""))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-labelledby="{chart_id}-t {chart_id}-d" class="chart">',
           f'<title id="{chart_id}-t">{escape(chart.title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>']
    for t in ticks:
        y = top_pad + plot_h - plot_h * t / ymax
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d0d0"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#222">{t}</text>')
    label_every = max(1, n // 10)
    for i, day in enumerate(chart.buckets):
        x = left + slot * i + (slot - bar_w) / 2
        base = top_pad + plot_h
        for s in chart.series:
            c = s.counts[i]
            if not c:
                continue
            h = plot_h * c / ymax
            base -= h
            out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{s.colour}">'
                       f'<title>{escape(s.name)}, {day.isoformat()}: {c}</title></rect>')
        if i % label_every == 0:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                       f'font-size="12" fill="#222">{day.strftime("%m-%d")}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" '
               'stroke="#222"/>')
    out.append("</svg>")
    return Markup("".join(out))


def legend(chart: StackedBars) -> Markup:
    items = "".join(
        f'<li><svg width="12" height="12" aria-hidden="true" focusable="false"><rect width="12" height="12" '
        f'fill="{s.colour}"/></svg> {escape(s.name)} ({sum(s.counts)})</li>' for s in chart.series)
    return Markup(f'<ul class="legend">{items}</ul>')


def table_rows(chart: StackedBars) -> Sequence[tuple[str, Sequence[int], int]]:
    return [(s.name, s.counts, sum(s.counts)) for s in chart.series]
