"""ETag/304 for documents built from the store: feeds, the JSON Feed, the API, OPML.

The ETag is derived from the store's change marker (two index lookups), the query string, the topic rules and
feeds.yaml's source names, so a revalidation costs no rendering; the rendered document is cached under its ETag,
so a new reader of an unchanged document costs none either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from flask import Response, request

from ..context import services
from .derived import change_marker, rendered


def conditional(kind: str, mimetype: str, render: Callable[[datetime | None], bytes],
                max_age: int = 300) -> Response:
    """A 304 if the client holds the current document of ``kind`` for this query, else the document
    (``render(newest item change)``, cached under its ETag)."""
    svc = services()
    # Any change to any item (or a trial event, or new rules) changes every document's ETag: a little over-eager,
    # but the check costs two index lookups instead of a scan of the matches.
    newest, last_event = change_marker()
    # Sources' names and homepages are in the documents too, as feeds.yaml has them (the database learns of a
    # rename only at the next poll, with no item changed, which the change marker would not see): part of the ETag.
    fingerprint = "|".join([kind, request.query_string.decode("latin-1"), newest.isoformat() if newest else "",
                            str(last_event), svc.rules_version, svc.sources_version])
    etag = hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
    response = Response(mimetype=mimetype)
    response.set_etag(etag)
    if newest:
        response.last_modified = newest
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    if request.if_none_match.contains(etag) or (
        not request.if_none_match and newest and request.if_modified_since
        and newest.replace(microsecond=0) <= request.if_modified_since
    ):
        response.status_code = 304
        return response
    # The ETag is built from the marker, the query string, the rules and the sources: the cached document is exactly
    # the one a client holding this ETag is told (by a 304) that it still has.
    response.set_data(rendered(("doc", etag), lambda: render(newest)))
    return response
