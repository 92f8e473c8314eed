"""Full-text search over items: SQLite FTS5 (``item_fts``) or PostgreSQL ``item.search_vector`` (migration 0011).

One entry point, ``search_items``; the page, the feeds and the JSON API all reach the same engine, because
``ItemFilter.q`` is also answered by ``search_condition`` (reading._filtered). The reader's text is translated by
``aggregator.store.search_query`` (pure); here it becomes SQL, every piece of it a bind parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, bindparam, func, literal_column, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.types import Text

from ..models import Item
from .fulltext import _FTS, _FTS_WEIGHTS, _VECTOR, tsquery
from .reading import ItemFilter, _filtered
from .search_query import SearchQuery, mark_stems, parse, to_fts5

Order = Literal["relevance", "newest"]
ORDERS: tuple[Order, ...] = ("relevance", "newest")

MARK_START, MARK_END = "\x02", "\x03"  # around matched words in SearchHit.title/snippet (STX, ETX: never text)
SNIPPET_WORDS = 32

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
    first) or "newest" (``sort_at`` descending). ``since``: only items whose ``sort_at`` is at or after it.
    Paging by ``limit``/``offset``. A query with nothing searchable in it ("*", "-x" alone, punctuation) gives
    no results; no query text ever raises. Counting: ``count_matching(ItemFilter(q=query, ...))``.
    """
    parsed = parse(query)
    if not parsed or limit <= 0:
        return []
    dialect = session.get_bind().dialect.name
    filters = ItemFilter(topic=topic, source=source, evidence=evidence)
    statement: Select[Any] = _filtered(select(Item.id), filters, newest_first=True)
    if since is not None:
        statement = statement.where(Item.sort_at >= since)
    if dialect == "postgresql":
        ts = tsquery(parsed)
        assert ts is not None
        statement = statement.where(_VECTOR.op("@@")(ts))
        rank: ColumnElement[Any] = func.ts_rank_cd(_VECTOR, ts).desc()
    else:
        expression = to_fts5(parsed)
        statement = statement.join(_FTS, _FTS.c.rowid == Item.id).where(
            literal_column("item_fts").op("MATCH")(bindparam(None, expression, unique=True)))
        rank = func.bm25(literal_column("item_fts"), *_FTS_WEIGHTS).asc()
    ordering: list[ColumnElement[Any]] = [Item.sort_at.desc(), Item.id.desc()]
    if order == "relevance":
        ordering.insert(0, rank)
    ids = list(session.scalars(statement.order_by(*ordering).limit(limit).offset(offset)))
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
