"""Typed SQLAlchemy 2.x models. They hold data only: no queries, no HTTP, no business rules (see store.py).

Alembic (``migrations/``) is the only source of the schema; the app never calls ``create_all``.
Constraint names follow a naming convention so later migrations can drop them by name on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which stores naive values) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Source(Base):
    """A source from feeds.yaml and its health. Rows are kept in step with the file at every poll."""

    __tablename__ = "source"

    # From feeds.yaml.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    configured_url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32), default="feed")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    homepage: Mapped[str | None] = mapped_column(Text)
    evidence_type: Mapped[str] = mapped_column(String(32), default="news")
    in_catalog: Mapped[bool] = mapped_column(Boolean, default=True)

    # Ours: where we fetch now (a permanent redirect moves it), and what we learnt from the last answers.
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_item_at: Mapped[datetime | None]
    last_match_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(32), default="new")  # new, ok, not-modified, error, gone
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    moved_to: Mapped[str | None] = mapped_column(Text)  # set when the source answered with a permanent redirect
    feed_hint: Mapped[str | None] = mapped_column(Text)  # a feed URL found on the page served instead of a feed
    disabled_reason: Mapped[str | None] = mapped_column(Text)  # e.g. 410 Gone
    # The poll lease: who is polling this source since when (a crashed poller's lease expires).
    polling_owner: Mapped[str | None] = mapped_column(String(128))
    polling_since: Mapped[datetime | None]
    # Sentences repeated in most items of this source (a society's footer); ignored by the topic filter.
    boilerplate: Mapped[list[Any] | None]

    items: Mapped[list[Item]] = relationship(back_populates="source", passive_deletes=True)


# What the page and feed filters read besides the sort key (see the listing indexes of Item).
_LISTED = ("duplicate_of_id", "evidence_type")


class Item(Base):
    """One item of one source. Identified within its source by ``key`` (guid, normalised link or content hash)."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("source_id", "key_hash"),
        # Covering indexes of the page and feed lists (migration 0005 says why): newest first, by id, by source.
        Index("ix_item_listing_time", "sort_at", "id", "source_id", *_LISTED),
        Index("ix_item_listing_id", "id", "sort_at", "source_id", *_LISTED),
        Index("ix_item_listing_source", "source_id", "sort_at", "id", *_LISTED),
        # Only the duplicates: what also_reported reads (migration 0002 says why it is partial).
        Index("ix_item_duplicate_of_id_first_seen_at", "duplicate_of_id", "first_seen_at",
              sqlite_where=text("duplicate_of_id IS NOT NULL"), postgresql_where=text("duplicate_of_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))  # ix_item_listing_source
    key: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(40))

    # From the source (cleaned).
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    normalized_link: Mapped[str | None] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    summary_html: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    content_text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    published_at: Mapped[datetime | None]
    evidence_type: Mapped[str] = mapped_column(String(32), default="news")
    doi: Mapped[str | None] = mapped_column(String(255), index=True)
    pmid: Mapped[str | None] = mapped_column(String(32), index=True)
    nct_id: Mapped[str | None] = mapped_column(String(16), index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # Ours.
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    # Last time the item changed for readers: title, summary, content, or (after reclassify) its topics.
    # Indexed: max(updated_at) is the cheap "has anything changed?" marker behind feed ETags and cached charts.
    updated_at: Mapped[datetime] = mapped_column(index=True)
    sort_at: Mapped[datetime]  # published date when credible, else first seen
    # One story, several sources: the items sharing a story key show once; the first seen is the primary.
    story_key: Mapped[str] = mapped_column(String(64), index=True)
    # No plain index: see ix_item_duplicate_of_id_first_seen_at (partial) and migration 0003.
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"))
    # The item's own link answered 404 or 410 (store.mark_link_gone): feeds and emails link to our permalink page
    # (/items/<id>) instead. Cleared when the source gives the item another link.
    link_gone: Mapped[int | None] = mapped_column(Integer)  # the status seen, 404 or 410
    link_gone_at: Mapped[datetime | None]
    link_checked_at: Mapped[datetime | None]  # the link checker's last visit (link_check.py): least recent first

    source: Mapped[Source] = relationship(back_populates="items")
    topics: Mapped[list[ItemTopic]] = relationship(
        back_populates="item", cascade="all, delete-orphan", passive_deletes=True
    )


class ItemTopic(Base):
    """A topic an item matched, with the terms that matched where (the explanation shown to readers)."""

    __tablename__ = "item_topic"
    __table_args__ = (Index("ix_item_topic_topic_id_item_id", "topic_id", "item_id"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    hits: Mapped[list[Any]] = mapped_column(default=list)

    item: Mapped[Item] = relationship(back_populates="topics")


class ReviewLabel(Base):
    """A reviewer's verdict on one item and one topic: it belongs there (True) or not (False), whatever the rules say.

    The item's ``item_topic`` rows follow it at once (``store.set_label``), every reclassification and every
    poll that changes the item apply it again, and ``export-labels`` turns the verdicts into labelled test cases.
    """

    __tablename__ = "review_label"

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    verdict: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime]


class ItemEvent(Base):
    """Something that happened to an item after it was first seen (a trial's status or phase changed)."""

    __tablename__ = "item_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Subscriber(Base):
    __tablename__ = "subscriber"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    topics: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, confirmed, unsubscribed, suspended
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    permanent_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[str | None] = mapped_column(Text)
    # Opt-ins of the weekly email beyond topics: trials to follow (NCT ids or EU CT numbers), and the country
    # whose newly recruiting trials to announce (as the reader chose it; None: no country alerts).
    trials: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    country: Mapped[str | None] = mapped_column(String(64))

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="subscriber", passive_deletes=True)


class Delivery(Base):
    """One subscriber's digest for one ISO week: the record that makes sending exactly-once."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("subscriber_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    week: Mapped[str] = mapped_column(String(8), index=True)  # 2026-W47
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sending, sent, failed, skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    subscriber: Mapped[Subscriber] = relationship(back_populates="deliveries")


class Lease(Base):
    """A named lock with an expiry, held in the database (one active scheduler, one digest sender)."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
