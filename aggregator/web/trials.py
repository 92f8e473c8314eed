"""Blueprint "trials": ``/trials``, the finder (filters, and what a person with MS needs first at the top);
``/trials/<id>``, one trial with its sites by country, its eligibility essentials in plain words, its changes
and the papers and news that name it; ``/trials/<id>/feed.xml`` and ``feed.atom``, its changes as a feed.

A trial is named by its NCT id, or by its EU CT number when it has no ClinicalTrials.gov record; the EU CT
number of a trial that has one redirects to the NCT page (twins are one trial). Thin: store reads, the pure
rules of ``trial_finder``, ``trial_record`` and ``eligibility``, render.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from itertools import groupby
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import store
from ..context import services
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..models import ItemEvent
from ..trials import mentions, phase_label, search_terms, status_label, trial_codes
from ..trials.countries import display_name
from ..trials.eligibility import age_words, forms_words, sex_words
from ..trials.finder import (
    FORMS,
    PHASES,
    STATUSES,
    TARGETS,
    FinderQuery,
    TrialView,
    country_centre,
    country_centres,
    facet_countries,
    facet_products,
    find,
    nearest_km,
    rank,
)
from ..trials.record import GROUP_LABELS, REGISTRY_NAMES, sites_by_country, status_group, trial_key
from .derived import change_marker, derived
from .syndication import FeedMeta, TrialFeedEntry, render_trial_feed

bp = Blueprint("trials", __name__)

PAPER_TYPES = {"peer-reviewed", "preprint"}
FEED_ENTRIES = 50


@bp.app_template_filter("trial_status")
def _trial_status(code: str | None) -> str:
    return status_label(code)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"age_words": age_words, "sex_words": sex_words, "forms_words": forms_words, "phase_label": phase_label,
            "status_label": status_label, "status_group": status_group, "group_labels": GROUP_LABELS,
            "registry_names": REGISTRY_NAMES, "country_name": display_name}


def _views() -> list[TrialView]:
    session = request_session()
    return derived("trial-views", lambda: store.trial_views(session))


def _choice(args: Mapping[str, str], name: str, allowed: Mapping[str, str] | list[str]) -> str | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    options = list(allowed)
    for option in options:
        if option.casefold() == value.casefold():
            return option
    return None


@bp.get("/trials")
def index() -> ResponseReturnValue:
    views = _views()
    countries = facet_countries(views)
    product_names = facet_products(views)
    args = request.args
    query = FinderQuery(
        status=_choice(args, "status", STATUSES), country=_choice(args, "country", countries),
        only_country=args.get("only") == "1",
        form=_choice(args, "form", FORMS), phase=_choice(args, "phase", PHASES),
        target=_choice(args, "target", TARGETS), product=_choice(args, "product", product_names))
    ignored = [name for name in ("status", "country", "form", "phase", "target", "product")
               if args.get(name, "").strip() and getattr(query, name) is None]
    found = rank(views, query)
    centre = country_centre(views, query.country) if query.country else None
    centres = country_centres(views) if centre else None
    distances = {view.key: nearest_km(view, centre, centres) for view in found} if centre else {}
    return render_template(
        "trials/index.html", trials=found, total=len(views), query=query, ignored=ignored, countries=countries,
        products=product_names, statuses=STATUSES, forms=FORMS, phases=PHASES, targets=TARGETS,
        distances=distances)


def _related(view: TrialView | None, key: str) -> tuple[list[Any], list[Any]]:
    """Papers and news naming the trial (NCT id, EU CT number or a product code), not its registry records."""
    session = request_session()
    record = view.record if view else None
    codes = trial_codes({"interventions": list(record.interventions), "other_names": list(record.other_names)}) \
        if record else []
    nct = view.nct_id if view else key
    own = set(view.item_ids) if view else set()
    terms = search_terms(nct, codes) if nct and nct.startswith("NCT") else list(codes)
    if view and view.eu_ct_number:
        terms.append(view.eu_ct_number)
    related = []
    for item in store.items_naming(session, terms, nct or key):
        if item.id in own:
            continue
        text = f"{item.title} {item.summary_text} {item.content_text}"
        if (nct and item.nct_id == nct) or (nct and mentions(text, nct, codes)) or \
                (view and view.eu_ct_number and view.eu_ct_number in text):
            related.append(item)
    papers = [item for item in related if item.evidence_type in PAPER_TYPES]
    news = [item for item in related if item.evidence_type not in PAPER_TYPES]
    return papers, news


@bp.get("/trials/<nct_id>")
def trial(nct_id: str) -> ResponseReturnValue:
    """``nct_id``: the trial's name in the URL, an NCT id or (for a trial with no NCT record) an EU CT number."""
    raw = nct_id
    key = trial_key(raw)
    if key is None:
        abort(404, description="A trial is named by its NCT number (NCT followed by 8 digits, e.g. NCT06384976) "
                               "or its EU CT number (e.g. 2025-523726-40-00).")
    view = find(_views(), key)
    if view is not None and view.key != raw:
        args: dict[str, Any] = request.args.to_dict()
        return redirect(url_for("trials.trial", nct_id=view.key, **args), 301)
    if view is None and key != raw:
        return redirect(url_for("trials.trial", nct_id=key), 301)
    papers, news = _related(view, key)
    if view is None and not papers and not news:
        abort(404, description=f"We have no record of {key} and no item that mentions it yet. "
                               "The trials page lists the ones we follow.")
    events = store.trial_events(request_session(), view.item_ids) if view else []
    country = request.args.get("country") or None
    groups = sites_by_country(view.sites, view.site_status, country) if view else []
    return render_template(
        "trials/trial.html", key=key, view=view, record=view.record if view else None,
        eligibility=_eligibility(view), groups=groups, events=_by_poll(events), papers=papers, news=news,
        evidence_types=EVIDENCE_TYPES, topic_names=services().topic_names, country=country,
        feed_url=url_for("trials.feed_rss", nct_id=key), atom_url=url_for("trials.feed_atom", nct_id=key))


def _eligibility(view: TrialView | None) -> Any:
    if view is None:
        return None
    for snapshot in (view.record, view.twin):
        if snapshot is not None and snapshot.eligibility is not None:
            return snapshot.eligibility
    return None


def _by_poll(events: list[ItemEvent]) -> list[tuple[Any, list[ItemEvent]]]:
    """Events grouped by the poll that found them (newest first), each group in the order written."""
    return [(moment, list(group)) for moment, group in groupby(events, key=lambda e: e.occurred_at)]


# ---------------------------------------------------------------------------------------------------- feeds


def _feed(raw: str, atom: bool) -> ResponseReturnValue:
    key = trial_key(raw)
    if key is None:
        abort(404, description="A trial's feed is named by its NCT number or EU CT number.")
    view = find(_views(), key)
    if view is None:
        abort(404, description=f"We follow no registry record of {key}, so it has no feed of changes.")
    if view.key != raw:
        return redirect(url_for("trials.feed_atom" if atom else "trials.feed_rss", nct_id=view.key), 301)
    _newest, last_event = change_marker()
    etag = hashlib.sha256(f"{key}|{atom}|{view.updated_at.isoformat()}|{last_event}".encode()).hexdigest()[:32]
    response = Response(mimetype="application/atom+xml" if atom else "application/rss+xml")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = 300
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    base = services().settings.base_url
    page = base + url_for("trials.trial", nct_id=key)
    events = store.trial_events(request_session(), view.item_ids)
    entries = [TrialFeedEntry(
        guid=f"{_tag(base)}:trial/{key}/event/{group[-1].id}",
        title=f"{_short(view.title)}: {'; '.join(e.summary for e in group)}",
        link=page,
        summary_html="<ul>" + "".join(f"<li>{html.escape(e.summary)}</li>" for e in group) + "</ul>",
        published=moment) for moment, group in _by_poll(events)[:FEED_ENTRIES]]
    entries.append(TrialFeedEntry(
        guid=f"{_tag(base)}:trial/{key}/first-seen", title=f"Following {_short(view.title)} ({key})", link=page,
        summary_html=f"<p>{html.escape(status_label(view.status))} · {html.escape(phase_label(view.record.phases))}"
                     f" · {html.escape(view.record.sponsor or 'sponsor not given')}</p>",
        published=view.first_seen_at))
    meta = FeedMeta(
        title=f"{key}: changes — CAR T & MS Research", description=f"Changes to the registry record of {view.title}",
        self_url=base + url_for("trials.feed_atom" if atom else "trials.feed_rss", nct_id=key), page_url=page,
        base_url=base, updated=max([view.updated_at, *(e.published for e in entries)]))
    response.set_data(render_trial_feed(meta, entries, atom))
    return response


def _tag(base_url: str) -> str:
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
    return f"tag:{host},2026"


def _short(title: str, limit: int = 90) -> str:
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + "…"


@bp.get("/trials/<nct_id>/feed.xml")
def feed_rss(nct_id: str) -> ResponseReturnValue:
    return _feed(nct_id, atom=False)


@bp.get("/trials/<nct_id>/feed.atom")
def feed_atom(nct_id: str) -> ResponseReturnValue:
    return _feed(nct_id, atom=True)

