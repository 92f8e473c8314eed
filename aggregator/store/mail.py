"""The repository of the email side: subscribers, deliveries (one row per subscriber and ISO week), the digest
sender's lease, and the items of a week. All SQL of the digest lives here; the caller owns the transaction.

Exactly-once rests on two things in this file: the unique constraint ``delivery(subscriber_id, week)`` (one row per
reader and week, whoever creates it), and :func:`claim_deliveries`, a conditional UPDATE that moves a row from
``pending`` to ``sending`` only if it is still pending — of two senders, only one can win a row.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..domain import EVIDENCE_TYPES, DigestItem, TrialUpdate
from ..models import Delivery, Item, ItemEvent, ItemTopic, Lease, Subscriber
from .trials import trial_views

# ---------------------------------------------------------------------------------------------------- subscribers


def subscriber_by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def subscriber_by_id(session: Session, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


def add_subscriber(session: Session, email: str, topics: Sequence[str], now: datetime,
                   status: str = "pending") -> Subscriber:
    subscriber = Subscriber(email=email, topics=list(topics), status=status, created_at=now,
                            confirmed_at=now if status == "confirmed" else None, permanent_failures=0)
    session.add(subscriber)
    session.flush()
    return subscriber


def list_subscribers(session: Session, status: str | None = None) -> list[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.email)
    if status:
        query = query.where(Subscriber.status == status)
    return list(session.scalars(query))


def delete_subscriber(session: Session, email: str) -> bool:
    """Forget an address and its delivery records (the operator's `subscribers remove`, e.g. for a GDPR request)."""
    result = session.execute(delete(Subscriber).where(Subscriber.email == email))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def confirmed_subscriber_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Subscriber.id).where(Subscriber.status == "confirmed").order_by(Subscriber.id)))


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status))
    return {status: int(count) for status, count in rows}


# ---------------------------------------------------------------------------------------------------- items


def items_first_seen_between(session: Session, start: datetime, end: datetime) -> list[DigestItem]:
    """Items first seen in [start, end) that match at least one topic, one per story (duplicates left out)."""
    query = (
        select(Item)
        .where(Item.first_seen_at >= start, Item.first_seen_at < end, Item.duplicate_of_id.is_(None))
        .where(select(ItemTopic.item_id).where(ItemTopic.item_id == Item.id).exists())
        .order_by(Item.sort_at.desc(), Item.id.desc())
        .options(selectinload(Item.topics), selectinload(Item.source))
    )
    return [
        DigestItem(
            id=item.id,
            title=item.title,
            link=item.link,
            source_name=item.source.name if item.source else item.source_id,
            date=item.sort_at,
            first_seen_at=item.first_seen_at,
            summary=item.summary_text or "",
            topics=tuple(sorted(t.topic_id for t in item.topics)),
            evidence=EVIDENCE_TYPES.get(item.evidence_type, item.evidence_type),
            link_gone=item.link_gone is not None,
        )
        for item in session.scalars(query)
    ]


def trial_updates_between(session: Session, start: datetime, end: datetime) -> list[TrialUpdate]:
    """What happened to each trial in [start, end): its change sentences, the countries where sites began
    recruiting, and the trials first seen then (with the countries they recruit in)."""
    views = trial_views(session)
    by_item = {item_id: view for view in views for item_id in view.item_ids}
    events: dict[str, list[ItemEvent]] = {}
    if by_item:
        query = (select(ItemEvent).where(ItemEvent.occurred_at >= start, ItemEvent.occurred_at < end,
                                         ItemEvent.kind.like("trial-%"), ItemEvent.item_id.in_(list(by_item)))
                 .order_by(ItemEvent.occurred_at, ItemEvent.id))
        for event in session.scalars(query):
            events.setdefault(by_item[event.item_id].key, []).append(event)
    updates = []
    for view in views:
        new = start <= view.first_seen_at < end
        changes = events.get(view.key, [])
        if not new and not changes:
            continue
        summaries = list(dict.fromkeys(e.summary for e in changes))
        began = [str(e.data.get("country")) for e in changes
                 if isinstance(e.data, dict) and e.data.get("began_recruiting") and e.data.get("country")]
        if new:
            summaries.insert(0, "New in the registry we follow")
            began = [*view.recruiting_countries(), *began]
        ids = tuple(i for i in (view.key, view.nct_id, view.eu_ct_number) if i)
        updates.append(TrialUpdate(
            key=view.key, ids=tuple(dict.fromkeys(ids)), title=view.title, path=f"/trials/{view.key}",
            moment=changes[-1].occurred_at if changes else view.first_seen_at, summaries=tuple(summaries),
            began_recruiting_in=tuple(dict.fromkeys(began)), new=new))
    return updates


# ---------------------------------------------------------------------------------------------------- deliveries


def _insert_ignoring_duplicates(session: Session) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING on the (subscriber_id, week) constraint, for SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(Delivery).on_conflict_do_nothing(index_elements=["subscriber_id", "week"])
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(Delivery).on_conflict_do_nothing(index_elements=["subscriber_id", "week"])
    return insert(Delivery)


def ensure_deliveries(session: Session, week: str, subscriber_ids: Iterable[int]) -> int:
    """Create the missing ``pending`` rows of ``week``; rows that exist (in any state) are left alone."""
    existing = set(session.scalars(select(Delivery.subscriber_id).where(Delivery.week == week)))
    missing = [sid for sid in subscriber_ids if sid not in existing]
    if not missing:
        return 0
    statement = _insert_ignoring_duplicates(session)
    created = 0
    for start in range(0, len(missing), 1000):
        rows = [{"subscriber_id": sid, "week": week, "status": "pending", "attempts": 0, "item_count": 0}
                for sid in missing[start:start + 1000]]
        try:
            result = session.connection().execute(statement, rows)
        except IntegrityError:  # another dialect and a concurrent writer: the rows exist, which is all we want
            session.rollback()
            continue
        created += max(int(result.rowcount or 0), 0)
    return created


def release_orphans(session: Session, week: str, owner: str, note: str) -> int:
    """Put back to ``pending`` the rows another (dead) sender left in ``sending``. Only call while holding the lease."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.week == week, Delivery.status == "sending", Delivery.claimed_by != owner)
        .values(status="pending", error=note)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """A delivery this sender now owns, with what it needs to write the email."""

    delivery_id: int
    subscriber_id: int
    email: str
    topics: tuple[str, ...]
    subscriber_status: str
    message_id: str | None
    attempts: int
    permanent_failures: int
    trials: tuple[str, ...] = ()
    country: str | None = None


def pending_ids(session: Session, week: str, after_id: int, limit: int, only: Sequence[int] | None = None) -> list[int]:
    query = select(Delivery.id).where(Delivery.week == week, Delivery.status == "pending", Delivery.id > after_id)
    if only is not None:
        query = query.where(Delivery.id.in_(list(only)))
    return list(session.scalars(query.order_by(Delivery.id).limit(limit)))


def claim_deliveries(session: Session, ids: Sequence[int], owner: str, now: datetime) -> list[Claimed]:
    """Move the given rows from ``pending`` to ``sending`` for ``owner``; returns the rows actually won."""
    if not ids:
        return []
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.status == "pending")
        .values(status="sending", claimed_by=owner, claimed_at=now, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(Delivery.id, Delivery.subscriber_id, Subscriber.email, Subscriber.topics, Subscriber.status,
               Delivery.message_id, Delivery.attempts, Subscriber.permanent_failures, Subscriber.trials,
               Subscriber.country)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(list(ids)), Delivery.status == "sending", Delivery.claimed_by == owner)
        .order_by(Delivery.id)
    )
    return [Claimed(row[0], row[1], row[2], tuple(row[3] or ()), row[4], row[5], row[6], row[7] or 0,
                    tuple(row[8] or ()), row[9]) for row in rows]


def _finish(session: Session, delivery_id: int, owner: str, **values: Any) -> bool:
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.claimed_by == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Built once: the statement run after every message sent (thousands per run) skips SQLAlchemy's per-call
# construction and cache-key work.
_MARK_SENT = (
    update(Delivery)
    .where(Delivery.id == bindparam("delivery_id"), Delivery.status == "sending",
           Delivery.claimed_by == bindparam("owner"))
    .values(status="sent", sent_at=bindparam("sent_at"), item_count=bindparam("item_count"), error=None,
            message_id=bindparam("message_id"))
    .execution_options(synchronize_session=False)
)


def mark_sent(session: Session, claimed: Claimed, owner: str, now: datetime, item_count: int,
              message_id: str | None = None) -> bool:
    result = session.connection().execute(_MARK_SENT, {
        "delivery_id": claimed.delivery_id, "owner": owner, "sent_at": now, "item_count": item_count,
        "message_id": message_id or claimed.message_id})
    done = bool(result.rowcount)
    if done and claimed.permanent_failures:
        session.execute(update(Subscriber).where(Subscriber.id == claimed.subscriber_id)
                        .values(permanent_failures=0).execution_options(synchronize_session=False))
    return done


def mark_skipped(session: Session, claimed: Claimed, owner: str, reason: str) -> bool:
    return _finish(session, claimed.delivery_id, owner, status="skipped", error=reason)


def mark_retry(session: Session, claimed: Claimed, owner: str, error: str) -> bool:
    """A temporary failure: back to ``pending`` (retried in this run after a pause, or by the next run)."""
    return _finish(session, claimed.delivery_id, owner, status="pending", error=error)


def mark_failed(session: Session, claimed: Claimed, owner: str, error: str, now: datetime,
                suspend_after: int) -> bool:
    """A permanent failure: recorded on the delivery and the subscriber; suspends after ``suspend_after`` in a row.

    Returns True when the address got suspended by this failure.
    """
    _finish(session, claimed.delivery_id, owner, status="failed", error=error)
    subscriber = session.get(Subscriber, claimed.subscriber_id)
    if subscriber is None:
        return False
    subscriber.permanent_failures = (subscriber.permanent_failures or 0) + 1
    subscriber.last_failure = f"{now:%Y-%m-%d %H:%M} UTC: {error}"
    if subscriber.permanent_failures >= suspend_after and subscriber.status == "confirmed":
        subscriber.status = "suspended"
        return True
    return False


def deliveries_of(session: Session, week: str) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.week == week).order_by(Delivery.subscriber_id)))


# ---------------------------------------------------------------------------------------------------- lease


def process_owner() -> str:
    """Who this process is, as written in leases: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _dead_local_owner(owner: str) -> bool:
    """True when ``owner`` names a process on this host that no longer exists (a killed sender)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire_lease(session: Session, name: str, owner: str, now: datetime, seconds: int) -> bool:
    """Take or renew the lease ``name``; True when ``owner`` holds it afterwards. Commits nothing itself.

    A lease is free when it has expired, or when its holder is a process on this host that has died — so a
    sender killed with SIGKILL is replaced at once, not only after ``seconds``.
    """
    expires = now + timedelta(seconds=seconds)
    current = session.get(Lease, name, populate_existing=True)
    if current is None:
        try:
            with session.begin_nested():
                session.add(Lease(name=name, owner=owner, expires_at=expires))
            return True
        except IntegrityError:
            current = session.get(Lease, name, populate_existing=True)
            if current is None:
                return False
    holder = current.owner
    condition = and_(Lease.name == name, Lease.owner == holder)
    if holder != owner and current.expires_at > now and not _dead_local_owner(holder):
        return False
    result = session.execute(update(Lease).where(condition).values(owner=owner, expires_at=expires)
                             .execution_options(synchronize_session=False))
    session.expire(current)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, owner: str) -> None:
    session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


def lease_holder(session: Session, name: str) -> Lease | None:
    return session.get(Lease, name, populate_existing=True)
