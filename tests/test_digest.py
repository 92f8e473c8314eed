"""The pure digest rules: ISO weeks, which items, grouped how, and what the subject, text and HTML say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.domain import DigestItem
from aggregator.errors import BadRequest
from aggregator.mail import digest
from aggregator.mail.digest import Week

NAMES = {
    "car-t-ms": "CAR T for multiple sclerosis",
    "car-t-autoimmune": "CAR T in autoimmunity",
    "ms-research": "MS research",
}
WEEK = Week(2026, 47)  # Monday 16 to Sunday 22 November 2026


def item(
    n: int,
    seen: datetime,
    topics: tuple[str, ...] = ("car-t-ms",),
    title: str | None = None,
    summary: str = "",
    link: str | None = "https://example.org/x",
) -> DigestItem:
    return DigestItem(
        id=n,
        title=title or f"Item {n}",
        link=link,
        source_name="Neurology Journal",
        date=seen,
        first_seen_at=seen,
        summary=summary,
        topics=topics,
        evidence="Peer-reviewed paper",
    )


def links() -> digest.Links:
    return digest.Links(
        site="https://cartms.example/",
        rss="https://cartms.example/feed.xml",
        week_page="https://cartms.example/digest/2026-W47",
        subscribe="https://cartms.example/subscribe",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-W47", Week(2026, 47)),
        ("2026-W01", Week(2026, 1)),
        ("2026-W53", Week(2026, 53)),  # 2026 has 53 ISO weeks
        (" 2020-W53 ", Week(2020, 53)),
    ],
)
def test_parse_week_accepts_iso_weeks(text: str, expected: Week) -> None:
    assert digest.parse_week(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2027-W53",
        "2026-W00",
        "2026-W54",
        "2026-47",
        "2026W47",
        "2026-w47",
        "",
        "2026-W4",
        "2026-W470",
        "'; DROP TABLE item;--",
        "２０２６-W47",
    ],
)
def test_parse_week_rejects_everything_else_with_the_expected_form(text: str) -> None:
    with pytest.raises(BadRequest, match="2026-W47"):
        digest.parse_week(text)


def test_week_bounds_are_local_monday_midnights() -> None:
    start, end = WEEK.bounds("UTC")
    assert (start, end) == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    start, end = WEEK.bounds("Pacific/Auckland")  # UTC+13 in November
    assert start.astimezone(UTC) == datetime(2026, 11, 15, 11, tzinfo=UTC)
    assert end - start == timedelta(days=7)


def test_week_of_uses_the_configured_time_zone() -> None:
    sunday_night_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert digest.week_of(sunday_night_utc, "UTC") == WEEK
    assert digest.week_of(sunday_night_utc, "Europe/Berlin") == Week(2026, 48)  # already Monday in Berlin
    with pytest.raises(ValueError):
        digest.week_of(datetime(2026, 11, 22), "UTC")


def test_previous_week_is_the_last_complete_one_across_the_year_end() -> None:
    assert digest.previous_week(datetime(2026, 11, 23, 8, tzinfo=UTC)) == WEEK
    assert digest.previous_week(datetime(2027, 1, 4, 8, tzinfo=UTC)) == Week(2026, 53)
    assert Week(2026, 53).next() == Week(2027, 1)
    assert str(Week(2027, 1).previous()) == "2026-W53"


def test_build_keeps_only_items_first_seen_in_the_week_boundaries_included() -> None:
    start, end = WEEK.bounds()
    items = [
        item(1, start),
        item(2, end - timedelta(microseconds=1)),
        item(3, end),
        item(4, start - timedelta(seconds=1)),
    ]
    built = digest.build(WEEK, items, ["car-t-ms"], NAMES)
    assert [i.id for s in built.sections for i in s.items] == [2, 1]


def test_build_groups_by_topic_in_catalog_order_each_item_once_and_only_wanted_topics() -> None:
    seen = datetime(2026, 11, 18, tzinfo=UTC)
    items = [
        item(1, seen, ("car-t-autoimmune",)),
        item(2, seen + timedelta(hours=1), ("car-t-ms", "car-t-autoimmune")),  # both: shown under the first only
        item(3, seen, ("ms-research",)),
        item(4, seen, ("other-topic",)),
    ]
    built = digest.build(WEEK, items, ["ms-research", "car-t-autoimmune", "car-t-ms"], NAMES)
    assert [(s.topic_id, [i.id for i in s.items]) for s in built.sections] == [
        ("car-t-ms", [2]),
        ("car-t-autoimmune", [1]),
        ("ms-research", [3]),
    ]
    assert built.count == 3
    only_ms = digest.build(WEEK, items, ["ms-research", "unknown-topic"], NAMES)
    assert [i.id for s in only_ms.sections for i in s.items] == [3]
    assert only_ms.topic_ids == ("ms-research",)


def test_subject_counts_items() -> None:
    seen = datetime(2026, 11, 18, tzinfo=UTC)
    one = digest.build(WEEK, [item(1, seen)], ["car-t-ms"], NAMES)
    five = digest.build(WEEK, [item(n, seen) for n in range(5)], ["car-t-ms"], NAMES)
    none = digest.build(WEEK, [], ["car-t-ms"], NAMES)
    assert digest.subject(one) == "CAR T & MS research — week 47, 2026: 1 new item"
    assert digest.subject(five) == "CAR T & MS research — week 47, 2026: 5 new items"
    assert digest.subject(none).endswith("no new items")
    assert none.quiet and not five.quiet


def test_render_text_and_html_hold_every_item_with_source_date_summary_and_link() -> None:
    seen = datetime(2026, 11, 18, 10, tzinfo=UTC)
    built = digest.build(
        WEEK,
        [
            item(
                1,
                seen,
                title="KYV-101 in progressive MS",
                summary="First patients treated. " * 40,
                link="https://example.org/kyv",
            ),
            item(2, seen, ("ms-research",), title="No link here", link=None),
        ],
        ["car-t-ms", "ms-research"],
        NAMES,
    )
    out = digest.render(built, links())
    assert out.subject == digest.subject(built)
    for part in (out.text, out.html):
        assert "KYV-101 in progressive MS" in part
        assert "Neurology Journal" in part and "18 Nov 2026" in part
        assert "https://example.org/kyv" in part
        assert "CAR T for multiple sclerosis (1)" in part and "MS research (1)" in part
        assert "https://cartms.example/feed.xml" in part and "https://cartms.example/digest/2026-W47" in part
        assert digest.UNSUBSCRIBE_PLACEHOLDER in part and digest.MANAGE_PLACEHOLDER in part
        assert "First patients treated." in part and "…" in part  # the summary, shortened
    assert (
        max(len(line) for line in out.text.splitlines() if not line.startswith(("  Read it", "Unsub", "Change"))) <= 80
    )
    assert "\n\n\n" not in out.text
    assert "<script" not in out.html and "<link" not in out.html and "<style" not in out.html
    assert 'role="presentation"' in out.html


def test_render_escapes_hostile_titles_in_html_and_keeps_them_readable_in_text() -> None:
    seen = datetime(2026, 11, 18, tzinfo=UTC)
    hostile = '<img src=x onerror=alert(1)> "CAR-T" & <b>MS</b>'
    built = digest.build(
        WEEK,
        [item(1, seen, title=hostile, summary="<script>alert(2)</script>", link='https://e.org/?a=1&b="2"')],
        ["car-t-ms"],
        NAMES,
    )
    out = digest.render(built, links())
    assert "<img src=x" not in out.html and "<script>" not in out.html and "<b>MS</b>" not in out.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in out.html
    assert 'href="https://e.org/?a=1&amp;b=&#34;2&#34;"' in out.html
    assert hostile in out.text


def test_personalise_fills_the_readers_links_everywhere() -> None:
    built = digest.build(WEEK, [item(1, datetime(2026, 11, 18, tzinfo=UTC))], ["car-t-ms"], NAMES)
    out = digest.render(built, links()).personalise("https://u.example/unsub/TOKEN", "https://u.example/manage/TOKEN")
    for part in (out.text, out.html):
        assert "https://u.example/unsub/TOKEN" in part and "https://u.example/manage/TOKEN" in part
        assert not any(p in part for p in digest.PERSONAL_PLACEHOLDERS)


def test_quiet_week_note_says_so() -> None:
    out = digest.render(digest.build(WEEK, [], ["car-t-ms"], NAMES), links())
    assert "quiet week" in out.text.lower() and "quiet week" in out.html.lower()
    assert out.count == 0


def test_confirmation_email_has_the_link_or_the_already_subscribed_note() -> None:
    fresh = digest.render_confirmation("https://x.example/subscribe/confirm/T", None, "https://x.example/", False)
    assert (
        "https://x.example/subscribe/confirm/T" in fresh.text and "https://x.example/subscribe/confirm/T" in fresh.html
    )
    already = digest.render_confirmation("", "https://x.example/subscribe/manage/M", "https://x.example/", True)
    assert "already subscribed" in already.text and "https://x.example/subscribe/manage/M" in already.html
    assert "confirm/" not in already.text
