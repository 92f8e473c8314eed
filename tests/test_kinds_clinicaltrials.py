"""ClinicalTrials.gov API v2 sources: parsing real answers, paging by pageToken with a bound, politeness, and the
status-change detection that turns a trial starting to recruit into news (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from aggregator.config import Settings
from aggregator.domain import Conditional, SourceSpec
from aggregator.errors import ParseError
from aggregator.poll.fetch import Fetcher
from aggregator.poll.parse import parse
from aggregator.poll.parse.clinicaltrials import parse_date, parse_studies
from aggregator.poll.retrieve import APIError, Retrieval
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, CtGov, FakeTime, events, fixture, poller, send, stored

QUERY = "/api/v2/studies?query.cond=multiple+sclerosis&query.intr=CAR-T&pageSize=2&countTotal=true"
TOKEN = "KYSA7-NextPage-Token_aW5kZXg9Mg"


# ------------------------------------------------------------------------------------------ parsing


def test_real_first_page_parses_every_study_with_its_facts() -> None:
    items = parse_studies(fixture("ctgov_api_v2_studies_page1_countTotal_nextPageToken.json"))
    assert len(items) == 5
    first = items[0]
    assert first.guid == first.nct_id == "NCT02710084"
    assert first.link == "https://clinicaltrials.gov/study/NCT02710084"
    assert first.title.endswith("(NCT02710084)")
    extra = dict(first.extra)
    assert extra["status"] == "COMPLETED" and extra["phase"] == ["PHASE2"]
    assert extra["interventions"] == ["Oxytocin", "Saline"] and extra["sponsor"] == "Alexander Kolevzon"
    assert "Status: Completed" in first.summary and "Phase: Phase 2" in first.summary
    assert first.evidence_type == "trial-registry"
    # Partial dates ("2012-02") are read as the first day they can mean.
    assert any(item.published_at == datetime(2012, 2, 1, tzinfo=UTC) for item in items)


def test_single_study_answer_has_no_wrapper_and_escapes_are_undone() -> None:
    [item] = parse_studies(fixture("ctgov_api_v2_single_study_with_locations.json"))
    assert item.nct_id == "NCT02576665" and dict(item.extra)["status"] == "TERMINATED"
    assert "[rHGG]" in item.summary and "\\[" not in item.summary


def test_car_t_fixture_phases_statuses_and_product_codes() -> None:
    items = parse_studies(fixture("ctgov_car_t_ms_page1.json"))
    kysa = dict(items[0].extra)
    assert kysa["status"] == "NOT_YET_RECRUITING" and kysa["other_names"] == ["miv-cel", "KYV101"]
    assert items[0].published_at == datetime(2025, 5, 2, tzinfo=UTC)  # first posted, not last update
    [erlangen] = parse_studies(fixture("ctgov_car_t_ms_page2.json"))
    assert "Phase: Phase 1/2" in erlangen.summary


@pytest.mark.parametrize(("raw", "expected"), [
    ("2016-04-29", datetime(2016, 4, 29, tzinfo=UTC)),
    ("2016-07", datetime(2016, 7, 1, tzinfo=UTC)),
    ("2016", datetime(2016, 1, 1, tzinfo=UTC)),
    ("2016-13", None),
    ("soon", None),
    (None, None),
    (20160429, None),
])
def test_partial_dates(raw: object, expected: datetime | None) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("body", [b"<html>Service unavailable</html>", b'{"error": "x"}', b'{"studies": {}}',
                                  b'{"studies": [{"protocolSection": {}}]}', b"\xff\xfe"])
def test_hostile_answers_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_studies(body)


def test_a_study_without_an_id_is_skipped_not_fatal() -> None:
    document = json.loads(fixture("ctgov_car_t_ms_page2.json"))
    document["studies"].append({"protocolSection": {"identificationModule": {"briefTitle": "no id"}}})
    document["studies"].append("not a study")
    assert [i.nct_id for i in parse_studies(json.dumps(document).encode())] == ["NCT05938582"]


def _with_lone_surrogates(name: str) -> bytes:
    """The fixture with a half emoji escaped on its own in the first study's title and summary, as JSON allows."""
    text = fixture(name).decode("utf-8")
    text = text.replace('"briefTitle": "', '"briefTitle": "\\ud83d ', 1)
    text = text.replace('"briefSummary": "', '"briefSummary": "\\udfff', 1)
    assert text.count("\\ud83d") == 1 and text.count("\\udfff") == 1
    return text.encode("utf-8")


def test_a_lone_surrogate_escape_becomes_a_replacement_character() -> None:
    # json.loads would keep it as a code point that no UTF-8 encoder (hash, sanitiser, database) accepts
    first = parse_studies(_with_lone_surrogates("ctgov_car_t_ms_page1.json"))[0]
    assert first.title.startswith("\ufffd ") and "\ufffd" in first.summary
    first.title.encode("utf-8")
    pair = fixture("ctgov_car_t_ms_page2.json").replace(b'"briefTitle": "', b'"briefTitle": "\\ud83d\\ude00 ', 1)
    emoji = parse_studies(pair)
    assert emoji[0].title.startswith("\U0001f600 ")  # a whole pair is the character it encodes


def test_a_study_with_a_lone_surrogate_is_stored_and_classified(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    feed_server.add("/api/v2/studies", _with_lone_surrogates("ctgov_car_t_ms_page2.json"),
                    content_type="application/json")
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctgov", "name": "CT", "kind": "clinicaltrials", "url": feed_server.url(QUERY)}]))
    report = poller(app, Clock(NOW)).poll_many(["ctgov"])[0]
    assert report.outcome == "ok" and report.new == 1, report.error
    [item] = stored(app)
    assert item.title.startswith("\ufffd ") and item.nct_id == "NCT05938582"
    page = app.test_client().get("/?topic=all").get_data(as_text=True)
    assert "NCT05938582" in page


def test_registered_parser_dispatches_on_kind() -> None:
    from aggregator.domain import Fetched

    spec = SourceSpec(id="ct", name="CT", url="https://clinicaltrials.gov/api/v2/studies", kind="clinicaltrials")
    fetched = Fetched(url=spec.url, final_url=spec.url, status=200, body=fixture("ctgov_car_t_ms_page2.json"))
    assert [i.nct_id for i in parse(spec, fetched)] == ["NCT05938582"]


# ------------------------------------------------------------------------------------------ paging


def _retrieval(fake: FakeTime) -> Retrieval:
    return Retrieval(Settings(), monotonic=fake.monotonic, sleep=fake.sleep)


def test_paging_follows_page_token_until_absent_and_waits_between_pages(feed_server: FeedServer) -> None:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    fake = FakeTime()
    spec = SourceSpec(id="ct", name="CT", url=feed_server.url(QUERY), kind="clinicaltrials")
    fetched = _retrieval(fake).clinicaltrials(Fetcher("test-agent"), spec, spec.url, Conditional())
    combined = json.loads(fetched.body)
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in combined["studies"]] == [
        "NCT06384976", "NCT06220201", "NCT05938582"]
    assert (combined["totalCount"], combined["pages"], combined["truncated"]) == (3, 2, False)
    second = feed_server.requests[1]
    query = parse_qs(urlsplit(second.path).query)
    assert query["pageToken"] == [TOKEN] and query["query.cond"] == ["multiple sclerosis"]
    assert query["pageSize"] == ["2"]  # the source's own parameters are kept on every page
    assert fake.sleeps == [1.0]  # at most one request a second to ClinicalTrials.gov


def test_paging_is_bounded_by_max_pages(feed_server: FeedServer) -> None:
    calls = {"n": 0}

    def endless(handler: object) -> None:
        calls["n"] += 1
        page = json.loads(fixture("ctgov_car_t_ms_page2.json"))
        page["nextPageToken"] = f"token-{calls['n']}"  # a server that never stops
        send(handler, json.dumps(page).encode())  # type: ignore[arg-type]

    feed_server.add("/api/v2/studies", handler=endless)
    spec = SourceSpec(id="ct", name="CT", url=feed_server.url(QUERY), kind="clinicaltrials",
                      options=(("max_pages", 3),))
    combined = json.loads(_retrieval(FakeTime()).clinicaltrials(Fetcher("t"), spec, spec.url, Conditional()).body)
    assert (combined["pages"], combined["truncated"], calls["n"]) == (3, True, 3)


def test_a_repeated_page_token_stops_the_loop(feed_server: FeedServer) -> None:
    page = json.loads(fixture("ctgov_car_t_ms_page1.json"))
    feed_server.add("/api/v2/studies", handler=CtGov(json.dumps(page).encode(), {TOKEN: json.dumps(page).encode()}))
    spec = SourceSpec(id="ct", name="CT", url=feed_server.url(QUERY), kind="clinicaltrials")
    combined = json.loads(_retrieval(FakeTime()).clinicaltrials(Fetcher("t"), spec, spec.url, Conditional()).body)
    assert combined["pages"] == 2 and len(feed_server.requests) == 2


def test_text_error_answer_is_an_api_error(feed_server: FeedServer) -> None:
    feed_server.add("/api/v2/studies", b"Parameter `query.cond` is invalid", content_type="text/plain")
    spec = SourceSpec(id="ct", name="CT", url=feed_server.url(QUERY), kind="clinicaltrials")
    with pytest.raises(APIError, match="did not answer with JSON"):
        _retrieval(FakeTime()).clinicaltrials(Fetcher("t"), spec, spec.url, Conditional())


# ------------------------------------------------------------------------------------------ status changes


@pytest.fixture
def ct_app(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> Flask:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    feeds = write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "ctgov", "name": "ClinicalTrials.gov API", "kind": "clinicaltrials", "url": feed_server.url(QUERY),
         "evidence_type": "trial-registry"},
    ])
    return make_app(any_db_url, feeds)


def test_status_change_is_recorded_shown_on_the_page_and_in_the_feeds(ct_app: Flask, feed_server: FeedServer) -> None:
    clock = Clock(NOW)
    report = poller(ct_app, clock).poll_many(["ctgov"])[0]
    assert (report.outcome, report.new) == ("ok", 3)
    assert {i.nct_id for i in stored(ct_app)} == {"NCT06384976", "NCT06220201", "NCT05938582"}
    assert events(ct_app) == []

    # The same pages again: nothing changes, no event.
    clock.now += timedelta(hours=12)
    again = poller(ct_app, clock).poll_many(["ctgov"])[0]
    assert (again.new, again.updated) == (0, 0) and events(ct_app) == []

    # A day later KYSA-7 recruits and its phase becomes 1/2.
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1_status_changed.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    clock.now += timedelta(days=1)
    changed = poller(ct_app, clock).poll_many(["ctgov"])[0]
    assert (changed.new, changed.updated) == (0, 1)
    recorded = events(ct_app)
    # Read off the two fixtures: status, phase, two sites that began recruiting, a new French site, the planned
    # enrollment and the maximum age.
    assert [e.summary for e in recorded] == [
        "Status changed from Not yet recruiting to Recruiting",
        "Phase changed from Phase 2 to Phase 1/2",
        "New site in France, not yet recruiting: Hôpital Pitié-Salpêtrière",
        "Now recruiting in Germany: Universitätsklinikum Erlangen",
        "Now recruiting in United States: Stanford University",
        "Enrollment 24 → 60",
        "Maximum age 65 → 70",
    ]
    assert {e.kind for e in recorded} == {"trial-status", "trial-phase", "trial-site", "trial-enrollment",
                                          "trial-max_age"}
    germany = next(e for e in recorded if "Germany" in e.summary)
    assert germany.data == {"fact": "site", "before": "recruiting", "after": ["Universitätsklinikum Erlangen"],
                            "country": "Germany", "began_recruiting": True}
    status = next(e for e in recorded if e.kind == "trial-status")
    assert status.summary == "Status changed from Not yet recruiting to Recruiting"
    assert status.data == {"fact": "status", "before": "NOT_YET_RECRUITING", "after": "RECRUITING"}
    assert status.occurred_at == clock.now
    kysa = next(i for i in stored(ct_app) if i.nct_id == "NCT06384976")
    assert kysa.sort_at == clock.now and kysa.updated_at == clock.now  # it is news again: top of the page

    client = ct_app.test_client()
    page = client.get("/?topic=all").get_data(as_text=True)
    assert "Status changed from Not yet recruiting to Recruiting" in page
    assert page.index("NCT06384976") < page.index("NCT06220201")  # the changed trial comes first
    assert '<span class="badge trial-status">Recruiting</span>' in page
    feed = client.get("/feed.xml?topic=all").get_data(as_text=True)
    assert "Update:&lt;/strong&gt; Status changed from Not yet recruiting to Recruiting; Phase changed" in feed
    trial = client.get("/trials/NCT06384976").get_data(as_text=True)
    assert "Status changed from Not yet recruiting to Recruiting" in trial
    assert "Phase changed from Phase 2 to Phase 1/2" in trial

    # The same record again a day later: no new event.
    clock.now += timedelta(days=1)
    poller(ct_app, clock).poll_many(["ctgov"])
    assert len(events(ct_app)) == 7


def test_unchanged_single_page_answer_is_not_modified(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    feed_server.add("/api/v2/studies", fixture("ctgov_car_t_ms_page2.json"), content_type="application/json")
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctgov", "name": "CT", "kind": "clinicaltrials", "url": feed_server.url(QUERY)}]))
    clock = Clock(NOW)
    assert poller(app, clock).poll_many(["ctgov"])[0].new == 1
    clock.now += timedelta(days=1)
    again = poller(app, clock).poll_many(["ctgov"])[0]
    assert again.outcome == "not-modified"  # the first page is asked for conditionally
    assert "if-none-match" in feed_server.requests[-1].headers


def test_failing_api_is_recorded_on_the_source_and_keeps_items(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctgov", "name": "CT", "kind": "clinicaltrials", "url": feed_server.url(QUERY)}]))
    clock = Clock(NOW)
    poller(app, clock).poll_many(["ctgov"])
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"), {}))  # page 2: 400
    clock.now += timedelta(days=1)
    report = poller(app, clock).poll_many(["ctgov"])[0]
    assert report.outcome == "error" and "400" in (report.error or "")
    assert len(stored(app)) == 3
    page = app.test_client().get("/sources").get_data(as_text=True)
    assert "Failing" in page


@pytest.mark.parametrize("value", ["three", 0, -1, True, 2.5])
def test_bad_max_pages_option_is_a_clear_error(feed_server: FeedServer, value: object) -> None:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json")))
    spec = SourceSpec(id="ct", name="CT", url=feed_server.url(QUERY), kind="clinicaltrials",
                      options=(("max_pages", value),))
    with pytest.raises(APIError, match="options.max_pages of source ct"):
        _retrieval(FakeTime()).clinicaltrials(Fetcher("t"), spec, spec.url, Conditional())
    assert feed_server.requests == []  # nothing asked of the server
