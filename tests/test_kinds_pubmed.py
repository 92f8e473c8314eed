"""PubMed sources: E-utilities answers parsed (ESummary JSON, EFetch XML, legacy DocSum XML), the ESearch →
ESummary/EFetch retriever with tool/email/api_key, NCBI's rate limits and its 429 answer, and a full poll."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from aggregator.config import Settings
from aggregator.domain import Conditional, SourceSpec
from aggregator.errors import HTTPStatusError, ParseError
from aggregator.poll.fetch import Fetcher
from aggregator.poll.parse.pubmed import parse_document, parse_pubmed_date
from aggregator.poll.retrieve import PUBMED_BATCH, TOOL, APIError, RateLimiter, Retrieval
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, EUtils, FakeTime, fixture, poller, send, stored

SEARCH = "/entrez/eutils/esearch.fcgi?db=pubmed&term=%22CAR-T%22+AND+%22multiple+sclerosis%22&sort=pub_date&retmax=200"
ENDPOINTS = ("/entrez/eutils/esearch.fcgi", "/entrez/eutils/esummary.fcgi", "/entrez/eutils/efetch.fcgi")


def summaries() -> dict[str, object]:
    result = json.loads(fixture("pubmed_car_t_ms_esummary.json"))["result"]
    return {uid: result[uid] for uid in result["uids"]}


def serve(feed_server: FeedServer, eutils: EUtils) -> None:
    for path in ENDPOINTS:
        feed_server.add(path, handler=eutils)


def spec_for(feed_server: FeedServer, **options: object) -> SourceSpec:
    return SourceSpec(id="pubmed", name="PubMed", url=feed_server.url(SEARCH), kind="pubmed",
                      evidence_type="peer-reviewed", options=tuple(sorted(options.items())))


# ------------------------------------------------------------------------------------------ parsing


def test_esummary_json_gives_pmid_doi_journal_authors_and_preprints() -> None:
    items = parse_document(fixture("pubmed_car_t_ms_esummary.json"))
    assert [i.pmid for i in items] == ["41234567", "41198765", "41100042"]
    kysa = items[0]
    assert kysa.guid == "pmid:41234567" and kysa.link == "https://pubmed.ncbi.nlm.nih.gov/41234567/"
    assert kysa.doi == "10.1177/13524585261234567"
    assert kysa.author == "Fischbach F, Richter J, Pfeffer LK, Fehse B, Berger SC, Reinhardt S et al."
    extra = dict(kysa.extra)
    assert extra["journal"] == "Multiple sclerosis (Houndmills, Basingstoke, England)"
    assert extra["publication_types"] == ["Journal Article"]
    assert kysa.published_at == datetime(2026, 11, 12, tzinfo=UTC)
    assert kysa.evidence_type is None  # the source's (peer-reviewed) applies
    assert items[1].evidence_type == "preprint"  # PubMed's "Preprint" publication type wins


def test_efetch_xml_keeps_words_apart_around_inline_markup() -> None:
    [item] = parse_document(fixture("pubmed_eutils_efetch_html_tags_in_title.xml"))
    assert item.pmid == "27797938" and item.doi == "10.1136/gutjnl-2016-312510"
    assert "at the TERT gene region" in item.title
    assert "theTERTgene" not in item.summary


def test_efetch_article_set_and_legacy_docsum() -> None:
    efetch = parse_document(fixture("pubmed_eutils_efetch_pubmedarticleset_2025dtd.xml"))
    assert [(i.pmid, i.doi) for i in efetch] == [("12091962", None), ("9997", "10.1016/0005-2795(76)90109-4")]
    assert efetch[0].published_at == datetime(1990, 3, 1, tzinfo=UTC)  # "1990 Spring"
    docsum = parse_document(fixture("pubmed_eutils_esummary_xml_docsum_v1.xml"))
    assert docsum[0].pmid == "11850928" and docsum[0].published_at == datetime(1965, 8, 1, tzinfo=UTC)
    assert dict(docsum[0].extra)["journal"] == "Archives of dermatology"


def test_a_bare_search_answer_has_no_items() -> None:
    assert parse_document(fixture("pubmed_eutils_esearch_retmode-json_3ids.json")) == []


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026/11/03 00:00", datetime(2026, 11, 3, tzinfo=UTC)),
    ("2026 Nov 3", datetime(2026, 11, 3, tzinfo=UTC)),
    ("2026 Nov", datetime(2026, 11, 1, tzinfo=UTC)),
    ("1990 Spring", datetime(1990, 3, 1, tzinfo=UTC)),
    ("2026", datetime(2026, 1, 1, tzinfo=UTC)),
    ("", None), ("Epub ahead of print", None), ("2026 Feb 30", None),
])
def test_pubmed_dates(raw: str, expected: datetime | None) -> None:
    assert parse_pubmed_date(raw) == expected


@pytest.mark.parametrize("body", [
    b"<html><body>PmFetch</body></html>",  # well-formed, but not PubMed XML
    b"<PubmedArticleSet><unclosed>",
    b'{"error": "API rate limit exceeded"}',
    b"not json",
])
def test_hostile_answers_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_document(body)


def test_external_entities_are_never_resolved() -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>x&e;y"
            b"</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")
    [item] = parse_document(body)
    assert "root:" not in item.title and item.pmid == "1"


def test_unknown_ids_inside_a_result_are_skipped() -> None:
    document = {"result": {"uids": ["1", "41234567"], "1": {"uid": "1", "error": "cannot get document summary"},
                           "41234567": summaries()["41234567"]}}
    assert [i.pmid for i in parse_document(json.dumps(document).encode())] == ["41234567"]


# ------------------------------------------------------------------------------------------ retriever


def test_esearch_then_esummary_with_tool_email_and_key(feed_server: FeedServer) -> None:
    serve(feed_server, EUtils(fixture("pubmed_car_t_ms_esearch.json"), summaries()))
    fake = FakeTime()
    retrieval = Retrieval(Settings(ncbi_email="team@example.org", ncbi_api_key="k3y"), fake.monotonic, fake.sleep)
    fetched = retrieval.pubmed(Fetcher("t"), spec_for(feed_server), feed_server.url(SEARCH), Conditional())
    search, summary = (parse_qs(urlsplit(r.path).query) for r in feed_server.requests)
    for query in (search, summary):
        assert query["tool"] == [TOOL] and query["email"] == ["team@example.org"] and query["api_key"] == ["k3y"]
        assert query["retmode"] == ["json"]
    assert search["term"] == ['"CAR-T" AND "multiple sclerosis"']
    assert summary["id"] == ["41234567,41198765,41100042"] and summary["db"] == ["pubmed"]
    assert fake.sleeps == [0.1]  # 10 requests a second with a key
    assert b"k3y" not in fetched.body and "k3y" not in fetched.final_url  # the key is not stored anywhere
    assert [i.pmid for i in parse_document(fetched.body)] == ["41234567", "41198765", "41100042"]


def test_ids_are_fetched_in_batches_and_keyless_rate_is_three_a_second(feed_server: FeedServer) -> None:
    ids = [str(40000000 + n) for n in range(450)]
    search = {"esearchresult": {"count": "450", "idlist": ids + ["1,2"]}}  # a comma would read as two ids
    serve(feed_server, EUtils(json.dumps(search).encode(), {}))
    fake = FakeTime()
    retrieval = Retrieval(Settings(), fake.monotonic, fake.sleep)
    fetched = retrieval.pubmed(Fetcher("t"), spec_for(feed_server), feed_server.url(SEARCH), Conditional())
    batches = [parse_qs(urlsplit(r.path).query)["id"][0].split(",") for r in feed_server.requests[1:]]
    assert [len(b) for b in batches] == [PUBMED_BATCH, PUBMED_BATCH, 50]
    assert sum(batches, []) == ids
    assert all("email" not in parse_qs(urlsplit(r.path).query) for r in feed_server.requests)  # unset: left out
    assert fake.sleeps == [pytest.approx(1 / 3)] * 3
    assert json.loads(fetched.body)["ids"] == ids


def test_efetch_option_asks_for_abstract_xml(feed_server: FeedServer) -> None:
    serve(feed_server, EUtils(fixture("pubmed_eutils_esearch_retmode-json_3ids.json")))
    fetched = Retrieval(Settings(), FakeTime().monotonic, FakeTime().sleep).pubmed(
        Fetcher("t"), spec_for(feed_server, details="efetch"), feed_server.url(SEARCH), Conditional())
    last = feed_server.requests[-1]
    assert urlsplit(last.path).path.endswith("efetch.fcgi")
    assert parse_qs(urlsplit(last.path).query)["rettype"] == ["abstract"]
    assert [i.pmid for i in parse_document(fetched.body)] == ["27797938"]


def test_rate_limit_answer_is_retried_once_then_reported_as_429(feed_server: FeedServer) -> None:
    serve(feed_server, EUtils(fixture("pubmed_car_t_ms_esearch.json"), summaries(), throttle=1))
    fake = FakeTime()
    retrieval = Retrieval(Settings(), fake.monotonic, fake.sleep)
    fetched = retrieval.pubmed(Fetcher("t"), spec_for(feed_server), feed_server.url(SEARCH), Conditional())
    assert len(parse_document(fetched.body)) == 3 and 1.0 in fake.sleeps

    feed_server.requests.clear()
    serve(feed_server, EUtils(fixture("pubmed_car_t_ms_esearch.json"), summaries(), throttle=5))
    with pytest.raises(HTTPStatusError, match="NCBI_API_KEY") as raised:
        retrieval.pubmed(Fetcher("t"), spec_for(feed_server), feed_server.url(SEARCH), Conditional())
    assert raised.value.status == 429 and len(feed_server.requests) == 2


def test_rate_limit_json_with_http_200_is_also_recognised(feed_server: FeedServer) -> None:
    for path in ENDPOINTS:
        feed_server.add(path, fixture("pubmed_eutils_error_api-rate-limit-exceeded.json"),
                        content_type="application/json")
    with pytest.raises(HTTPStatusError) as raised:
        Retrieval(Settings(), FakeTime().monotonic, FakeTime().sleep).pubmed(
            Fetcher("t"), spec_for(feed_server), feed_server.url(SEARCH), Conditional())
    assert raised.value.status == 429


def test_esearch_error_is_an_api_error(feed_server: FeedServer) -> None:
    def broken(handler: object) -> None:
        send(handler, b'{"esearchresult": {"ERROR": "Search Backend failed: retstart too large"}}')  # type: ignore[arg-type]

    feed_server.add("/entrez/eutils/esearch.fcgi", handler=broken)
    with pytest.raises(APIError, match="retstart too large"):
        Retrieval(Settings(), FakeTime().monotonic, FakeTime().sleep).pubmed(
            Fetcher("t"), spec_for(feed_server), feed_server.url(SEARCH), Conditional())


def test_rate_limiter_spaces_calls_evenly() -> None:
    fake = FakeTime()
    limiter = RateLimiter(3.0, fake.monotonic, fake.sleep)
    for _ in range(4):
        limiter.wait()
    assert fake.sleeps == [pytest.approx(1 / 3)] * 3
    fake.t += 10  # a quiet spell: the next call goes at once
    limiter.wait()
    assert len(fake.sleeps) == 3


# ------------------------------------------------------------------------------------------ full poll


def test_poll_stores_articles_with_evidence_types(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> None:
    serve(feed_server, EUtils(fixture("pubmed_car_t_ms_esearch.json"), summaries()))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "pubmed", "name": "PubMed", "kind": "pubmed", "url": feed_server.url(SEARCH),
         "evidence_type": "peer-reviewed"}]))
    report = poller(app, Clock(NOW)).poll_many(["pubmed"])[0]
    assert (report.outcome, report.new) == ("ok", 3)
    rows = {row.pmid: row for row in stored(app)}
    assert rows["41198765"].evidence_type == "preprint" and rows["41234567"].evidence_type == "peer-reviewed"
    assert rows["41234567"].doi == "10.1177/13524585261234567"
    # Polling again changes nothing: identity is the PMID.
    again = poller(app, Clock(NOW)).poll_many(["pubmed"])[0]
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)
    # The evidence filter of the page and the feeds (the badge's values) selects preprints only.
    client = app.test_client()
    page = client.get("/?topic=all&evidence=preprint").get_data(as_text=True)
    assert "intrathecal plasma cells" in page and "first results of the" not in page
    assert "Preprint</span>" in page
    feed = client.get("/feed.atom?topic=all&evidence=peer-reviewed").get_data(as_text=True)
    assert "first results of the KYSA-7 study" in feed and "intrathecal plasma" not in feed
    assert client.get("/?evidence=rumour").status_code == 400
