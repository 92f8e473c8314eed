"""The digest page's search on both databases: ranked results in one list, "newest first" by week, the switch
and the pager as plain links (no JavaScript), filters combined, matched words marked and everything escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import update

from aggregator.db import get_database
from aggregator.models import Item
from aggregator.web.render import marked
from tests.test_search_store import _site


@pytest.fixture
def site(tmp_path: Path, any_db_url: str) -> Flask:
    return _site(tmp_path, any_db_url)


def _html(app: Flask, url: str, status: int = 200) -> str:
    response = app.test_client().get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def _titles(html: str) -> list[str]:
    return re.findall(r'<h3><a href="https://j.example/(\w+)"', html)


def test_ranked_results_then_newest_first_with_a_plain_link_switch(site: Flask) -> None:
    ranked = _html(site, "/?topic=all&q=cells")
    assert set(_titles(ranked)[:2]) == {"a", "c"} and _titles(ranked)[2] == "d"  # title matches first
    assert 'id="results-ranked">Most relevant first</h2>' in ranked and 'id="week-' not in ranked
    assert '<strong aria-current="true">most relevant first</strong>' in ranked
    link = re.search(r'<a href="([^"]*order=newest[^"]*)">newest first</a>', ranked)
    assert link is not None
    newest = _html(site, link.group(1).replace("&amp;", "&"))
    assert _titles(newest) == ["d", "c", "a"] and 'id="week-' in newest
    assert '<input type="hidden" name="order" value="newest">' in newest  # a new search keeps the order
    assert "3 items matching “cells”" in newest


def test_filters_combine_with_the_search(site: Flask) -> None:
    assert _titles(_html(site, "/?topic=all&q=relapse&source=journal")) != []
    assert _titles(_html(site, "/?topic=all&q=relapse&evidence=preprint")) == []
    assert _titles(_html(site, "/?topic=car-t-ms&q=relapse")) == []  # the fixture's items are in no real topic
    assert "Unknown order" in _html(site, "/?topic=all&q=x&order=oldest", 400)


def test_pager_keeps_the_order(tmp_path: Path, sqlite_url: str) -> None:
    app = _site(tmp_path, sqlite_url, page_size=1)
    newest = _html(app, "/?topic=all&q=cells&order=newest").replace("&amp;", "&")
    assert _titles(newest) == ["d"]
    following = re.search(r'<a href="([^"]*)" rel="next">Older items →</a>', newest)
    assert following is not None and "order=newest" in following.group(1) and "page=2" in following.group(1)
    assert _titles(_html(app, following.group(1))) == ["c"]
    ranked = _html(app, "/?topic=all&q=cells").replace("&amp;", "&")
    following = re.search(r'<a href="([^"]*)" rel="next">More matches →</a>', ranked)
    assert following is not None and "order=" not in following.group(1)
    assert _titles(_html(app, following.group(1))) != _titles(ranked)


def test_matched_words_are_marked_and_the_text_escaped(site: Flask) -> None:
    with get_database(site).session_scope() as session:  # what no cleaner should let through, stored anyway
        session.execute(update(Item).where(Item.guid == "a").values(
            title="<script>alert(1)</script> relapsing \x03</mark><b>",
            summary_text="<img src=x onerror=alert(2)> relapse"))
    html = _html(site, "/?topic=all&q=relapse")
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "</mark><b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>relapsing</mark>" in html
    assert "&lt;img src=x onerror=alert(2)&gt; <mark>relapse</mark>" in html


@pytest.mark.parametrize(("text", "expected"), [
    ("a \x02b\x03 c", "a <mark>b</mark> c"),
    ("<i>\x02&\x03</i>", "&lt;i&gt;<mark>&amp;</mark>&lt;/i&gt;"),
    ("\x03stray end \x02open", "stray end <mark>open</mark>"),
    ("\x02\x02twice\x03\x03", "<mark>twice</mark>"),
    ("", ""),
])
def test_marked_escapes_every_character_and_balances_marks(text: str, expected: str) -> None:
    assert str(marked(text)) == expected


def test_a_count_past_the_cap_says_so_and_the_pager_goes_on_while_pages_are_full(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from aggregator import store

    monkeypatch.setattr(store, "COUNT_CAP", 2)  # "cells" matches a, c and d: more than two
    app = _site(tmp_path, sqlite_url, page_size=1)
    first = _html(app, "/?topic=all&q=cells&order=newest").replace("&amp;", "&")
    assert "2+ items matching “cells”, page 1." in first and "of 3" not in first
    assert "<li>Page 1</li>" in first
    following = re.search(r'<a href="([^"]*)" rel="next">Older items →</a>', first)
    assert following is not None and "page=2" in following.group(1)
    assert _titles(_html(app, following.group(1))) == ["c"]
    monkeypatch.setattr(store, "COUNT_CAP", 3)
    assert "3 items matching “relapse”, page 1 of 3." in _html(app, "/?topic=all&q=relapse")  # at the cap: exact
