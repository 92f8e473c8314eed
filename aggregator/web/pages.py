"""Blueprint "pages": the digest page, the sources' health page and /healthz. Thin views over store reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import store
from ..context import services
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..models import Item, Source
from ..poll.clean import DATE_PROBLEM
from ..topics.review import is_reviewer_hit
from ..trials import linked_trials
from .derived import derived, memoized, rendered
from .params import ALL_TOPICS, PageRequest, parse_page_request
from .quiet import source_flags
from .render import WeekGroup, group_by_week, highlight, marked, short_summary

bp = Blueprint("pages", __name__)


@dataclass(frozen=True)
class ItemView:
    """One item as the page shows it: highlighted title and summary, badges, and why it is here."""

    item: Item
    title: Markup
    summary: Markup
    topics: list[tuple[str, str]]  # (id, name)
    evidence: str
    also: list[tuple[str, str | None]]  # (source name, link)
    why: list[str]
    trials: tuple[str, ...] = ()  # NCT ids of the trials this item is about (linked to /trials/<id>)
    events: tuple[Any, ...] = ()  # ItemEvent rows, newest first (a trial's status change, a journal version)

    @property
    def sort_at(self) -> Any:
        return self.item.sort_at

    @property
    def updates(self) -> list[tuple[Any, list[str]]]:
        """The events by the poll that recorded them, newest poll first, each poll's sentences as written."""
        polls: dict[Any, list[str]] = {}
        for event in self.events:
            polls.setdefault(event.occurred_at, []).insert(0, event.summary)  # events come newest (last) first
        return list(polls.items())


_DATE_PROBLEM_WORDS = {
    "unreadable": "could not be read",
    "before 1990": "is before 1990",
    "more than a day in the future": "lies more than a day in the future",
}


def _explain(item: Item, names: dict[str, str]) -> list[str]:
    lines = []
    for match in sorted(item.topics, key=lambda t: t.topic_id):
        parts = []
        reviewed = None
        for hit in match.hits or []:
            if is_reviewer_hit(hit):
                reviewed = str(hit.get("text") or "")
                continue
            parts.append(f"“{hit.get('text') or hit.get('term')}” in the {hit.get('field', 'text')}")
        terms = "; ".join(dict.fromkeys(parts)) or "its rules"
        name = names.get(match.topic_id, match.topic_id)
        if reviewed is not None:  # the reviewer's word, then what the rules found (if anything)
            note = f" (“{reviewed}”)" if reviewed else ""
            found = f"; the rules found {terms}" if parts else ""
            lines.append(f"{name}: a reviewer decided it belongs here{note}{found}.")
        else:
            lines.append(f"{name}: {terms}.")
    problem = (item.extra or {}).get(DATE_PROBLEM)
    if isinstance(problem, dict):  # what the source wrote for a date we did not use (clean.clean_item)
        said = problem.get("source_date") or "(empty)"
        why = _DATE_PROBLEM_WORDS.get(str(problem.get("reason")), "was not believed")
        lines.append(f"Dated by when we first saw it: the date the source gave, “{said}”, {why}.")
    return lines


def _also_label(item: Item, dup: Item) -> str:
    name = dup.source.name if dup.source else dup.source_id
    if item.evidence_type == "preprint" and dup.evidence_type == "peer-reviewed":
        return f"{name} (published version)"
    return name


def _views(items: list[Item], also: dict[int, list[Item]], events: dict[int, list[Any]] | None = None,
           code_map: dict[str, list[str]] | None = None,
           marks: dict[int, tuple[Markup, Markup]] | None = None) -> list[ItemView]:
    """``marks``: a search's title and snippet per item id, shown instead of the topic terms' highlighting."""
    svc = services()
    events = events or {}
    names = svc.topic_names
    topic_set = svc.classifier.topic_set
    views = []
    def highlighted(text: str) -> Markup:  # the rules are fixed for the app's life: the text is the whole key
        return memoized(("highlight", text), lambda: highlight(text, topic_set.highlight_spans(text)))

    for item in items:
        title, summary = (marks or {}).get(item.id) or (highlighted(item.title),
                                                          highlighted(short_summary(item.summary_text)))
        views.append(
            ItemView(
                item=item,
                title=title,
                summary=summary,
                topics=[(t.topic_id, names.get(t.topic_id, t.topic_id)) for t in sorted(item.topics,
                                                                                        key=lambda t: t.topic_id)],
                evidence=EVIDENCE_TYPES.get(item.evidence_type, item.evidence_type),
                also=[(_also_label(item, dup), dup.link) for dup in also.get(item.id, [])],
                why=_explain(item, names),
                trials=_trials_of(item, code_map or {}),
                events=tuple(events.get(item.id, ())),
            )
        )
    return views


def _trials_of(item: Item, code_map: dict[str, list[str]]) -> tuple[str, ...]:
    """The trials an item is about; a CTIS record is about its own trial (its page redirects to an NCT twin)."""
    found = linked_trials(f"{item.title} {item.summary_text}", item.nct_id, code_map)
    extra = item.extra or {}
    if extra.get("registry") == "ctis" and isinstance(extra.get("registry_id"), str):
        found.insert(0, extra["registry_id"])
    return tuple(dict.fromkeys(found))


def _feed_args(req: PageRequest) -> dict[str, Any]:
    args = {"topic": req.topic_param, "source": req.filters.source, "q": req.filters.q,
            "evidence": req.filters.evidence}
    return {key: value for key, value in args.items() if value}


def _item_list(req: PageRequest, total: int, page_size: int) -> tuple[Markup, int]:
    """The page's items grouped by week, as HTML, and how many there are."""
    session = request_session()
    offset = (req.page - 1) * page_size
    marks: dict[int, tuple[Markup, Markup]] | None = None
    if req.filters.q:  # the full-text index: ranked or newest first, with the matched words marked
        hits = store.search_items(session, req.filters.q, topic=req.filters.topic, source=req.filters.source,
                                  evidence=req.filters.evidence, order="newest" if req.order == "newest" else
                                  "relevance", limit=page_size, offset=offset)
        items = [hit.item for hit in hits]
        marks = {hit.item.id: (marked(hit.title), marked(hit.snippet)) for hit in hits}
    else:
        stored = derived("stored", lambda: store.count_items(session))
        items = store.matching_items(session, req.filters, page_size, offset,
                                     newest_first=store.walk_is_cheaper(offset + page_size, total, stored))
    ids = [item.id for item in items]
    views = _views(items, store.also_reported(session, ids), store.events_for(session, ids),
                   derived("trial-codes", lambda: store.trial_code_map(session)), marks)
    if req.filters.q and req.order != "newest":  # by relevance: weeks would cut the ranking into pieces
        groups = [WeekGroup("Most relevant first", "results-ranked", list(views))] if views else []
    else:
        groups = group_by_week(views)
    html = render_template("pages/_items.html", groups=groups)  # autoescaped like the page
    return Markup(html), len(views)  # noqa: S704 - a rendered template, embedded as it was rendered


@bp.get("/")
def index() -> ResponseReturnValue:
    svc = services()
    topic_ids = [topic.id for topic in svc.classifier.topic_set.topics]
    source_ids = [spec.id for spec in svc.catalog.sources]
    req = parse_page_request(request.args, topic_ids, source_ids, list(EVIDENCE_TYPES), default_topic=topic_ids[0])
    session = request_session()
    page_size = svc.settings.page_size
    if req.filters.q:  # counted up to COUNT_CAP only: past it the page says "1,000+" and pages on while full
        cap = store.COUNT_CAP
        total = derived(("search-count", req.filters), lambda: store.count_search(session, req.filters, cap))
    else:
        total = derived(("count", req.filters), lambda: store.count_matching(session, req.filters))
    capped = bool(req.filters.q) and total > store.COUNT_CAP
    sources = store.all_sources(session)
    # Source names are the one input of the list that the change marker does not cover (feeds.yaml renames).
    names = tuple((source.id, source.name) for source in sources)
    items_html, shown = rendered(("items", req.filters, req.order, req.page, names),
                                 lambda: _item_list(req, total, page_size))
    pages = max(1, -(-total // page_size))
    if capped:  # how many pages is not known: one more while this one is full
        pages = req.page + 1 if shown >= page_size else req.page
    args = _feed_args(req)
    page_args = {**args, "order": "newest"} if req.filters.q and req.order == "newest" else args
    return render_template(
        "pages/index.html",
        req=req,
        items_html=items_html,
        shown=shown,
        total=total,
        total_label=f"{store.COUNT_CAP:,}+" if capped else str(total),
        capped=capped,
        page=req.page,
        pages=pages,
        prev_url=url_for("pages.index", **page_args, page=req.page - 1) if req.page > 1 else None,
        next_url=url_for("pages.index", **page_args, page=req.page + 1) if req.page < pages else None,
        order_urls={order: url_for("pages.index", **args, order=order) for order in ("relevance", "newest")},
        topics=svc.classifier.topic_set.topics,
        topic_counts=derived("topic-counts", lambda: store.topic_counts(session)),
        all_topics=ALL_TOPICS,
        sources=svc.catalog.sources,
        failing=[s for s in sources if s.in_catalog and s.enabled and s.status in {"error", "gone"}],
        never_polled=not any(s.last_polled_at for s in sources),
        evidence_types=EVIDENCE_TYPES,
        rss_url=url_for("feeds.rss", **args),
        atom_url=url_for("feeds.atom", **args),
        json_url=url_for("feeds.json_feed", **args),
    )


def group_sections(listed: list[Source], groups: dict[str, str | None]) -> list[tuple[str | None, list[Source]]]:
    """The sources in feeds.yaml order, the routes of one publisher (``group:``) gathered where its first route
    stands, so /sources shows "Cleveland Clinic" once with its four routes; runs of ungrouped sources stay as
    they are (a ``None`` section)."""
    sections: list[tuple[str | None, list[Source]]] = []
    by_group: dict[str, list[Source]] = {}
    for source in listed:
        group = groups.get(source.id)
        if group is None:
            if not sections or sections[-1][0] is not None:
                sections.append((None, []))
            sections[-1][1].append(source)
        elif group in by_group:
            by_group[group].append(source)
        else:
            by_group[group] = [source]
            sections.append((group, by_group[group]))
    return sections


@bp.get("/sources")
def sources() -> ResponseReturnValue:
    svc = services()
    session = request_session()
    rows = {source.id: source for source in store.all_sources(session)}
    listed: list[Source] = []
    for spec in svc.catalog.sources:
        # A source added to feeds.yaml shows before its first poll; nothing is written by a GET.
        listed.append(rows.pop(spec.id) if spec.id in rows else Source(
            id=spec.id, name=spec.name, kind=spec.kind, enabled=spec.enabled, homepage=spec.homepage,
            evidence_type=spec.evidence_type, in_catalog=True, status="new", error_count=0, url=spec.url,
            configured_url=spec.url))
    listed.extend(rows.values())
    sections = group_sections(listed, {spec.id: spec.group for spec in svc.catalog.sources})
    now = datetime.now(UTC)
    histories = store.source_histories(session, now - timedelta(days=365))
    empty = store.SourceHistory([], [], None)
    flags = {
        source.id: source_flags(
            status=source.status, enabled=bool(source.enabled), moved_to=source.moved_to,
            last_new_item_at=source.last_new_item_at, last_match_at=source.last_match_at,
            item_times=histories.get(source.id, empty).item_times,
            match_times=histories.get(source.id, empty).match_times,
            first_seen_at=histories.get(source.id, empty).first_seen_at, now=now)
        for source in listed
    }
    return render_template(
        "pages/sources.html",
        sources=listed,
        sections=sections,
        counts=store.source_item_counts(session),
        evidence_types=EVIDENCE_TYPES,
        flags=flags,
    )


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    session = request_session()
    try:
        session.execute(text("SELECT 1"))
        sources = store.all_sources(session)
    except SQLAlchemyError as exc:
        return jsonify(status="error", database="unavailable", detail=exc.__class__.__name__), 503
    failing = sorted(s.id for s in sources if s.in_catalog and s.enabled and s.status in {"error", "gone"})
    return jsonify(status="ok", database="ok", sources=len(sources), failing_sources=failing)
