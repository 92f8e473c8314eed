"""Full-text search over items: SQLite FTS5 (``item_fts``) or PostgreSQL ``item.search_vector`` (migration 0011).

One entry point, ``search_items``; the page, the feeds and the JSON API all reach the same engine, because
``ItemFilter.q`` is also answered by ``search_condition`` (reading._filtered). The reader's text is translated by
``aggregator.store.search_query`` (pure); here it becomes SQL, every piece of it a bind parameter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, bindparam, func, literal_column, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.types import Text

from ..models import Item
from .fulltext import _FTS, _FTS_WEIGHTS, _VECTOR, tsquery
from .reading import ItemFilter, _AnySelect, _filtered, walk_is_cheaper
from .search_query import SearchQuery, mark_stems, parse, to_fts5

Order = Literal["relevance", "newest"]
ORDERS: tuple[Order, ...] = ("relevance", "newest")

MARK_START, MARK_END = "\x02", "\x03"  # around matched words in SearchHit.title/snippet (STX, ETX: never text)
SNIPPET_WORDS = 32
COUNT_CAP = 1000  # count_search stops counting here: "1,000+ items"
RANK_DEPTH = 200  # the fewest rows FTS5 ranks and hands over for one page (see _sqlite_ranked_ids)
RANK_POOL = COUNT_CAP  # PostgreSQL ranks this many newest matches (see _postgresql_ids)
RANK_DEPTH_MAX = 12_800  # past this, one query ranks all matches (and the id list stays far below SQLite's limit)

@dataclass(frozen=True)
class SearchHit:
    """One result: the item, and its title and a snippet of its summary with the matched words between
    ``MARK_START`` and ``MARK_END`` (raw text: ``web.render.marked`` escapes it and turns the marks into <mark>)."""

    item: Item
    title: str
    snippet: str


def search_items(session: Session, query: str, *, topic: str | None = None, source: str | None = None,
                 evidence: str | None = None, since: datetime | None = None, order: Order = "relevance",
                 limit: int = 20, offset: int = 0) -> list[SearchHit]:
    """Primary items matching ``query`` (the search box's syntax, see ``search_query``) and the filters.

    ``order``: "relevance" (bm25 on SQLite, ``ts_rank_cd`` on PostgreSQL, title matches weigh most; ties newest
    first; PostgreSQL ranks the newest ``RANK_POOL`` matches only) or "newest" (``sort_at`` descending).
    ``since``: only items whose ``sort_at`` is at or after it. Paging by ``limit``/``offset``. A query with
    nothing searchable in it ("*", "-x" alone, punctuation) gives no results; no query text ever raises.
    Counting: ``count_search`` (capped) or ``count_matching``.
    """
    parsed = parse(query)
    if not parsed or limit <= 0:
        return []
    dialect = session.get_bind().dialect.name
    filters = ItemFilter(topic=topic, source=source, evidence=evidence)
    if dialect == "postgresql":
        ids = _postgresql_ids(session, parsed, filters, since, order, limit, offset)
    elif order == "relevance":
        ids = _sqlite_ranked_ids(session, parsed, filters, since, limit, offset)
    else:
        ids = _sqlite_newest_ids(session, parsed, filters, since, limit, offset)
    if not ids:
        return []
    loaded = {item.id: item for item in session.scalars(
        select(Item).where(Item.id.in_(ids)).options(selectinload(Item.topics), selectinload(Item.source)))}
    marks = _marks(session, dialect, parsed, ids)
    hits = []
    for item_id in ids:
        item = loaded.get(item_id)
        if item is not None:
            title, snippet = marks.get(item_id, (item.title, item.summary_text))
            hits.append(SearchHit(item, title or item.title, snippet or ""))
    return hits


def count_search(session: Session, filters: ItemFilter, cap: int = COUNT_CAP) -> int:
    """How many primary items match ``filters`` (``filters.q`` a search), counted up to ``cap + 1`` at most:
    a result above ``cap`` means "more than ``cap``" (the page says "1,000+"). Counting stops there, so a common
    word does not cost a pass over all its matches; on SQLite the FTS5 matches stream into the filters."""
    parsed = parse(filters.q or "")
    if not parsed:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        statement = _filtered(select(Item.id), filters, newest_first=True)
    else:
        statement = _filtered(select(Item.id).select_from(_FTS).join(Item, Item.id == _FTS.c.rowid),
                              replace(filters, q=None), newest_first=True).where(_fts_match(parsed))
    return session.scalar(select(func.count()).select_from(statement.limit(cap + 1).subquery())) or 0


def _fts_match(parsed: SearchQuery) -> ColumnElement[Any]:
    return literal_column("item_fts").op("MATCH")(bindparam(None, to_fts5(parsed), unique=True))


def _restricted(statement: _AnySelect, filters: ItemFilter, since: datetime | None) -> _AnySelect:
    statement = _filtered(statement, filters, newest_first=True)
    return statement if since is None else statement.where(Item.sort_at >= since)


def _postgresql_ids(session: Session, parsed: SearchQuery, filters: ItemFilter, since: datetime | None,
                    order: Order, limit: int, offset: int) -> list[int]:
    """The GIN index finds the matches (``@@`` on the stored ``search_vector``). By relevance, ``ts_rank_cd``
    ranks the newest ``RANK_POOL`` of them: ranking reads each match's whole vector, which cost a quarter of a
    second for a word in 19,000 items, where finding the newest thousand costs their ids and dates. A query
    with more matches than that ranks the newest ``RANK_POOL``; the older ones are reached newest first."""
    ts = tsquery(parsed)
    assert ts is not None
    statement = _restricted(select(Item.id), filters, since).where(_VECTOR.op("@@")(ts))
    newest: tuple[ColumnElement[Any], ...] = (Item.sort_at.desc(), Item.id.desc())
    if order == "newest":
        return list(session.scalars(statement.order_by(*newest).limit(limit).offset(offset)))
    pool = statement.order_by(*newest).limit(RANK_POOL).subquery()
    ranked = select(Item.id).join(pool, pool.c.id == Item.id).order_by(func.ts_rank_cd(_VECTOR, ts).desc(), *newest)
    return list(session.scalars(ranked.limit(limit).offset(offset)))


def _sqlite_ranked_ids(session: Session, parsed: SearchQuery, filters: ItemFilter, since: datetime | None,
                       limit: int, offset: int) -> list[int]:
    """The best ``offset + limit`` by bm25, ties newest first: FTS5 ranks inside its own query and hands over
    only its best ``depth`` rows; the filters then keep what they keep of those. That is the exact answer when
    the last wanted row ranks strictly better than the worst candidate (no row left out can come before it) or
    FTS5 had no more rows; otherwise the depth grows and it asks again, and past ``RANK_DEPTH_MAX`` one query
    filters and ranks all matches (at once with a source or evidence filter, which keep few of the best rows).
    Joining every match to the filters before ranking (as that one query does) cost twice as much with a few
    thousand matches and the topic filter alone."""
    wanted = offset + limit
    score = func.bm25(literal_column("item_fts"), *_FTS_WEIGHTS)
    depth = first_depth(wanted)
    if filters.source or filters.evidence:  # they keep a few of the best rows: filtering all matches is cheaper
        depth = RANK_DEPTH_MAX + 1
    while depth <= RANK_DEPTH_MAX:
        candidates = session.execute(
            select(_FTS.c.rowid, score.label("score")).where(_fts_match(parsed)).order_by(score).limit(depth)).all()
        scores = {int(row[0]): float(row[1]) for row in candidates}
        if not scores:
            return []
        kept = list(session.execute(_restricted(select(Item.id, Item.sort_at), filters, since)
                                    .where(Item.id.in_(list(scores)))))
        kept.sort(key=lambda row: (row[1], row[0]), reverse=True)  # newest first, then by rank (a stable sort)
        kept.sort(key=lambda row: scores[int(row[0])])
        worst = max(scores.values())
        if len(candidates) < depth or (len(kept) >= wanted and scores[int(kept[wanted - 1][0])] < worst):
            return [int(row[0]) for row in kept[offset:wanted]]
        depth *= 8
    statement = _restricted(select(Item.id), filters, since).join(_FTS, _FTS.c.rowid == Item.id).where(
        _fts_match(parsed))
    return list(session.scalars(statement.order_by(score, Item.sort_at.desc(), Item.id.desc())
                                .limit(limit).offset(offset)))


def first_depth(wanted: int) -> int:
    """How many of FTS5's best rows to ask for first: the topic filter alone kept a quarter of them in the bench."""
    return max(RANK_DEPTH, 8 * wanted)


def _sqlite_newest_ids(session: Session, parsed: SearchQuery, filters: ItemFilter, since: datetime | None,
                       limit: int, offset: int) -> list[int]:
    """Newest first. A common query walks the items newest first (``ix_item_listing_time``) and stops at the
    LIMIT, each item checked against the set of FTS5 matches; a rare one sorts its few matches instead. Which
    is which: ``walk_is_cheaper``, with the matches counted only as far as the walk would pay off."""
    wanted = offset + limit
    stored = session.scalar(select(func.max(Item.id))) or 0
    enough = math.isqrt(wanted * stored) + 1  # walk_is_cheaper(wanted, matches, stored) from here on
    matches = session.scalar(select(func.count()).select_from(
        select(_FTS.c.rowid).where(_fts_match(parsed)).limit(enough).subquery())) or 0
    ordering = (Item.sort_at.desc(), Item.id.desc())
    if filters.source is None and walk_is_cheaper(wanted, matches, stored):
        in_fts = select(_FTS.c.rowid).where(_fts_match(parsed)).scalar_subquery()
        # "id + 0": not a key to look the matches up by, so SQLite walks the time index as the ORDER BY asks
        statement = _restricted(select(Item.id), filters, since).where((Item.id + 0).in_(in_fts))
    else:
        statement = _restricted(select(Item.id), filters, since).join(_FTS, _FTS.c.rowid == Item.id).where(
            _fts_match(parsed))
    return list(session.scalars(statement.order_by(*ordering).limit(limit).offset(offset)))


def _marks(session: Session, dialect: str, parsed: SearchQuery, ids: list[int]) -> dict[int, tuple[str, str]]:
    """Title and snippet with the matched words marked, for the shown items only.

    SQLite: FTS5's highlight() and snippet(). PostgreSQL: the query's stems (its tsquery as text) marked in
    Python (``mark_stems``), as ts_headline parses the raw text otherwise than the index (it marks "KYV" of
    "KYV-101" and drops whatever looks like a tag from its fragments)."""
    if dialect == "postgresql":
        wanted = tsquery(SearchQuery(must=parsed.must))  # the excluded words are not in a result to mark
        # a query of excluded words only has nothing to mark
        as_text = "" if wanted is None else session.scalar(select(func.cast(wanted, Text))) or ""
        stems = [(stem, bool(prefix)) for stem, prefix in re.findall(r"'([^']+)'(:\*)?", as_text)]
        rows = session.execute(select(Item.id, Item.title, Item.summary_text).where(Item.id.in_(ids)))
        return {int(row[0]): (mark_stems(str(row[1] or ""), stems), _window(mark_stems(str(row[2] or ""), stems)))
                for row in rows}
    fts: ColumnElement[Any] = literal_column("item_fts")
    rows = session.execute(select(
        _FTS.c.rowid, func.highlight(fts, 0, MARK_START, MARK_END),
        func.snippet(fts, 1, MARK_START, MARK_END, "…", SNIPPET_WORDS),
    ).where(fts.op("MATCH")(bindparam(None, to_fts5(parsed), unique=True)), _FTS.c.rowid.in_(ids)))
    return {int(row[0]): (str(row[1] or ""), str(row[2] or "")) for row in rows}


def _window(text: str, words: int = SNIPPET_WORDS) -> str:
    """About ``words`` words of a marked text around its first mark (what FTS5's snippet() gives on SQLite)."""
    tokens = text.split()
    if len(tokens) <= words:
        return " ".join(tokens)
    first = next((index for index, token in enumerate(tokens) if MARK_START in token), 0)
    start = max(0, min(first - words // 4, len(tokens) - words))
    piece = " ".join(tokens[start:start + words])
    return ("…" if start else "") + piece + ("…" if start + words < len(tokens) else "")
