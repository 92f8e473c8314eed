"""Dates as sources write them (aggregator/poll/parse/dates.py): a table of the forms seen in real feeds and APIs, each
expected value worked out by hand from the text, and the whole table run at several frozen "now"s, because the bug
behind issue #12 (``2020/1/10 14:33:00`` read as 1 December 2020 when parsed in December) only showed on some days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aggregator.domain import ParsedItem, SourceSpec
from aggregator.poll.clean import DATE_PROBLEM, clean_item
from aggregator.poll.parse.clinicaltrials import parse_date as ctgov_date
from aggregator.poll.parse.dates import implausible, parse_date
from aggregator.poll.parse.feed import parse_feed
from aggregator.poll.parse.pubmed import parse_pubmed_date
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, poller, rss, rss_item, stored

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8, no daylight saving
BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in winter, UTC+2 in summer
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# "Now"s at which a parser that fills in missing fields from the clock would give different answers: the end of a
# month of 31 days, the leap day and the day after it, the last evening of a year and the first hour of the next.
FROZEN_NOWS = [
    datetime(2027, 1, 31, 12, 0, tzinfo=UTC),
    datetime(2028, 2, 29, 8, 0, tzinfo=UTC),
    datetime(2028, 3, 1, 0, 30, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 15, tzinfo=UTC),
]


@pytest.fixture(params=FROZEN_NOWS, ids=[now.strftime("now=%Y-%m-%dT%H:%M") for now in FROZEN_NOWS])
def frozen_now(request: pytest.FixtureRequest) -> Iterator[datetime]:
    with time_machine.travel(request.param, tick=False):
        assert datetime.now(UTC) == request.param  # the clock really is frozen
        yield request.param


# (text, zone the source is in, day first?, the moment it names in UTC — worked out by hand)
FORMS: list[tuple[str, ZoneInfo | None, bool, datetime | None]] = [
    # RFC 822 / 2822, as RSS pubDate writes it
    ("Tue, 03 Nov 2026 10:00:00 GMT", None, False, utc(2026, 11, 3, 10, 0)),
    ("03 Nov 2026 10:00:00 +0100", None, False, utc(2026, 11, 3, 9, 0)),  # no weekday
    ("Tue, 03 Nov 2026 10:00 +0100", None, False, utc(2026, 11, 3, 9, 0)),  # no seconds
    ("Tue, 03 Nov 2026 10:00:00 -0530", None, False, utc(2026, 11, 3, 15, 30)),
    ("Tue, 03 Nov 2026 10:00:00 EST", None, False, utc(2026, 11, 3, 15, 0)),  # obsolete zone: -5
    ("Tue, 03 Nov 2026 10:00:00 PDT", None, False, utc(2026, 11, 3, 17, 0)),  # -7
    ("Tue, 03 Nov 2026 10:00:00 UT", None, False, utc(2026, 11, 3, 10, 0)),
    ("Tue, 03 Nov 2026 10:00:00 CET", None, False, utc(2026, 11, 3, 9, 0)),  # +1
    ("Tue, 03 Nov 2026 10:00:00 -0000", None, False, utc(2026, 11, 3, 10, 0)),  # UTC, local zone unknown
    ("Tue, 03 Nov 2026 10:00:00 Z", None, False, utc(2026, 11, 3, 10, 0)),  # military letter: UTC
    ("Tue, 3 Nov 26 10:00:00 +0100", None, False, utc(2026, 11, 3, 9, 0)),  # two-digit year
    ("Tue, 03 Nov 2026 10:00:00", BERLIN, False, utc(2026, 11, 3, 9, 0)),  # no zone: the source's (+1 in Nov)
    ("Tue, 03 Nov 2026 10:00:00", None, False, utc(2026, 11, 3, 10, 0)),  # no zone, none configured: UTC
    ("Seg, 24 Set 2018 19:42:40 -0300", None, False, utc(2018, 9, 24, 22, 42, 40)),  # Portuguese names (UOL)
    ("Tue, 31 Feb 2026 10:00:00 GMT", None, False, None),  # no such day
    ("Mon, 01 Jan 0000 00:00:00 GMT", None, False, None),  # no year 0 (not 2000)
    # ISO 8601 and W3C-DTF (Atom, Dublin Core, JSON APIs)
    ("2026-11-03T10:00:00Z", None, False, utc(2026, 11, 3, 10, 0)),
    ("2026-11-03T10:00:00.123456+01:00", None, False, utc(2026, 11, 3, 9, 0, 0, 123456)),  # fractions
    ("2026-11-03T10:00Z", None, False, utc(2026, 11, 3, 10, 0)),
    ("2026-11-03T10:00:00", None, False, utc(2026, 11, 3, 10, 0)),  # no zone, none configured: UTC
    ("2026-07-03T10:00:00", BERLIN, False, utc(2026, 7, 3, 8, 0)),  # no zone: Berlin in summer is +2
    ("2026-11-03", None, False, utc(2026, 11, 3)),  # date only
    ("2026-11-03", SHANGHAI, False, utc(2026, 11, 2, 16, 0)),  # midnight in Shanghai
    ("2026-11", None, False, utc(2026, 11, 1)),  # W3C-DTF year and month
    ("2026", None, False, utc(2026, 1, 1)),
    ("20261103T100000Z", None, False, utc(2026, 11, 3, 10, 0)),  # basic format
    ("2026-13", None, False, None),
    # Other numeric forms
    ("2020/1/10 14:33:00", None, False, utc(2020, 1, 10, 14, 33)),  # the gb2312 forum feed (issue #12)
    ("2020/1/10 14:33:00", SHANGHAI, False, utc(2020, 1, 10, 6, 33)),
    ("2026-11-03 10:00", None, False, utc(2026, 11, 3, 10, 0)),
    ("2026-11-03 10:00", NEW_YORK, False, utc(2026, 11, 3, 15, 0)),  # EST (-5) after 1 November
    ("10.1.2020", None, False, utc(2020, 1, 10)),  # D.M.YYYY: dots are day first
    ("03.11.2026 14:33", BERLIN, False, utc(2026, 11, 3, 13, 33)),
    ("03/11/2026", None, False, utc(2026, 3, 11)),  # slashes, year last: month first (United States) ...
    ("03/11/2026", None, True, utc(2026, 11, 3)),  # ... unless the source says day first
    ("25/11/2026", None, False, utc(2026, 11, 25)),  # 25 can only be the day
    ("13/25/2020", None, False, None),
    ("2020年1月10日", None, False, utc(2020, 1, 10)),
    ("2026年11月3日 14時33分", SHANGHAI, False, utc(2026, 11, 3, 6, 33)),
    # Month and weekday names in the languages of our sources
    ("November 3, 2026", None, False, utc(2026, 11, 3)),
    ("March 3rd, 2026 at 5:00 PM EST", None, False, utc(2026, 3, 3, 22, 0)),
    ("Monday, November 3, 2026 - 10:00", None, False, utc(2026, 11, 3, 10, 0)),
    ("Tue Nov  3 10:00:00 2026", None, False, utc(2026, 11, 3, 10, 0)),  # asctime
    ("Montag, 3. November 2026, 10:30 Uhr", BERLIN, False, utc(2026, 11, 3, 9, 30)),
    ("3. März 2026", None, False, utc(2026, 3, 3)),
    ("le 3 novembre 2026 à 10h30", None, False, utc(2026, 11, 3, 10, 30)),
    ("mardi 3 février 2026", None, False, utc(2026, 2, 3)),
    ("1er mars 2026", None, False, utc(2026, 3, 1)),
    ("lun., 3 août 2026 10:00", None, False, utc(2026, 8, 3, 10, 0)),
    ("martes, 3 de noviembre de 2026", None, False, utc(2026, 11, 3)),
    ("3 de diciembre de 2026", None, False, utc(2026, 12, 3)),
    ("3 de março de 2026 às 10:30", None, False, utc(2026, 3, 3, 10, 30)),
    ("3 dicembre 2026", None, False, utc(2026, 12, 3)),
    ("3 maart 2026", None, False, utc(2026, 3, 3)),
    ("November 2026", None, False, utc(2026, 11, 1)),  # no day: the first it can mean
    # Not dates: nothing may be filled in from today
    ("Nov 3", None, False, None),  # no year
    ("3 days ago", None, False, None),
    ("last Tuesday-ish", None, False, None),
    ("14:33", None, False, None),
    ("garbage", None, False, None),
    ("", None, False, None),
    ("2026-11-03 " + "x" * 200, None, False, None),  # far longer than any date
]


@pytest.mark.parametrize(("text", "zone", "dayfirst", "expected"), FORMS, ids=[f[0][:40] or "empty" for f in FORMS])
def test_date_forms(frozen_now: datetime, text: str, zone: ZoneInfo | None, dayfirst: bool,
                    expected: datetime | None) -> None:
    assert parse_date(text, zone or UTC, dayfirst) == expected


# ClinicalTrials.gov writes partial ISO dates; PubMed writes "2026 Nov 3" and seasons.
API_FORMS: list[tuple[object, object, datetime | None]] = [
    (ctgov_date, "2026-11", utc(2026, 11, 1)),
    (ctgov_date, "2026-11-03", utc(2026, 11, 3)),
    (ctgov_date, "2026", utc(2026, 1, 1)),
    (ctgov_date, "soon", None),
    (ctgov_date, 20261103, None),
    (parse_pubmed_date, "2026 Nov 3", utc(2026, 11, 3)),
    (parse_pubmed_date, "2026 Nov", utc(2026, 11, 1)),
    (parse_pubmed_date, "2026/11/03 00:00", utc(2026, 11, 3)),
    (parse_pubmed_date, "2025 Winter", utc(2025, 12, 1)),
    (parse_pubmed_date, "2026", utc(2026, 1, 1)),
    (parse_pubmed_date, "Nov 3", None),
]


@pytest.mark.parametrize(("parser", "text", "expected"), API_FORMS,
                         ids=[f"{getattr(f[0], '__module__', '').rsplit('.', 1)[-1]}:{f[1]}" for f in API_FORMS])
def test_api_date_forms(frozen_now: datetime, parser: object, text: object, expected: datetime | None) -> None:
    assert callable(parser)
    assert parser(text) == expected


def _rss(*dates: str) -> bytes:
    items = "".join(f"<item><title>Item {n}</title><link>http://example.org/{n}</link><guid>g{n}</guid>"
                    f"<pubDate>{date}</pubDate></item>" for n, date in enumerate(dates))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
            f"<link>http://example.org/</link><description>d</description>{items}</channel></rss>").encode()


def test_feed_dates_are_read_from_the_text_not_completed_from_today(frozen_now: datetime) -> None:
    # The forms feedparser's own fallbacks misread; through parse_feed, the answer is the same on every day.
    items = parse_feed(_rss("2020/1/10 14:33:00", "10.1.2020", "3 de noviembre de 2026", "Nov 3"),
                       "http://example.org/feed")
    assert [item.published_at for item in items] == [utc(2020, 1, 10, 14, 33), utc(2020, 1, 10),
                                                      utc(2026, 11, 3), None]
    assert [item.date_text for item in items] == ["2020/1/10 14:33:00", "10.1.2020", "3 de noviembre de 2026",
                                                   "Nov 3"]


def test_a_zone_less_feed_date_is_read_in_the_sources_zone() -> None:
    items = parse_feed(_rss("2020/1/10 14:33:00", "Fri, 10 Jan 2020 14:33:00 +0000"), "http://example.org/feed",
                       zone=SHANGHAI)
    # The first names no zone: 14:33 in Shanghai is 06:33 UTC. The second names its own zone, which wins.
    assert [item.published_at for item in items] == [utc(2020, 1, 10, 6, 33), utc(2020, 1, 10, 14, 33)]


def test_dublin_core_and_atom_dates_are_read_too() -> None:
    atom = (b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>t</id>"
            b"<updated>2026-11-03T10:00:00Z</updated><entry><title>A</title><id>a</id>"
            b"<link href='http://example.org/a'/><updated>2026-11-04T08:00:00+01:00</updated></entry></feed>")
    [entry] = parse_feed(atom, "http://example.org/atom")
    assert entry.published_at == entry.updated_at == utc(2026, 11, 4, 7, 0)
    rdf = (b"<?xml version='1.0'?><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
           b"xmlns='http://purl.org/rss/1.0/' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
           b"<channel rdf:about='http://example.org/'><title>T</title><link>http://example.org/</link>"
           b"<description>d</description></channel><item rdf:about='http://example.org/1'><title>One</title>"
           b"<link>http://example.org/1</link><dc:date>2019-08-27</dc:date></item></rdf:RDF>")
    [item] = parse_feed(rdf, "http://example.org/rdf", zone=BERLIN)
    assert item.published_at == utc(2019, 8, 26, 22, 0)  # midnight of 27 August in Berlin (+2 in summer)


# ------------------------------------------------------------------------------------------ sanity


SPEC = SourceSpec(id="s", name="S", url="http://example.org/feed")


@pytest.mark.parametrize("now", FROZEN_NOWS, ids=[now.strftime("%Y-%m-%dT%H:%M") for now in FROZEN_NOWS])
def test_implausible_dates_are_judged_against_the_poll_not_the_clock(now: datetime) -> None:
    assert implausible(None, now) is None
    assert implausible(now, now) is None
    assert implausible(now + timedelta(hours=23), now) is None  # a zone away: believed
    assert implausible(now + timedelta(days=1, minutes=1), now) == "more than a day in the future"
    assert implausible(utc(1989, 12, 31, 23, 59), now) == "before 1990"
    assert implausible(utc(1990, 1, 1), now) is None


@pytest.mark.parametrize("now", FROZEN_NOWS, ids=[now.strftime("%Y-%m-%dT%H:%M") for now in FROZEN_NOWS])
def test_a_date_not_believed_is_dropped_and_recorded_with_what_the_source_wrote(now: datetime) -> None:
    def cleaned(published: datetime | None, text: str | None) -> tuple[datetime | None, object]:
        item = clean_item(ParsedItem(title="t", link="http://example.org/1", published_at=published,
                                     date_text=text), SPEC, now)
        return item.published_at, item.extra.get(DATE_PROBLEM)

    ahead = now + timedelta(days=400)
    assert cleaned(ahead, "a year ahead") == (None, {"reason": "more than a day in the future",
                                                     "source_date": "a year ahead"})
    assert cleaned(utc(1970, 1, 1), "Thu, 01 Jan 1970 00:00:00 GMT") == (
        None, {"reason": "before 1990", "source_date": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert cleaned(None, "<b>soon</b>") == (None, {"reason": "unreadable", "source_date": "soon"})
    assert cleaned(None, None) == (None, None)  # no date at all: nothing to report
    assert cleaned(now - timedelta(hours=5), "five hours ago") == (now - timedelta(hours=5), None)


# ------------------------------------------------------------------------------------------ end to end


def test_a_poll_dates_unbelievable_items_by_first_sight_and_the_page_says_why(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    feed_server.add("/news.xml", rss(
        rss_item("KYV-101 CAR T-cell therapy in multiple sclerosis: scheduled post", "https://n.example/1",
                 "CAR T in MS.", guid="1", date="Sat, 01 Jan 2031 09:00:00 GMT"),
        rss_item("CD19 CAR T cells in progressive multiple sclerosis: odd date", "https://n.example/2",
                 "CAR T in MS.", guid="2", date="Sometime in spring"),
        rss_item("BCMA CAR T in relapsing multiple sclerosis: a forum date", "https://n.example/3",
                 "CAR T in MS.", guid="3", date="2026/11/15 14:33:00"),
    ))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "news", "name": "News", "url": feed_server.url("/news.xml"), "options": {"timezone": "Asia/Shanghai"}},
    ]))
    poller(app, Clock(NOW)).poll_many(["news"])  # NOW: 16 November 2026, 08:00 UTC
    by_guid = {item.guid: item for item in stored(app)}
    assert by_guid["1"].published_at is None and by_guid["1"].sort_at == NOW
    assert by_guid["1"].extra[DATE_PROBLEM] == {"reason": "more than a day in the future",
                                                 "source_date": "Sat, 01 Jan 2031 09:00:00 GMT"}
    assert by_guid["2"].published_at is None and by_guid["2"].extra[DATE_PROBLEM]["reason"] == "unreadable"
    assert by_guid["3"].published_at == utc(2026, 11, 15, 6, 33)  # 14:33 in Shanghai
    assert DATE_PROBLEM not in by_guid["3"].extra
    page = app.test_client().get("/?topic=car-t-ms").get_data(as_text=True)
    assert ("Dated by when we first saw it: the date the source gave, “Sat, 01 Jan 2031 09:00:00 GMT”, lies more "
            "than a day in the future.") in page
    assert "the date the source gave, “Sometime in spring”, could not be read." in page
    start = page.index("scheduled post")
    article = page[start:page.index("</article>", start)]
    assert f'<time datetime="{NOW.isoformat()}">' in article and "2031" in article  # dated by first sight
