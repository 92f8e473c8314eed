"""Golden tests on real-world documents (tests/data/real, provenance in its SOURCES.md): add a case by adding a row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.poll.parse.feed import find_feed_link, parse_feed

REAL = Path(__file__).resolve().parent / "data" / "real"


@dataclass(frozen=True)
class Expect:
    count: int
    first_title: str
    first_link_prefix: str | None
    first_published: datetime | None
    first_guid: str | None = None
    first_doi: str | None = None


GOLDEN = {
    "wordpress_rss2_feed_wp4.7.xml": Expect(
        10,
        "The Easiest Way to Get a URL for your Apple Wallet",
        "https://www.natashatherobot.com/url-apple-wallet",
        datetime(2017, 7, 7, 11, 6, 10, tzinfo=UTC),
        "https://www.natashatherobot.com/?p=6602",
    ),
    "biorxiv_subject_collection_rss1-rdf_no_xml_decl.rdf": Expect(
        30,
        "Wheat inositol pyrophosphate kinase (TaVIH2-3B)",
        "http://biorxiv.org/cgi/content/short/743294v1",
        datetime(2019, 8, 27, tzinfo=UTC),
        first_doi="10.1101/743294",
    ),
    "atypon_journal_toc_rdf_rss-prefixed.xml": Expect(
        20,
        "Effect of Systems Change and Use of Electronic Health",
        "http://ajph.aphapublications.org/doi/abs/",
        datetime(2015, 3, 6, 21, 9, 13, tzinfo=UTC),
        first_doi="10.2105/ajph.2014.302274",
    ),
    "atom_feed_served_at_rss_url.xml": Expect(
        47,
        "Apple Product Event: Monday March 21",
        "http://recode.net/2016/02/27/",
        datetime(2016, 2, 27, 21, 59, 47, tzinfo=UTC),
        "tag:daringfireball.net,2016:/linked//6.32173",
    ),
    "google_alerts_atom_html_in_titles.xml": Expect(
        20,
        "Report offers Prediction of Automotive <b>Slack</b>",
        "https://www.google.com/url?",
        datetime(2019, 7, 10, 11, 53, 37, tzinfo=UTC),
    ),
    "highwire_journal_toc_rss1-rdf_science.xml": Expect(
        69,
        "Food for fungi",
        "http://science.sciencemag.org/cgi/content/short/356/6343/113",
        datetime(2017, 6, 15, 17, 29, 47, tzinfo=UTC),
    ),
    "broken_xml_declaration_phpxml.xml": Expect(
        20,
        "Serdar Gözübüyük scheidsrechter bij FC Twente",
        "https://www.fcutrecht.net/nieuws/",
        datetime(2021, 9, 6, 10, 17, tzinfo=UTC),
    ),
    # pubDate "2020/1/10 14:33:00", no zone, none configured: read as UTC (issue #12: it came out as the 1st of
    # the month the test ran in); test_a_zone_less_feed_date_is_read_in_the_sources_zone covers the zone.
    "encoding_gb2312_declared.xml": Expect(
        20, "建国35周年纪念，华表，和平鸽", "http://www.kc0011.net/", datetime(2020, 1, 10, 14, 33, tzinfo=UTC)
    ),
    "encoding_iso-8859-1_declared_crlf.xml": Expect(
        40,
        "Mãe de utente é a nova presidente da Raríssimas",
        "http://feeds.jn.pt/",
        datetime(2018, 1, 3, 13, 47, tzinfo=UTC),
    ),
    # pubDate "Seg, 24 Set 2018 19:42:40 -0300": RFC 822 with Portuguese day and month names.
    "encoding_latin1_bytes_no_xml_decl.xml": Expect(
        15, "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin", "https://noticias.uol.com.br/",
        datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC),
    ),
    "leading_whitespace_no_xml_decl_no_guids.xml": Expect(
        30, "Best smart lock", "https://www.techhive.com/article/3212828/", datetime(2017, 11, 28, 23, 40, tzinfo=UTC)
    ),
    "utf8_bom_before_xml_decl.xml": Expect(
        10, "Skipping Around", "https://donthitsave.com/comic/2019/05/24/", datetime(2019, 5, 24, 7, tzinfo=UTC)
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_real_feeds(name: str) -> None:
    expect = GOLDEN[name]
    items = parse_feed((REAL / name).read_bytes(), f"https://example.org/{name}")
    assert len(items) == expect.count
    first = items[0]
    assert first.title.startswith(expect.first_title)
    if expect.first_link_prefix:
        assert first.link and first.link.startswith(expect.first_link_prefix)
    assert first.published_at == expect.first_published
    if expect.first_guid:
        assert first.guid == expect.first_guid
    if expect.first_doi:
        assert first.doi == expect.first_doi
    assert all(item.title or item.link for item in items)
    assert all(item.published_at is None or item.published_at.tzinfo is not None for item in items)


def test_every_real_feed_fixture_has_a_golden_row() -> None:
    feeds = {p.name for p in REAL.iterdir() if p.suffix in {".xml", ".rdf"} and not p.name.startswith("pubmed_")}
    assert feeds == set(GOLDEN)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("html_served_instead_of_feed_document_moved.html", "returned a web page, not a feed"),
        ("pubmed_html_served_instead_of_xml_pmfetch.html", "returned a web page, not a feed"),
        (
            "pubmed_eutils_efetch_pubmedarticleset_2025dtd.xml",
            "XML but not RSS, Atom or RDF (its root element is <PubmedArticleSet>)",
        ),
        ("pubmed_eutils_esearch_xml.xml", "its root element is <eSearchResult>"),
    ],
)
def test_documents_that_are_not_feeds_are_refused_clearly(name: str, message: str) -> None:
    with pytest.raises(ParseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_feed((REAL / name).read_bytes(), "https://example.org/feed")


@pytest.mark.parametrize("body", [b"", b"   \n", b"\x00\x01\x02\xff" * 100, b'{"json": true}'])
def test_empty_and_junk_bodies(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(body, "https://example.org/feed")


def test_html_page_offers_its_own_feed() -> None:
    page = b"""<!doctype html><html><head><title>News</title>
    <link rel="alternate" type="application/rss+xml" href="/news/feed/"></head><body>News</body></html>"""
    with pytest.raises(ParseError) as info:
        parse_feed(page, "https://society.example/news", "text/html; charset=utf-8")
    assert info.value.feed_link == "https://society.example/news/feed/"
    assert "https://society.example/news/feed/" in str(info.value)
    assert find_feed_link(b"<html><head></head></html>", "https://x.example/") is None


def test_entries_without_anything_are_skipped_but_others_kept() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item></item><item><title>Kept</title><link>https://a.example/1</link></item></channel></rss>"""
    items = parse_feed(feed, "https://a.example/feed")
    assert [item.title for item in items] == ["Kept"]
