"""What the page, the feeds, the trial pages and the momentum chart read: filtered, paginated item queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..models import Item, ItemEvent, ItemTopic, Source
from .fulltext import search_condition

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


def _filtered(query: _AnySelect, filters: ItemFilter, newest_first: bool = False) -> _AnySelect:
    """``query`` restricted to the primary items matching ``filters``.

    The topic is a join by default, which collects all its matches (the database then sorts them). With
    ``newest_first`` it is an EXISTS test instead, which SQLite answers by walking ``ix_item_listing_time`` newest
    first and stopping at the LIMIT (see ``walk_is_cheaper``). The rows are the same either way.
    """
    if filters.topic and newest_first:
        query = query.where(select(ItemTopic.item_id).where(ItemTopic.item_id == Item.id,
                                                            ItemTopic.topic_id == filters.topic).exists())
    elif filters.topic:
        query = query.join(ItemTopic, and_(ItemTopic.item_id == Item.id, ItemTopic.topic_id == filters.topic))
    else:
        query = query.where(select(ItemTopic.item_id).where(ItemTopic.item_id == Item.id).exists())
    query = query.where(Item.duplicate_of_id.is_(None))
    if filters.source:
        query = query.where(Item.source_id == filters.source)
    if filters.evidence:
        query = query.where(Item.evidence_type == filters.evidence)
    if filters.q:  # the database's full-text index (store/fulltext.py), the same syntax as search_items
        query = query.where(search_condition(filters.q))
    return query


def change_marker(session: Session) -> tuple[datetime | None, int]:
    """(newest item change, newest event id): two index lookups that move whenever any page or feed would change.

    Feeds derive their ETag from it and the momentum chart caches on it, so a revalidation or a page view costs
    no scan of the matches (with 100,000 items, counting a topic's matches took longer than rendering the feed).
    """
    newest, last_event = session.execute(select(select(func.max(Item.updated_at)).scalar_subquery(),
                                                select(func.max(ItemEvent.id)).scalar_subquery())).one()
    return newest, int(last_event or 0)


def walk_is_cheaper(wanted: int, matches: int, stored: int) -> bool:
    """Whether walking all items newest first finds the ``wanted`` (offset + limit) first matches in fewer steps
    than collecting all ``matches`` and sorting them: the walk expects ``wanted × stored / matches`` steps.

    At 100,000 items, the first page of a topic matching 8% of them is 300 steps of the walk against 8,000 rows to
    sort; a rare topic, or page 300, is the other way round.
    """
    return matches > 0 and wanted * stored <= matches * matches


def matching_items(session: Session, filters: ItemFilter, limit: int, offset: int = 0,
                   newest_first: bool = False) -> list[Item]:
    """The page (``limit`` items after ``offset``) of primary items matching ``filters``, newest first.

    The ids come first, from the covering listing indexes alone (an item row holds its summary, so on SQLite
    reading sort_at from thousands of rows meant reading their overflow pages); then only those items are loaded.
    ``newest_first``: see ``_filtered`` (same items, another plan).
    """
    ids = list(session.scalars(
        _filtered(select(Item.id), filters, newest_first).order_by(Item.sort_at.desc(), Item.id.desc())
        .limit(limit).offset(offset)))
    if not ids:
        return []
    loaded = {item.id: item for item in session.scalars(
        select(Item).where(Item.id.in_(ids)).options(selectinload(Item.topics), selectinload(Item.source)))}
    return [loaded[item_id] for item_id in ids if item_id in loaded]


def count_matching(session: Session, filters: ItemFilter) -> int:
    return session.scalar(_filtered(select(func.count(Item.id)), filters)) or 0


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
    from ..trials import trial_codes

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



def momentum_day_statements(dialect: str, since: datetime) -> tuple[Select[Any], Select[Any]]:
    """The two statements of ``momentum_day_counts`` for a database dialect ("sqlite", "postgresql"): matches
    per topic and UTC day, and matching items per UTC day."""
    if dialect == "postgresql":
        day: Any = func.date(func.timezone("UTC", Item.sort_at))  # timestamptz: the UTC day, not the session's
    else:
        day = func.date(Item.sort_at)  # SQLite holds naive UTC text ("YYYY-MM-DD HH:MM:SS")
    per_topic = (
        select(ItemTopic.topic_id, day.label("day"), func.count().label("n"))
        .join(Item, Item.id == ItemTopic.item_id)
        .where(Item.duplicate_of_id.is_(None), Item.sort_at >= since)
        .group_by(ItemTopic.topic_id, day)
    )
    # each matching item once: the page's "any topic" filter (a semi-join)
    per_item = _filtered(select(day.label("day"), func.count().label("n")), ItemFilter()).where(
        Item.sort_at >= since).group_by(day)
    return per_topic, per_item


def momentum_day_counts(session: Session, since: datetime) -> list[tuple[str | None, date, int]]:
    """Primary matching items since ``since`` per UTC day of their ``sort_at``: ``(topic id, day, items)``, and
    ``(None, day, items)`` counting each item once whatever topics it matched. Counted by the database: a year
    of matches is a few hundred rows here, against one row per match for ``momentum_rows`` (the reference the
    tests compare it with)."""
    per_topic, per_item = momentum_day_statements(session.get_bind().dialect.name, since)
    out: list[tuple[str | None, date, int]] = [
        (str(topic), _as_date(value), int(n)) for topic, value, n in session.execute(per_topic)
    ]
    out += [(None, _as_date(value), int(n)) for value, n in session.execute(per_item)]
    return out


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def momentum_rows(session: Session, since: datetime) -> list[tuple[int, str, datetime]]:
    """(item id, topic id, sort_at) of every primary matching item since ``since``, for the weekly chart."""
    rows = session.execute(
        select(Item.id, ItemTopic.topic_id, Item.sort_at)
        .join(ItemTopic, ItemTopic.item_id == Item.id)
        .where(Item.duplicate_of_id.is_(None), Item.sort_at >= since)
    ).all()
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]
