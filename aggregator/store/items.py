"""Item rows: idempotent upserts (new, updated in place, unchanged), story keys, near duplicates, events, topics."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session, selectinload

from ..domain import CleanItem
from ..models import Item, ItemEvent, ItemTopic, ReviewLabel
from ..topics.review import Verdict, apply_verdicts
from ..trials import registry_nct_id
from ..trials.diff import trial_changes
from .stories import Candidate, Match, RecentPrimaries


def key_hash(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()  # noqa: S324 - identity, not security


def story_key_of(item: CleanItem) -> str:
    """Items with the same scholarly identifier (DOI, PMID, NCT id) or normalised link are one story."""
    nct_id = item.nct_id or registry_nct_id(item.normalized_link)
    if item.doi:
        identity = "doi:" + item.doi.lower()
    elif item.pmid:
        identity = "pmid:" + item.pmid
    elif nct_id:  # the API record and the registry's RSS entry of one trial
        identity = "nct:" + nct_id.upper()
    elif item.normalized_link:
        identity = "link:" + item.normalized_link
    else:
        identity = "hash:" + item.content_hash
    return hashlib.sha1(identity.encode("utf-8")).hexdigest()  # noqa: S324


@dataclass(frozen=True)
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    new_matches: int = 0
    # The new items that are primaries: near-duplicate candidates for later sources once committed.
    primaries: tuple[Candidate, ...] = ()


TopicRows = list[tuple[str, float, list[dict[str, Any]]]]


def _sort_at(item: CleanItem, first_seen: datetime) -> datetime:
    return min(item.published_at, first_seen) if item.published_at else first_seen


def upsert_items(
    session: Session,
    source_id: str,
    items: Sequence[CleanItem],
    topics: Sequence[TopicRows],
    now: datetime,
    near: NearDuplicates | None = None,
) -> UpsertCounts:
    """Insert new items, update changed ones in place, leave the rest; ``topics[i]`` belongs to ``items[i]``.

    ``near``: the near-duplicate candidates of the whole poll (its caller adds ``primaries`` to it once the
    transaction is committed); without it, they are read for this call alone.
    """
    if near is None:
        near = NearDuplicates()
    by_hash: dict[str, tuple[CleanItem, TopicRows]] = {}
    for item, rows in zip(items, topics, strict=True):
        by_hash.setdefault(key_hash(item.key), (item, rows))  # a feed repeating a guid: the first one wins
    existing = {
        row.key_hash: row
        for row in session.scalars(
            select(Item)
            .where(Item.source_id == source_id, Item.key_hash.in_(list(by_hash)))
            .options(selectinload(Item.topics))
        )
    }
    story_keys = {story_key_of(item) for item, _ in by_hash.values()}
    primaries = dict(
        session.execute(
            select(Item.story_key, func.min(Item.id))
            .where(Item.story_key.in_(story_keys), Item.duplicate_of_id.is_(None), Item.source_id != source_id)
            .group_by(Item.story_key)
        ).all()
    )
    new = updated = unchanged = new_matches = 0
    published_versions: list[tuple[int, int]] = []  # (preprint id, position of its journal version in new_rows)
    new_rows: list[dict[str, Any]] = []
    new_topics: list[TopicRows] = []
    near_ready = False
    verdicts: dict[int, dict[str, Verdict]] | None = None  # read once, only if some item changed
    for digest, (item, rows) in by_hash.items():
        row = existing.get(digest)
        if row is None:
            story = story_key_of(item)
            primary = primaries.get(story)
            match = None
            if primary is None:
                if not near_ready:  # read once, only if some new item has no identical story
                    near.refresh(session, now)
                    near_ready = True
                match = near.find(source_id, now, item)
                primary = match.id if match else None
            if match and match.published_version:
                published_versions.append((match.id, len(new_rows)))
            new_rows.append({
                "source_id": source_id,
                "key": item.key,
                "key_hash": digest,
                "first_seen_at": now,
                "updated_at": now,
                "sort_at": _sort_at(item, now),
                "story_key": story,
                "duplicate_of_id": primary,
                **_fields(item),
            })
            new_topics.append(rows)
            new += 1
            new_matches += bool(rows)
            continue
        if row.content_hash != item.content_hash or _facts_changed(row, item):
            changes = trial_changes(row.extra, item.extra) if _is_trial_record(row) else []
            sort_at = _sort_at(item, row.first_seen_at)
            if row.link != item.link:  # a new link may work: stop pointing readers away from it
                row.link_gone = row.link_gone_at = None
            _copy_fields(row, item)
            row.updated_at = now
            # A trial that starts recruiting is today's news: it moves to the top and stays there until the
            # next change, whatever else its record edits meanwhile.
            row.sort_at = now if changes else max(sort_at, row.sort_at) if _is_trial_record(row) else sort_at
            for change in changes:
                add_event(session, row.id, now, f"trial-{change.fact}", change.summary, change.event_data())
            if verdicts is None:
                verdicts = verdicts_for(session, [r.id for r in existing.values()])
            _replace_topics(row, apply_verdicts(rows, verdicts.get(row.id, {})))  # a reviewer's word stands
            updated += 1
        else:
            unchanged += 1
    ids = _insert_new(session, new_rows, new_topics)
    session.flush()
    for preprint_id, position in published_versions:
        journal = new_rows[position]
        add_event(session, preprint_id, now, "published", f"Published in a journal: {journal['title']}",
                  {"item_id": ids[position], "link": journal["link"], "doi": journal["doi"]})
    candidates = tuple(Candidate(id=item_id, title=row["title"], evidence_type=row["evidence_type"], doi=row["doi"],
                                 nct_id=row["nct_id"], source_id=source_id, first_seen_at=now)
                       for item_id, row in zip(ids, new_rows, strict=True) if row["duplicate_of_id"] is None)
    return UpsertCounts(new=new, updated=updated, unchanged=unchanged, new_matches=new_matches, primaries=candidates)


_ITEM = cast(Table, Item.__table__)
_ITEM_TOPIC = cast(Table, ItemTopic.__table__)


def _insert_new(session: Session, rows: list[dict[str, Any]], topics: list[TopicRows]) -> list[int]:
    """New items and their topics: one Core INSERT each (batched by SQLAlchemy's insertmanyvalues, with
    RETURNING), not an ORM object, relationship and unit-of-work flush per item (docs/benchmark.md, finding 2).
    Returns the new ids, in the order of ``rows``."""
    if not rows:
        return []
    ids = list(session.execute(insert(_ITEM).returning(_ITEM.c.id, sort_by_parameter_order=True), rows).scalars())
    topic_rows = [{"item_id": item_id, "topic_id": topic_id, "score": score, "hits": hits}
                  for item_id, item_topics in zip(ids, topics, strict=True) for topic_id, score, hits in item_topics]
    if topic_rows:
        session.execute(insert(_ITEM_TOPIC), topic_rows)
    return ids


NEAR_DUPLICATE_DAYS = 60  # syndicated copies appear within days; a preprint's journal version within weeks
NEAR_DUPLICATE_LIMIT = 3000  # per polled source: the most recent primary items of other sources


class NearDuplicates:
    """The pool near-duplicate titles are compared with, for every source of one poll (shared by its threads).

    For a source polled at ``now`` the candidates are the ``NEAR_DUPLICATE_LIMIT`` most recent primary items of
    other sources first seen in the ``NEAR_DUPLICATE_DAYS`` before ``now`` (``stories.RecentPrimaries``). They are
    read from the database once, not once per source (docs/benchmark.md, finding 1). Then the poll adds what it
    commits (``add``), and each source first reads the primary items committed since by anyone else (``refresh``:
    a higher id than any seen so far), so a concurrent poller's items are candidates too.
    """

    def __init__(self, limit: int = NEAR_DUPLICATE_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._recent: RecentPrimaries | None = None
        self._last_id = 0  # the highest item id the database had when last read

    def refresh(self, session: Session, now: datetime) -> None:
        """Bring the pool up to date with what is committed; the first call reads it."""
        with self._lock:
            last_id = session.scalar(select(func.max(Item.id))) or 0
            if self._recent is None:
                self._recent = RecentPrimaries(self.limit)
                self._add_rows(_recent_primaries(session, now - timedelta(days=NEAR_DUPLICATE_DAYS), self.limit))
            elif last_id > self._last_id:
                self._add_rows(session.execute(
                    _SELECT_CANDIDATE.where(Item.id > self._last_id, Item.duplicate_of_id.is_(None))).all())
            self._last_id = max(self._last_id, last_id)

    def find(self, source_id: str, now: datetime, item: CleanItem) -> Match | None:
        since = now - timedelta(days=NEAR_DUPLICATE_DAYS)
        with self._lock:
            assert self._recent is not None, "find before refresh"
            return self._recent.find(item.title, item.evidence_type, source_id, since, item.doi, item.nct_id)

    def __contains__(self, item_id: int) -> bool:
        with self._lock:
            return self._recent is not None and item_id in self._recent

    def add(self, primaries: Iterable[Candidate]) -> None:
        """Primary items just committed (a rolled-back item must never become a candidate)."""
        with self._lock:
            if self._recent is not None:
                self._recent.add(primaries)

    def _add_rows(self, rows: Sequence[Any]) -> None:
        assert self._recent is not None
        self._recent.add(Candidate(id=r[0], title=r[1], evidence_type=r[2], doi=r[3], nct_id=r[4], source_id=r[5],
                                   first_seen_at=r[6]) for r in rows)
        self._last_id = max([self._last_id, *(r[0] for r in rows)])


_SELECT_CANDIDATE = select(Item.id, Item.title, Item.evidence_type, Item.doi, Item.nct_id, Item.source_id,
                           Item.first_seen_at)


def _recent_primaries(session: Session, since: datetime, limit: int) -> Sequence[Any]:
    """The most recent primary items first seen since ``since``: enough that every source finds the ``limit``
    most recent of the *other* sources among them (and so for any item of the poll: those come on top)."""
    size = limit
    while True:
        rows = session.execute(
            _SELECT_CANDIDATE.where(Item.duplicate_of_id.is_(None), Item.first_seen_at >= since)
            .order_by(Item.first_seen_at.desc(), Item.id.desc())
            .limit(size)
        ).all()
        if len(rows) < size:
            return rows  # all of them
        most = max(Counter(r[5] for r in rows).values())  # the most any one source has among them
        if size - most >= limit:
            return rows
        size = limit + most


def verdicts_for(session: Session, item_ids: Iterable[int]) -> dict[int, dict[str, Verdict]]:
    """item id → topic id → verdict, for the items of ``item_ids`` that have any."""
    ids = list(item_ids)
    out: dict[int, dict[str, Verdict]] = {}
    if not ids:
        return out
    for label in session.scalars(select(ReviewLabel).where(ReviewLabel.item_id.in_(ids))):
        out.setdefault(label.item_id, {})[label.topic_id] = Verdict(label.verdict, label.note)
    return out


def events_for(session: Session, item_ids: Iterable[int]) -> dict[int, list[ItemEvent]]:
    """item id → its events, newest first."""
    ids = list(item_ids)
    if not ids:
        return {}
    result: dict[int, list[ItemEvent]] = {}
    query = select(ItemEvent).where(ItemEvent.item_id.in_(ids)).order_by(ItemEvent.occurred_at.desc(),
                                                                          ItemEvent.id.desc())
    for event in session.scalars(query):
        result.setdefault(event.item_id, []).append(event)
    return result


def _is_trial_record(row: Item) -> bool:
    """A registry record: a ClinicalTrials.gov study (NCT id) or a CTIS trial (its snapshot names the registry)."""
    return bool(row.nct_id) or isinstance((row.extra or {}).get("registry"), str)


def _facts_changed(row: Item, item: CleanItem) -> bool:
    return (row.extra or {}) != item.extra or row.link != item.link


def _fields(item: CleanItem) -> dict[str, Any]:
    """The columns an item's source decides (set when it is new, and again whenever it changes)."""
    return {
        "title": item.title,
        "link": item.link,
        "normalized_link": item.normalized_link,
        "guid": item.guid,
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "content_text": item.content_text,
        "author": item.author,
        "categories": list(item.categories),
        "published_at": item.published_at,
        "evidence_type": item.evidence_type,
        "doi": item.doi,
        "pmid": item.pmid,
        "nct_id": item.nct_id,
        "extra": item.extra,
        "content_hash": item.content_hash,
    }


def _copy_fields(row: Item, item: CleanItem) -> None:
    for name, value in _fields(item).items():
        setattr(row, name, value)


def _replace_topics(row: Item, rows: TopicRows) -> None:
    wanted = {topic_id: (score, hits) for topic_id, score, hits in rows}
    row.topics = [t for t in row.topics if t.topic_id in wanted]
    present = {t.topic_id: t for t in row.topics}
    for topic_id, (score, hits) in wanted.items():
        if topic_id in present:
            present[topic_id].score = score
            present[topic_id].hits = hits
        else:
            row.topics.append(ItemTopic(topic_id=topic_id, score=score, hits=hits))


def add_event(session: Session, item_id: int, now: datetime, kind: str, summary: str, data: dict[str, Any]) -> None:
    session.add(ItemEvent(item_id=item_id, occurred_at=now, kind=kind, summary=summary, data=data))


def iter_items_for_reclassify(session: Session, batch: int = 500) -> Iterator[list[Item]]:
    """Every stored item, in batches of ``batch`` by id, with its topics and source loaded."""
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                select(Item)
                .where(Item.id > last_id)
                .order_by(Item.id)
                .limit(batch)
                .options(selectinload(Item.topics), selectinload(Item.source))
            )
        )
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def replace_topics(row: Item, rows: TopicRows) -> bool:
    """Set an item's topics; True when they changed."""
    before = {(t.topic_id, t.score) for t in row.topics}
    _replace_topics(row, rows)
    return before != {(t.topic_id, t.score) for t in row.topics}


def count_items(session: Session) -> int:
    return session.scalar(select(func.count(Item.id))) or 0



def delete_orphan_topics(session: Session, topic_ids: Iterable[str]) -> int:
    """Drop matches of topics that no longer exist in feeds.yaml."""
    result = session.execute(delete(ItemTopic).where(ItemTopic.topic_id.not_in(list(topic_ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
