from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.domain import ParsedItem, SourceSpec
from aggregator.poll.clean import (
    clean_item,
    html_to_text,
    identity_key,
    normalize_link,
    safe_link,
    sanitize_html,
)

NOW = datetime(2026, 11, 16, 8, tzinfo=UTC)
SPEC = SourceSpec(id="s", name="S", url="https://s.example/feed", evidence_type="preprint")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://www.Example.org/a/?utm_source=rss&utm_medium=feed&id=3", "https://example.org/a?id=3"),
        ("http://example.org/a#comments", "https://example.org/a"),
        (
            "https://pubmed.ncbi.nlm.nih.gov/39959426/?utm_source=Chrome&utm_medium=rss&fc=20250101&ff=2&v=2.18",
            "https://pubmed.ncbi.nlm.nih.gov/39959426",
        ),
        ("http://biorxiv.org/cgi/content/short/743294v1?rss=1", "https://biorxiv.org/cgi/content/short/743294v1"),
        (
            "https://www.google.com/url?rct=j&sa=t&url=https://news.example/story%3Fa%3D1&ct=ga",
            "https://news.example/story?a=1",
        ),
        ("https://example.org:443/x?b=2&a=1", "https://example.org/x?a=1&b=2"),
        ("HTTP://0//", "https://0/"),  # found by hypothesis: a path of only slashes is the root
        ("http://example.org//", "https://example.org/"),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("mailto:a@b.c", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_link(link: str | None, expected: str | None) -> None:
    assert normalize_link(link) == expected


def test_safe_link_only_lets_web_links_through_and_unwraps_redirects() -> None:
    assert safe_link("javascript:alert(1)") is None
    assert safe_link(" JaVaScRiPt:alert(1)") is None
    assert safe_link("https://a.example/x?utm_source=1") == "https://a.example/x?utm_source=1"
    assert safe_link("https://www.google.com/url?url=https://b.example/y") == "https://b.example/y"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>CAR&nbsp;T</p><p>cells</p>", "CAR T cells"),
        ("variants at the<i>TERT</i>gene", "variants at theTERTgene"),
        ("&lt;b&gt;Slack&lt;/b&gt; Stock", "Slack Stock"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),
        ("<script>alert(1)</script>Safe", "Safe"),
        ("<style>p{}</style>Text", "Text"),
        ("line<br>break", "line break"),
        ("  \n spaced\t out \n", "spaced out"),
        ("bell\x07char", "bellchar"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_sanitize_html_keeps_structure_and_removes_everything_active() -> None:
    dirty = (
        '<p onclick="x()">Hello <a href="javascript:alert(1)">bad</a> <a href="https://ok.example/">ok</a></p>'
        '<img src="https://tracker.example/p.gif"><iframe src="https://evil.example"></iframe>'
        '<script>alert(1)</script><form action="/x"><input></form><p style="color:red">styled</p>'
    )
    clean = sanitize_html(dirty)
    assert "<p>Hello" in clean
    assert 'href="https://ok.example/"' in clean and 'rel="noopener noreferrer nofollow"' in clean
    for forbidden in ("onclick", "javascript:", "<img", "<iframe", "<script", "<form", "<input", "style="):
        assert forbidden not in clean


def test_identity_prefers_guid_then_link_then_hash() -> None:
    assert identity_key("g1", "https://a/", "h") == "guid:g1"
    assert identity_key(None, "https://a/", "h") == "link:https://a/"
    assert identity_key(None, None, "h") == "hash:h"


def test_clean_item_makes_titles_text_and_drops_future_dates() -> None:
    item = ParsedItem(
        title="<b>CAR-T</b> &amp; MS <script>alert(1)</script>",
        link="https://news.example/a?utm_source=rss",
        summary="<p>Summary <em>here</em></p><script>x</script>",
        published_at=NOW + timedelta(days=30),
    )
    clean = clean_item(item, SPEC, NOW)
    assert clean.title == "CAR-T & MS"
    assert clean.summary_html == "<p>Summary <em>here</em></p>"
    assert clean.summary_text == "Summary here"
    assert clean.published_at is None  # a date a month ahead is a publisher's mistake
    assert clean.key == "link:https://news.example/a"
    assert clean.evidence_type == "preprint"


def test_clean_item_without_title_uses_the_summary() -> None:
    clean = clean_item(ParsedItem(title="", summary="A long enough summary about CAR T"), SPEC, NOW)
    assert clean.title == "A long enough summary about CAR T"
    assert clean.key.startswith("hash:")


def test_content_hash_changes_with_text_only() -> None:
    a = clean_item(ParsedItem(title="T", guid="1", summary="x", published_at=NOW), SPEC, NOW)
    b = clean_item(ParsedItem(title="T", guid="1", summary="x", published_at=NOW - timedelta(days=1)), SPEC, NOW)
    c = clean_item(ParsedItem(title="T", guid="1", summary="y"), SPEC, NOW)
    assert a.content_hash == b.content_hash != c.content_hash


def test_wordpress_footer_is_dropped_from_summaries() -> None:
    summary = "<p>KYV-101 enrolled.</p><p>The post <a href='x'>KYSA-7 done</a> appeared first on MS News Today.</p>"
    clean = clean_item(ParsedItem(title="KYSA-7 done", summary=summary), SPEC, NOW)
    assert clean.summary_text == "KYV-101 enrolled."
    assert "appeared first" not in clean.summary_html


def test_whitespace_is_what_the_regular_expression_called_whitespace() -> None:
    """html_to_text collapses whitespace with str.split(): the same characters as r"\\s" (checked over every code
    point), so text and content hashes are what they were when a regular expression did it."""
    import re

    space = re.compile(r"\s")
    assert [c for c in range(0x110000) if (space.fullmatch(chr(c)) is not None) != chr(c).isspace()] == []
    text = "\u00a0 a\u2003\u2028b \x1c\x1dc\u3000\n"
    assert html_to_text(text) == re.sub(r"\s+", " ", text).strip() == "a b c"


@pytest.mark.parametrize("summary", [
    "<p>No footer at all.</p>",
    "<p>Text.</p><p>The post X appeared first on Y.</p>",
    "<p>Text.</p> The post X appeared first on Y.  ",
    "<p>The post X appeared first on Y. And more text after it.</p>",
    "The post appeared first on nothing",
    "<p>X appeared first on Y.</p>",
])
def test_wordpress_footer_is_searched_only_where_it_can_be(summary: str) -> None:
    """The footer's regular expression needs " appeared first on ": skipping summaries without it changes nothing."""
    from aggregator.poll.clean import _WORDPRESS_FOOTER

    expected = _WORDPRESS_FOOTER.sub("", summary)
    clean = clean_item(ParsedItem(title="T", summary=summary), SPEC, NOW)
    assert clean.summary_text == html_to_text(expected)
    assert clean.summary_html == sanitize_html(expected)
