"""The digest page and /sources in a real browser (Debian's Chromium through Playwright), on the demo corpus:
load, filter, search, paginate; without JavaScript; on a phone; axe-core (WCAG 2.1 AA) and the Nu HTML Checker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from aggregator.cli.poll import build_poller
from aggregator.demo import DEMO_SOURCES, serve_corpus, write_demo_feeds
from tests import browser_support
from tests.conftest import dispose_apps, make_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    tmp = tmp_path_factory.mktemp("browser")
    # The demo's own corpus server: it also serves the E-utilities, page and sitemap files of every kind (#14).
    server = serve_corpus()
    feeds = write_demo_feeds(tmp / "feeds.yaml", f"http://127.0.0.1:{server.server_address[1]}")
    app = make_app(f"sqlite:///{tmp / 'demo.db'}", feeds, page_size=8)
    with app.app_context():
        reports = build_poller(app).poll_many([s["id"] for s in DEMO_SOURCES])
    assert all(r.outcome == "ok" for r in reports), reports
    with browser_support.serve_wsgi(app) as base_url:
        yield app, base_url
    server.shutdown()
    server.server_close()
    dispose_apps()




PAGES = {
    "digest": "/",
    "all-topics-page-2": "/?topic=all&page=2",
    "search": "/?topic=ms-research&q=tolebrutinib",
    "search-ranked": "/?topic=all&q=KYV-101",
    "search-newest": "/?topic=all&q=CAR%20T%20-lupus&order=newest",
    "empty": "/?topic=car-t-ms&q=nothing-at-all",
    "filtered": "/?topic=car-t-autoimmune&evidence=trial-registry",
    "sources": "/sources",
    "bad-request": "/?topic=unknown",
    "not-found": "/no-such-page",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_passes_axe_on_desktop_and_phone(demo_site: tuple[Flask, str], browser: Any, name: str) -> None:
    _, base = demo_site
    browser_support.assert_page_is_usable(browser, base + PAGES[name])


def test_every_page_is_valid_html(demo_site: tuple[Flask, str]) -> None:
    app, _ = demo_site
    client = app.test_client()
    documents = {name: client.get(path).get_data(as_text=True) for name, path in PAGES.items()}
    problems = browser_support.validate_html(documents)
    assert problems == {name: [] for name in PAGES}, problems


def test_filter_search_and_paginate(demo_site: tuple[Flask, str], browser: Any) -> None:
    _, base = demo_site
    with browser_support.new_page(browser) as page:
        page.goto(base + "/")
        first_page = page.locator("li.item h3").all_inner_texts()
        assert len(first_page) == 8
        summary = page.locator("#results-summary").inner_text()
        total = int(summary.split()[0])
        pages = -(-total // 8)
        assert total > 16 and f"{total} items, page 1 of {pages}." in summary
        page.get_by_role("link", name="Older items →").click()
        second_page = page.locator("li.item h3").all_inner_texts()
        assert second_page and not set(second_page) & set(first_page)
        assert f"page 2 of {pages}" in page.locator("#results-summary").inner_text()

        page.get_by_role("link", name="All topics").click()
        page.get_by_label("Search", exact=True).fill("KYV-101")
        page.get_by_label("Evidence").select_option("press-release")
        page.get_by_role("button", name="Filter").click()
        assert "q=KYV-101" in page.url and "evidence=press-release" in page.url and "topic=all" in page.url
        results = page.locator("li.item")
        assert results.count() >= 1
        for index in range(results.count()):
            assert "Press release" in results.nth(index).locator(".badge.evidence").inner_text()
        assert page.locator("mark", has_text="KYV-101").count() >= 1

        page.goto(base + "/")
        page.get_by_label("Source").select_option("demo-trials")
        page.get_by_role("button", name="Filter").click()
        assert {text for text in page.locator("li.item .source").all_inner_texts()} == {"ClinicalTrials.gov (demo RSS)"}


def test_works_without_javascript(demo_site: tuple[Flask, str], browser: Any) -> None:
    _, base = demo_site
    with browser_support.new_page(browser, java_script_enabled=False) as page:
        page.goto(base + "/")
        page.get_by_label("Search", exact=True).fill("miv-cel")
        page.get_by_role("button", name="Filter").click()
        assert "q=miv-cel" in page.url
        assert page.locator("li.item").count() >= 1
        why = page.locator("details.why").first
        why.locator("summary").click()
        assert why.locator("li").first.is_visible()
        page.get_by_role("link", name="Sources").first.click()
        assert page.locator("table.sources tbody tr:not(.group-head)").count() == len(DEMO_SOURCES)


def test_search_order_switch_without_javascript(demo_site: tuple[Flask, str], browser: Any) -> None:
    _, base = demo_site
    with browser_support.new_page(browser, java_script_enabled=False) as page:
        page.goto(base + "/?topic=all")
        page.get_by_label("Search", exact=True).fill('"CAR T"')
        page.get_by_role("button", name="Filter").click()
        assert page.locator("h2", has_text="Most relevant first").count() == 1
        ranked = page.locator("li.item h3").all_inner_texts()
        assert ranked and page.locator("li.item mark").count() >= 1
        page.get_by_role("navigation", name="Order of the results").get_by_role("link", name="newest first").click()
        assert "order=newest" in page.url and page.locator("h2", has_text="Most relevant first").count() == 0
        newest = page.locator("li.item time").evaluate_all("nodes => nodes.map(n => n.getAttribute('datetime'))")
        assert newest == sorted(newest, reverse=True)
        page.get_by_label("Search", exact=True).fill('"CAR T" -lupus')
        page.get_by_role("button", name="Filter").click()  # a new search keeps the order chosen
        assert "order=newest" in page.url and page.locator("li.item").count() >= 1
        assert not any("lupus" in text.lower() for text in page.locator("li.item h3, li.item p.text").all_inner_texts())


def test_duplicates_show_once_with_the_other_source(demo_site: tuple[Flask, str], browser: Any) -> None:
    _, base = demo_site
    with browser_support.new_page(browser) as page:
        page.goto(base + "/?topic=all&source=demo-wire")
        wire_only = page.locator("li.item h3").all_inner_texts()
        page.goto(base + "/?topic=car-t-ms")
        also = page.locator("p.also")
        assert also.count() >= 1 and "News wire" in also.first.inner_text()
        assert not any(
            title in wire_only
            for title in page.locator("li.item h3").all_inner_texts()
            if "KYSA-7 trial of miv-cel" in title
        )


def test_feeds_are_discoverable(demo_site: tuple[Flask, str], browser: Any) -> None:
    _, base = demo_site
    with browser_support.new_page(browser) as page:
        page.goto(base + "/?topic=ms-research")
        rss = page.locator('link[rel="alternate"][type="application/rss+xml"]').get_attribute("href")
        atom = page.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute("href")
    assert rss == "/feed.xml?topic=ms-research" and atom == "/feed.atom?topic=ms-research"
    app, _ = demo_site
    parsed = browser_support.parse_feed_with_node(app.test_client().get(rss).data)
    assert len(parsed["items"]) >= 20
