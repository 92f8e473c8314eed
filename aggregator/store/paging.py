"""Keyset paging for the JSON API: the primary items matching a filter, newest first, after a (sort_at, id) mark.

An offset pages through a list that moves (new items push everything down, so a client reading page 2 after a poll
sees an item twice); a mark does not: the next page starts strictly after the last item the client has, whatever
came in since. (sort_at, id) is unique and is the order of the listing indexes, so each page is an index range.
The filters are the page's and the feeds' (``reading._filtered``), ``q`` included, plus ``since``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from ..models import Item
from .reading import ItemFilter, _filtered


def items_after(session: Session, filters: ItemFilter, limit: int, after: tuple[datetime, int] | None = None,
                since: datetime | None = None) -> list[Item]:
    """Up to ``limit`` primary items matching ``filters`` dated ``since`` or later, newest first, strictly after
    ``after`` (the (sort_at, id) of the last item of the previous page)."""
    query = _filtered(select(Item.id), filters, newest_first=True)
    if since is not None:
        query = query.where(Item.sort_at >= since)
    if after is not None:
        at, item_id = after
        query = query.where(or_(Item.sort_at < at, and_(Item.sort_at == at, Item.id < item_id)))
    ids = list(session.scalars(query.order_by(Item.sort_at.desc(), Item.id.desc()).limit(limit)))
    if not ids:
        return []
    loaded = {item.id: item for item in session.scalars(
        select(Item).where(Item.id.in_(ids)).options(selectinload(Item.topics), selectinload(Item.source)))}
    return [loaded[item_id] for item_id in ids if item_id in loaded]


def item_by_id(session: Session, item_id: int) -> Item | None:
    """One item with its topics and source (the permalink page; a duplicate too, which names its primary)."""
    return session.scalars(select(Item).where(Item.id == item_id)
                           .options(selectinload(Item.topics), selectinload(Item.source))).first()


def mark_link_gone(session: Session, item_id: int, status: int, seen_at: datetime) -> bool:
    """Record that ``item_id``'s own link answered ``status`` (404 or 410); False if there is no such item.

    Feeds and emails then link to the item's permalink page. The item's ``updated_at`` moves, so feed ETags
    change and readers fetch the new link.
    """
    if status not in (404, 410):
        raise ValueError(f"a gone link answers 404 or 410, not {status}")
    item = session.get(Item, item_id)
    if item is None:
        return False
    if item.link_gone != status:
        item.link_gone, item.link_gone_at = status, seen_at
        item.updated_at = max(item.updated_at, seen_at)
    return True
