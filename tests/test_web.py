"""The digest page, /sources, /healthz and the RSS/Atom feeds, through the Flask test client on a real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aggregator.cli.poll import build_poller
from aggregator.poll.pipeline import Poller
from tests import browser_support
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.test_pipeline import CAR_T_MS, MS_ONLY, UNRELATED, item, rss

NOW = datetime(2026, 11, 16, 8, tzinfo=UTC)


def many_items(count: int) -> list[str]:
    start = NOW - timedelta(days=70)
    return [
        item(
            f"CAR T-cell therapy for multiple sclerosis: report {n}",
            f"https://news.example/report-{n}",
            f"CD19 CAR T cells in relapsing MS, part {n}.",
            guid=f"r{n}",
            date=(start + timedelta(days=n)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        )
        for n in range(count)
    ]


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> Flask:
    feed_server.add("/news.xml", rss(CAR_T_MS, MS_ONLY, UNRELATED, *many_items(30)))
    feed_server.add(
        "/trials.xml",
        rss(
            item(
                "A Phase 1 study of CD19 CAR T cells in refractory myasthenia gravis",
                "https://trials.example/NCT01",
                "Chimeric antigen receptor T cells for generalised myasthenia gravis.",
                guid="NCT01",
            )
        ),
    )
    app = make_app(
        any_db_url,
        write_feeds_file(
            tmp_path / "feeds.yaml",
            [
                {"id": "news", "name": "MS News", "url": feed_server.url("/news.xml"), "evidence_type": "news"},
                {
                    "id": "trials",
                    "name": "Trials",
                    "url": feed_server.url("/trials.xml"),
                    "evidence_type": "trial-registry",
                },
            ],
        ),
        page_size=10,
    )
    base = build_poller(app)
    Poller(base.database, base.catalog, base.classifier, base.settings, clock=lambda: NOW).poll_many(["news", "trials"])
    return app


def titles(html: str) -> list[str]:
    return re.findall(r'<h3><a href="[^"]*" rel="noopener noreferrer nofollow">(.*?)</a></h3>', html)


def text(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_default_page_is_car_t_ms_newest_first_grouped_by_week(site: Flask) -> None:
    html = text(site.test_client(), "/")
    shown = titles(html)
    assert len(shown) == 10  # page size
    assert "<mark>KYV-101</mark>" in shown[0]  # newest (16 Nov) first, terms highlighted
    assert not any("Tolebrutinib" in t or "Mass spectrometry" in t for t in shown)
    assert re.search(r'<h2 id="week-2026-W47">Week 47, 2026 \(16–22 November 2026\)</h2>', html)
    assert "Why this item is here" in html and "in the title" in html
    assert 'aria-current="page">CAR T for multiple sclerosis' in html or 'aria-current="page">' in html
    assert 'rel="alternate" type="application/rss+xml"' in html and "/feed.xml?topic=car-t-ms" in html


def test_topics_sources_search_and_evidence_filters(site: Flask) -> None:
    client = site.test_client()
    ms = titles(text(client, "/?topic=ms-research"))
    assert any("Tolebrutinib" in t for t in ms)
    autoimmune = text(client, "/?topic=car-t-autoimmune&source=trials")
    shown = titles(autoimmune)
    assert len(shown) == 1 and "myasthenia gravis</mark>" in shown[0] and "<mark>CD19" in shown[0]
    assert titles(text(client, "/?topic=car-t-ms&source=trials")) == []
    search = titles(text(client, "/?topic=all&q=kyv-101"))
    assert len(search) == 1 and "KYV-101" in search[0]
    assert titles(text(client, "/?topic=all&q=%25")) == []  # LIKE wildcards are literal
    trial = titles(text(client, "/?topic=all&evidence=trial-registry"))
    assert len(trial) == 1 and "myasthenia" in trial[0]
    empty = text(client, "/?topic=car-t-ms&q=nothing-matches-this")
    assert "Nothing to show for these filters" in empty and "clear the filters" in empty


def test_pagination_walks_every_item_once(site: Flask) -> None:
    client = site.test_client()
    seen: list[str] = []
    url: str | None = "/?topic=car-t-ms"
    pages = 0
    while url:
        html = text(client, url)
        seen += titles(html)
        pages += 1
        match = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert pages == 4 and len(seen) == len(set(seen)) == 31
    assert "Page 4 of 4" in html and 'rel="prev"' in html


@pytest.mark.parametrize(
    "query",
    [
        "topic=nope",
        "source=unknown",
        "page=0",
        "page=abc",
        "page=99999999999",
        "evidence=blog",
        "q=" + "x" * 500,
        "topic=" + "a" * 200,
        "q=%00bad",
    ],
)
def test_bad_parameters_get_a_clear_400(site: Flask, query: str) -> None:
    client = site.test_client()
    for path in ("/", "/feed.xml", "/feed.atom"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
    assert "not valid" in client.get(f"/?{query}").get_data(as_text=True)


def test_page_past_the_end_is_empty_not_an_error(site: Flask) -> None:
    assert "Nothing to show" in text(site.test_client(), "/?page=50")


def test_sources_page_and_health(site: Flask) -> None:
    client = site.test_client()
    html = text(client, "/sources")
    assert "MS News" in html and "Trials" in html and "OK" in html
    assert re.search(r"<td data-label=\"Items \(matching\)\">33 \(3[12]\)</td>", html)  # items (matching)
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json == {
        "status": "ok",
        "database": "ok",
        "sources": 2,
        "failing_sources": [],
    }


def test_security_headers(site: Flask) -> None:
    headers = site.test_client().get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"]


def test_rss_and_atom_read_back_by_an_independent_parser(site: Flask) -> None:
    client = site.test_client()
    for path, kind in (("/feed.xml?topic=car-t-ms", "rss"), ("/feed.atom?topic=car-t-ms", "atom")):
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == f"application/{kind}+xml"
        parsed = browser_support.parse_feed_with_node(response.data)
        assert parsed["format"] == kind
        assert parsed["title"].startswith("CAR T for multiple sclerosis")
        items = parsed["items"]
        assert len(items) == 31
        assert items[0]["title"].startswith("KYV-101 CAR T-cell therapy")
        assert items[0]["link"] == "https://news.example/kyv-101-ms?utm_source=rss"
        assert items[0]["id"].startswith("tag:aggregator.test,2026:item/")
        assert len({i["id"] for i in items}) == 31
        published = [i["published"] for i in items]
        assert published == sorted(published, reverse=True)
        assert not any("Tolebrutinib" in i["title"] for i in items)
    atom = client.get("/feed.atom?topic=car-t-ms").get_data(as_text=True)
    assert 'href="http://aggregator.test/feed.atom?topic=car-t-ms"' in atom and 'rel="self"' in atom


def test_feed_filters_match_the_page(site: Flask) -> None:
    parsed = browser_support.parse_feed_with_node(site.test_client().get("/feed.xml?topic=all&q=myasthenia").data)
    assert [i["title"] for i in parsed["items"]] == [
        "A Phase 1 study of CD19 CAR T cells in refractory myasthenia gravis"
    ]


def test_feed_guids_are_stable_across_updates(site: Flask, feed_server: FeedServer) -> None:
    client = site.test_client()
    before = browser_support.parse_feed_with_node(client.get("/feed.xml").data)["items"][0]
    feed_server.add("/news.xml", rss(CAR_T_MS.replace("first patients", "first two patients"), MS_ONLY))
    base = build_poller(site)
    Poller(
        base.database, base.catalog, base.classifier, base.settings, clock=lambda: NOW + timedelta(hours=1)
    ).poll_many(["news"])
    after = browser_support.parse_feed_with_node(client.get("/feed.xml").data)["items"][0]
    assert after["id"] == before["id"] and after["title"] != before["title"]


def test_feed_answers_304_when_unchanged(site: Flask, feed_server: FeedServer) -> None:
    client = site.test_client()
    first = client.get("/feed.xml?topic=car-t-ms")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/feed.xml?topic=car-t-ms", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/feed.xml?topic=car-t-ms", headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get("/feed.xml?topic=ms-research", headers={"If-None-Match": etag}).status_code == 200
    # A new matching item changes the ETag.
    feed_server.add(
        "/news.xml",
        rss(
            item(
                "CAR-T in relapsing MS: new case",
                "https://news.example/new",
                "CAR T cells and multiple sclerosis",
                guid="new",
            )
        ),
    )
    base = build_poller(site)
    Poller(
        base.database, base.catalog, base.classifier, base.settings, clock=lambda: NOW + timedelta(hours=2)
    ).poll_many(["news"])
    assert client.get("/feed.xml?topic=car-t-ms", headers={"If-None-Match": etag}).status_code == 200


def test_empty_database_page_explains_itself(app: Flask) -> None:
    html = text(app.test_client(), "/")
    assert "No source has been polled yet" in html and "flask --app aggregator poll" in html
    assert app.test_client().get("/feed.xml").status_code == 200


def test_feed_etag_changes_when_reclassify_changes_topics(site: Flask) -> None:
    from aggregator.db import get_database
    from aggregator.models import ItemTopic

    client = site.test_client()
    etag = client.get("/feed.xml?topic=car-t-ms").headers["ETag"]
    runner = site.test_cli_runner()
    runner.invoke(args=["reclassify", "--no-progress"])  # same rules, same topics: nothing changes
    assert client.get("/feed.xml?topic=car-t-ms", headers={"If-None-Match": etag}).status_code == 304
    with get_database(site).session_scope() as session:
        session.execute(ItemTopic.__table__.delete())
    runner.invoke(args=["reclassify", "--no-progress"])  # topics restored: readers must refetch
    assert client.get("/feed.xml?topic=car-t-ms", headers={"If-None-Match": etag}).status_code == 200


def test_cached_counts_and_chart_are_never_stale(site: Flask, feed_server: FeedServer) -> None:
    client = site.test_client()

    def page_counts() -> tuple[str, str]:
        html = text(client, "/?topic=car-t-ms")
        nav = re.search(r'CAR T for multiple sclerosis <span class="count">\((\d+)\)', html)
        summary = re.search(r'id="results-summary">(\d+) items', html)
        assert nav and summary
        return nav.group(1), summary.group(1)

    counts_before = page_counts()
    assert page_counts() == counts_before  # cached, and the same
    before = client.get("/momentum.json").json["topics"]["car-t-ms"]["total"]
    assert client.get("/momentum.json").json["topics"]["car-t-ms"]["total"] == before  # served from the cache
    feed_server.add("/news.xml", rss(item("CAR-T for relapsing MS: a new case report", "https://news.example/case",
                                          "CAR T cells in multiple sclerosis", guid="case-1")))
    base = build_poller(site)
    Poller(base.database, base.catalog, base.classifier, base.settings,
           clock=lambda: datetime.now(UTC)).poll_many(["news"])
    assert client.get("/momentum.json").json["topics"]["car-t-ms"]["total"] == before + 1
    after = page_counts()
    assert int(after[0]) == int(counts_before[0]) + 1 and int(after[1]) == int(counts_before[1]) + 1


def test_cached_item_lists_and_feeds_show_new_and_changed_items_at_once(site: Flask, feed_server: FeedServer) -> None:
    client = site.test_client()
    urls = ["/", "/?q=KYV-101", "/feed.xml", "/feed.atom", "/feed.xml?q=KYV-101"]
    first = {url: client.get(url).get_data(as_text=True) for url in urls}
    chart_before = re.findall(r'<desc id="momentum-desc">(.*?)</desc>', first["/"])
    assert {url: client.get(url).get_data(as_text=True) for url in urls[2:]} == {u: first[u] for u in urls[2:]}
    for body in first.values():
        assert "first patients treated" in body and "a new case report" not in body
    # One poll brings a new item and changes the title of a known one.
    feed_server.add("/news.xml", rss(
        item("KYV-101 in relapsing MS: a new case report", "https://news.example/case", "CAR T cells in MS.",
             guid="case-1", date="Mon, 16 Nov 2026 09:00:00 +0000"),
        CAR_T_MS.replace("first patients", "first two patients"), MS_ONLY))
    base = build_poller(site)
    Poller(base.database, base.catalog, base.classifier, base.settings,
           clock=lambda: NOW + timedelta(hours=2)).poll_many(["news"])
    for url in urls:
        body = text(client, url)
        assert "a new case report" in body and "first two patients treated" in body, url
        assert "first patients treated" not in body, url
    assert titles(text(client, "/"))[0].endswith("a new case report")
    chart_after = re.findall(r'<desc id="momentum-desc">(.*?)</desc>', text(client, "/"))
    assert chart_before and chart_after and chart_after != chart_before  # the chart section is cached too


def test_cached_item_lists_follow_a_renamed_source(site: Flask) -> None:
    from aggregator.db import get_database
    from aggregator.models import Source

    client = site.test_client()
    assert '<span class="source">MS News</span>' in text(client, "/")
    with get_database(site).session_scope() as session:  # what the poller's sync does after feeds.yaml changed
        source = session.get(Source, "news")
        assert source is not None
        source.name = "MS News Daily"
    html = text(client, "/")
    assert '<span class="source">MS News Daily</span>' in html and '<span class="source">MS News</span>' not in html


def test_feeds_name_sources_as_feeds_yaml_does_and_a_rename_changes_their_etag(
    site: Flask, tmp_path: Path, feed_server: FeedServer
) -> None:
    # A feed names each item's source (as author when the item has none, and as Atom's <source> with a homepage).
    # After a rename in feeds.yaml the database keeps the old name until the next poll, with no item changed, so
    # the change marker alone would keep answering 304 with the old name.
    client = site.test_client()
    etags = {path: client.get(path).headers["ETag"] for path in ("/feed.xml", "/feed.atom")}
    assert all(client.get(path, headers={"If-None-Match": etag}).status_code == 304 for path, etag in etags.items())
    renamed = make_app(
        site.extensions["aggregator"].settings.database_url,
        write_feeds_file(tmp_path / "renamed.yaml", [
            {"id": "news", "name": "MS News Daily", "url": feed_server.url("/news.xml"), "evidence_type": "news",
             "homepage": "https://news.example/"},
            {"id": "trials", "name": "Trials", "url": feed_server.url("/trials.xml"),
             "evidence_type": "trial-registry"},
        ]),
    ).test_client()
    for path, etag in etags.items():
        assert renamed.get(path, headers={"If-None-Match": etag}).status_code == 200, path
    atom = renamed.get("/feed.atom").get_data(as_text=True)
    assert '<source>' in atom and "<title>MS News Daily</title>" in atom and "<title>MS News</title>" not in atom
    assert "https://news.example/" in atom


@pytest.mark.parametrize("query", [
    dict(topic="car-t-ms"), dict(topic="ms-research"), dict(topic=None), dict(topic="car-t-ms", source="news"),
    dict(topic="car-t-ms", source="trials"), dict(topic="car-t-ms", q="KYV-101"), dict(topic=None, evidence="news"),
])
def test_newest_first_walk_and_sorted_matches_give_the_same_pages(site: Flask, query: dict[str, str]) -> None:
    from aggregator import store
    from aggregator.db import get_database

    filters = store.ItemFilter(**query)
    with get_database(site).session_scope() as session:
        total = store.count_matching(session, filters)
        for offset in (0, 3, 10, total):
            sorted_ids = [i.id for i in store.matching_items(session, filters, 7, offset)]
            walked_ids = [i.id for i in store.matching_items(session, filters, 7, offset, newest_first=True)]
            assert walked_ids == sorted_ids
            assert len(sorted_ids) == max(0, min(7, total - offset))


def test_walk_is_chosen_only_when_matches_are_dense_enough() -> None:
    from aggregator.store import walk_is_cheaper

    assert walk_is_cheaper(25, matches=8_000, stored=100_000)  # first page of an 8% topic: ~300 steps
    assert not walk_is_cheaper(7_525, matches=8_000, stored=100_000)  # page 300: sort the 8,000 instead
    assert not walk_is_cheaper(25, matches=100, stored=100_000)  # a rare topic
    assert not walk_is_cheaper(25, matches=0, stored=100_000)
