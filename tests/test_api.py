"""The JSON API (/api/v1) on SQLite and PostgreSQL, fed by a real poll of loopback feeds: items with their topics,
evidence, identifiers, trials and duplicates; filters; keyset paging that neither repeats nor skips while new items
arrive; JSON errors that say what to do; ETag/304; CORS. Every answer is checked against the OpenAPI file, which is
itself checked with openapi-spec-validator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.api_support import check, openapi
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, poller, rss, rss_item
from tests.test_trial_pages import KYSA, KYSA_EU, trial_app  # noqa: F401 - the trial_app fixture

DOI = "10.1234/car-t-ms.2026.1"


def _day(days_before: int, hour: int = 7) -> str:
    return (NOW - timedelta(days=days_before)).replace(hour=hour).strftime("%a, %d %b %Y %H:%M:%S +0000")


NEWS = [
    rss_item("KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated",
             "https://news.example/kyv-101", "CD19 CAR T cells given in the KYSA-7 study NCT06384976.", guid="n1",
             date=_day(0)),
    rss_item("Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis",
             "https://news.example/tolebrutinib", "The BTK inhibitor reduced disability progression in MS.",
             guid="n2", date=_day(1)),
    rss_item("Mass spectrometry method for MS/MS metabolomics", "https://news.example/lcms",
             "An LC-MS/MS method for plasma.", guid="n3", date=_day(1)),
    rss_item("Journal reports CD19 CAR T cells in multiple sclerosis", "https://news.example/case-series",
             "A case series of CAR T-cell therapy in MS.", guid="n4", date=_day(2), doi=DOI),
    *[rss_item(f"CAR T-cell therapy for multiple sclerosis: report {n}", f"https://news.example/report-{n}",
               f"CD19 CAR T cells in relapsing MS, part {n}.", guid=f"r{n}", date=_day(3 + n)) for n in range(6)],
]
JOURNAL = [rss_item("CD19 CAR T cells in multiple sclerosis: a case series", "https://journal.example/a1",
                    "Four people with progressive MS received CD19 CAR T cells.", guid="j1", date=_day(2, 6),
                    doi=DOI)]


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> Flask:
    feed_server.add("/journal.xml", rss(*JOURNAL))
    feed_server.add("/news.xml", rss(*NEWS))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "journal", "name": "MS Journal", "url": feed_server.url("/journal.xml"),
         "homepage": "https://journal.example/", "evidence_type": "peer-reviewed"},
        {"id": "news", "name": "MS News", "url": feed_server.url("/news.xml"), "evidence_type": "news"},
    ]), page_size=4)
    clock = Clock(NOW)
    poller(app, clock).poll_many(["journal"])  # the journal first: its article is the story, the news a duplicate
    clock.now += timedelta(minutes=5)
    poller(app, clock).poll_many(["news"])
    app.extensions["test.clock"] = clock
    return app


def get(client: FlaskClient, url: str, status: int = 200, **headers: str) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:300])
    return check(response, "/" + url.split("/api/v1/", 1)[1].split("?", 1)[0])


def titles(body: dict[str, Any]) -> list[str]:
    return [item["title"] for item in body["items"]]


def walk(client: FlaskClient, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    body = get(client, url)
    found += body["items"]
    while body["next_cursor"]:
        assert body["next"].startswith("http://aggregator.test/api/v1/items?")
        body = get(client, body["next"].removeprefix("http://aggregator.test"))
        found += body["items"]
    return found


def test_the_openapi_file_is_valid_and_lists_exactly_the_routes(site: Flask) -> None:
    client = site.test_client()
    served = get(client, "/api/v1/openapi.json")
    validate(served)
    assert served["openapi"].startswith("3.1") and served["servers"] == [{"url": "http://aggregator.test/api/v1"}]
    routes = {rule.rule.removeprefix("/api/v1") for rule in site.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and "<" not in rule.rule}
    assert routes == set(openapi()["paths"]) == {"/items", "/sources", "/trials", "/openapi.json"}


def test_items_carry_topics_evidence_identifiers_trials_and_duplicates(site: Flask) -> None:
    body = get(site.test_client(), "/api/v1/items?limit=100")
    by_title = {item["title"]: item for item in body["items"]}
    # Every item matching any topic (the default is `all`), primaries only, newest first; the LC-MS item matches none.
    assert "Mass spectrometry method for MS/MS metabolomics" not in by_title
    assert "Journal reports CD19 CAR T cells in multiple sclerosis" not in by_title  # the duplicate
    assert len(body["items"]) == 9 and body["next_cursor"] is None and body["next"] is None
    dates = [item["date"] for item in body["items"]]
    assert dates == sorted(dates, reverse=True)
    kyv = by_title["KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated"]
    assert kyv["link"] == "https://news.example/kyv-101" and kyv["source"] == {"id": "news", "name": "MS News"}
    assert kyv["evidence_type"] == "news" and kyv["evidence_label"] == "General news"
    assert kyv["date"] == "2026-11-16T07:00:00Z"
    assert kyv["url"] == f"http://aggregator.test/items/{kyv['id']}"
    assert "car-t-ms" in [t["id"] for t in kyv["topics"]]
    car_t = next(t for t in kyv["topics"] if t["id"] == "car-t-ms")
    assert car_t["name"] == "CAR T for multiple sclerosis" and car_t["matched"]
    assert any(line.startswith("CAR T for multiple sclerosis: ") for line in kyv["why"])
    assert kyv["trials"] == [{"id": KYSA, "url": f"http://aggregator.test/trials/{KYSA}"}]
    article = by_title["CD19 CAR T cells in multiple sclerosis: a case series"]
    assert article["identifiers"] == {"nct_id": None, "doi": DOI, "pmid": None}
    assert article["evidence_type"] == "peer-reviewed"
    assert [(d["source"]["name"], d["title"], d["link"]) for d in article["also_reported_by"]] == [
        ("MS News", "Journal reports CD19 CAR T cells in multiple sclerosis", "https://news.example/case-series")]
    assert kyv["also_reported_by"] == []


def test_filters_topic_source_evidence_q_and_since(site: Flask) -> None:
    client = site.test_client()
    assert titles(get(client, "/api/v1/items?source=journal")) == [
        "CD19 CAR T cells in multiple sclerosis: a case series"]
    assert titles(get(client, "/api/v1/items?evidence=peer-reviewed")) == [
        "CD19 CAR T cells in multiple sclerosis: a case series"]
    ms = titles(get(client, "/api/v1/items?topic=ms-research&limit=100"))
    assert "Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis" in ms
    car_t = titles(get(client, "/api/v1/items?topic=car-t-ms&limit=100"))
    assert "Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis" not in car_t
    assert titles(get(client, "/api/v1/items?q=tolebrutinib")) == [
        "Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis"]
    # since: the items dated 15 November or later (the KYV-101 news of the 16th, tolebrutinib of the 15th).
    assert titles(get(client, "/api/v1/items?since=2026-11-15")) == [
        "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated",
        "Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis"]
    assert titles(get(client, "/api/v1/items?since=2026-11-16T06:59:59%2B00:00")) == [
        "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated"]
    assert titles(get(client, "/api/v1/items?since=2026-11-16T07:00:01Z")) == []


def test_cursor_pages_neither_repeat_nor_skip_while_new_items_arrive(site: Flask, feed_server: FeedServer) -> None:
    client = site.test_client()
    everything = [item["id"] for item in walk(client, "/api/v1/items?limit=100")]
    assert [item["id"] for item in walk(client, "/api/v1/items?limit=2")] == everything  # five pages
    first = get(client, "/api/v1/items?limit=4")  # limit: ?limit, else PAGE_SIZE (4 here)
    assert len(first["items"]) == 4 and first["next_cursor"]
    # Two new items arrive between page 1 and page 2: an offset would show page 1's last two items again.
    feed_server.add("/news.xml", rss(*NEWS, *[
        rss_item(f"CAR T-cell therapy in multiple sclerosis: breaking {n}", f"https://news.example/b{n}",
                 "CD19 CAR T cells in MS.", guid=f"b{n}", date=(NOW + timedelta(hours=n + 1)).strftime(
                     "%a, %d %b %Y %H:%M:%S +0000")) for n in range(2)]))
    clock = site.extensions["test.clock"]
    clock.now += timedelta(hours=3)
    poller(site, clock).poll_many(["news"])
    rest = walk(client, first["next"].removeprefix("http://aggregator.test"))
    assert [item["id"] for item in first["items"]] + [item["id"] for item in rest] == everything
    assert len(get(client, "/api/v1/items?limit=100")["items"]) == len(everything) + 2


@pytest.mark.parametrize(("query", "words"), [
    ("limit=0", "'limit' parameter must be a whole number from 1 to 100"),
    ("limit=ten", "'limit' parameter must be a whole number from 1 to 100"),
    ("limit=101", "'limit' parameter must be a whole number from 1 to 100"),
    ("since=last-week", "'since' parameter must be a date like 2026-11-01"),
    ("since=2026-13-01", "'since' parameter must be a date like 2026-11-01"),
    ("cursor=abc", "'cursor' parameter is not one this API gave out"),
    ("cursor=WzEsMl0.forged", "'cursor' parameter is not one this API gave out"),
    ("topic=cats", "Unknown topic 'cats'. Choose one of: car-t-ms"),
    ("evidence=blog", "Unknown evidence type 'blog'. Choose one of: trial-registry"),
    ("source=nowhere", "Unknown source 'nowhere'"),
    ("page=2", "Unknown parameter 'page'. This endpoint takes: topic, source, evidence, q, since, limit, cursor."),
    ("q=" + "x" * 201, "'q' parameter is too long (at most 200 characters)"),
])
def test_bad_parameters_are_answered_with_json_saying_what_to_do(site: Flask, query: str, words: str) -> None:
    body = get(site.test_client(), f"/api/v1/items?{query}", status=400)
    assert body["error"]["status"] == 400 and words in body["error"]["message"], body


def test_a_cursor_signed_with_another_key_is_refused(site: Flask, tmp_path: Path) -> None:
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("another-key", salt="api-v1-cursor").dumps(["2026-11-16T07:00:00Z", 10**6])
    assert "not one this API gave out" in get(site.test_client(), f"/api/v1/items?cursor={forged}",
                                              status=400)["error"]["message"]


def test_unknown_endpoints_and_parameters_of_lists_answer_json(site: Flask) -> None:
    client = site.test_client()
    missing = client.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.get_json()["error"]["message"].startswith("No such endpoint")
    assert "This endpoint takes: none" in get(client, "/api/v1/sources?x=1", status=400)["error"]["message"]


def test_etag_304_and_cors_like_the_feeds(site: Flask, feed_server: FeedServer) -> None:
    client = site.test_client()
    first = client.get("/api/v1/items?topic=car-t-ms")
    check(first, "/items")
    assert first.headers["Access-Control-Allow-Origin"] == "*" and "ETag" in first.headers[
        "Access-Control-Expose-Headers"]
    etag = first.headers["ETag"]
    again = client.get("/api/v1/items?topic=car-t-ms", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data and again.headers["Access-Control-Allow-Origin"] == "*"
    check(again, "/items")
    assert client.get("/api/v1/items?topic=all", headers={"If-None-Match": etag}).status_code == 200
    bad = client.get("/api/v1/items?limit=0")
    assert bad.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options("/api/v1/items", headers={"Origin": "https://elsewhere.example",
                                                          "Access-Control-Request-Method": "GET",
                                                          "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in preflight.headers["Access-Control-Allow-Headers"]
    # A new item changes the ETag.
    feed_server.add("/news.xml", rss(*NEWS, rss_item("CAR T-cell therapy in MS: news", "https://news.example/new",
                                                     "CD19 CAR T cells in MS.", guid="new", date=_day(0, 8))))
    clock = site.extensions["test.clock"]
    clock.now += timedelta(hours=1)
    poller(site, clock).poll_many(["news"])
    changed = client.get("/api/v1/items?topic=car-t-ms", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert check(changed, "/items")["items"][0]["title"] == "CAR T-cell therapy in MS: news"


def test_sources_are_listed_with_their_feed_and_health(site: Flask) -> None:
    body = get(site.test_client(), "/api/v1/sources")
    assert [(s["id"], s["name"], s["evidence_type"], s["enabled"], s["status"]) for s in body["sources"]] == [
        ("journal", "MS Journal", "peer-reviewed", True, "ok"), ("news", "MS News", "news", True, "ok")]
    journal = body["sources"][0]
    assert journal["homepage"] == "https://journal.example/" and journal["feed_url"].endswith("/journal.xml")
    assert journal["items"] == 1 and journal["matching_items"] == 1
    assert body["sources"][1]["items"] == 10  # ten news items stored, the LC-MS one and the duplicate included


def test_trials_come_from_the_trial_read_model(trial_app: Flask) -> None:  # noqa: F811 - the imported fixture
    body = get(trial_app.test_client(), "/api/v1/trials")
    kysa = next(t for t in body["trials"] if t["id"] == KYSA)
    assert kysa["nct_id"] == KYSA and kysa["eu_ct_number"] == KYSA_EU
    assert kysa["url"] == f"http://aggregator.test/trials/{KYSA}" and kysa["status_group"] == "recruiting"
    assert "Germany" in kysa["recruiting_countries"] and kysa["enrollment"] == 60
    changed = [t["changed_at"] for t in body["trials"]]
    assert changed == sorted(changed, reverse=True)
