"""Pages without a feed (kind ``html``): CSS selectors from feeds.yaml, absolute links, new links become items,
hostile markup made inert, and a layout change reported instead of silently yielding nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.poll.parse.html import parse_page
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, fixture, poller, stored

PAGE = "https://www.nationalmssociety.org/news-and-magazine/momentum-magazine/research-and-science"
OPTIONS = {"item": "article.card", "title": ".card__title", "link": "a.card__link", "date": "time",
           "summary": ".card__teaser"}


def test_selectors_pick_title_link_date_and_summary() -> None:
    items = parse_page(fixture("national_ms_society_research_news.html"), PAGE, OPTIONS)
    assert [i.title for i in items] == [
        "CAR T-Cell Therapy for MS: What to Know About Early Trials",
        "BTK Inhibitors: An Update from ECTRIMS 2026",
        "Remyelination & Repair: Trials to Watch in 2026",  # the card without a link is skipped
    ]
    assert items[0].link == PAGE + "/car-t-cell-therapy-ms-what-to-know"  # relative → absolute
    assert items[0].published_at == datetime(2026, 11, 10, 12, tzinfo=UTC)  # <time datetime=...>
    assert items[2].published_at == datetime(2026, 9, 15, tzinfo=UTC)  # the visible date text
    assert "KYV-101" in items[0].summary


def test_defaults_without_title_link_and_date_selectors() -> None:
    items = parse_page(fixture("national_ms_society_research_news.html"), PAGE, {"item": "article.card"})
    assert items[0].title == "CAR T-Cell Therapy for MS: What to Know About Early Trials"
    assert items[0].published_at is not None and items[0].summary == ""


@pytest.mark.parametrize(("options", "message"), [
    ({"item": "div.no-such-card"}, "layout may have changed"),
    ({"item": "article.card", "link": "a.nothing"}, None),
    ({"item": "article.card[["}, "invalid"),
    ({}, "needs `options"),
])
def test_layout_changes_and_bad_selectors_are_parse_errors(options: dict[str, str], message: str | None) -> None:
    if options.get("link") == "a.nothing":
        # A link selector that matches nothing falls back to the first link of the item.
        assert len(parse_page(fixture("national_ms_society_research_news.html"), PAGE, options)) == 3
        return
    with pytest.raises(ParseError, match=message or ""):
        parse_page(fixture("national_ms_society_research_news.html"), PAGE, options)


def test_cards_without_any_link_are_an_error_not_an_empty_source() -> None:
    with pytest.raises(ParseError, match="none has a link"):
        parse_page(b"<article class=c><h3>x</h3></article>", PAGE, {"item": "article.c"})


def test_poll_new_links_become_items_and_hostile_markup_is_inert(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    body = fixture("national_ms_society_research_news.html")
    feed_server.add("/research", body, content_type="text/html; charset=utf-8")
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "nmss", "name": "National MS Society", "kind": "html", "url": feed_server.url("/research"),
         "evidence_type": "society-news", "options": OPTIONS}]))
    clock = Clock(NOW)
    report = poller(app, clock).poll_many(["nmss"])[0]
    assert (report.outcome, report.new) == ("ok", 3)
    rows = stored(app)
    assert all(row.evidence_type == "society-news" for row in rows)
    # Relative links resolve against the page's own address (here the loopback server); absolute ones stay.
    assert sorted(bool(row.link and row.link.startswith(feed_server.url("/"))) for row in rows) == [False, True, True]
    repair = next(row for row in rows if row.title.startswith("Remyelination"))
    assert "onerror" not in repair.summary_html and "<script" not in repair.summary_html
    assert "alert" not in repair.summary_text

    # A new card appears: one new item; the tracking parameter on an old link does not make it new.
    new_card = (b'<article class="card"><a class="card__link" href="/news/kyv-101-ms-first-patient">'
                b'<h3 class="card__title">First person with MS treated with KYV-101</h3></a></article>')
    changed = body.replace(b'<div class="card-list">', b'<div class="card-list">' + new_card).replace(
        b"?utm_source=site", b"?utm_source=newsletter")
    feed_server.add("/research", changed, content_type="text/html; charset=utf-8")
    clock.now += timedelta(days=1)
    again = poller(app, clock).poll_many(["nmss"])[0]
    assert (again.new, len(stored(app))) == (1, 4)


def test_shipped_feeds_file_uses_every_kind_and_html_sources_have_selectors() -> None:
    from aggregator.poll.catalog import load_catalog

    catalog = load_catalog(Path(__file__).resolve().parent.parent / "feeds.yaml")
    by_id = {spec.id: spec for spec in catalog.sources}
    assert by_id["ctgov-api-car-t-ms"].enabled and by_id["ctgov-api-car-t-ms"].kind == "clinicaltrials"
    assert "query.cond=multiple+sclerosis" in by_id["ctgov-api-car-t-ms"].url
    assert by_id["pubmed-car-t-ms"].enabled and by_id["pubmed-car-t-ms"].kind == "pubmed"
    assert by_id["national-ms-society"].option("item")  # selectors given, unverified: shipped disabled
    for spec in catalog.sources:
        if spec.kind == "html" and spec.enabled:
            assert spec.option("item"), f"{spec.id}: an enabled html source needs an item selector"
