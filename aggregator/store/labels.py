"""Reviewer verdicts (``review_label``): stored, applied to an item's topics at once, read back for export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import Item, ReviewLabel
from ..topics.review import Verdict, apply_verdicts
from .items import TopicRows, replace_topics, verdicts_for


def set_label(session: Session, item: Item, topic_id: str, belongs: bool, note: str, now: datetime) -> bool:
    """Store a verdict (replacing an earlier one on the same item and topic) and apply it to the item's topics.

    Returns True when the item's topics changed. Its ``updated_at`` moves, so feeds and cached pages see it.
    """
    label = session.get(ReviewLabel, (item.id, topic_id))
    if label is None:
        session.add(ReviewLabel(item_id=item.id, topic_id=topic_id, verdict=belongs, note=note, decided_at=now))
    else:
        label.verdict, label.note, label.decided_at = belongs, note, now
    rows: TopicRows = [(t.topic_id, t.score, [h for h in t.hits or [] if h.get("field") != "reviewer"])
                       for t in item.topics]
    verdicts = verdicts_for(session, [item.id])
    verdicts.setdefault(item.id, {})[topic_id] = Verdict(belongs, note)
    changed = replace_topics(item, apply_verdicts(rows, verdicts[item.id]))
    item.updated_at = now  # the explanation changed even when the topics did not
    session.flush()
    return changed


def item_with_topics(session: Session, item_id: int) -> Item | None:
    return session.scalars(select(Item).where(Item.id == item_id).options(selectinload(Item.topics))).first()


def iter_labelled_items(session: Session) -> Iterator[tuple[Item, dict[str, Verdict]]]:
    """Every item with a verdict, oldest verdict first by item id, with its topics, source and verdicts."""
    ids = list(session.scalars(select(ReviewLabel.item_id).distinct().order_by(ReviewLabel.item_id)))
    verdicts = verdicts_for(session, ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        items = session.scalars(select(Item).where(Item.id.in_(chunk)).order_by(Item.id)
                                .options(selectinload(Item.topics), selectinload(Item.source)))
        for item in items:
            yield item, verdicts[item.id]
