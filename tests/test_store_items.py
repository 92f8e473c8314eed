"""store.upsert_items on a real database: new items go in with one INSERT per batch, and every identity rule
of the ORM version still holds (first of a repeated key wins, changed items updated in place, topics and
events attached to the right item)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from aggregator import store
from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.domain import CleanItem, ParsedItem, SourceSpec
from aggregator.models import Item, ItemEvent, ItemTopic
from aggregator.poll.clean import clean_item
from tests.conftest import make_app, write_feeds_file
from tests.kinds_helpers import NOW

TITLE = "BCMA-directed CAR T cells deplete intrathecal plasma cells in relapsing multiple sclerosis"


def _clean(title: str, guid: str, summary: str = "", doi: str | None = None, evidence: str = "news") -> CleanItem:
    spec = SourceSpec(id="x", name="x", url="https://x.example/feed", evidence_type=evidence)
    return clean_item(ParsedItem(title=title, link=f"https://x.example/{guid}", guid=guid, summary=summary, doi=doi),
                      spec, NOW)


def test_bulk_insert_keeps_identity_rules_topics_and_events(tmp_path: Path, any_db_url: str) -> None:
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": s, "name": s, "url": f"https://{s}.example/feed"} for s in ("medrxiv", "journal")]))
    database = get_database(app)
    build_poller(app).sync_sources()

    def upsert(source: str, items: list[CleanItem], topics: list[store.TopicRows], at: object) -> store.UpsertCounts:
        with database.session_scope() as session:
            return store.upsert_items(session, source, items, topics, at)  # type: ignore[arg-type]

    preprint = _clean(TITLE, "p1", doi="10.1101/2026.10.28.1", evidence="preprint")
    assert upsert("medrxiv", [preprint], [[]], NOW).new == 1
    hits = [{"term": "CAR T", "where": "title"}]
    batch = [
        _clean("Ocrelizumab dosing intervals in relapsing multiple sclerosis cohorts", "a", "first"),
        _clean(TITLE + ": a phase 1 trial", "j1", doi="10.1038/s41591-026-9", evidence="peer-reviewed"),
        _clean("Ocrelizumab dosing intervals, the same guid again", "a", "second"),  # a repeated guid
        _clean("Lupus nephritis outcomes after rituximab in adults", "b"),
    ]
    topics: list[store.TopicRows] = [[("ms", 0.5, [])], [("car-t-ms", 2.0, hits), ("ms", 1.0, [])], [], []]
    later = NOW + timedelta(days=20)
    counts = upsert("journal", batch, topics, later)
    assert (counts.new, counts.updated, counts.unchanged, counts.new_matches) == (3, 0, 0, 2)
    with database.session_scope() as session:
        rows = {row.key: row for row in session.scalars(select(Item).where(Item.source_id == "journal"))}
        first = rows["guid:a"]
        journal = rows["guid:j1"]
        assert first.summary_text == "first"  # the first of a repeated key wins
        assert first.first_seen_at == first.updated_at == later and journal.categories == []
        assert journal.duplicate_of_id is not None and journal.extra == {}
        by_item = {(t.item_id, t.topic_id): (t.score, t.hits) for t in session.scalars(select(ItemTopic))}
        assert by_item == {(first.id, "ms"): (0.5, []), (journal.id, "car-t-ms"): (2.0, hits),
                           (journal.id, "ms"): (1.0, [])}
        [event] = session.scalars(select(ItemEvent))
        assert event.item_id == journal.duplicate_of_id and event.kind == "published"
        assert event.data == {"item_id": journal.id, "link": journal.link, "doi": "10.1038/s41591-026-9"}
        assert event.summary == f"Published in a journal: {journal.title}"
        ids = {key: row.id for key, row in rows.items()}
    # The committed primaries (not the journal version, a duplicate) are what the next sources compare with.
    assert sorted(c.id for c in counts.primaries) == sorted([ids["guid:a"], ids["guid:b"]])
    assert {c.source_id for c in counts.primaries} == {"journal"}

    # Again: one changed (updated in place, same id and first-seen time), one unchanged, one new.
    again = [_clean("Ocrelizumab dosing intervals in relapsing multiple sclerosis cohorts", "a", "edited"),
             batch[3], _clean("Tolebrutinib slows disability progression in nonrelapsing MS", "c")]
    even_later = later + timedelta(hours=1)
    counts = upsert("journal", again, [[("ms", 0.7, [])], [], []], even_later)
    assert (counts.new, counts.updated, counts.unchanged) == (1, 1, 1)
    with database.session_scope() as session:
        rows = {row.key: row for row in session.scalars(select(Item).where(Item.source_id == "journal"))}
        assert {key: row.id for key, row in rows.items() if key != "guid:c"} == ids
        assert rows["guid:a"].summary_text == "edited"
        assert rows["guid:a"].first_seen_at == later and rows["guid:a"].updated_at == even_later
        assert rows["guid:b"].updated_at == later
        assert rows["guid:c"].first_seen_at == even_later and rows["guid:c"].id > max(ids.values())
        [(score, _)] = [(t.score, t.hits) for t in session.scalars(select(ItemTopic).where(
            ItemTopic.item_id == ids["guid:a"]))]
        assert score == 0.7
