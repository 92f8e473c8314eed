"""/feed.json, JSON Feed 1.1 beside RSS and Atom: the version's required fields, the same items and ids as the RSS
for the same parameters, ETag/304, and a hostile item whose title and summary try to smuggle markup in."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
from flask import Flask

from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, poller, rss, rss_item
from tests.test_api import site  # noqa: F401 - the site fixture (two sources, ten matching items)

VERSION = "https://jsonfeed.org/version/1.1"


def check_json_feed(document: dict[str, Any]) -> None:
    """The rules of https://jsonfeed.org/version/1.1 that a reader depends on."""
    assert document["version"] == VERSION  # required: the URL of the version
    assert isinstance(document["title"], str) and document["title"]  # required
    assert isinstance(document["items"], list)  # required
    for key in ("home_page_url", "feed_url", "description", "language"):
        assert key not in document or isinstance(document[key], str)
    for author in document.get("authors", []):  # an author object has at least one of name, url, avatar
        assert set(author) & {"name", "url", "avatar"}
    for entry in document["items"]:
        assert isinstance(entry["id"], str) and entry["id"]  # required, a string even when numeric
        # content_html and content_text are optional, but one or both must be present
        assert isinstance(entry.get("content_html"), str) or isinstance(entry.get("content_text"), str)
        for key in ("url", "external_url", "title", "summary", "image"):
            assert key not in entry or isinstance(entry[key], str)
        for key in ("date_published", "date_modified"):  # RFC 3339
            if key in entry:
                datetime.fromisoformat(entry[key].replace("Z", "+00:00"))
        assert all(isinstance(tag, str) for tag in entry.get("tags", []))
        for author in entry.get("authors", []):
            assert set(author) & {"name", "url", "avatar"}
        for key in entry:  # custom fields must start with an underscore
            assert key in {"id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
                           "banner_image", "date_published", "date_modified", "authors", "tags", "language",
                           "attachments"} or key.startswith("_"), key


def test_json_feed_has_the_rss_items_and_ids_for_the_same_parameters(site: Flask) -> None:  # noqa: F811
    client = site.test_client()
    for query in ("", "?topic=all", "?topic=ms-research&source=news", "?topic=all&evidence=peer-reviewed"):
        response = client.get("/feed.json" + query)
        assert response.status_code == 200 and response.mimetype == "application/feed+json"
        document = json.loads(response.data)
        check_json_feed(document)
        parsed = feedparser.parse(client.get("/feed.xml" + query).data)
        assert [e["id"] for e in document["items"]] == [e.id for e in parsed.entries]
        assert parsed.feed.link == document["home_page_url"]  # the RSS channel's <link> is the page, not the feed
        assert [e["title"] for e in document["items"]] == [e.title for e in parsed.entries]
        assert document["feed_url"] == "http://aggregator.test/feed.json" + query
        assert document["home_page_url"] == "http://aggregator.test/" + query
    everything = json.loads(client.get("/feed.json?topic=all").data)
    article = next(e for e in everything["items"] if e["title"].startswith("CD19 CAR T cells in multiple sclerosis"))
    assert article["url"] == "https://journal.example/a1" and article["authors"] == [{"name": "MS Journal"}]
    assert article["date_published"] == "2026-11-14T06:00:00Z"
    names = {"car-t-ms": "CAR T for multiple sclerosis", "car-t-autoimmune": "CAR T in autoimmune disease",
             "ms-research": "MS research"}
    assert "car-t-ms" in article["_car_t_ms"]["topics"]
    assert article["tags"] == [names[t] for t in article["_car_t_ms"]["topics"]]
    assert article["_car_t_ms"]["source"] == {"id": "journal", "name": "MS Journal",
                                              "homepage": "https://journal.example/"}
    assert article["_car_t_ms"]["evidence_type"] == "peer-reviewed"
    assert client.get("/feed.json?topic=cats").status_code == 400


def test_json_feed_answers_304_while_nothing_changed(site: Flask) -> None:  # noqa: F811
    client = site.test_client()
    first = client.get("/feed.json")
    again = client.get("/feed.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    assert first.headers["ETag"] != client.get("/feed.xml").headers["ETag"]  # one ETag per format


HOSTILE_TITLE = ('&lt;/script&gt;&lt;script&gt;alert("t")&lt;/script&gt; CAR T-cell therapy in multiple sclerosis '
                 '&amp;amp; "quotes" &lt;img src=x onerror=alert(3)&gt;')
HOSTILE_SUMMARY = ('&lt;img src=x onerror=alert(1)&gt; CD19 CAR T cells in MS. '
                   '&lt;a href="javascript:alert(2)"&gt;click&lt;/a&gt; &lt;p style="x"&gt;text&lt;/p&gt;')


def test_a_hostile_item_goes_out_inert(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    feed_server.add("/evil.xml", rss(rss_item(HOSTILE_TITLE, "https://evil.example/a", HOSTILE_SUMMARY, guid="e1")))
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "evil", "name": 'Evil <b>Source</b>', "url": feed_server.url("/evil.xml")}]))
    poller(app, Clock(NOW)).poll_many(["evil"])
    raw = app.test_client().get("/feed.json?topic=all").data
    assert b"<" not in raw and b">" not in raw  # every angle bracket is a JSON escape
    document = json.loads(raw)
    check_json_feed(document)
    [entry] = document["items"]
    content = entry["content_html"].lower()
    assert "onerror" not in content and "javascript:" not in content and "<script" not in content
    assert "style=" not in content and "CD19 CAR T cells in MS." in entry["content_html"]
    # The title is text: the same text the RSS carries (escaped there by XML, here by JSON).
    assert entry["title"] == feedparser.parse(app.test_client().get("/feed.xml?topic=all").data).entries[0].title
    # The source's title is HTML: its tags are dropped when stored, its entity decoded, the text kept.
    assert entry["title"] == 'CAR T-cell therapy in multiple sclerosis & "quotes"'
    assert b'multiple sclerosis \\u0026 \\"quotes\\"' in raw
    assert entry["authors"] == [{"name": "Evil <b>Source</b>"}]  # a name is text, shown as written
