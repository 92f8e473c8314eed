"""Trial cross-links: NCT ids and product codes found in text (table-tested), items linked to the trial they are
about, and the trial page listing its record, status changes, papers and news (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from aggregator.trials import (
    find_nct_ids,
    find_product_codes,
    linked_trials,
    mentions,
    normalize_code,
    phase_label,
    status_label,
    trial_codes,
)
from aggregator.trials.diff import TrialChange, trial_changes
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, CtGov, EUtils, fixture, poller, rss, rss_item, stored
from tests.test_kinds_clinicaltrials import QUERY, TOKEN
from tests.test_kinds_pubmed import ENDPOINTS, SEARCH, summaries


@pytest.mark.parametrize(("text", "expected", "why"), [
    ("Enrolling in NCT06384976 now", ["NCT06384976"], "plain"),
    ("see nct06384976.", ["NCT06384976"], "lower case, trailing dot"),
    ("(NCT 0638 4976)", ["NCT06384976"], "spaced as some press releases write it"),
    ("NCT063849761 and NCT0638497", [], "nine and seven digits are not NCT ids"),
    ("NCT06384976, NCT05938582 and NCT06384976 again", ["NCT06384976", "NCT05938582"], "order, no repeats"),
    ("", [], "empty"),
])
def test_nct_ids(text: str, expected: list[str], why: str) -> None:
    assert find_nct_ids(text) == expected, why


@pytest.mark.parametrize(("text", "expected", "why"), [
    ("Kyverna's KYV-101 in MS", ["KYV-101"], "company code"),
    ("KYV101 and CABA-201", ["KYV-101", "CABA-201"], "without hyphen, normalised"),
    ("BMS-986353 (CD19 NEX-T)", ["BMS-986353"], "long number"),
    ("COVID-19 and IL-6 and CD-19", [], "diseases, cytokines, markers"),
    ("presented at ECTRIMS 2025 and AAN-2026", [], "meetings with years"),
    ("EDSS-4 and MS-101", [], "scores and excluded prefixes"),
])
def test_product_codes(text: str, expected: list[str], why: str) -> None:
    assert find_product_codes(text) == expected, why


def test_normalize_code_and_trial_codes() -> None:
    assert normalize_code("kyv 101") == normalize_code("KYV101") == "KYV-101"
    assert normalize_code("hello") == ""
    extra = {"interventions": ["KYV-101", "Fludarabine"], "other_names": ["miv-cel", "KYV101"]}
    assert trial_codes(extra) == ["KYV-101"]


def test_linked_trials_and_mentions() -> None:
    code_map = {"KYV-101": ["NCT06384976"], "CABA-201": ["NCT05938582"]}
    assert linked_trials("First patient dosed with KYV-101", None, code_map) == ["NCT06384976"]
    assert linked_trials("About NCT05938582 and KYV-101", "NCT00000001", code_map) == [
        "NCT00000001", "NCT05938582", "NCT06384976"]
    assert linked_trials("Nothing here", None, code_map) == []
    assert mentions("the KYV101 programme", "NCT06384976", ["KYV-101"])
    assert not mentions("the KYV-1010 programme", "NCT06384976", ["KYV-101"])  # whole tokens only
    assert not mentions("NCT063849761", "NCT06384976", [])


def test_status_and_phase_changes_are_the_only_news() -> None:
    before = {"status": "NOT_YET_RECRUITING", "phase": ["PHASE2"], "last_update": "2026-10-14"}
    assert trial_changes(before, {**before, "last_update": "2026-11-18"}) == []
    assert trial_changes(before, {**before, "status": "not_yet_recruiting"}) == []  # case is not a change
    assert trial_changes(before, {**before, "status": None}) == []  # a partial answer invents no news
    assert trial_changes(None, before) == []
    [change] = trial_changes(before, {**before, "status": "RECRUITING"})
    assert change == TrialChange("status", "NOT_YET_RECRUITING", "RECRUITING",
                                 "Status changed from Not yet recruiting to Recruiting")
    assert trial_changes({"phase": ["PHASE1", "PHASE2"]}, {"phase": ["PHASE2", "PHASE1"]}) == []
    assert status_label("WEIRD_NEW_STATUS") == "Weird new status" and phase_label([]) == "Phase not given"


# ------------------------------------------------------------------------------------------ pages


@pytest.fixture
def linked_app(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> Flask:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    for path in ENDPOINTS:
        feed_server.add(path, handler=EUtils(fixture("pubmed_car_t_ms_esearch.json"), summaries()))
    feed_server.add("/news.xml", rss(
        rss_item("First person with progressive MS treated with KYV-101 CAR T cells", "https://news.example/kyv",
                 "Kyverna dosed the first participant of its multiple sclerosis study.", guid="n1"),
        rss_item("CABA-201 data in myasthenia gravis and multiple sclerosis", "https://news.example/caba",
                 "Cabaletta's CD19 CAR T cells CABA-201.", guid="n2"),
        rss_item("Unrelated CAR T item in multiple sclerosis about NCT063849761", "https://news.example/other",
                 "No trial of ours.", guid="n3"),
    ))
    feeds = write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctgov", "name": "ClinicalTrials.gov", "kind": "clinicaltrials", "url": feed_server.url(QUERY),
         "evidence_type": "trial-registry"},
        {"id": "pubmed", "name": "PubMed", "kind": "pubmed", "url": feed_server.url(SEARCH),
         "evidence_type": "peer-reviewed"},
        {"id": "news", "name": "MS News", "url": feed_server.url("/news.xml"), "evidence_type": "news"},
    ])
    app = make_app(any_db_url, feeds)
    clock = Clock(NOW)
    poller(app, clock).poll_many(["ctgov", "pubmed", "news"])
    return app


def test_trial_page_lists_record_papers_and_news(linked_app: Flask) -> None:
    client = linked_app.test_client()
    response = client.get("/trials/NCT06384976")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "KYSA-7" in page and "Not yet recruiting" in page and "Kyverna Therapeutics" in page
    papers = page[page.index('id="papers-title"'):page.index('id="news-title"')]
    news = page[page.index('id="news-title"'):]
    assert "first results of the KYSA-7 study" in papers  # names the NCT id in its title
    assert "First person with progressive MS treated with KYV-101" in news  # names the product code
    assert "CABA-201 data" not in page and "NCT063849761" not in page
    assert "No change seen since we started following it" in page


def test_index_links_items_to_their_trials(linked_app: Flask) -> None:
    page = linked_app.test_client().get("/?topic=all").get_data(as_text=True)
    assert 'href="/trials/NCT06384976"' in page and 'href="/trials/NCT05938582"' in page
    trials = linked_app.test_client().get("/trials").get_data(as_text=True)
    assert trials.count('href="/trials/NCT') == 3


def test_trial_urls_are_validated(linked_app: Flask) -> None:
    client = linked_app.test_client()
    assert client.get("/trials/nct06384976").status_code == 301
    assert client.get("/trials/NCT0638497").status_code == 404
    assert client.get("/trials/<script>").status_code == 404
    missing = client.get("/trials/NCT09999999")
    assert missing.status_code == 404 and "no record of NCT09999999" in missing.get_data(as_text=True)


def test_trial_known_only_from_news_still_has_a_page(linked_app: Flask, feed_server: FeedServer) -> None:
    feed_server.add("/news.xml", rss(rss_item("A new CAR T trial in MS: NCT07000001 opens", "https://news.example/n",
                                              "Multiple sclerosis CAR T.", guid="n9")))
    poller(linked_app, Clock(NOW + timedelta(hours=2))).poll_many(["news"])
    page = linked_app.test_client().get("/trials/NCT07000001")
    assert page.status_code == 200 and "We do not follow this trial" in page.get_data(as_text=True)
    assert len([i for i in stored(linked_app) if i.nct_id]) == 3  # only registry records carry the id
