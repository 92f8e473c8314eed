"""The link checker's reads and writes: which item links to try next, and what a try found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Item, Source
from .paging import mark_link_gone


@dataclass(frozen=True)
class LinkToCheck:
    item_id: int
    link: str
    source_url: str  # the source's feed address: its host may be private (an intranet feed linking to itself)


def links_to_check(session: Session, limit: int) -> list[LinkToCheck]:
    """Up to ``limit`` item links, never-checked first (newest items first among them), then the least recently
    checked: over successive runs every link comes round again."""
    query = (
        select(Item.id, Item.link, Source.url).join(Source, Source.id == Item.source_id)
        .where(Item.link.is_not(None))
        .order_by(Item.link_checked_at.is_not(None), Item.link_checked_at, Item.id.desc())
        .limit(limit)
    )
    return [LinkToCheck(int(item_id), str(link), str(url)) for item_id, link, url in session.execute(query)]


def record_link_check(session: Session, item_id: int, status: int | None, now: datetime) -> str:
    """Store what a try of ``item_id``'s link found; returns "gone", "ok" or "unknown".

    404 and 410 mark the link gone; an answer from 200 to 399 clears an earlier mark (the page came back); anything
    else (403, 429, 5xx, no answer) says nothing about the page and changes nothing but the time of the try.
    """
    item = session.get(Item, item_id)
    if item is None:
        return "unknown"
    item.link_checked_at = now
    if status in (404, 410):
        mark_link_gone(session, item_id, status, now)
        return "gone"
    if status is not None and 200 <= status < 400:
        if item.link_gone is not None:
            item.link_gone = item.link_gone_at = None
            item.updated_at = max(item.updated_at, now)
        return "ok"
    return "unknown"
