"""The repository: every SQL statement of the service lives here (sources, items, topics).

Functions take a ``Session`` and plain values or domain dataclasses; the caller owns the transaction.
Writes are idempotent: polling the same items twice changes nothing, and a changed item is updated in place and
keeps its first-seen time. Nothing here fetches, parses or renders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from .domain import CleanItem, SourceSpec
from .models import Item, ItemEvent, ItemTopic, Source
from .stories import Candidate, NearDuplicateIndex
from .trials import registry_nct_id, trial_changes

# ---------------------------------------------------------------------------------------------------- sources


def sync_sources(session: Session, specs: Sequence[SourceSpec], now: datetime) -> None:
    """Bring the source rows in step with feeds.yaml; sources removed from the file keep their items."""
    existing = {source.id: source for source in session.scalars(select(Source))}
    for spec in specs:
        source = existing.pop(spec.id, None)
        if source is None:
            source = Source(id=spec.id, url=spec.url, configured_url=spec.url, next_poll_at=None, error_count=0,
                            status="new")
            session.add(source)
        elif source.configured_url != spec.url:
            # The operator edited the URL: start afresh from it, forgetting redirects and cache validators.
            source.configured_url = spec.url
            source.url = spec.url
            source.etag = source.last_modified = source.moved_to = None
            source.next_poll_at = None
            source.disabled_reason = None
            source.error_count = 0
        source.name = spec.name
        source.kind = spec.kind
        source.enabled = spec.enabled
        source.homepage = spec.homepage
        source.evidence_type = spec.evidence_type
        source.in_catalog = True
    for source in existing.values():
        source.in_catalog = False


def get_source(session: Session, source_id: str) -> Source | None:
    return session.get(Source, source_id)


def due_source_ids(session: Session, now: datetime, lease_seconds: int) -> list[str]:
    """Enabled sources whose next poll is due and that no live poller holds."""
    stale = now - timedelta(seconds=lease_seconds)
    query = (
        select(Source.id)
        .where(Source.enabled.is_(True), Source.in_catalog.is_(True), Source.disabled_reason.is_(None))
        .where(or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
        .where(or_(Source.polling_since.is_(None), Source.polling_since < stale))
        .order_by(Source.next_poll_at.is_(None).desc(), Source.next_poll_at, Source.id)
    )
    return list(session.scalars(query))


def claim_source(session: Session, source_id: str, owner: str, now: datetime, lease_seconds: int) -> bool:
    """Take the poll lease of a source atomically; False when another live poller holds it."""
    stale = now - timedelta(seconds=lease_seconds)
    result = session.execute(
        update(Source)
        .where(Source.id == source_id)
        .where(or_(Source.polling_since.is_(None), Source.polling_since < stale))
        .values(polling_owner=owner, polling_since=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_source(session: Session, source_id: str, owner: str) -> None:
    session.execute(
        update(Source)
        .where(Source.id == source_id, Source.polling_owner == owner)
        .values(polling_owner=None, polling_since=None)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class PollOutcome:
    """What the pipeline learnt from one poll, to record on the source row."""

    status: str  # ok, not-modified, error, gone
    next_poll_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    error: str | None = None
    error_kind: str | None = None
    feed_hint: str | None = None
    new_items: int = 0
    new_matches: int = 0
    boilerplate: list[str] | None = None


def record_poll(session: Session, source_id: str, owner: str, now: datetime, outcome: PollOutcome) -> None:
    """Record a poll's outcome on the source (its health) and release the lease."""
    source = session.get(Source, source_id)
    if source is None:
        return
    source.last_polled_at = now
    source.next_poll_at = outcome.next_poll_at
    if outcome.status in {"ok", "not-modified"}:
        source.status = outcome.status
        source.last_success_at = now
        source.error_count = 0
        source.last_error = source.last_error_kind = source.feed_hint = None
        if outcome.etag is not None or outcome.last_modified is not None or outcome.status == "ok":
            source.etag = outcome.etag
            source.last_modified = outcome.last_modified
        if outcome.moved_to:
            source.moved_to = outcome.moved_to
            source.url = outcome.moved_to
        if outcome.new_items:
            source.last_new_item_at = now
        if outcome.new_matches:
            source.last_match_at = now
        if outcome.boilerplate is not None:
            source.boilerplate = outcome.boilerplate
    else:
        source.status = outcome.status
        source.error_count = (source.error_count or 0) + 1
        source.last_error = outcome.error
        source.last_error_kind = outcome.error_kind
        source.feed_hint = outcome.feed_hint
        if outcome.status == "gone":
            source.disabled_reason = outcome.error
    if source.polling_owner == owner:
        source.polling_owner = None
        source.polling_since = None


# ---------------------------------------------------------------------------------------------------- items


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


TopicRows = list[tuple[str, float, list[dict[str, Any]]]]


def _sort_at(item: CleanItem, first_seen: datetime) -> datetime:
    return min(item.published_at, first_seen) if item.published_at else first_seen


def upsert_items(
    session: Session,
    source_id: str,
    items: Sequence[CleanItem],
    topics: Sequence[TopicRows],
    now: datetime,
) -> UpsertCounts:
    """Insert new items, update changed ones in place, leave the rest; ``topics[i]`` belongs to ``items[i]``."""
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
    near: NearDuplicateIndex | None = None  # loaded once, only if some new item has no identical story
    published_versions: list[tuple[int, Item]] = []
    for digest, (item, rows) in by_hash.items():
        row = existing.get(digest)
        if row is None:
            story = story_key_of(item)
            primary = primaries.get(story)
            match = None
            if primary is None:
                if near is None:
                    near = NearDuplicateIndex(_near_candidates(session, source_id, now))
                match = near.find(item.title, item.evidence_type, item.doi, item.nct_id)
                primary = match.id if match else None
            row = Item(
                source_id=source_id,
                key=item.key,
                key_hash=digest,
                first_seen_at=now,
                updated_at=now,
                sort_at=_sort_at(item, now),
                story_key=story,
                duplicate_of_id=primary,
            )
            _copy_fields(row, item)
            row.topics = [ItemTopic(topic_id=t, score=s, hits=h) for t, s, h in rows]
            session.add(row)
            if match and match.published_version:
                published_versions.append((match.id, row))
            new += 1
            new_matches += bool(rows)
            continue
        if row.content_hash != item.content_hash or _facts_changed(row, item):
            changes = trial_changes(row.extra, item.extra) if row.nct_id else []
            sort_at = _sort_at(item, row.first_seen_at)
            _copy_fields(row, item)
            row.updated_at = now
            # A trial that starts recruiting is today's news: it moves to the top and stays there until the
            # next change, whatever else its record edits meanwhile.
            row.sort_at = now if changes else max(sort_at, row.sort_at) if row.nct_id else sort_at
            for change in changes:
                add_event(session, row.id, now, f"trial-{change.fact}", change.summary,
                          {"fact": change.fact, "before": change.before, "after": change.after})
            _replace_topics(row, rows)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    for preprint_id, journal in published_versions:
        add_event(session, preprint_id, now, "published", f"Published in a journal: {journal.title}",
                  {"item_id": journal.id, "link": journal.link, "doi": journal.doi})
    return UpsertCounts(new=new, updated=updated, unchanged=unchanged, new_matches=new_matches)


NEAR_DUPLICATE_DAYS = 60  # syndicated copies appear within days; a preprint's journal version within weeks
NEAR_DUPLICATE_LIMIT = 3000


def _near_candidates(session: Session, source_id: str, now: datetime) -> list[Candidate]:
    """Recent primary items of other sources, the pool near-duplicate titles are compared with."""
    since = now - timedelta(days=NEAR_DUPLICATE_DAYS)
    rows = session.execute(
        select(Item.id, Item.title, Item.evidence_type, Item.doi, Item.nct_id)
        .where(Item.source_id != source_id, Item.duplicate_of_id.is_(None), Item.first_seen_at >= since)
        .order_by(Item.first_seen_at.desc())
        .limit(NEAR_DUPLICATE_LIMIT)
    ).all()
    return [Candidate(id=r[0], title=r[1], evidence_type=r[2], doi=r[3], nct_id=r[4]) for r in rows]


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


def _facts_changed(row: Item, item: CleanItem) -> bool:
    return (row.extra or {}) != item.extra or row.link != item.link


def _copy_fields(row: Item, item: CleanItem) -> None:
    row.title = item.title
    row.link = item.link
    row.normalized_link = item.normalized_link
    row.guid = item.guid
    row.summary_html = item.summary_html
    row.summary_text = item.summary_text
    row.content_text = item.content_text
    row.author = item.author
    row.categories = list(item.categories)
    row.published_at = item.published_at
    row.evidence_type = item.evidence_type
    row.doi = item.doi
    row.pmid = item.pmid
    row.nct_id = item.nct_id
    row.extra = item.extra
    row.content_hash = item.content_hash


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


# ---------------------------------------------------------------------------------------------------- reading


# A SELECT of any row shape (SQLAlchemy 2.1 types Select by its columns).
_AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class ItemFilter:
    """What a reader asked for on the page or in a feed URL (already validated)."""

    topic: str | None = None  # None: any topic
    source: str | None = None
    q: str | None = None
    evidence: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: _AnySelect, filters: ItemFilter) -> _AnySelect:
    if filters.topic:
        query = query.join(ItemTopic, and_(ItemTopic.item_id == Item.id, ItemTopic.topic_id == filters.topic))
    else:
        query = query.where(select(ItemTopic.item_id).where(ItemTopic.item_id == Item.id).exists())
    query = query.where(Item.duplicate_of_id.is_(None))
    if filters.source:
        query = query.where(Item.source_id == filters.source)
    if filters.evidence:
        query = query.where(Item.evidence_type == filters.evidence)
    if filters.q:
        for word in filters.q.split()[:8]:
            pattern = f"%{_escape_like(word)}%"
            query = query.where(or_(Item.title.ilike(pattern, escape="\\"),
                                    Item.summary_text.ilike(pattern, escape="\\")))
    return query


def matching_items(session: Session, filters: ItemFilter, limit: int, offset: int = 0) -> list[Item]:
    query = _filtered(select(Item), filters).order_by(Item.sort_at.desc(), Item.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query.options(selectinload(Item.topics), selectinload(Item.source))))


def count_matching(session: Session, filters: ItemFilter) -> int:
    return session.scalar(_filtered(select(func.count(Item.id)), filters)) or 0


def feed_fingerprint(session: Session, filters: ItemFilter) -> tuple[int, datetime | None]:
    """(count, newest change) of the matching items: cheap, and changes whenever the feed would."""
    query = select(func.count(Item.id), func.max(Item.updated_at))
    count, newest = session.execute(_filtered(query, filters)).one()
    return int(count or 0), newest


def also_reported(session: Session, item_ids: Iterable[int]) -> dict[int, list[Item]]:
    """For each primary item, the duplicates other sources published (same story)."""
    ids = list(item_ids)
    if not ids:
        return {}
    result: dict[int, list[Item]] = {}
    query = (
        select(Item).where(Item.duplicate_of_id.in_(ids)).order_by(Item.first_seen_at)
        .options(selectinload(Item.source))
    )
    for row in session.scalars(query):
        assert row.duplicate_of_id is not None
        result.setdefault(row.duplicate_of_id, []).append(row)
    return result


# ---------------------------------------------------------------------------------------------------- trials


def trial_records(session: Session, nct_id: str | None = None) -> list[Item]:
    """Items that are trial registry records (they carry an NCT id and a status), newest change first."""
    query = (
        select(Item).join(Source, Source.id == Item.source_id)
        .where(Item.nct_id.is_not(None), Source.kind == "clinicaltrials")
        .order_by(Item.sort_at.desc(), Item.id.desc())
        .options(selectinload(Item.source), selectinload(Item.topics))
    )
    if nct_id:
        query = query.where(Item.nct_id == nct_id)
    return list(session.scalars(query))


def trial_code_map(session: Session) -> dict[str, list[str]]:
    """Product code (KYV-101) → NCT ids of the stored trial records that name it in their interventions."""
    from .trials import trial_codes

    rows = session.execute(
        select(Item.nct_id, Item.extra).join(Source, Source.id == Item.source_id)
        .where(Item.nct_id.is_not(None), Source.kind == "clinicaltrials")
    ).all()
    result: dict[str, list[str]] = {}
    for nct_id, extra in rows:
        for code in trial_codes(extra or {}):
            if nct_id not in result.setdefault(code, []):
                result[code].append(nct_id)
    return result


def items_naming(session: Session, terms: Sequence[str], nct_id: str, limit: int = 200) -> list[Item]:
    """Candidate items naming a trial: its NCT id as identifier, or any of ``terms`` in title or text.

    A substring pre-filter; the caller confirms whole-token matches (``trials.mentions``).
    """
    conditions = [Item.nct_id == nct_id]
    for term in terms:
        pattern = f"%{_escape_like(term)}%"
        conditions.extend([Item.title.ilike(pattern, escape="\\"), Item.summary_text.ilike(pattern, escape="\\"),
                           Item.content_text.ilike(pattern, escape="\\")])
    query = (
        select(Item).where(or_(*conditions), Item.duplicate_of_id.is_(None))  # a syndicated copy is no news
        .order_by(Item.sort_at.desc(), Item.id.desc()).limit(limit)
        .options(selectinload(Item.source), selectinload(Item.topics))
    )
    return list(session.scalars(query))


def topic_counts(session: Session) -> dict[str, int]:
    query = (
        select(ItemTopic.topic_id, func.count(ItemTopic.item_id))
        .join(Item, Item.id == ItemTopic.item_id)
        .where(Item.duplicate_of_id.is_(None))
        .group_by(ItemTopic.topic_id)
    )
    return {topic_id: int(count) for topic_id, count in session.execute(query)}


def all_sources(session: Session) -> list[Source]:
    return list(session.scalars(select(Source).order_by(Source.in_catalog.desc(), Source.name)))


def source_item_counts(session: Session) -> dict[str, tuple[int, int]]:
    """source id → (items, items matching any topic)."""
    totals = dict(session.execute(select(Item.source_id, func.count(Item.id)).group_by(Item.source_id)).all())
    matched = dict(
        session.execute(
            select(Item.source_id, func.count(func.distinct(ItemTopic.item_id)))
            .join(ItemTopic, ItemTopic.item_id == Item.id)
            .group_by(Item.source_id)
        ).all()
    )
    return {source_id: (int(totals[source_id]), int(matched.get(source_id, 0))) for source_id in totals}


@dataclass(frozen=True)
class SourceHistory:
    """When a source's recent items (and its recent matching items) were first seen, for the quiet-source rule."""

    item_times: list[datetime]
    match_times: list[datetime]
    first_seen_at: datetime | None


def source_histories(session: Session, since: datetime, per_source: int = 50) -> dict[str, SourceHistory]:
    firsts = dict(session.execute(select(Item.source_id, func.min(Item.first_seen_at)).group_by(Item.source_id)).all())
    matched = select(ItemTopic.item_id).where(ItemTopic.item_id == Item.id).exists()
    rows = session.execute(
        select(Item.source_id, Item.first_seen_at, matched)
        .where(Item.first_seen_at >= since)
        .order_by(Item.source_id, Item.first_seen_at.desc())
    ).all()
    items: dict[str, list[datetime]] = {}
    matches: dict[str, list[datetime]] = {}
    for source_id, seen, is_match in rows:
        if len(items.setdefault(source_id, [])) < per_source:
            items[source_id].append(seen)
        if is_match and len(matches.setdefault(source_id, [])) < per_source:
            matches[source_id].append(seen)
    return {
        source_id: SourceHistory(items.get(source_id, []), matches.get(source_id, []), first)
        for source_id, first in firsts.items()
    }


def momentum_rows(session: Session, since: datetime) -> list[tuple[int, str, datetime]]:
    """(item id, topic id, sort_at) of every primary matching item since ``since``, for the weekly chart."""
    rows = session.execute(
        select(Item.id, ItemTopic.topic_id, Item.sort_at)
        .join(ItemTopic, ItemTopic.item_id == Item.id)
        .where(Item.duplicate_of_id.is_(None), Item.sort_at >= since)
    ).all()
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]


def delete_orphan_topics(session: Session, topic_ids: Iterable[str]) -> int:
    """Drop matches of topics that no longer exist in feeds.yaml."""
    result = session.execute(delete(ItemTopic).where(ItemTopic.topic_id.not_in(list(topic_ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
