"""Query parameters from a visitor → a validated ``ItemFilter`` and page number, or ``BadRequest``. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..errors import BadRequest
from ..store import ItemFilter

ALL_TOPICS = "all"
ORDERS = ("relevance", "newest")  # of search results (store.search.ORDERS); without a query: always newest
MAX_QUERY_LENGTH = 200
MAX_PAGE = 10_000


@dataclass(frozen=True)
class PageRequest:
    filters: ItemFilter
    page: int
    topic_param: str  # as shown in the form: a topic id or "all"
    order: str = "relevance"  # of search results: "relevance" or "newest"


def _single(args: Mapping[str, str], name: str, limit: int = 100) -> str:
    value = (args.get(name) or "").strip()
    if len(value) > limit:
        raise BadRequest(f"The {name!r} parameter is too long (at most {limit} characters).")
    if any(ord(ch) < 32 for ch in value):
        raise BadRequest(f"The {name!r} parameter contains control characters.")
    return value


def parse_page_request(
    args: Mapping[str, str],
    topics: Collection[str],
    sources: Collection[str],
    evidence_types: Collection[str],
    default_topic: str,
) -> PageRequest:
    topic = _single(args, "topic") or default_topic
    if topic != ALL_TOPICS and topic not in topics:
        raise BadRequest(f"Unknown topic {topic!r}. Choose one of: {', '.join([*topics, ALL_TOPICS])}.")
    source = _single(args, "source") or None
    if source is not None and source not in sources:
        raise BadRequest(f"Unknown source {source!r}; the sources page lists them all.")
    evidence = _single(args, "evidence") or None
    if evidence is not None and evidence not in evidence_types:
        raise BadRequest(f"Unknown evidence type {evidence!r}. Choose one of: {', '.join(evidence_types)}.")
    query = " ".join(_single(args, "q", MAX_QUERY_LENGTH).split()) or None
    order = _single(args, "order", 20) or ORDERS[0]
    if order not in ORDERS:
        raise BadRequest(f"Unknown order {order!r}. Choose one of: {', '.join(ORDERS)}.")
    raw_page = _single(args, "page", 10) or "1"
    # isascii: str.isdigit() also says yes to "²" and "٣", which int() then rejects or reads unexpectedly.
    if not (raw_page.isascii() and raw_page.isdigit()) or not 1 <= int(raw_page) <= MAX_PAGE:
        raise BadRequest(f"The page number must be a whole number from 1 to {MAX_PAGE}.")
    return PageRequest(
        filters=ItemFilter(topic=None if topic == ALL_TOPICS else topic, source=source, q=query, evidence=evidence),
        page=int(raw_page),
        topic_param=topic,
        order=order,
    )
