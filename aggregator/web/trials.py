"""Blueprint "trials": one page per clinical trial (``/trials/<NCT id>``) with its registry record, its status and
phase changes, and the papers and news that name it (by NCT id or by a product code such as KYV-101); and
``/trials``, the trials we follow. Thin: store reads, the pure rules of ``aggregator.trials``, render.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from .. import services, store
from ..db import request_session
from ..domain import EVIDENCE_TYPES
from ..models import Item, ItemEvent
from ..trials import mentions, phase_label, search_terms, status_label, trial_codes

bp = Blueprint("trials", __name__)

_NCT = re.compile(r"^NCT\d{8}$", re.IGNORECASE)
PAPER_TYPES = {"peer-reviewed", "preprint"}


@dataclass(frozen=True)
class TrialFacts:
    nct_id: str
    title: str
    status: str
    phase: str
    conditions: list[str]
    interventions: list[str]
    codes: list[str]
    sponsor: str | None
    start: str | None
    last_update: str | None
    registry_link: str


def _facts(nct_id: str, record: Item | None) -> TrialFacts:
    extra: dict[str, Any] = (record.extra or {}) if record else {}
    title = record.title if record else nct_id
    return TrialFacts(
        nct_id=nct_id,
        title=title,
        status=status_label(extra.get("status")),
        phase=phase_label(extra.get("phase") or []),
        conditions=list(extra.get("conditions") or []),
        interventions=list(extra.get("interventions") or []),
        codes=trial_codes(extra),
        sponsor=extra.get("sponsor"),
        start=extra.get("start_date"),
        last_update=extra.get("last_update"),
        registry_link=f"https://clinicaltrials.gov/study/{nct_id}",
    )


@bp.app_template_filter("trial_status")
def _trial_status(code: str | None) -> str:
    return status_label(code)


@bp.get("/trials")
def index() -> ResponseReturnValue:
    session = request_session()
    records = store.trial_records(session)
    seen: set[str] = set()
    trials = []
    for record in records:
        if record.nct_id and record.nct_id not in seen:
            seen.add(record.nct_id)
            trials.append(_facts(record.nct_id, record))
    return render_template("trials/index.html", trials=trials)


@bp.get("/trials/<nct_id>")
def trial(nct_id: str) -> ResponseReturnValue:
    if not _NCT.match(nct_id):
        abort(404, description="A trial is named by its NCT number: NCT followed by 8 digits, e.g. NCT06384976.")
    if nct_id != nct_id.upper():
        return redirect(url_for("trials.trial", nct_id=nct_id.upper()), 301)
    session = request_session()
    records = store.trial_records(session, nct_id)
    record = records[0] if records else None
    facts = _facts(nct_id, record)
    record_ids = {r.id for r in records}
    related = [
        item for item in store.items_naming(session, search_terms(nct_id, facts.codes), nct_id)
        if item.id not in record_ids
        and (item.nct_id == nct_id or mentions(f"{item.title} {item.summary_text} {item.content_text}", nct_id,
                                               facts.codes))
    ]
    if record is None and not related:
        abort(404, description=f"We have no record of {nct_id} and no item that mentions it yet. "
                               "The trials page lists the ones we follow.")
    events: list[ItemEvent] = [e for r in records for e in store.events_for(session, [r.id]).get(r.id, [])]
    events.sort(key=lambda e: e.occurred_at, reverse=True)
    papers = [item for item in related if item.evidence_type in PAPER_TYPES]
    news = [item for item in related if item.evidence_type not in PAPER_TYPES]
    return render_template(
        "trials/trial.html",
        trial=facts,
        record=record,
        events=events,
        papers=papers,
        news=news,
        evidence_types=EVIDENCE_TYPES,
        topic_names=services().topic_names,
    )
