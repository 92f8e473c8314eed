"""The trial pages, the momentum chart and the source flags in a real browser (Chromium through Playwright):
axe-core (WCAG 2.1 AA) on desktop and phone widths, no sideways scrolling, no CSP errors, and the Nu HTML Checker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests import browser_support
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import Clock, CtGov, EUtils, fixture, poller, rss, rss_item
from tests.test_kinds_clinicaltrials import QUERY, TOKEN
from tests.test_kinds_pubmed import ENDPOINTS, SEARCH, summaries

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trial_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    tmp = tmp_path_factory.mktemp("trials-browser")
    server = FeedServer().start()
    server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                 {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    for path in ENDPOINTS:
        server.add(path, handler=EUtils(fixture("pubmed_car_t_ms_esearch.json"), summaries()))
    server.add("/news.xml", rss(rss_item("First person with progressive MS treated with KYV-101 CAR T cells",
                                         "https://news.example/kyv", "Multiple sclerosis CAR T news.", guid="n1")))
    feeds = write_feeds_file(tmp / "feeds.yaml", [
        {"id": "ctgov", "name": "ClinicalTrials.gov", "kind": "clinicaltrials", "url": server.url(QUERY),
         "evidence_type": "trial-registry"},
        {"id": "pubmed", "name": "PubMed", "kind": "pubmed", "url": server.url(SEARCH),
         "evidence_type": "peer-reviewed"},
        {"id": "news", "name": "MS News", "url": server.url("/news.xml")},
    ])
    app = make_app(f"sqlite:///{tmp / 'trials.db'}", feeds)
    clock = Clock(datetime.now(UTC) - timedelta(days=2))
    with app.app_context():
        poller(app, clock).poll_many(["ctgov", "pubmed", "news"])
        server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1_status_changed.json"),
                                                     {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
        clock.now += timedelta(days=1)
        poller(app, clock).poll_many(["ctgov"])
    with browser_support.serve_wsgi(app) as base_url:
        yield app, base_url
    server.stop()
    app.extensions["aggregator.db"].dispose()




PAGES = {
    "trials": "/trials",
    "trial": "/trials/NCT06384976",
    "trial-from-news-only": "/trials/NCT05938582",
    "digest-with-chart": "/?topic=all",
    "sources-with-flags": "/sources",
    "trial-not-found": "/trials/NCT09999999",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_new_pages_pass_axe_on_desktop_and_phone(trial_site: tuple[Flask, str], browser: Any, name: str) -> None:
    _, base = trial_site
    browser_support.assert_page_is_usable(browser, base + PAGES[name])


def test_chart_is_drawn_and_named_and_the_trial_change_is_visible(trial_site: tuple[Flask, str], browser: Any) -> None:
    _, base = trial_site
    with browser_support.new_page(browser, java_script_enabled=False) as page:
        page.goto(base + "/?topic=all")
        chart = page.get_by_role("img", name="All topics: matching items per week, past 52 weeks")
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50
        assert page.locator("svg.momentum-chart rect.bar").count() >= 1
        page.get_by_text("Show the numbers as a table").click()
        assert page.locator(".momentum-data table tbody tr").count() == 52
        page.goto(base + "/trials/NCT06384976")
        assert page.get_by_role("heading", level=1).inner_text().startswith("KYV-101")
        assert page.get_by_text("Status changed from Not yet recruiting to Recruiting").is_visible()


def test_new_pages_are_valid_html(trial_site: tuple[Flask, str]) -> None:
    app, _ = trial_site
    client = app.test_client()
    documents = {name: client.get(path).get_data(as_text=True) for name, path in PAGES.items()}
    problems = browser_support.validate_html(documents)
    assert problems == {name: [] for name in PAGES}, problems
