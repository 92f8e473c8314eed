"""Kind ``sitemap`` (issue 14): a site's sitemap, sitemap index or Google News sitemap → its new article pages as
items, with title/summary/date from the page's own metadata; polite (a page budget per poll, 1 request/s), with
conditional GET, gzip and size caps as for feeds, and hostile XML (entity expansion, XXE, junk) refused."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.domain import Fetched, SourceSpec
from aggregator.errors import ParseError
from aggregator.poll.clean import clean_item
from aggregator.poll.parse.sitemap import Entry, page_item, read_sitemap, title_from_url
from aggregator.poll.retrieve_sitemap import keep, newest_first
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, FakeTime, poller, stored

SM = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"


def urlset(*urls: tuple[str, str | None], news: bool = False) -> bytes:
    rows = []
    for loc, lastmod in urls:
        extra = (f"<news:news><news:publication><news:name>S</news:name></news:publication>"
                 f"<news:publication_date>2026-11-12T09:00:00Z</news:publication_date>"
                 f"<news:title>News title of {loc.rsplit('/', 1)[-1]}</news:title></news:news>") if news else ""
        rows.append(f"<url><loc>{loc}</loc>{f'<lastmod>{lastmod}</lastmod>' if lastmod else ''}{extra}</url>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{SM}" xmlns:news="{NEWS}">'
            + "".join(rows) + "</urlset>").encode()


PAGE = b"""<!doctype html><html><head>
<title>Fallback title | Society</title>
<meta property="og:title" content="CAR T in MS: the first results">
<meta name="description" content="Early results of KYV-101 in <b>progressive</b> MS & what they mean.">
<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
 {"@type":"WebSite","name":"Society"},
 {"@type":"NewsArticle","headline":"Headline from JSON-LD","datePublished":"2026-11-10T14:30:00-05:00",
  "dateModified":"2026-11-11T08:00:00Z","author":{"@type":"Person","name":"Dr. Jane Roe"}}]}</script>
<script type="application/ld+json">{not json</script>
</head><body><div id="app"></div></body></html>"""


# ---------------------------------------------------------------- pure reading


def test_urlset_index_and_news_sitemaps_are_read() -> None:
    plain = read_sitemap(urlset(("https://s.org/news/a", "2026-11-01"), ("https://s.org/news/b", None)))
    assert plain.kind == "urlset"
    assert plain.entries == (Entry("https://s.org/news/a", "2026-11-01"), Entry("https://s.org/news/b"))
    news = read_sitemap(urlset(("https://s.org/news/c", None), news=True))
    assert news.entries[0].news_title == "News title of c"
    assert news.entries[0].news_date == "2026-11-12T09:00:00Z"
    index = read_sitemap(f'<sitemapindex xmlns="{SM}"><sitemap><loc>https://s.org/sm-1.xml.gz</loc>'
                         f"<lastmod>2026-11-02</lastmod></sitemap></sitemapindex>".encode())
    assert index.kind == "index" and index.entries == (Entry("https://s.org/sm-1.xml.gz", "2026-11-02"),)
    # No namespace at all, a BOM and leading blank lines: still a sitemap.
    bare = read_sitemap(b"\xef\xbb\xbf\n\n<urlset><url><loc> https://s.org/x </loc></url></urlset>")
    assert bare.entries == (Entry("https://s.org/x"),)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<urlset><url><loc>https://s.org/&lol4;</loc></url></urlset>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<urlset><url><loc>https://s.org/&x;</loc></url></urlset>"""


@pytest.mark.parametrize(("body", "message"), [
    (b"<urlset><url><loc>https://s.org/a</loc></url>", "not well-formed"),  # truncated
    (b"<!doctype html><html><body>Not found</body></html>", "not well-formed|not a sitemap"),
    (b"<rss><channel/></rss>", "not a sitemap"),
    (b"\x00\x01binary", "not XML"),
])
def test_documents_that_are_not_sitemaps_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        read_sitemap(body)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE])
def test_entities_are_never_expanded(body: bytes) -> None:
    try:
        sitemap = read_sitemap(body)
    except ParseError:
        return  # refused outright: fine
    locs = [entry.loc for entry in sitemap.entries]
    assert all("lol" not in loc and "root:" not in loc for loc in locs), locs


def test_page_metadata_prefers_open_graph_then_json_ld_then_title() -> None:
    item = page_item(Entry("https://s.org/news/car-t-first-results", "2026-11-11"), PAGE.decode())
    assert item.title == "CAR T in MS: the first results"  # og:title
    assert item.summary == "<p>Early results of KYV-101 in &lt;b&gt;progressive&lt;/b&gt; MS &amp; what they mean.</p>"
    assert item.published_at == datetime(2026, 11, 10, 19, 30, tzinfo=UTC)  # JSON-LD datePublished, -05:00
    assert item.author == "Dr. Jane Roe" and dict(item.extra)["json_ld_type"] == "NewsArticle"
    no_og = PAGE.replace(b'<meta property="og:title" content="CAR T in MS: the first results">', b"")
    assert page_item(Entry("https://s.org/n"), no_og.decode()).title == "Headline from JSON-LD"
    bare = "<html><head><title> Only a title </title></head></html>"
    only = page_item(Entry("https://s.org/n", "2026-11-03T10:00:00+01:00"), bare)
    assert only.title == "Only a title" and only.summary == ""
    assert only.published_at == datetime(2026, 11, 3, 9, tzinfo=UTC)  # lastmod, the last resort


def test_a_page_that_could_not_be_fetched_keeps_the_sitemap_facts() -> None:
    news = page_item(Entry("https://s.org/news/x", None, "From the news sitemap", "2026-11-12"), None, error="404")
    assert news.title == "From the news sitemap" and news.published_at == datetime(2026, 11, 12, tzinfo=UTC)
    assert dict(news.extra)["page_error"] == "404"
    assert title_from_url("https://s.org/news/2026/11/car-t-trial_opens.html") == "car t trial opens"


def test_scripts_in_titles_and_descriptions_end_up_inert() -> None:
    hostile = ('<html><head><title><script>alert(1)</script>Real title</title>'
               '<meta name="description" content="<img src=x onerror=alert(2)>text"></head></html>')
    item = page_item(Entry("https://s.org/news/h"), hostile)
    spec = SourceSpec(id="s", name="S", url="https://s.org/sitemap.xml", kind="sitemap")
    clean = clean_item(item, spec, NOW)
    assert "<script" not in clean.title and "<img" not in clean.summary_html
    assert "&lt;img" in clean.summary_html  # the description is text: shown, never run
    assert "Real title" in clean.title


def test_keep_filters_host_and_paths_and_newest_first_orders_by_lastmod() -> None:
    entries = [Entry("https://s.org/news/old", "2026-01-01"), Entry("https://s.org/about/team", "2026-11-01"),
               Entry("https://evil.example/news/x", "2026-11-01"), Entry("javascript:alert(1)"),
               Entry("https://s.org/news/undated"), Entry("https://s.org/news/new", "2026-11-05"),
               Entry("https://s.org/news/old", "2026-01-01")]
    kept = keep(entries, "s.org", ("/news/",))
    assert [e.loc for e in kept] == ["https://s.org/news/old", "https://s.org/news/undated", "https://s.org/news/new"]
    assert [e.loc for e in newest_first(kept)] == [
        "https://s.org/news/new", "https://s.org/news/old", "https://s.org/news/undated"]


# ---------------------------------------------------------------- a real poll on the loopback server, SQLite


def _site(server: FeedServer) -> dict[str, str]:
    base = server.url("")
    pages = {"/news/2026/a-car-t": "2026-11-10", "/news/2026/b-btk": "2026-11-12", "/news/2026/c-remyelination":
             "2026-11-08"}
    child = urlset(*((base + path, lastmod) for path, lastmod in pages.items()),
                   (base + "/about/privacy", "2026-11-15"), ("https://elsewhere.example/news/z", "2026-11-15"))
    server.add("/sitemap-news.xml.gz", gzip.compress(child), content_type="application/x-gzip")
    server.add("/sitemap.xml", f'<sitemapindex xmlns="{SM}"><sitemap><loc>{base}/sitemap-news.xml.gz</loc>'
               f"<lastmod>2026-11-12</lastmod></sitemap></sitemapindex>", content_type="application/xml")
    for path in pages:
        name = path.rsplit("/", 1)[-1]
        server.add(path, PAGE.replace(b"CAR T in MS: the first results", f"Article {name}".encode()),
                   content_type="text/html; charset=utf-8")
    return pages


def test_poll_fetches_new_pages_within_the_budget_and_then_only_new_ones(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    pages = _site(feed_server)
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "society", "name": "Society", "kind": "sitemap", "url": feed_server.url("/sitemap.xml"),
         "evidence_type": "society-news", "options": {"paths": ["/news/"], "max_new_pages": 2}}]))
    fake = FakeTime()
    first = poller(app, Clock(NOW), fake).poll_many(["society"])[0]
    assert (first.outcome, first.new) == ("ok", 2)
    # Newest lastmod first: b (11-12), a (11-10); c waits for the next poll.
    assert sorted(row.title for row in stored(app)) == ["Article a-car-t", "Article b-btk"]
    assert not feed_server.requests_to("/about/privacy")
    # One request a second to the host: sitemap, child, two pages = three waits of a second.
    assert fake.sleeps == [1.0, 1.0, 1.0]
    row = next(r for r in stored(app) if r.title == "Article b-btk")
    assert row.evidence_type == "society-news" and row.author == "Dr. Jane Roe"
    assert row.published_at is not None and row.published_at.replace(tzinfo=UTC) == datetime(
        2026, 11, 10, 19, 30, tzinfo=UTC)

    # URLs were left over: the second poll reads the sitemap unconditionally and fetches only the new page.
    second = poller(app, Clock(NOW), FakeTime()).poll_many(["society"])[0]
    assert (second.outcome, second.new) == ("ok", 1)
    assert "if-none-match" not in feed_server.requests_to("/sitemap.xml")[-1].headers
    assert all(len(feed_server.requests_to(path)) == 1 for path in pages)

    # Nothing left over: the third poll is conditional, the server answers 304, no page is fetched.
    third = poller(app, Clock(NOW), FakeTime()).poll_many(["society"])[0]
    assert third.outcome == "not-modified"
    assert "if-none-match" in feed_server.requests_to("/sitemap.xml")[-1].headers
    assert all(len(feed_server.requests_to(path)) == 1 for path in pages)
    assert len(stored(app)) == 3


def test_a_failing_page_still_becomes_an_item_and_is_not_fetched_again(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    base = feed_server.url("")
    feed_server.add("/sitemap.xml", urlset((base + "/news/gone-article", "2026-11-01")), content_type="text/xml")
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "s", "name": "S", "kind": "sitemap", "url": feed_server.url("/sitemap.xml")}]))
    assert poller(app, Clock(NOW)).poll_many(["s"])[0].new == 1
    (row,) = stored(app)
    assert row.title == "gone article"
    feed_server.routes["/sitemap.xml"].body += b" "  # a changed sitemap, same URLs
    assert poller(app, Clock(NOW)).poll_many(["s"])[0].new == 0
    assert len(feed_server.requests_to("/news/gone-article")) == 1


def test_a_gzip_bomb_sitemap_stops_at_the_size_cap(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 3_000_000 + b"</urlset>")
    feed_server.add("/sitemap.xml.gz", bomb, content_type="application/gzip")
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "s", "name": "S", "kind": "sitemap", "url": feed_server.url("/sitemap.xml.gz")}]),
        fetch_max_bytes=1_000_000)
    report = poller(app, Clock(NOW)).poll_many(["s"])[0]
    assert report.outcome == "error" and "1,000,000-byte limit" in (report.error or "")


def test_an_html_page_where_the_sitemap_should_be_is_a_clear_error(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.add("/sitemap.xml", b"<!doctype html><html><head><title>Home</title></head><body>x</body></html>",
                    content_type="text/html")
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "s", "name": "S", "kind": "sitemap", "url": feed_server.url("/sitemap.xml")}]))
    report = poller(app, Clock(NOW)).poll_many(["s"])[0]
    assert report.outcome == "error" and "sitemap" in (report.error or "")


def test_bad_paths_option_is_reported_with_its_line() -> None:
    from aggregator.errors import SourceConfigError
    from aggregator.poll.catalog import load_catalog_text

    text = ("sources:\n  - id: s\n    name: S\n    kind: sitemap\n    url: https://s.org/sitemap.xml\n"
            "    options:\n      paths: news\ntopics:\n  - id: t\n")
    with pytest.raises(SourceConfigError, match=r"line 2: `options.paths` must be a list"):
        load_catalog_text(text)


def test_combined_document_round_trip() -> None:
    from aggregator.poll.parse import parse

    spec = SourceSpec(id="s", name="S", url="https://s.org/sitemap.xml", kind="sitemap")
    body = json.dumps({"pages": [{"entry": {"loc": "https://s.org/news/a"}, "html": PAGE.decode(), "error": None},
                                 {"entry": {"no": "loc"}}, "junk"]}).encode()
    (item,) = parse(spec, Fetched(url=spec.url, final_url=spec.url, status=200, body=body))
    assert item.link == "https://s.org/news/a"
    with pytest.raises(ParseError, match="not JSON"):
        parse(spec, Fetched(url=spec.url, final_url=spec.url, status=200, body=b"<urlset/>"))


def test_page_charset_is_honoured(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    base = feed_server.url("")
    feed_server.add("/sitemap.xml", urlset((base + "/news/muenchen", "2026-11-01")), content_type="text/xml")
    feed_server.add("/news/muenchen", "<html><head><title>Studie in München</title></head></html>".encode("latin-1"),
                    content_type="text/html; charset=ISO-8859-1")
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "s", "name": "S", "kind": "sitemap", "url": feed_server.url("/sitemap.xml")}]))
    assert poller(app, Clock(NOW)).poll_many(["s"])[0].new == 1
    assert [row.title for row in stored(app)] == ["Studie in München"]
