"""Trial reads: every registry record (ClinicalTrials.gov studies and CTIS trials) as the finder's
``RecordRow``, and ``trial_views``, the read model of trials that the pages, the feeds and the API share.

A trial's details live in its item's ``extra`` (``trial_record.TrialSnapshot``), written by the poll like any
item field; there are at most a few hundred registry records, so all are read at once (one query) and twins are
paired in Python (``trial_finder.group_twins``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Item, ItemEvent, Source
from ..trials.finder import RecordRow, TrialView, find, group_twins
from ..trials.record import TrialSnapshot

REGISTRY_KINDS = ("clinicaltrials", "ctis")


def record_rows(session: Session) -> list[RecordRow]:
    """Every stored registry record (a study of a ``clinicaltrials`` source, a trial of a ``ctis`` source)."""
    query = (
        select(Item.id, Item.nct_id, Item.title, Item.extra, Item.first_seen_at, Item.sort_at, Item.updated_at)
        .join(Source, Source.id == Item.source_id)
        .where(Source.kind.in_(REGISTRY_KINDS))
    )
    rows = []
    for item_id, nct_id, title, extra, first_seen, sort_at, updated in session.execute(query):
        extra = extra or {}
        if not nct_id and not isinstance(extra.get("registry"), str):
            continue  # a CTIS feed item without an EU CT number: an ordinary item
        snapshot = TrialSnapshot.from_extra(extra, nct_id, _plain_title(title, nct_id))
        rows.append(RecordRow(item_id, snapshot, first_seen, sort_at, updated))
    return rows


def _plain_title(title: str, nct_id: str | None) -> str:
    """An API study's item title ends with its id ("… (NCT06384976)"): the trial's own title is without it."""
    suffix = f" ({nct_id})" if nct_id else ""
    return title[: -len(suffix)] if suffix and title.endswith(suffix) else title


def trial_views(session: Session) -> list[TrialView]:
    """Every trial we follow, twins shown as one (see ``trial_finder``), in no particular order."""
    return group_twins(record_rows(session))


def trial_view(session: Session, key: str) -> TrialView | None:
    """The trial known by ``key`` (an NCT id or an EU CT number of either of its records)."""
    return find(trial_views(session), key)


def trial_events(session: Session, item_ids: Iterable[int]) -> list[ItemEvent]:
    """The changes recorded on a trial's records, newest first; one poll's sentences in the order written.

    Two sources polling the same study record the same change twice: the copy seen later the same day goes.
    """
    ids = list(item_ids)
    if not ids:
        return []
    query = (select(ItemEvent).where(ItemEvent.item_id.in_(ids), ItemEvent.kind.like("trial-%"))
             .order_by(ItemEvent.occurred_at.desc(), ItemEvent.id))
    seen: set[tuple[str, str]] = set()
    events = []
    for event in session.scalars(query):
        key = (event.summary, event.occurred_at.date().isoformat())
        if key not in seen:
            seen.add(key)
            events.append(event)
    return events
