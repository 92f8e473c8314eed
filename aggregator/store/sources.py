"""Source rows: kept in step with feeds.yaml, the poll lease, health after each poll, and what /sources reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ..domain import SourceSpec
from ..models import Item, ItemTopic, Source


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


def known_links(session: Session, source_id: str) -> frozenset[str]:
    """The normalised links stored for a source: a ``sitemap`` source fetches only the pages not among them."""
    rows = session.scalars(select(Item.normalized_link).where(Item.source_id == source_id,
                                                              Item.normalized_link.is_not(None)))
    return frozenset(link for link in rows if link)


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


def claim_source(
    session: Session, source_id: str, owner: str, now: datetime, lease_seconds: int, due_only: bool = False
) -> bool:
    """Take the poll lease of a source atomically; False when another live poller holds it, or (``due_only``)
    when it is no longer due because another poller polled it a moment ago."""
    stale = now - timedelta(seconds=lease_seconds)
    query = (
        update(Source)
        .where(Source.id == source_id)
        .where(or_(Source.polling_since.is_(None), Source.polling_since < stale))
    )
    if due_only:
        query = query.where(or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
    result = session.execute(
        query.values(polling_owner=owner, polling_since=now).execution_options(synchronize_session=False)
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
