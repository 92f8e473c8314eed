"""NearDuplicateIndex gives exactly the answers of find_near_duplicate (it only skips hopeless comparisons), and
RecentPrimaries those of the per-source candidate query followed by find_near_duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.store.stories import Candidate, NearDuplicateIndex, RecentPrimaries, find_near_duplicate

# A small vocabulary, so that random titles often share most of their words and reach the threshold.
WORDS = ["kyv-101", "car-t", "cells", "multiple", "sclerosis", "progressive", "patients", "phase", "results",
         "cd19", "lupus", "myasthenia", "safety", "dose", "first", "infusion", "b-cell", "depletion"]
titles = st.lists(st.sampled_from(WORDS), min_size=0, max_size=9).map(" ".join)
evidence = st.sampled_from(["peer-reviewed", "preprint", "news"])
dois = st.sampled_from([None, None, "10.1/a", "10.1/b"])
ncts = st.sampled_from([None, None, "NCT01", "NCT02"])
candidates = st.lists(
    st.builds(Candidate, id=st.integers(1, 10**6), title=titles, evidence_type=evidence, doi=dois, nct_id=ncts),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(candidates, st.lists(st.tuples(titles, evidence, dois, ncts), min_size=1, max_size=5))
def test_index_agrees_with_the_linear_scan(pool: list[Candidate], queries: list[tuple]) -> None:
    index = NearDuplicateIndex(pool)
    for title, kind, doi, nct in queries:
        assert index.find(title, kind, doi, nct) == find_near_duplicate(title, kind, pool, doi, nct)


def test_finds_a_syndicated_copy_and_ignores_unrelated_titles() -> None:
    pool = [
        Candidate(1, "Lupus nephritis outcomes after rituximab in adults", "peer-reviewed"),
        Candidate(2, "Kyverna Announces First Patient Dosed with KYV-101 in Progressive MS | Business Wire", "news"),
    ]
    index = NearDuplicateIndex(pool)
    match = index.find("Kyverna announces first patient dosed with KYV-101 in progressive MS", "news")
    assert match is not None and match.id == 2 and match.score >= 0.75
    assert index.find("Ocrelizumab dosing intervals in relapsing multiple sclerosis cohorts", "news") is None
    assert index.find("Short title", "news") is None


# RecentPrimaries: the pool of a whole poll. For a source S at ``since``, it must answer exactly like the
# per-source query it replaces (the ``limit`` most recent primaries of other sources first seen since ``since``,
# most recent first) followed by the linear scan.
SOURCES = ["a", "b", "c"]
START = datetime(2026, 11, 1, tzinfo=UTC)
recent = st.lists(
    st.tuples(titles, evidence, dois, ncts, st.sampled_from(SOURCES), st.integers(0, 6)), max_size=30,
)


def _reference(pool: list[Candidate], source_id: str, since: datetime, limit: int) -> list[Candidate]:
    others = [c for c in pool if c.source_id != source_id and c.first_seen_at is not None and c.first_seen_at >= since]
    others.sort(key=lambda c: (c.first_seen_at, c.id), reverse=True)
    return others[:limit]


@settings(max_examples=300, deadline=None)
@given(recent, st.integers(1, 8), st.integers(1, 4),
       st.lists(st.tuples(titles, evidence, dois, ncts, st.sampled_from(SOURCES), st.integers(0, 6)),
                min_size=1, max_size=5))
def test_recent_primaries_agree_with_the_per_source_query(rows: list[tuple], limit: int, batches: int,
                                                          queries: list[tuple]) -> None:
    # Ids in insertion order and days in any order: ties of first_seen_at are broken by id, as the query does.
    pool = [Candidate(i + 1, title, kind, doi, nct, source_id=source, first_seen_at=START + timedelta(days=day))
            for i, (title, kind, doi, nct, source, day) in enumerate(rows)]
    index = RecentPrimaries(limit)
    for start in range(batches):  # added in several batches, in no particular order, one candidate twice
        index.add(pool[start::batches])
    index.add(pool[:1])
    assert len(index) == len(pool)
    for title, kind, doi, nct, source, day in queries:
        since = START + timedelta(days=day)
        expected = find_near_duplicate(title, kind, _reference(pool, source, since, limit), doi, nct)
        assert index.find(title, kind, source, since, doi, nct) == expected


def test_recent_primaries_need_where_and_when() -> None:
    with pytest.raises(ValueError, match="source_id and first_seen_at"):
        RecentPrimaries(10).add([Candidate(1, "a title of five significant words", "news")])


def test_recent_primaries_keep_exactly_the_limit_most_recent_of_other_sources() -> None:
    release = "Kyverna announces first patient dosed with KYV-101 in progressive MS"
    pool = [
        Candidate(4, "Tolebrutinib slows disability progression in nonrelapsing secondary MS", "news",
                  source_id="c", first_seen_at=START - timedelta(days=1)),
        Candidate(1, release, "news", source_id="b", first_seen_at=START),  # the only match, the 3rd most recent
        Candidate(2, "Ocrelizumab dosing intervals in relapsing multiple sclerosis cohorts", "news",
                  source_id="c", first_seen_at=START + timedelta(days=1)),
        Candidate(3, "Lupus nephritis outcomes after rituximab in adults", "news",
                  source_id="b", first_seen_at=START + timedelta(days=1)),
    ]
    # The polled source's own items are newer than all of them and never count against the limit.
    own = [Candidate(10 + i, f"Own item number {i} about something else entirely", "news", source_id="a",
                     first_seen_at=START + timedelta(days=2)) for i in range(5)]
    for limit, found in [(3, True), (2, False), (4, True), (10, True)]:
        index = RecentPrimaries(limit)
        index.add(own + pool)
        match = index.find(release + " | Business Wire", "news", "a", START - timedelta(days=1))
        assert (match is not None and match.id == 1) == found, limit
        assert index.find(release + " | Business Wire", "news", "a", START + timedelta(hours=1)) is None  # too old
        assert index.find(release + " | Business Wire", "news", "b", START - timedelta(days=1)) is None  # own
