"""NearDuplicateIndex gives exactly the answers of find_near_duplicate (it only skips hopeless comparisons)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.stories import Candidate, NearDuplicateIndex, find_near_duplicate

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
