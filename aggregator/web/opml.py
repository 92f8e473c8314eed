"""Blueprint "opml": /sources.opml (every enabled source) and /feeds.opml (this site's topic feeds) for feed readers.

A source that is a feed (kinds ``feed`` and ``ctis``) is listed with its own feed URL (where it moved to, if it
moved permanently). Sources that are not feeds (web pages, registry and PubMed queries) have no feed of their own
to subscribe to, so they are listed with this site's feed of that source (``/feed.xml?topic=all&source=ID``: its
items that match a topic). Groups follow the evidence types, in the order of the sources page.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from .. import store
from ..context import services
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..errors import BadRequest
from .conditional import conditional
from .opml_document import Outline, render_opml

bp = Blueprint("opml", __name__)
MIMETYPE = "text/x-opml"
FEED_KINDS = ("feed", "ctis")


def _no_params() -> None:
    if request.args:
        raise BadRequest(f"This list takes no parameters (got {sorted(request.args)[0]!r}).")


@bp.get("/sources.opml")
def sources() -> ResponseReturnValue:
    _no_params()

    def render(newest: datetime | None) -> bytes:
        svc = services()
        base = svc.settings.base_url
        rows = {row.id: row for row in store.all_sources(request_session())}
        groups: dict[str, list[Outline]] = {}
        for spec in svc.catalog.sources:
            row = rows.get(spec.id)
            if not spec.enabled or (row is not None and not row.enabled):
                continue
            if spec.kind in FEED_KINDS:
                xml_url = (row.url if row is not None and row.url else spec.url)
                description = None
            else:
                xml_url = base + url_for("feeds.rss", topic="all", source=spec.id)
                description = f"The matching items of {spec.name}, as this site reads them ({spec.kind})."
            groups.setdefault(spec.evidence_type, []).append(
                Outline(text=spec.name, xml_url=xml_url, html_url=spec.homepage, description=description))
        outlines = [Outline(text=EVIDENCE_TYPES.get(kind, kind), children=groups[kind])
                    for kind in EVIDENCE_TYPES if kind in groups]
        return render_opml("CAR T & MS Research: sources", outlines, base + "/", newest)

    return conditional("opml-sources", MIMETYPE, render)


@bp.get("/feeds.opml")
def feeds() -> ResponseReturnValue:
    _no_params()

    def render(newest: datetime | None) -> bytes:
        svc = services()
        base = svc.settings.base_url
        topics = [(topic.id, topic.name) for topic in svc.classifier.topic_set.topics] + [("all", "All topics")]
        outlines = [Outline(text=f"{name} — CAR T & MS Research",
                            xml_url=base + url_for("feeds.rss", topic=topic_id),
                            html_url=base + url_for("pages.index", topic=topic_id),
                            description=f"New research items matching “{name}”, from trusted sources.")
                    for topic_id, name in topics]
        return render_opml("CAR T & MS Research: topic feeds", outlines, base + "/", newest)

    return conditional("opml-feeds", MIMETYPE, render)
