"""The trial pages, the momentum chart and the source flags in a real browser (Chromium through Playwright):
axe-core (WCAG 2.1 AA) on desktop and phone widths, no sideways scrolling, no CSP errors, and the Nu HTML Checker;
the finder used without JavaScript on a phone, and the manage page's trial alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from aggregator.db import get_database
from tests import browser_support
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import Clock, CtGov, EUtils, fixture, poller, rss, rss_item
from tests.mail_support import add_subscribers, subscriber
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
    server.add("/ctis.rss", fixture("ctis_ms_updates.rss"), content_type="application/rss+xml")
    feeds = write_feeds_file(tmp / "feeds.yaml", [
        {"id": "ctgov", "name": "ClinicalTrials.gov", "kind": "clinicaltrials", "url": server.url(QUERY),
         "evidence_type": "trial-registry"},
        {"id": "pubmed", "name": "PubMed", "kind": "pubmed", "url": server.url(SEARCH),
         "evidence_type": "peer-reviewed"},
        {"id": "news", "name": "MS News", "url": server.url("/news.xml")},
        {"id": "ctis", "name": "EU CTIS", "kind": "ctis", "url": server.url("/ctis.rss"),
         "evidence_type": "trial-registry"},
    ])
    app = make_app(f"sqlite:///{tmp / 'trials.db'}", feeds)
    clock = Clock(datetime.now(UTC) - timedelta(days=2))
    with app.app_context():
        poller(app, clock).poll_many(["ctgov", "pubmed", "news", "ctis"])
        server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1_status_changed.json"),
                                                     {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
        clock.now += timedelta(days=1)
        poller(app, clock).poll_many(["ctgov"])
    [reader] = add_subscribers(get_database(app), 1)
    with app.app_context():
        from aggregator.web.subscribe import tokens

        row = subscriber(get_database(app), reader)
        PAGES["manage-with-trial-alerts"] = "/subscribe/manage/" + tokens().list_token(row.id, row.email)
    with get_database(app).session_scope() as session:
        from aggregator.models import Subscriber

        followed = session.get(Subscriber, row.id)
        assert followed is not None
        followed.trials, followed.country = ["NCT06384976"], "Germany"
    with browser_support.serve_wsgi(app) as base_url:
        yield app, base_url
    server.stop()
    app.extensions["aggregator.db"].dispose()




PAGES = {
    "trials": "/trials",
    "trials-near-germany": "/trials?country=Germany",
    "trials-filtered-empty": "/trials?form=rrms&target=CD19&only=1&country=Spain",
    "trials-ignored-filter": "/trials?status=open",
    "trial": "/trials/NCT06384976",
    "trial-with-country": "/trials/NCT06384976?country=Spain",
    "trial-ctis-only": "/trials/2025-523726-40-00",
    "subscribe-with-trial": "/subscribe?trial=NCT06384976",
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


PHONE = {"width": 375, "height": 740}


def test_finder_works_without_javascript_on_a_phone(trial_site: tuple[Flask, str], browser: Any) -> None:
    _, base = trial_site
    with browser_support.new_page(browser, java_script_enabled=False, viewport=PHONE) as page:
        page.goto(base + "/trials")
        assert page.get_by_role("heading", level=1).inner_text() == "Find a CAR T trial for MS"
        page.get_by_label("Your country").select_option("Germany")
        page.get_by_label("Status").select_option("recruiting")
        page.get_by_role("button", name="Show trials").click()
        page.wait_for_url("**/trials?country=Germany*")
        assert "status=recruiting" in page.url
        titles = page.locator("h2.trial-title a")
        assert titles.first.inner_text().startswith("KYV-101")  # recruiting in Germany: first
        assert page.get_by_text("Recruiting in Germany").first.is_visible()
        titles.first.click()
        page.wait_for_url("**/trials/NCT06384976?country=Germany")
        assert page.get_by_text("Eligibility is decided by the trial team.").is_visible()
        headings = page.locator("#sites-title ~ h3").all_inner_texts()
        assert headings[0] == "Germany"  # the reader's country first
        quote = page.locator(".quotes q").first
        assert quote.inner_text().startswith("Expanded Disability Status Scale (EDSS) score of 3.0 to 6.5")
        box = quote.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]


def test_manage_page_trial_alerts_without_javascript(trial_site: tuple[Flask, str], browser: Any) -> None:
    app, base = trial_site
    with browser_support.new_page(browser, java_script_enabled=False, viewport=PHONE) as page:
        page.goto(base + PAGES["manage-with-trial-alerts"])
        assert page.get_by_label("Tell me when a trial begins recruiting in").input_value() == "Germany"
        followed = page.get_by_label("NCT06384976: KYV-101", exact=False)
        assert followed.is_checked()
        page.get_by_label("Follow a trial (NCT number or EU CT number)").fill("2025-523726-40-00")
        page.get_by_label("Tell me when a trial begins recruiting in").select_option("Italy")
        page.get_by_role("button", name="Save trial alerts").click()
        assert page.get_by_text("Saved.").is_visible()
        assert page.get_by_label("2025-523726-40-00", exact=False).is_checked()
    with get_database(app).session_scope() as session:
        from aggregator.models import Subscriber

        row = session.query(Subscriber).one()
        assert (row.trials, row.country) == (["NCT06384976", "2025-523726-40-00"], "Italy")
