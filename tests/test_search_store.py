"""store.search_items on real SQLite (FTS5) and PostgreSQL (tsvector + GIN): the index follows every write,
the migration backfills, stemming/phrases/exclusions/OR/prefix/identifiers find what a reader expects, ranking
and "newest first" order, snippets marked, and hostile queries never raise."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, inspect, select, text, update

from aggregator import create_app, store
from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.domain import CleanItem, ParsedItem, SourceSpec
from aggregator.models import Item
from aggregator.poll.clean import clean_item
from aggregator.store.search import MARK_END, MARK_START
from tests.conftest import make_app, write_feeds_file
from tests.kinds_helpers import NOW

DOCS = {  # guid: (title, summary, doi, days before NOW)
    "a": ("CD19 CAR T cells in relapsing multiple sclerosis", "Two patients relapsed after KYV-101 infusion.",
          "10.1212/WNL.0000000000209876", 5),
    "b": ("Miv-cel for myasthenia gravis", "A phase 2 trial NCT06451159 of mivcel in MG.", None, 1),
    "c": ("Ocrelizumab and B cells", "Plasma cells persist; relapse rates fall. PMID 39612345", None, 3),
    "d": ("Lupus nephritis after CAR-T", "Remission in lupus with KYV101 and CAR T cells.", None, 2),
    "e": ("Café society: sclérose en plaques", "Relapsing-remitting disease in Québec.", None, 4),
}


def _clean(guid: str, title: str | None = None) -> CleanItem:
    first_title, summary, doi, days = DOCS[guid]
    title = title or first_title
    spec = SourceSpec(id="journal", name="Journal", url="https://j.example/feed")
    return clean_item(ParsedItem(title=title, link=f"https://j.example/{guid}", guid=guid, summary=summary, doi=doi,
                                 published_at=NOW - timedelta(days=days)), spec, NOW)


def _site(tmp_path: Path, url: str, **overrides: object) -> Flask:
    app = make_app(url, write_feeds_file(tmp_path / "f.yaml", [{"id": "journal", "name": "Journal",
                                                                 "url": "https://j.example/feed"}]), **overrides)
    build_poller(app).sync_sources()
    with get_database(app).session_scope() as session:
        store.upsert_items(session, "journal", [_clean(g) for g in DOCS], [[("ms", 1.0, [])] for _ in DOCS], NOW)
    return app


def found(app: Flask, query: str, **kw: object) -> list[str]:
    with get_database(app).session_scope() as session:
        return [hit.item.guid or "" for hit in store.search_items(session, query, **kw)]  # type: ignore[arg-type]


def guid_set(app: Flask, query: str) -> set[str]:
    return set(found(app, query))


@pytest.fixture
def site(tmp_path: Path, any_db_url: str) -> Flask:
    return _site(tmp_path, any_db_url)


@pytest.mark.parametrize(("query", "expected"), [
    ("relapse", {"a", "c", "e"}),  # stemmed: relapsing, relapsed, relapse, Relapsing-remitting
    ('"plasma cells"', {"c"}),
    ('"cells plasma"', set()),
    ("cells -lupus", {"a", "c"}),
    ("lupus OR myasthenia", {"b", "d"}),
    ("ocreli*", {"c"}),
    ("KYV-101", {"a", "d"}), ("KYV101", {"a", "d"}), ("kyv 101", {"a", "d"}),
    ("miv-cel", {"b"}), ("mivcel", {"b"}),
    ("NCT06451159", {"b"}),
    ("10.1212/WNL.0000000000209876", {"a"}), ("10.1212/wnl.0000000000209876", {"a"}),
    ("39612345", {"c"}),
    ("sclerose", {"e"}), ("quebec", {"e"}),
    ("CAR-T", {"a", "d"}),
])
def test_query_syntax_finds_the_expected_items(site: Flask, query: str, expected: set[str]) -> None:
    assert guid_set(site, query) == expected


@pytest.mark.parametrize("query", ['"', '"unbalanced', "NEAR(", "*", "-", "x" * 10_000, "a\x00b", "AND OR NOT",
                                   "kyv:*", "')--", "!(&|", "\\", "col:val", "^x", "{a b}"])
def test_hostile_queries_never_raise(site: Flask, query: str) -> None:
    found(site, query)
    with get_database(site).session_scope() as session:
        store.count_matching(session, store.ItemFilter(q=query))


def test_relevance_ranks_title_matches_first_and_newest_switch(site: Flask) -> None:
    # "lupus": d has it in the title and the summary; nothing else. "cells": a (title), c (title), d (summary).
    by_relevance = found(site, "cells")
    assert set(by_relevance[:2]) == {"a", "c"} and by_relevance[2] == "d"
    assert found(site, "cells", order="newest") == ["d", "c", "a"]  # 2, 3, 5 days old
    assert found(site, "cells", order="newest", limit=1, offset=1) == ["c"]
    assert found(site, "cells", since=NOW - timedelta(days=3, hours=1), order="newest") == ["d", "c"]


def test_filters_combine_and_count_agrees(site: Flask) -> None:
    assert found(site, "cells", source="journal", topic="ms") != []
    assert found(site, "cells", source="other") == []
    assert found(site, "cells", topic="car-t-ms") == []
    assert found(site, "cells", evidence="preprint") == []
    with get_database(site).session_scope() as session:
        assert store.count_matching(session, store.ItemFilter(q="relapse")) == 3
        assert store.count_matching(session, store.ItemFilter(q="relapse", topic="ms")) == 3
        listed = store.matching_items(session, store.ItemFilter(q="KYV-101"), 10)
        assert {item.guid for item in listed} == {"a", "d"}


def test_snippets_mark_the_matched_words(site: Flask) -> None:
    with get_database(site).session_scope() as session:
        hit = store.search_items(session, "relapse KYV-101")[0]
    assert hit.item.guid == "a"
    assert f"{MARK_START}relapsing{MARK_END}" in hit.title
    assert f"{MARK_START}relapsed{MARK_END}" in hit.snippet
    assert "KYV" in hit.snippet and MARK_START + "KYV" in hit.snippet


def test_index_follows_inserts_updates_and_deletes(site: Flask) -> None:
    database = get_database(site)
    with database.session_scope() as session:
        session.execute(update(Item).where(Item.guid == "c").values(title="Natalizumab withdrawal rebound"))
    assert guid_set(site, "ocrelizumab") == set()
    assert guid_set(site, "natalizumab") == {"c"}
    with database.session_scope() as session:  # a change of another column leaves the index as it was
        session.execute(update(Item).where(Item.guid == "c").values(updated_at=NOW + timedelta(days=1)))
    assert guid_set(site, "natalizumab") == {"c"}
    with database.session_scope() as session:  # the store's own update path (a changed item polled again)
        changed = _clean("b", "Efgartigimod in generalised myasthenia")
        store.upsert_items(session, "journal", [changed], [[("ms", 1.0, [])]], NOW + timedelta(days=1))
    assert guid_set(site, "efgartigimod") == {"b"} and guid_set(site, "miv-cel") == {"b"}  # summary kept its mivcel
    with database.session_scope() as session:
        session.execute(delete(Item).where(Item.guid == "a"))
    assert guid_set(site, "KYV-101") == {"d"}
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as connection:  # the external-content index agrees with its table
            connection.execute(text("INSERT INTO item_fts(item_fts, rank) VALUES ('integrity-check', 1)"))


def test_migration_backfills_existing_items(tmp_path: Path, any_db_url: str) -> None:
    feeds = write_feeds_file(tmp_path / "f.yaml", [{"id": "journal", "name": "Journal",
                                                    "url": "https://j.example/feed"}])
    app = create_app({"database_url": any_db_url, "feeds_file": str(feeds), "secret_key": "x",
                      "poll_parse_processes": 0})
    try:
        # Items stored with the whole schema (the ORM model is the head's), then the search tables taken away and
        # the chain run up again: 0011 finds the items already there and must index them.
        with app.app_context():
            upgrade()
        build_poller(app).sync_sources()
        with get_database(app).session_scope() as session:
            store.upsert_items(session, "journal", [_clean("a"), _clean("b")], [[("ms", 1.0, [])]] * 2, NOW)
        with app.app_context():
            downgrade(revision="0010_review_labels")
            names = set(inspect(get_database(app).engine).get_table_names())
            assert not {name for name in names if name.startswith("item_fts")}
            upgrade()
        assert guid_set(app, "relapse") == {"a"} and guid_set(app, "mivcel") == {"b"}
        with app.app_context():
            downgrade(revision="0009_trial_details")
            names = set(inspect(get_database(app).engine).get_table_names())
            assert not {name for name in names if name.startswith("item_fts")}
            upgrade()
    finally:
        get_database(app).dispose()


def test_sqlite_triggers_exist_after_the_whole_chain(app: Flask) -> None:
    """A later migration that recreates ``item`` on SQLite (batch mode) would drop them with the old table."""
    with get_database(app).engine.connect() as connection:
        triggers = set(connection.scalars(select(text("name")).select_from(text("sqlite_master"))
                                          .where(text("type = 'trigger'"))))
    assert {"item_fts_insert", "item_fts_update", "item_fts_delete"} <= triggers


def test_a_long_summary_gives_a_short_snippet_around_the_match(site: Flask) -> None:
    filler = " ".join(f"word{n}" for n in range(100))
    with get_database(site).session_scope() as session:
        session.execute(update(Item).where(Item.guid == "c").values(
            summary_text=f"{filler} natalizumab rebound {filler}"))
    with get_database(site).session_scope() as session:
        [hit] = store.search_items(session, "natalizumab")
    assert f"{MARK_START}natalizumab{MARK_END}" in hit.snippet
    assert 10 <= len(hit.snippet.split()) <= 40 and hit.snippet.startswith("…") and hit.snippet.endswith("…")


def test_counts_stop_past_the_cap_and_keep_the_filters(site: Flask) -> None:
    with get_database(site).session_scope() as session:
        assert store.count_search(session, store.ItemFilter(q="cells"), cap=10) == 3  # a, c, d
        assert store.count_search(session, store.ItemFilter(q="cells"), cap=1) == 2  # "more than 1"
        assert store.count_search(session, store.ItemFilter(q="cells", source="other"), cap=1) == 0
        assert store.count_search(session, store.ItemFilter(q="cells -lupus"), cap=10) == 2
        assert store.count_search(session, store.ItemFilter(q="*"), cap=10) == 0  # nothing searchable


def _more_items(app: Flask) -> None:
    """Twenty more "cells" items of varied relevance (title, summary, twice in the summary), every third in no
    topic (so the page's "any topic" filter drops it), a day apart from NOW - 10 days back."""
    spec = SourceSpec(id="journal", name="Journal", url="https://j.example/feed")
    items, topics = [], []
    for n in range(20):
        title = f"Cells of kind {n}" if n % 4 == 0 else "Report"  # the same text: the same score, ties
        summary = "cells and more cells" if n % 3 == 1 else ("cells" if n % 2 else "Other words.")
        items.append(clean_item(ParsedItem(title=title, link=f"https://j.example/m{n}", guid=f"m{n}",
                                           summary=summary, published_at=NOW - timedelta(days=10 + n)), spec, NOW))
        topics.append([] if n % 3 == 0 else [("ms", 1.0, [])])
    with get_database(app).session_scope() as session:
        store.upsert_items(session, "journal", items, topics, NOW)


def test_ranking_a_few_best_rows_at_a_time_gives_the_exhaustive_order(site: Flask,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite ranks inside FTS5 and filters its best ``depth`` rows, asking again deeper when the filters kept
    too few (or a tie at the edge could hide a row): every page must be what ranking all matches gives."""
    from aggregator.store import search

    _more_items(site)
    exhaustive: dict[tuple[int, int, str | None], list[str]] = {}
    monkeypatch.setattr(search, "RANK_DEPTH_MAX", 0)  # straight to the one query that ranks all matches
    pages = [(limit, offset, topic) for limit in (1, 3, 25) for offset in (0, 2, 7) for topic in (None, "ms")]
    for limit, offset, topic in pages:
        exhaustive[limit, offset, topic] = found(site, "cells", limit=limit, offset=offset, topic=topic)
    monkeypatch.setattr(search, "RANK_DEPTH_MAX", 12_800)
    monkeypatch.setattr(search, "first_depth", lambda wanted: wanted)  # any row filtered out: ask again
    for limit, offset, topic in pages:
        assert found(site, "cells", limit=limit, offset=offset, topic=topic) == exhaustive[limit, offset, topic]
    with_cells = {f"m{n}" for n in range(20) if (n % 4 == 0 or n % 3 == 1 or n % 2) and n % 3}
    assert set(exhaustive[25, 0, None]) == {"a", "c", "d"} | with_cells  # the test asks for more than one round


def test_newest_first_walks_or_sorts_with_the_same_result(site: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from aggregator.store import search

    _more_items(site)
    sorted_ = [found(site, "cells", order="newest", limit=5, offset=offset) for offset in (0, 4, 12)]
    monkeypatch.setattr(search, "walk_is_cheaper", lambda wanted, matches, stored: True)
    assert [found(site, "cells", order="newest", limit=5, offset=offset) for offset in (0, 4, 12)] == sorted_
    assert sorted_[0] == ["d", "c", "a", "m1", "m4"]  # m2 has no "cells", m3 no topic


def test_postgresql_ranks_the_newest_pool_of_matches(site: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """"cells": a (title, 5 days), c (title, 3 days), d (summary, 2 days). SQLite ranks all three; PostgreSQL
    ranks the newest RANK_POOL matches, so with a pool of two, a (the oldest) is not among the ranked."""
    from aggregator.store import search

    monkeypatch.setattr(search, "RANK_POOL", 2)
    ranked = found(site, "cells")
    if get_database(site).engine.dialect.name == "postgresql":
        assert ranked == ["c", "d"]
    else:
        assert set(ranked[:2]) == {"a", "c"} and ranked[2] == "d"
    assert found(site, "cells", order="newest") == ["d", "c", "a"]  # newest first reaches every match
