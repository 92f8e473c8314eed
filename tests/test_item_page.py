"""The permalink page /items/<id>: why the item is here, its other reports, the trials it names; a duplicate's page;
a gone link (404/410 recorded by the store) sends feeds, the JSON Feed, the API and the email to the page instead,
until the source gives the item a new link. In the browser: axe (desktop and phone) and the Nu HTML Checker."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import feedparser
import pytest
from flask import Flask
from sqlalchemy import select

from aggregator import store
from aggregator.db import get_database
from aggregator.models import Item
from tests import browser_support
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, poller, rss, rss_item
from tests.test_api import DOI, site  # noqa: F401 - the site fixture

BASE = "http://aggregator.test"


def ids(app: Flask) -> dict[str, int]:
    with get_database(app).session_scope() as session:
        return {title: item_id for item_id, title in session.execute(select(Item.id, Item.title))}


def page(app: Flask, item_id: int, status: int = 200) -> str:
    response = app.test_client().get(f"/items/{item_id}")
    assert response.status_code == status, response.status_code
    return response.get_data(as_text=True)


ARTICLE = "CD19 CAR T cells in multiple sclerosis: a case series"
REPORT = "Journal reports CD19 CAR T cells in multiple sclerosis"
KYV = "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated"


def test_the_page_explains_the_match_names_the_trials_and_the_other_reports(site: Flask) -> None:  # noqa: F811
    known = ids(site)
    kyv = page(site, known[KYV])
    heading = re.search(r"<h1>(.*?)</h1>", kyv, re.S)
    assert heading and re.sub(r"<[^>]+>", "", heading.group(1)) == KYV, heading
    assert "<mark" in heading.group(1)  # the rules' words highlighted, as in the list
    assert f'<link rel="canonical" href="{BASE}/items/{known[KYV]}">' in kyv
    why = re.search(r"<h2>Why this item is here</h2>\s*<ul class=\"why-lines\">(.*?)</ul>", kyv, re.S)
    assert why and "<li>CAR T for multiple sclerosis: " in why.group(1)
    assert '<a href="/trials/NCT06384976">NCT06384976</a>' in kyv
    assert '<a href="https://news.example/kyv-101" rel="noopener noreferrer nofollow">Read it at MS News</a>' in kyv
    article = page(site, known[ARTICLE])
    assert f'MS News: <a href="/items/{known[REPORT]}">{REPORT}</a>' in article
    assert f'<a href="https://doi.org/{DOI}"' in article
    duplicate = page(site, known[REPORT])
    assert f'another report of a story we list as <a href="/items/{known[ARTICLE]}">{ARTICLE}</a>' in duplicate
    assert "<h2>Also reported by</h2>" not in duplicate  # the only other report is the primary, named above
    listed = site.test_client().get("/?topic=all").get_data(as_text=True)
    assert f'<a href="/items/{known[KYV]}">This item\'s page</a>' in listed


def test_unknown_items_are_404(site: Flask) -> None:  # noqa: F811
    assert "There is no item with this number" in page(site, 10**6, status=404)
    assert site.test_client().get("/items/abc").status_code == 404


def test_a_gone_link_sends_readers_to_the_page_until_the_source_gives_a_new_one(
        site: Flask, feed_server: FeedServer) -> None:  # noqa: F811
    known = ids(site)
    client = site.test_client()
    etag = client.get("/feed.xml?topic=all").headers["ETag"]
    seen = NOW + timedelta(hours=2)
    with get_database(site).session_scope() as session:
        assert store.mark_link_gone(session, known[ARTICLE], 410, seen)
        assert not store.mark_link_gone(session, 10**6, 404, seen)
        with pytest.raises(ValueError, match="404 or 410"):
            store.mark_link_gone(session, known[KYV], 500, seen)
    permalink = f"{BASE}/items/{known[ARTICLE]}"
    gone = page(site, known[ARTICLE])
    assert "its link answered 410 (gone for good) on" in gone and "https://journal.example/a1" in gone
    assert "Read it at" not in gone
    fresh = client.get("/feed.xml?topic=all")
    assert fresh.headers["ETag"] != etag
    links = {e.title: e.link for e in feedparser.parse(fresh.data).entries}
    assert links[ARTICLE] == permalink and links[KYV] == "https://news.example/kyv-101"
    entries = {e.title: e.link for e in feedparser.parse(client.get("/feed.atom?topic=all").data).entries}
    assert entries[ARTICLE] == permalink
    json_feed = {e["title"]: e["url"] for e in json.loads(client.get("/feed.json?topic=all").data)["items"]}
    assert json_feed[ARTICLE] == permalink
    api: dict[str, Any] = {i["title"]: i for i in client.get("/api/v1/items?limit=100").get_json()["items"]}
    assert api[ARTICLE]["link_gone"] == 410 and api[KYV]["link_gone"] is None
    email = client.get("/digest/2026-W47").get_data(as_text=True)
    assert f'<a href="{permalink}"' in email and 'href="https://journal.example/a1"' not in email
    listed = client.get("/?topic=all").get_data(as_text=True)
    assert f'<h3><a href="/items/{known[ARTICLE]}">' in listed
    # The journal moves the article: the new link works, readers go there again.
    feed_server.add("/journal.xml", rss(rss_item(ARTICLE, "https://journal.example/articles/a1",
                                                 "Four people with progressive MS received CD19 CAR T cells.",
                                                 guid="j1", date="Sat, 14 Nov 2026 06:00:00 +0000", doi=DOI)))
    clock = site.extensions["test.clock"]
    clock.now += timedelta(hours=3)
    poller(site, clock).poll_many(["journal"])
    assert "Read it at MS Journal" in page(site, known[ARTICLE])
    links = {e.title: e.link for e in feedparser.parse(client.get("/feed.xml?topic=all").data).entries}
    assert links[ARTICLE] == "https://journal.example/articles/a1"


@pytest.mark.browser
def test_item_pages_pass_axe_and_the_html_checker(site: Flask, browser: Any) -> None:  # noqa: F811
    known = ids(site)
    with get_database(site).session_scope() as session:
        store.mark_link_gone(session, known[KYV], 404, NOW + timedelta(hours=1))
    paths = {"primary-with-report": f"/items/{known[ARTICLE]}", "duplicate": f"/items/{known[REPORT]}",
             "gone-with-trial": f"/items/{known[KYV]}", "missing": "/items/999999"}
    client = site.test_client()
    documents = {name: client.get(path).get_data(as_text=True) for name, path in paths.items()}
    assert browser_support.validate_html(documents) == {name: [] for name in paths}
    with browser_support.serve_wsgi(site) as base:
        for path in paths.values():
            browser_support.assert_page_is_usable(browser, base + path)

