"""Presentation helpers for templates: highlighting, week grouping, dates. Pure functions plus filter wiring."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from markupsafe import Markup, escape

from ..poll.clean import truncate

SUMMARY_CHARS = 320


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> Markup:
    """Escape ``text`` and wrap the given spans in <mark>; spans are sorted and non-overlapping."""
    out: list[str] = []
    position = 0
    for start, end in spans:
        if start < position or end <= start or end > len(text):
            continue
        out.append(str(escape(text[position:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    out.append(str(escape(text[position:])))
    return Markup("".join(out))  # noqa: S704 - every piece above was escaped; only our <mark> tags are markup


def marked(text: str, start: str = "\x02", end: str = "\x03") -> Markup:
    """Escape ``text`` marked by the search engine (``start``…``end`` around matched words, store.search) and
    turn the marks into <mark>. Markers the text itself held, or unbalanced ones, only ever open or close our
    own tags: every character of the text is escaped."""
    out: list[str] = []
    inside = False
    for index, piece in enumerate(re.split(f"({re.escape(start)}|{re.escape(end)})", text)):
        if index % 2:  # a marker
            if (piece == start) != inside:
                out.append("<mark>" if not inside else "</mark>")
                inside = not inside
            continue
        out.append(str(escape(piece)))
    if inside:
        out.append("</mark>")
    return Markup("".join(out))  # noqa: S704 - every piece of the text was escaped; only our <mark> tags are markup


def short_summary(text: str) -> str:
    return truncate(text, SUMMARY_CHARS)


@dataclass(frozen=True)
class WeekGroup:
    label: str
    anchor: str
    items: list[Any]


def week_label(day: date) -> tuple[str, str]:
    year, week, _ = day.isocalendar()
    monday = day - timedelta(days=day.isoweekday() - 1)
    sunday = monday + timedelta(days=6)
    if monday.month == sunday.month:
        span = f"{monday.day}–{sunday.day} {sunday:%B %Y}"
    else:
        span = f"{monday.day} {monday:%B} – {sunday.day} {sunday:%B %Y}"
    return f"Week {week}, {year} ({span})", f"week-{year}-W{week:02d}"


def group_by_week(items: Iterable[Any], date_of: Any = lambda item: item.sort_at) -> list[WeekGroup]:
    groups: list[WeekGroup] = []
    for item in items:
        label, anchor = week_label(date_of(item).date())
        if not groups or groups[-1].anchor != anchor:
            groups.append(WeekGroup(label, anchor, []))
        groups[-1].items.append(item)
    return groups


def format_date(value: datetime | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def format_datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["short_summary"] = short_summary
