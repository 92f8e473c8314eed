"""Blueprint "feeds": /feed.xml (RSS 2.0) and /feed.atom with the page's filters, answered with 304 when unchanged.

The ETag is derived from the store's change marker (two index lookups) and feeds.yaml, so a revalidation costs no
rendering; the rendered document is cached under its ETag, so a new reader of an unchanged feed costs none either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request, url_for
from flask.typing import ResponseReturnValue

from .. import store
from ..context import services
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..models import Item
from ..syndication import FeedMeta, render_atom, render_rss
from .derived import change_marker, derived, rendered
from .params import PageRequest, parse_page_request

bp = Blueprint("feeds", __name__)

Renderer = Callable[[FeedMeta, Sequence[Item], dict[str, str], dict[int, str] | None], bytes]


def _serve(kind: str, renderer: Renderer, mimetype: str) -> ResponseReturnValue:
    svc = services()
    topic_ids = [topic.id for topic in svc.classifier.topic_set.topics]
    source_ids = [spec.id for spec in svc.catalog.sources]
    req = parse_page_request(request.args, topic_ids, source_ids, list(EVIDENCE_TYPES), default_topic=topic_ids[0])
    # Any change to any item (or a trial event, or new rules) changes every feed's ETag: a little over-eager,
    # but the check costs two index lookups instead of a scan of the topic's matches.
    newest, last_event = change_marker()
    # Sources' names and homepages are in the document too, as feeds.yaml has them (the database learns of a rename
    # only at the next poll, with no item changed, which the change marker would not see): part of the ETag.
    fingerprint = "|".join([kind, request.query_string.decode("latin-1"), newest.isoformat() if newest else "",
                            str(last_event), svc.rules_version, svc.sources_version])
    etag = hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
    response = Response(mimetype=mimetype)
    response.set_etag(etag)
    if newest:
        response.last_modified = newest
    response.cache_control.public = True
    response.cache_control.max_age = 300
    if request.if_none_match.contains(etag) or (
        not request.if_none_match and newest and request.if_modified_since
        and newest.replace(microsecond=0) <= request.if_modified_since
    ):
        response.status_code = 304
        return response
    # The ETag is built from the marker, the query string, the rules and the sources: the cached document is exactly
    # the one a client holding this ETag is told (by a 304) that it still has.
    response.set_data(rendered(("feed", etag), lambda: _render(kind, renderer, req, newest)))
    return response


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
