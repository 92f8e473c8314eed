"""Momentum at a glance: matching items per week over the past year, per topic, and the SVG chart of it. Pure.

Weeks are ISO weeks (Monday to Sunday, UTC); the last bar is the current, unfinished week. An item counts in the
week of its ``sort_at`` (its publication date when credible). Duplicates of a story are left out by the caller, and
"all topics" counts each item once however many topics it matched. The chart is plain SVG drawn on the server
(no JavaScript, no inline style): ``role="img"`` with a <title> and <desc>, and the page shows the same numbers
as a table for those who cannot see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

WEEKS = 52
ALL = "all"


def week_start(moment: datetime | date) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Momentum:
    weeks: tuple[date, ...]  # Monday of each week, oldest first
    series: dict[str, tuple[int, ...]]  # topic id (or ALL) → count per week, aligned with weeks

    def total(self, key: str) -> int:
        return sum(self.series.get(key, ()))

    def as_json(self, names: dict[str, str]) -> dict[str, object]:
        return {
            "weeks": [week.isoformat() for week in self.weeks],
            "all": {"name": "All topics", "counts": list(self.series.get(ALL, ())), "total": self.total(ALL)},
            "topics": {
                topic: {"name": names.get(topic, topic), "counts": list(counts), "total": sum(counts)}
                for topic, counts in self.series.items() if topic != ALL
            },
        }


def _window(now: datetime, topics: Iterable[str], weeks: int) -> tuple[tuple[date, ...], dict[date, int],
                                                                        dict[str, list[int]]]:
    """The Mondays of the ``weeks`` weeks up to ``now``'s, each one's slot, and a zero count per slot for each topic
    and for ALL."""
    last = week_start(now)
    starts = tuple(last - timedelta(weeks=weeks - 1 - i) for i in range(weeks))
    series: dict[str, list[int]] = {topic: [0] * weeks for topic in topics}
    series[ALL] = [0] * weeks
    return starts, {start: i for i, start in enumerate(starts)}, series


def weekly_counts(rows: Iterable[tuple[int, str, datetime]], now: datetime, topics: Iterable[str],
                  weeks: int = WEEKS) -> Momentum:
    """``rows`` are (item id, topic id, sort_at); counts per topic and for all topics (distinct items)."""
    starts, index, series = _window(now, topics, weeks)
    seen: set[int] = set()
    for item_id, topic, moment in rows:
        slot = index.get(week_start(moment))
        if slot is None:
            continue  # older than the window, or in the future
        if topic in series and topic != ALL:
            series[topic][slot] += 1
        if item_id not in seen:
            seen.add(item_id)
            series[ALL][slot] += 1
    return Momentum(weeks=starts, series={key: tuple(values) for key, values in series.items()})


def weekly_counts_from_days(day_counts: Iterable[tuple[str | None, date, int]], now: datetime,
                            topics: Iterable[str], weeks: int = WEEKS) -> Momentum:
    """The same as ``weekly_counts``, from counts per UTC day: ``(topic id, day, items)``, and ``(None, day,
    items)`` with each item counted once for all topics (an item's matches share its day, so the sum of a week's
    days is its distinct items)."""
    starts, index, series = _window(now, topics, weeks)
    for topic, day, count in day_counts:
        slot = index.get(week_start(day))
        if slot is None:
            continue  # older than the window, or in the future
        if topic is None:
            series[ALL][slot] += count
        elif topic in series and topic != ALL:
            series[topic][slot] += count
    return Momentum(weeks=starts, series={key: tuple(values) for key, values in series.items()})


@dataclass(frozen=True)
class Chart:
    svg: str  # safe markup: every text in it is escaped here
    title: str
    description: str
    rows: list[tuple[date, int]]


def render_chart(momentum: Momentum, key: str, label: str, chart_id: str = "momentum",
                 width: int = 640, height: int = 160) -> Chart:
    counts = list(momentum.series.get(key, (0,) * len(momentum.weeks)))
    weeks = list(momentum.weeks)
    peak = max(counts, default=0)
    total = sum(counts)
    title = f"{label}: matching items per week, past {len(weeks)} weeks"
    if total:
        busiest = weeks[counts.index(peak)]
        description = (f"{total} items in {len(weeks)} weeks; the busiest week began {busiest:%d %B %Y} with "
                       f"{peak} items; this week so far: {counts[-1]}.")
    else:
        description = f"No matching items in the past {len(weeks)} weeks."
    left, right, top, bottom = 28, 4, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    bar_w = plot_w / max(len(counts), 1)
    scale = plot_h / peak if peak else 0.0
    parts = [
        f'<svg class="momentum-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>',
        f'<text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, (week, count) in enumerate(zip(weeks, counts, strict=True)):
        x = left + i * bar_w
        if count:
            bar_h = max(count * scale, 1.0)
            parts.append(f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - bar_h:.1f}" '
                         f'width="{max(bar_w - 2, 1):.1f}" height="{bar_h:.1f}"/>')
        if week.day <= 7:  # the first week of each month gets its label
            parts.append(f'<text class="tick" x="{x:.1f}" y="{height - 6}">{week:%b}</text>')
    parts.append("</svg>")
    return Chart(svg="".join(parts), title=title, description=description, rows=list(zip(weeks, counts,
                                                                                          strict=True)))
