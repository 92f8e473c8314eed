"""Helpers shared by the email tests: items in a known week, subscribers, and an app wired to a test SMTP server."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from aggregator.db import Database
from aggregator.models import Item, ItemTopic, Source, Subscriber

WEEK = "2026-W46"  # Monday 9 to Sunday 15 November 2026
IN_WEEK = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
AFTER_WEEK = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)  # the Monday the scheduled digest of WEEK goes out


def add_item(
    database: Database,
    title: str,
    topics: Sequence[str],
    first_seen: datetime = IN_WEEK,
    summary: str = "",
    link: str | None = None,
    source_id: str = "journal",
    duplicate_of: int | None = None,
) -> int:
    with database.session_scope() as session:
        if session.get(Source, source_id) is None:
            session.add(
                Source(
                    id=source_id,
                    name=f"The {source_id.title()}",
                    configured_url="http://127.0.0.1:9/",
                    url="http://127.0.0.1:9/",
                    kind="feed",
                    status="ok",
                    error_count=0,
                )
            )
            session.flush()
        key = hashlib.sha1(f"{source_id}:{title}".encode()).hexdigest()
        item = Item(
            source_id=source_id,
            key=key,
            key_hash=key,
            title=title,
            link=link or f"https://example.org/{key[:8]}",
            summary_html=summary,
            summary_text=summary,
            content_hash=key,
            first_seen_at=first_seen,
            updated_at=first_seen,
            sort_at=first_seen,
            story_key=key,
            duplicate_of_id=duplicate_of,
            evidence_type="peer-reviewed",
        )
        item.topics = [ItemTopic(topic_id=t, score=1.0, hits=[]) for t in topics]
        session.add(item)
        session.flush()
        return item.id


def add_subscribers(
    database: Database,
    count: int,
    topics: Sequence[str] = ("car-t-ms",),
    status: str = "confirmed",
    prefix: str = "reader",
) -> list[str]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    emails = [f"{prefix}{n}@example.org" for n in range(count)]
    with database.session_scope() as session:
        for address in emails:
            session.add(
                Subscriber(
                    email=address,
                    topics=list(topics),
                    status=status,
                    created_at=now,
                    confirmed_at=now if status == "confirmed" else None,
                    permanent_failures=0,
                )
            )
    return emails


def subscriber(database: Database, address: str) -> Subscriber:
    with database.session_scope() as session:
        row = session.query(Subscriber).filter_by(email=address).one()
        session.expunge(row)
        return row


def parts(message: EmailMessage) -> tuple[str, str]:
    """(plain text, html) of a multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, message.get_content_type()
    # Parsed from the wire, decoded parts keep the CRLF line ends of SMTP.
    return (str(text.get_content()).replace("\r\n", "\n"), str(html.get_content()).replace("\r\n", "\n"))


class Clock:
    """A settable clock for the app and the sender."""

    def __init__(self, start: datetime = AFTER_WEEK) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: Any) -> None:
        self.now += timedelta(**delta)
