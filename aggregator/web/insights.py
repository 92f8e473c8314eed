"""Blueprint "insights": momentum at a glance. ``/momentum.json`` gives matching items per week over the past
year per topic; the same numbers draw the SVG chart included on ``/`` (``templates/insights/_momentum.html``),
offered to templates as ``momentum_section(topic)`` (the rendered section) and ``momentum_chart(topic)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from .. import store
from ..context import services
from ..db import request_session
from .derived import derived, rendered
from .momentum import ALL, WEEKS, Chart, Momentum, render_chart, weekly_counts_from_days

bp = Blueprint("insights", __name__)


def _now() -> datetime:
    return datetime.now(UTC)


def current_momentum(now: datetime | None = None) -> Momentum:
    """The weekly counts, recomputed only when an item changed or the day turned.

    Counting reads a year of matching items; with 100,000 stored items that was most of the page's time, on every
    view. The cache key is the store's change marker (two index lookups), so the chart is never stale.
    """
    now = now or _now()
    topics = [topic.id for topic in services().classifier.topic_set.topics]
    since = datetime.combine(now.date() - timedelta(weeks=WEEKS), datetime.min.time(), tzinfo=UTC)
    return derived(("momentum", now.date(), tuple(topics)),
                   lambda: weekly_counts_from_days(store.momentum_day_counts(request_session(), since), now, topics))


def momentum_chart(topic: str | None) -> Chart:
    names = services().topic_names
    key = topic if topic and topic in names else ALL
    label = names.get(key, "All topics") if key != ALL else "All topics"
    return render_chart(current_momentum(), key, label)


def momentum_section(topic: str | None) -> Markup:
    """The chart and its table as HTML (``templates/insights/_momentum.html``), rendered once per topic and day
    until something is stored: a year of weekly rows is a good part of a page view's rendering otherwise."""
    key = ("momentum", topic, _now().date())
    html = rendered(key, lambda: render_template("insights/_momentum.html", chart=momentum_chart(topic)))
    return Markup(html)  # noqa: S704 - an autoescaped template, embedded as it was rendered


@bp.app_context_processor
def _chart_helper() -> dict[str, Any]:
    return {"momentum_chart": momentum_chart, "momentum_section": momentum_section}


@bp.get("/momentum.json")
def momentum_json() -> ResponseReturnValue:
    now = _now()
    response = jsonify(generated_at=now.isoformat(timespec="seconds"), week_starts="Monday (ISO weeks, UTC)",
                       **current_momentum(now).as_json(services().topic_names))
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response
