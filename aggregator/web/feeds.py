"""Blueprint "feeds": /feed.xml (RSS 2.0), /feed.atom and /feed.json (JSON Feed 1.1) with the page's filters,
answered with 304 when unchanged (``conditional``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from .. import store
from ..context import services
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..models import Item
from .conditional import conditional
from .derived import derived
from .params import PageRequest, parse_page_request
from .syndication import FeedMeta, render_atom, render_json_feed, render_rss

bp = Blueprint("feeds", __name__)

Renderer = Callable[[FeedMeta, Sequence[Item], dict[str, str], dict[int, str] | None], bytes]


def _serve(kind: str, renderer: Renderer, mimetype: str) -> ResponseReturnValue:
    req = feed_request()
    return conditional(f"feed-{kind}", mimetype, lambda newest: _render(kind, renderer, req, newest))


def feed_request() -> PageRequest:
    """The feed's filters from the query string (the page's parameters; the first topic by default)."""
    svc = services()
    topic_ids = [topic.id for topic in svc.classifier.topic_set.topics]
    source_ids = [spec.id for spec in svc.catalog.sources]
    return parse_page_request(request.args, topic_ids, source_ids, list(EVIDENCE_TYPES), default_topic=topic_ids[0])


def _render(kind: str, renderer: Renderer, req: PageRequest, newest: datetime | None) -> bytes:
    svc = services()
    session = request_session()
    size = svc.settings.feed_size
    total = derived(("count", req.filters), lambda: store.count_matching(session, req.filters))
    stored = derived("stored", lambda: store.count_items(session))
    items = store.matching_items(session, req.filters, size, newest_first=store.walk_is_cheaper(size, total, stored))
    base = svc.settings.base_url
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k in {"topic", "source", "q", "evidence"} and v}
    names = svc.topic_names
    label = "All topics" if req.filters.topic is None else names.get(req.filters.topic, req.filters.topic)
    meta = FeedMeta(
        title=f"{label} — CAR T & MS Research",
        description=f"New research items matching “{label}”, from trusted sources.",
        self_url=base + url_for(f"feeds.{kind}", **args),
        page_url=base + url_for("pages.index", **args),
        base_url=base,
        updated=newest,
        sources={spec.id: (spec.name, spec.homepage) for spec in svc.catalog.sources},
    )
    events = store.events_for(session, [item.id for item in items])
    # The changes of the latest poll that changed something (status and phase may change together).
    notes = {item_id: "; ".join(e.summary for e in reversed(rows) if e.occurred_at == rows[0].occurred_at)
             for item_id, rows in events.items() if rows}
    return renderer(meta, items, names, notes)


@bp.get("/feed.xml")
def rss() -> ResponseReturnValue:
    return _serve("rss", render_rss, "application/rss+xml")


@bp.get("/feed.atom")
def atom() -> ResponseReturnValue:
    return _serve("atom", render_atom, "application/atom+xml")


@bp.get("/feed.json")
def json_feed() -> ResponseReturnValue:
    return _serve("json_feed", render_json_feed, "application/feed+json")
