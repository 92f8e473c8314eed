"""The SQL of "this item matches the reader's query", for both engines: SQLite FTS5 (the ``item_fts`` table,
migration 0011) and PostgreSQL (``item.search_vector``, a generated tsvector with a GIN index). The reader's text
is parsed by ``search_query`` (pure); here it becomes a WHERE condition, every piece of it a bind parameter.

Apart from ``search.py`` so that ``reading.py`` (whose filters use ``search_condition`` for ``q``) and ``search.py``
(which ranks through ``reading._filtered``) do not import each other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, column, func, literal_column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import NullType

from ..models import Item
from .search_query import SearchQuery, TsNode, TsPart, parse, to_fts5, to_tsquery_tree

_FTS = table("item_fts", column("rowid"))
_FTS_WEIGHTS = (10.0, 1.0, 4.0, 4.0, 4.0)  # bm25 column weights: title, summary, doi, pmid, nct_id
_VECTOR: ColumnElement[Any] = literal_column("item.search_vector")
_ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")


def _ts_sql(node: TsNode) -> ColumnElement[Any]:
    if isinstance(node, TsPart):
        called: ColumnElement[Any] = getattr(func, node.function)(_ENGLISH, bindparam(None, node.text, unique=True))
        return called
    operator, parts = node
    if operator == "!":
        return func.tsquery_not(_ts_sql(parts[0]))
    combine = func.tsquery_and if operator == "&" else func.tsquery_or
    out = _ts_sql(parts[0])
    for part in parts[1:]:
        out = combine(out, _ts_sql(part))
    return out


def tsquery(query: SearchQuery) -> ColumnElement[Any] | None:
    tree = to_tsquery_tree(query)
    return None if tree is None else _ts_sql(tree)


class SearchMatch(ColumnElement[bool]):
    """``item`` matches the reader's query, in whichever engine the statement is compiled for.

    Not cached by SQLAlchemy's statement cache (the query is state the cache key would not see). Typed NullType,
    not Boolean: SQLite has no boolean type, and SQLAlchemy would compare a Boolean expression with 1
    (``item.id IN (…) = 1``), which SQLite answers by scanning every item instead of looking the ids up.
    """

    type = NullType()  # type: ignore[assignment]  # see the docstring: Boolean would scan on SQLite
    inherit_cache = False

    def __init__(self, query: SearchQuery) -> None:
        self.query = query


@compiles(SearchMatch, "sqlite")
def _match_sqlite(element: SearchMatch, compiler: SQLCompiler, **kw: Any) -> str:
    expression = to_fts5(element.query)
    if expression is None:
        return compiler.process(literal_column("0") == literal_column("1"), **kw)
    ids = select(_FTS.c.rowid).where(literal_column("item_fts").op("MATCH")(bindparam(None, expression, unique=True)))
    return compiler.process(Item.id.in_(ids.scalar_subquery()), **kw)


@compiles(SearchMatch, "postgresql")
def _match_postgresql(element: SearchMatch, compiler: SQLCompiler, **kw: Any) -> str:
    ts = tsquery(element.query)
    if ts is None:
        return compiler.process(literal_column("false"), **kw)
    return compiler.process(_VECTOR.op("@@")(ts), **kw)


def search_condition(text: str) -> ColumnElement[bool]:
    """The WHERE condition "matches ``text``" (what ``ItemFilter.q`` means on the page and in feeds)."""
    return SearchMatch(parse(text))
