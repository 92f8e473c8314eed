"""One story, several sources: near-duplicate titles grouped with "also reported by", identifier vetoes, and a
preprint linked to its later journal version (rules table-tested; grouping on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aggregator import store
from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.domain import CleanItem, ParsedItem, SourceSpec
from aggregator.poll.clean import clean_item
from aggregator.store.stories import Candidate, find_near_duplicate, normalize_title, similarity, title_words
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, events, poller, rss, rss_item, stored

RELEASE = "Kyverna Announces First Patient Dosed in KYSA-7 Phase 2 Trial of KYV-101 in Progressive MS"


@pytest.mark.parametrize(("a", "b", "same", "why"), [
    (RELEASE, RELEASE + " | Business Wire", True, "wire suffix"),
    (RELEASE, RELEASE.upper() + " - GlobeNewswire", True, "case and dash suffix"),
    (RELEASE, "Kyverna announces first patient dosed in KYSA-7 phase 2 trial of KYV-101 in progressive MS.",
     True, "punctuation"),
    ("Anti-CD19 CAR T-cell therapy in progressive multiple sclerosis: a case series",
     "Anti-CD19 CAR T cell therapy in progressive multiple sclerosis: a case series", True, "CAR T-cell spelling"),
    (RELEASE, "Kyverna Announces First Patient Dosed in KYSA-8 Phase 2 Trial of KYV-101 in Myasthenia Gravis",
     False, "another trial"),
    ("Research update", "Research update", False, "too short to group on"),
    ("Tolebrutinib slows disability progression in nrSPMS", "Fenebrutinib slows disability progression in RMS",
     False, "different drugs"),
])
def test_near_duplicate_rule(a: str, b: str, same: bool, why: str) -> None:
    match = find_near_duplicate(b, "news", [Candidate(1, a, "press-release")])
    assert (match is not None) == same, (why, similarity(title_words(a), title_words(b)))


def test_title_normalisation() -> None:
    assert normalize_title("Café  Trial | Site - Section") == "cafe  trial"
    assert title_words("The CAR T cells in MS") == title_words("CAR-T cells in MS")


def test_identifiers_veto_and_preprints_link_to_journal_versions() -> None:
    title = "BCMA-directed CAR T cells deplete intrathecal plasma cells in relapsing multiple sclerosis"
    paper = Candidate(1, title, "peer-reviewed", doi="10.1/a")
    assert find_near_duplicate(title, "peer-reviewed", [paper], doi="10.1/b") is None  # two papers
    assert find_near_duplicate(title, "peer-reviewed", [paper], doi="10.1/a") is not None
    trial = Candidate(2, title, "trial-registry", nct_id="NCT06220201")
    assert find_near_duplicate(title, "trial-registry", [trial], nct_id="NCT05938582") is None
    preprint = Candidate(3, title + " (preprint)", "preprint", doi="10.1101/2026.10.28.26312345")
    match = find_near_duplicate(title + ".", "peer-reviewed", [preprint], doi="10.1038/s41591-026-0001-2")
    assert match is not None and match.id == 3 and match.published_version


def test_best_candidate_wins() -> None:
    candidates = [Candidate(1, RELEASE + " and more words here", "news"), Candidate(2, RELEASE, "news")]
    match = find_near_duplicate(RELEASE + " | Wire", "news", candidates)
    assert match is not None and match.id == 2 and match.score == 1.0


def test_syndicated_press_release_is_one_entry(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> None:
    summary = "Kyverna dosed the first person with progressive multiple sclerosis with its CD19 CAR T cells."
    feed_server.add("/ir.xml", rss(rss_item(RELEASE, "https://ir.kyverna.example/news/1", summary, guid="ir-1")))
    feed_server.add("/wire.xml", rss(rss_item(RELEASE + " | Business Wire", "https://wire.example/x/2",
                                              summary, guid="bw-77")))
    feed_server.add("/other.xml", rss(rss_item(RELEASE.replace("KYSA-7", "KYSA-8").replace(
        "Progressive MS", "Myasthenia Gravis and multiple sclerosis"), "https://other.example/3", summary, guid="o")))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ir", "name": "Kyverna IR", "url": feed_server.url("/ir.xml"), "evidence_type": "press-release"},
        {"id": "wire", "name": "Business Wire", "url": feed_server.url("/wire.xml")},
        {"id": "other", "name": "Other", "url": feed_server.url("/other.xml")},
    ]))
    clock = Clock(NOW)
    poller(app, clock).poll_many(["ir"])
    clock.now += timedelta(hours=1)
    poller(app, clock).poll_many(["wire", "other"])
    rows = {row.source_id: row for row in stored(app)}
    assert rows["wire"].duplicate_of_id == rows["ir"].id
    assert rows["other"].duplicate_of_id is None
    page = app.test_client().get("/?topic=all").get_data(as_text=True)
    assert page.count("Business Wire</a>") == 1 and "Also reported by" in page
    assert page.count("First Patient Dosed in KYSA-7") == 1


def test_preprint_then_journal_version(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> None:
    title = "BCMA-directed CAR T cells deplete intrathecal plasma cells in relapsing multiple sclerosis"
    feed_server.add("/medrxiv.xml", rss(rss_item(title, "https://www.medrxiv.org/content/10.1101/2026.10.28.1",
                                                 "CAR T in MS preprint.", guid="p1", doi="10.1101/2026.10.28.1")))
    feed_server.add("/journal.xml", rss(rss_item(title + ": a phase 1 trial", "https://journal.example/a/9",
                                                 "CAR T in MS.", guid="j1", doi="10.1038/s41591-026-9")))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "medrxiv", "name": "medRxiv", "url": feed_server.url("/medrxiv.xml"), "evidence_type": "preprint"},
        {"id": "journal", "name": "Nature Medicine", "url": feed_server.url("/journal.xml"),
         "evidence_type": "peer-reviewed"},
    ]))
    clock = Clock(NOW)
    poller(app, clock).poll_many(["medrxiv"])
    clock.now += timedelta(days=20)
    poller(app, clock).poll_many(["journal"])
    rows = {row.source_id: row for row in stored(app)}
    assert rows["journal"].duplicate_of_id == rows["medrxiv"].id
    [event] = events(app)
    assert event.item_id == rows["medrxiv"].id and event.kind == "published"
    assert event.data["link"] == "https://journal.example/a/9"
    page = app.test_client().get("/?topic=all").get_data(as_text=True)
    assert "Nature Medicine (published version)" in page and "Published in a journal" in page


def test_registry_rss_entry_and_api_record_of_one_trial_are_one_story(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    from tests.kinds_helpers import CtGov, fixture
    from tests.test_kinds_clinicaltrials import QUERY, TOKEN

    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    feed_server.add("/ctgov.rss", rss(rss_item(
        "KYV-101 CAR T-cell Therapy in Progressive Multiple Sclerosis", "https://clinicaltrials.gov/study/NCT06384976?term=car-t",
        "CAR T in multiple sclerosis.", guid="https://clinicaltrials.gov/study/NCT06384976")))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "api", "name": "ClinicalTrials.gov API", "kind": "clinicaltrials", "url": feed_server.url(QUERY),
         "evidence_type": "trial-registry"},
        {"id": "rss", "name": "ClinicalTrials.gov RSS", "url": feed_server.url("/ctgov.rss"),
         "evidence_type": "trial-registry"},
    ]))
    poller(app, Clock(NOW)).poll_many(["api"])
    poller(app, Clock(NOW + timedelta(hours=1))).poll_many(["rss"])
    rows = stored(app)
    api = next(r for r in rows if r.source_id == "api" and r.nct_id == "NCT06384976")
    [entry] = [r for r in rows if r.source_id == "rss"]
    assert entry.duplicate_of_id == api.id


def test_one_poll_groups_an_item_with_one_stored_earlier_in_the_same_poll(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    """The near-duplicate candidates are read once per poll: what the poll stored since must be among them."""
    summary = "Kyverna dosed the first person with progressive multiple sclerosis with its CD19 CAR T cells."
    feed_server.add("/ir.xml", rss(rss_item(RELEASE, "https://ir.kyverna.example/news/1", summary, guid="ir-1")))
    feed_server.add("/wire.xml", rss(rss_item(RELEASE + " | Business Wire", "https://wire.example/x/2",
                                              summary, guid="bw-77")))
    feed_server.add("/copy.xml", rss(rss_item(RELEASE + " - GlobeNewswire", "https://copy.example/x/3",
                                              summary, guid="gn-1")))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ir", "name": "Kyverna IR", "url": feed_server.url("/ir.xml"), "evidence_type": "press-release"},
        {"id": "wire", "name": "Business Wire", "url": feed_server.url("/wire.xml")},
        {"id": "copy", "name": "GlobeNewswire", "url": feed_server.url("/copy.xml")},
    ]))
    # One host: the three sources are polled one after another, in this order, by one poll.
    reports = poller(app, Clock(NOW)).poll_many(["ir", "wire", "copy"])
    assert [r.new for r in reports] == [1, 1, 1]
    rows = {row.source_id: row for row in stored(app)}
    assert rows["ir"].duplicate_of_id is None
    assert rows["wire"].duplicate_of_id == rows["ir"].id
    assert rows["copy"].duplicate_of_id == rows["ir"].id  # the primary, never the duplicate stored in between


def _clean(title: str, guid: str) -> CleanItem:
    spec = SourceSpec(id="x", name="x", url="https://x.example/feed")
    return clean_item(ParsedItem(title=title, link=f"https://x.example/{guid}", guid=guid), spec, NOW)


def test_near_duplicate_pool_of_a_poll(tmp_path: Path, any_db_url: str) -> None:
    """Read once, enough rows for every source; then what others commit, and what this poll commits."""
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": s, "name": s, "url": f"https://{s}.example/feed"} for s in ("a", "b", "c", "d")]))
    database = get_database(app)
    build_poller(app).sync_sources()
    release = _clean(RELEASE, "r")
    fillers = [_clean(f"Unrelated story number {i} about lupus nephritis outcomes", f"f{i}") for i in range(4)]

    def upsert(source: str, items: list[CleanItem], at: datetime, near: store.NearDuplicates | None = None
               ) -> store.UpsertCounts:
        with database.session_scope() as session:
            return store.upsert_items(session, source, items, [[] for _ in items], at, near)

    upsert("b", [release], NOW - timedelta(hours=2))  # the original, older than a's own items
    upsert("a", fillers, NOW - timedelta(hours=1))  # four newer items of the polled source itself
    near = store.NearDuplicates(limit=1)
    # With a limit of 1, the 1 most recent item of the *other* sources is b's release, under a's four own items.
    with database.session_scope() as session:
        near.refresh(session, NOW)
        match = near.find("a", NOW, _clean(RELEASE + " | Wire", "w"))
    assert match is not None and match.id == min(row.id for row in stored(app))
    # Another poller commits a copy's original under source d: the next refresh reads it.
    upsert("d", [_clean("Anti-CD19 CAR T-cell therapy in progressive multiple sclerosis: a case series", "d1")],
           NOW - timedelta(minutes=1))
    case_series = _clean("Anti-CD19 CAR T cell therapy in progressive multiple sclerosis: a case series", "c1")
    with database.session_scope() as session:
        near.find("c", NOW, case_series)  # before the refresh: not there yet
        near.refresh(session, NOW)
        found = near.find("c", NOW, case_series)
    assert found is not None and found.id == max(row.id for row in stored(app))
    # upsert_items never adds to the pool itself: its caller adds the primaries once they are committed, so a
    # rolled-back item never becomes a candidate.
    counts = upsert("c", [case_series], NOW, near)
    assert counts.new == 1 and counts.primaries == ()  # a duplicate of d's item: no candidate
    try:
        with database.session_scope() as session:
            rolled_back = store.upsert_items(session, "a", [_clean("Zanubrutinib in relapsing MS: results of a "
                                                                   "randomised phase two study", "z")], [[]], NOW, near)
            raise RuntimeError("the transaction fails")
    except RuntimeError:
        pass
    assert len(rolled_back.primaries) == 1
    assert rolled_back.primaries[0].id not in near
    committed = upsert("a", [_clean("Zanubrutinib in relapsing MS: results of a randomised phase two study", "z")],
                       NOW, near)
    near.add(committed.primaries)
    assert [c.id for c in committed.primaries] == [max(row.id for row in stored(app))]
    assert committed.primaries[0].id in near
