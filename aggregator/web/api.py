"""Blueprint "api": the versioned JSON API under /api/v1, described by the OpenAPI 3.1 file it serves.

``/api/v1/items`` (the page's filters and ``since``, keyset cursor paging), ``/api/v1/sources``,
``/api/v1/trials`` and ``/api/v1/openapi.json``. Every answer is JSON, errors too (400 says which parameter and
what to send instead), every GET may be read from any origin (CORS ``*``: the data is public, there are no
cookies to protect), and every document is revalidated with ETag/304 like the feeds.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from .. import store
from ..context import services
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..errors import BadRequest
from ..models import Source
from . import api_data
from .conditional import conditional
from .derived import derived
from .pages import _explain, _trials_of
from .params import ALL_TOPICS, parse_page_request

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"
JSON = "application/json"
ITEM_PARAMS = ("topic", "source", "evidence", "q", "since", "limit", "cursor")


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _secret() -> str:
    secret: str = current_app.config["SECRET_KEY"]
    return secret


@bp.get("/items")
def items() -> ResponseReturnValue:
    svc = services()
    api_data.check_known(request.args, ITEM_PARAMS)
    topic_ids = [topic.id for topic in svc.classifier.topic_set.topics]
    source_ids = [spec.id for spec in svc.catalog.sources]
    req = parse_page_request(request.args, topic_ids, source_ids, list(EVIDENCE_TYPES), default_topic=ALL_TOPICS)
    since = api_data.parse_since(request.args.get("since"))
    limit = api_data.parse_limit(request.args.get("limit"), svc.settings.page_size)
    raw_cursor = (request.args.get("cursor") or "").strip()
    after = api_data.decode_cursor(_secret(), raw_cursor) if raw_cursor else None

    def render(_newest: datetime | None) -> bytes:
        session = request_session()
        rows = store.items_after(session, req.filters, limit + 1, after=after, since=since)
        page, more = rows[:limit], len(rows) > limit
        ids = [item.id for item in page]
        also = store.also_reported(session, ids)
        code_map = derived("trial-codes", lambda: store.trial_code_map(session))
        base = svc.settings.base_url
        names = svc.topic_names
        source_names = {spec.id: spec.name for spec in svc.catalog.sources}
        documents = [
            api_data.item_document(item, base_url=base, topic_names=names, evidence_names=EVIDENCE_TYPES,
                                   source_names=source_names, why=_explain(item, names),
                                   trials=_trials_of(item, code_map), also=also.get(item.id, []))
            for item in page
        ]
        cursor = api_data.encode_cursor(_secret(), page[-1]) if more and page else None
        args: dict[str, Any] = {key: value for key, value in request.args.items() if key != "cursor" and value}
        return _json({
            "items": documents,
            "next_cursor": cursor,
            "next": base + url_for("api.items", **args, cursor=cursor) if cursor else None,
        })

    return conditional("api-items", JSON, render)


@bp.get("/sources")
def sources() -> ResponseReturnValue:
    api_data.check_known(request.args, ())

    def render(_newest: datetime | None) -> bytes:
        svc = services()
        session = request_session()
        rows = {source.id: source for source in store.all_sources(session)}
        counts = store.source_item_counts(session)
        listed = []
        for spec in svc.catalog.sources:  # feeds.yaml's order and names; the database adds health
            row = rows.get(spec.id) or Source(id=spec.id, kind=spec.kind, status="new", configured_url=spec.url)
            row_doc = api_data.source_document(row, counts.get(spec.id, (0, 0)), EVIDENCE_TYPES)
            row_doc.update(name=spec.name, kind=spec.kind, feed_url=spec.url, homepage=spec.homepage,
                           evidence_type=spec.evidence_type, enabled=spec.enabled,
                           evidence_label=EVIDENCE_TYPES.get(spec.evidence_type, spec.evidence_type))
            listed.append(row_doc)
        return _json({"sources": listed})

    return conditional("api-sources", JSON, render)


@bp.get("/trials")
def trials() -> ResponseReturnValue:
    api_data.check_known(request.args, ())

    def render(_newest: datetime | None) -> bytes:
        views = sorted(store.trial_views(request_session()), key=lambda v: (v.changed_at, v.key), reverse=True)
        base = services().settings.base_url
        return _json({"trials": [api_data.trial_document(view, base) for view in views]})

    return conditional("api-trials", JSON, render)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    document["servers"] = [{"url": services().settings.base_url + "/api/v1"}]
    response = Response(_json(document), mimetype=JSON)
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


@bp.get("/<path:_rest>")
def not_found(_rest: str) -> ResponseReturnValue:
    return _error(404, "No such endpoint. The API's endpoints are listed in /api/v1/openapi.json.")


def _error(status: int, message: str) -> ResponseReturnValue:
    return Response(_json({"error": {"status": status, "message": message}}), status=status, mimetype=JSON)


@bp.errorhandler(BadRequest)
def bad_request(exc: BadRequest) -> ResponseReturnValue:
    return _error(400, str(exc))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> ResponseReturnValue:
    return _error(exc.code or 500, exc.description or exc.name)


@bp.after_request
def cors(response: Response) -> Response:
    """Public data, no cookies read: any origin may GET it, and read the ETag to revalidate."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "If-None-Match, If-Modified-Since"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
