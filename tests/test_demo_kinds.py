"""``make demo`` shows every source kind (issue 14): PubMed, Europe PMC, an html page and a sitemap join the feeds and
trial registries, each polled from the bundled corpus into real SQLite, so every evidence badge, the trial-status
badge and the grouped /sources appear."""

from __future__ import annotations

from pathlib import Path

from aggregator import demo
from aggregator.domain import EVIDENCE_TYPES, SOURCE_KINDS
from tests.kinds_helpers import poll_demo_corpus, stored


def test_demo_has_every_kind_and_every_badge(tmp_path: Path, sqlite_url: str) -> None:
    assert {s.get("kind", "feed") for s in demo.DEMO_SOURCES} == set(SOURCE_KINDS)
    app, reports = poll_demo_corpus(tmp_path, sqlite_url)
    assert all(r.outcome == "ok" for r in reports), [r for r in reports if r.outcome != "ok"]
    by_source: dict[str, list[str]] = {}
    for row in stored(app):
        by_source.setdefault(row.source_id, []).append(row.title)
    # Counts and titles read off the demo files: 3 ESummary records, 2 Europe PMC results, 3 cards, and the
    # 3 sitemap URLs under /hospital/news/ (the parking page is outside options.paths).
    assert len(by_source["demo-pubmed"]) == 3
    assert len(by_source["demo-europepmc"]) == 2
    assert len(by_source["demo-society-page"]) == 3
    assert sorted(by_source["demo-hospital-sitemap"]) == [
        "A new clinic for children and teenagers with MS",
        "Demo Clinic opens a CAR T program for people with multiple sclerosis",
        "Demo Clinic researchers report BTK inhibitor results in progressive MS"]
    client = app.test_client()
    page = client.get("/?topic=all").get_data(as_text=True)
    for label in EVIDENCE_TYPES.values():
        assert f'<span class="badge evidence">{label}</span>' in page, label
    assert 'class="badge trial-status"' in page and 'class="badge topic"' in page
    assert "<script>alert" not in page and "onerror" not in page
    sources = client.get("/sources").get_data(as_text=True)
    assert "Demo Clinic <span" in sources and "Demo MS Society <span" in sources
