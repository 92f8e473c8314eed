"""The lxml fast path for RSS 2.0 and RSS 1.0 (parse/feed_fast.py) gives exactly feedparser's items, or refuses.

Every fixture, both benchmark corpora and a set of generated edge cases are parsed both ways
(``parse_feed(fast=True)`` and ``fast=False``, which always uses feedparser) and the ``ParsedItem`` lists (or the
errors) must be equal. Hostile documents must be refused by the fast path (feedparser handles them).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.poll.parse.feed import parse_feed
from aggregator.poll.parse.feed_fast import fast_entries
from bench.corpus import make_corpus
from bench.corpus_real import make_real_corpus

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
URL = "https://news.example.org/feeds/main.xml"
CONTENT_TYPES = ("", "application/rss+xml; charset=utf-8", "text/xml", "text/xml; charset=utf-8", "application/xml")


def _both(data: bytes, url: str = URL, content_type: str = "") -> tuple[object, object]:
    def one(fast: bool) -> object:
        try:
            return parse_feed(data, url, content_type, fast=fast)
        except ParseError as exc:
            return ("ParseError", str(exc), exc.feed_link)

    return one(True), one(False)


def _fixtures() -> list[Path]:
    paths = [p for p in sorted(DATA.rglob("*")) if p.is_file() and not p.name.endswith((".json", ".md"))]
    if SHARED.is_dir():
        paths += [p for p in sorted(SHARED.iterdir()) if p.is_file() and not p.name.endswith((".json", ".md"))]
    return paths


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_gives_feedparsers_items(path: Path) -> None:
    data = path.read_bytes()
    for content_type in CONTENT_TYPES:
        fast, slow = _both(data, URL, content_type)
        assert fast == slow, content_type


@pytest.mark.parametrize("corpus", [make_corpus, make_real_corpus], ids=["bench", "real-shaped"])
def test_benchmark_corpora_give_feedparsers_items(corpus: object) -> None:
    taken = 0
    for doc in corpus(24, 12):  # type: ignore[operator]
        url = f"http://127.0.0.3:8123{doc.path}"
        taken += fast_entries(doc.body, url, "application/rss+xml; charset=utf-8") is not None
        fast, slow = _both(doc.body, url, "application/rss+xml; charset=utf-8")
        assert fast == slow, doc.path
    assert taken >= 8  # the RSS 2.0 documents of both corpora go the fast way (the point of it)


def _rss(items: str, channel_extra: str = "", declaration: str = '<?xml version="1.0" encoding="utf-8"?>',
         namespaces: str = "") -> bytes:
    return (f'{declaration}<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'xmlns:content="http://purl.org/rss/1.0/modules/content/" {namespaces}><channel><title>T</title>'
            f"<link>https://elsewhere.example/</link>{channel_extra}{items}</channel></rss>").encode()


TITLES = ["Plain title", "  spaced  ", "A &amp; B", "&lt;b&gt;Bold&lt;/b&gt; claim", "x &lt; y &amp;&amp; z",
          "Caf\u00c3\u00a9 mojibake", "\u0080\u0093quoted\u0094", "<![CDATA[<i>CAR T</i> in MS]]>",
          "&lt;p&gt;unclosed", "&amp;nbsp; entity &amp;bogus; here", "",
          "&lt;a href='/rel'&gt;a link&lt;/a&gt; in a title", "\u00e9l\u00e8ve \u2013 dash"]
LINKS = ["https://a.example/x?a=1&amp;b=2", "/relative/path", "relative", "  https://a.example/sp  ",
         "https://a.example/q?x=1&amp;amp;y=2",
         "https://a.example/q?a=1&amp;copy;=2", "javascript:alert(1)", "HTTP://UPPER.example/", ""]
GUIDS = [('', "https://g.example/1"), (' isPermaLink="false"', "urn:x:1"), (' isPermaLink="true"', "/rel/guid"),
         (' isPermaLink="False"', "/rel/guid2"), ('', "tag:g.example,2026:1")]
BODIES = ["&lt;p&gt;Hi &lt;a href=\"/x\"&gt;rel&lt;/a&gt; &lt;img src='y.png'&gt;&lt;/p&gt;",
          "<![CDATA[<p>See <a href=\"../up\">up</a> &amp; <a href=\"&#106;avascript:x\">j</a></p>]]>",
          "plain text, no markup", "&lt;p&gt;unknown &amp;foo; and &amp;nbsp;&lt;/p&gt;",
          "<![CDATA[<p class=b id='a' title=\"t\">attrs <br/> <hr> &copy; &#8212;</p><script>x</script>]]>",
          "", "  <![CDATA[  <div><p>nested <b>bold <i>it</i></b></p></div>  ]]>  ",
          "\u0080 cp1252 \u009f control"]
CATEGORIES = ["", "<category>A</category><category>B</category>", "<category>A</category><category>A</category>",
              '<category domain="d">A</category><category domain="d">A</category><category>A</category>',
              '<category domain="d"></category><category>Late</category>', "<category>  </category>",
              "<category><![CDATA[Multiple sclerosis]]></category>"]


def _generated_items() -> list[str]:
    items = []
    combos = itertools.product(range(len(TITLES)), range(len(LINKS)), range(len(GUIDS)), range(len(BODIES)))
    for n, (t, li, g, b) in enumerate(combos):
        if n % 7:  # a spread of the combinations, not all of them
            continue
        attrs, guid = GUIDS[g]
        parts = [f"<title>{TITLES[t]}</title>"]
        link = f"<link>{LINKS[li]}</link>"
        guid_el = f"<guid{attrs}>{guid}</guid>"
        parts += [guid_el, link] if n % 2 else [link, guid_el]
        if n % 3 == 0:
            parts.append(f"<description>{BODIES[b]}</description>")
        if n % 4 == 0:
            parts.append(f"<content:encoded>{BODIES[(b + 1) % len(BODIES)]}</content:encoded>")
        if n % 5 == 0:
            parts.insert(0, f"<content:encoded>{BODIES[(b + 2) % len(BODIES)]}</content:encoded>")
        parts.append(CATEGORIES[(n // 7) % len(CATEGORIES)])
        if n % 6 == 0:
            parts.append("<dc:creator>Jane Roe (jane@example.org)</dc:creator>")
        elif n % 6 == 1:
            parts.append("<dc:creator><![CDATA[ Steve Bryson, PhD ]]></dc:creator>")
        parts.append("<pubDate>Mon, 02 Nov 2026 22:00:00 +0000</pubDate>" if n % 2 else "<pubDate>garbage</pubDate>")
        if n % 8 == 0:
            parts = [p for p in parts if not p.startswith("<title>")]
        if n % 9 in (2, 4):  # no link element: a permalink guid is the link
            parts = [p for p in parts if not p.startswith("<link>")]
        items.append("<item>" + "<!-- between -->".join(parts) + "</item>")
    return items


def test_generated_edge_cases_give_feedparsers_items() -> None:
    items = _generated_items()
    assert len(items) > 200
    taken = 0
    for start in range(0, len(items), 5):
        doc = _rss("".join(items[start:start + 5]))
        for url in (URL, "https://news.example.org/a/b/", "", "ftp://odd.example/x"):
            taken += fast_entries(doc, url, "application/rss+xml") is not None
            fast, slow = _both(doc, url, "application/rss+xml")
            assert fast == slow, (url, doc[:3000])
    assert taken > 100


@pytest.mark.parametrize("doc", [
    _rss("<item><title>x</title></item>", declaration='<?xml version="1.0" encoding="iso-8859-1"?>'),
    _rss("<item><title>x</title></item>", declaration="\ufeff"),
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e "boom">]><rss version="2.0"><channel>'
    b"<item><title>&e;</title></item></channel></rss>",
    _rss("<item><title>x</title></item>").replace(b'version="2.0"', b'version="0.91"'),
    _rss('<item xml:base="https://other.example/"><title>x</title></item>'),
    _rss('<item><title base="https://other.example/">x</title></item>'),
    _rss("<item><title>x</title><title>y</title></item>"),
    _rss("<item><title>x <!-- c --> y</title></item>"),
    _rss("<item><title>x</title><enclosure url='https://e.example/a.mp3' length='1' type='audio/mpeg'/></item>"),
    _rss("<item><title>x</title><author>a@example.org</author></item>"),
    _rss('<item><title type="html">x</title></item>'),
    _rss("<item><Title>x</Title></item>"),
    _rss("", channel_extra='<atom:entry xmlns:atom="http://www.w3.org/2005/Atom"><atom:title>x</atom:title>'
                           "</atom:entry>"),
    _rss("<item><title>x</title></item>")[:-20],  # truncated
    _rss("<item><title>caf\xe9</title></item>").replace("é".encode(), b"\xe9"),  # Latin-1 byte in UTF-8
], ids=["latin1-declared", "bom", "entity-declaration", "rss091", "xml-base", "base-attribute", "two-titles",
        "comment-in-text", "enclosure", "author-element", "typed-title", "upper-case-tag", "atom-entry-in-rss",
        "truncated", "invalid-utf8"])
def test_refuses_what_it_is_not_sure_of_and_feedparser_still_reads_it(doc: bytes) -> None:
    assert fast_entries(doc, URL, "application/rss+xml") is None
    fast, slow = _both(doc, URL, "application/rss+xml")
    assert fast == slow


def test_refuses_charsets_feedparser_would_decode_otherwise() -> None:
    doc = _rss("<item><title>caf\u00e9</title></item>")
    assert fast_entries(doc, URL, "application/rss+xml; charset=iso-8859-1") is None
    assert fast_entries(doc, URL, "text/xml") is None  # us-ascii by RFC 3023, and the document is not ASCII
    assert fast_entries(doc, URL, "application/rss+xml; charset=utf-8") is not None
    for content_type in ("application/rss+xml; charset=iso-8859-1", "text/xml", "text/html", ""):
        fast, slow = _both(doc, URL, content_type)
        assert fast == slow, content_type


def test_hostile_entity_bombs_are_left_to_feedparser() -> None:
    for name in ("billion_laughs.xml", "quadratic_blowup.xml", "xxe_file.xml", "xxe_parameter_entity.xml"):
        data = (DATA / "hostile" / name).read_bytes()
        assert fast_entries(data, URL, "application/rss+xml") is None, name


# RSS 1.0 (RDF): bioRxiv, medRxiv, HighWire and Atypon send these.

_PRISM_URIS = ("http://purl.org/rss/1.0/modules/prism/", "http://prismstandard.org/namespaces/basic/2.0/",
               "http://prismstandard.org/namespaces/1.2/basic/")


def _rdf(items: str, prism: str = _PRISM_URIS[0], rss: str = "", root_extra: str = "",
         declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    """An RSS 1.0 document; ``rss`` is the prefix of the RSS 1.0 namespace ("" for the default, "rss:" as Atypon)."""
    xmlns = f'xmlns:{rss[:-1]}="http://purl.org/rss/1.0/"' if rss else 'xmlns="http://purl.org/rss/1.0/"'
    return (f'{declaration}<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" {xmlns} '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            f'xmlns:prism="{prism}" xmlns:taxo="http://purl.org/rss/1.0/modules/taxonomy/"{root_extra}>'
            f'<{rss}channel rdf:about="https://journal.example/"><{rss}title>J</{rss}title>'
            f"<{rss}link>https://journal.example/</{rss}link><{rss}items><rdf:Seq><rdf:li rdf:resource=\"x\"/>"
            f"</rdf:Seq></{rss}items></{rss}channel><{rss}image rdf:about=\"\"><{rss}title>img</{rss}title>"
            f"</{rss}image>{items}</rdf:RDF>").encode()


ABOUTS = ["https://j.example/cgi/content/short/1v1?rss=1", "", "  /relative/about  ", "urn:doi:10.1101/1",
          "https://j.example/a?x=1&amp;y=2"]
IDENTIFIERS = ["", "<dc:identifier>doi:10.1101/2026.01.01.123456</dc:identifier>",
               "<dc:identifier>info:doi/10.1126/science.1</dc:identifier>"
               "<dc:identifier>hwp:resource-id:sci;356/1</dc:identifier>",
               "<dc:identifier>hwp:x</dc:identifier><dc:identifier>doi:10.5555/LAST.2</dc:identifier>",
               "<dc:identifier>  </dc:identifier>"]
SUBJECTS = ["", "<dc:subject><![CDATA[Botany, Microbiology]]></dc:subject>",
            "<dc:subject>A</dc:subject><dc:subject>A</dc:subject><dc:subject>B</dc:subject>",
            "<dc:subject></dc:subject><dc:subject>Late</dc:subject>"]
CREATORS = ["", "<dc:creator><![CDATA[ Kaur, M., Shukla, A. ]]></dc:creator>",
            "<dc:creator>First One</dc:creator><dc:creator>Jane Roe (jane@example.org)</dc:creator>",
            "<dc:creator>Someone</dc:creator><dc:creator></dc:creator>", "<dc:creator>x@example.org</dc:creator>"]
DATES = ["2019-08-27", "2017-06-15T10:29:47-07:00", "Fri, 06 Mar 2015 21:09:13 GMT", "garbage", ""]


def _generated_rdf_items() -> list[str]:
    items = []
    combos = itertools.product(range(len(TITLES)), range(len(LINKS)), range(len(ABOUTS)), range(len(BODIES)))
    for n, (t, li, a, b) in enumerate(combos):
        if n % 11:
            continue
        k = n // 11
        parts = [f"<title>{TITLES[t]}</title>", f"<link>{LINKS[li]}</link>"]
        if k % 3 == 0:
            parts.append(f"<description>{BODIES[b]}</description>")
        if k % 4 == 0:
            parts.append(f"<content:encoded>{BODIES[(b + 1) % len(BODIES)]}</content:encoded>")
        if k % 5 == 0:
            parts.insert(0, f"<content:encoded>{BODIES[(b + 2) % len(BODIES)]}</content:encoded>")
        parts.append(CREATORS[k % len(CREATORS)])
        if k % 7 != 3:
            parts.append(f"<dc:date>{DATES[k % len(DATES)]}</dc:date>")
        parts.append(IDENTIFIERS[k % len(IDENTIFIERS)])
        parts.append("<dc:publisher>Cold Spring Harbor Laboratory</dc:publisher>")
        if k % 2:  # dc:title after title, or before it, or the only title; sometimes differing from it
            title = TITLES[(t + k % 3) % len(TITLES)]
            parts.insert(0 if k % 4 == 1 else len(parts), f"<dc:title>{title}</dc:title>")
        if k % 6 == 0:
            parts = [p for p in parts if not p.startswith("<title>")]
        if k % 9 == 4:
            parts = [p for p in parts if not p.startswith("<link>")]
        parts.append(SUBJECTS[k % len(SUBJECTS)])
        if k % 3 == 1:
            parts.append("<prism:doi> 10.1101/2026.PRISM </prism:doi><prism:volume>356</prism:volume>")
        parts.append("<prism:publicationDate>2017-06-16</prism:publicationDate><prism:section>twis</prism:section>")
        about = f' rdf:about="{ABOUTS[a]}"' if k % 8 != 5 else ""
        items.append(f"<item{about}>" + ("<!-- c -->" if k % 2 else "\n").join(parts) + "</item>")
    return items


def test_generated_rdf_edge_cases_give_feedparsers_items() -> None:
    items = _generated_rdf_items()
    assert len(items) > 150
    taken = 0
    for start in range(0, len(items), 5):
        for variant, (prism, rss) in enumerate(itertools.product(_PRISM_URIS, ("", "rss:"))):
            if (start // 5 + variant) % 3:  # each group of items under two of the six namespace spellings
                continue
            chunk = "".join(items[start:start + 5])
            if rss:
                for name in ("item", "title", "link", "description"):
                    chunk = chunk.replace(f"<{name}", f"<rss:{name}").replace(f"</{name}>", f"</rss:{name}>")
            doc = _rdf(chunk, prism=prism, rss=rss)
            for url in (URL, "https://news.example.org/a/b/", ""):
                taken += fast_entries(doc, url, "application/rdf+xml") is not None
                fast, slow = _both(doc, url, "application/rdf+xml")
                assert fast == slow, (url, prism, doc[:3000])
    assert taken > 60


def test_rdf_fixtures_and_corpus_go_the_fast_way() -> None:
    for name in ("biorxiv_subject_collection_rss1-rdf_no_xml_decl.rdf", "highwire_journal_toc_rss1-rdf_science.xml"):
        data = (DATA / "real" / name).read_bytes()
        entries = fast_entries(data, URL, "application/rdf+xml")
        assert entries, name
        assert all(entry.get("id") and entry.get("updated") for entry in entries), name
    rdf_docs = [doc for doc in make_real_corpus(12, 6) if b"<rdf:RDF" in doc.body[:400]]
    assert rdf_docs
    for doc in rdf_docs:
        assert fast_entries(doc.body, f"http://127.0.0.3:8123{doc.path}", "application/rss+xml") is not None


_ITEM = "<item rdf:about='https://j.example/1'><title>x</title><link>https://j.example/1</link>{}</item>"


@pytest.mark.parametrize("doc", [
    _rdf(_ITEM.format("<dc:date>2019-08-27</dc:date><dc:date>2019-08-28</dc:date>")),
    _rdf(_ITEM.format("<title>again</title>")),
    _rdf(_ITEM.format("<dc:title>a</dc:title><dc:title>b</dc:title>")),
    _rdf(_ITEM.format("<dc:description>d</dc:description>")),
    _rdf(_ITEM.format("<guid>https://j.example/g</guid>")),
    _rdf(_ITEM.format("<taxo:topics><rdf:Bag><rdf:li rdf:resource='t'/></rdf:Bag></taxo:topics>")),
    _rdf(_ITEM.format("<prism:keyword>k</prism:keyword>")),
    _rdf(_ITEM.format("<p:doi xmlns:p='http://purl.org/rss/1.0/modules/prism/'>10.1/x</p:doi>")),
    _rdf(_ITEM.format("<prism:doi>10.1/x</prism:doi>"), prism="http://example.org/not-prism/"),
    _rdf(_ITEM.format("<x:doi xmlns:x='urn:unknown'>10.1/x</x:doi>")),
    _rdf(_ITEM.format("<dc:creator>a <!-- c --> b</dc:creator>")),
    _rdf(_ITEM.format("<dc:subject>a<b>c</b></dc:subject>")),
    _rdf(_ITEM.format("<dc:identifier scheme='doi'>10.1/x</dc:identifier>")),
    _rdf(_ITEM.format("<Description>upper case</Description>")),
    _rdf(_ITEM.format("").replace("<item ", "<item xml:lang='de' ")),
    _rdf(_ITEM.format("").replace("<item ", "<item rdf:resource='r' ")),
    _rdf(_ITEM.format("").replace("<item ", "<item xml:base='https://other.example/' ")),
    _rdf(_ITEM.format(""), root_extra=" xml:lang='en'"),
    _rdf(_ITEM.format("").replace("<item", "<n:item xmlns:n='http://my.netscape.com/rdf/simple/0.9/'")
         .replace("</item>", "</n:item>")),
    _rdf(_ITEM.format(""), declaration="\ufeff"),
    _rdf(_ITEM.format(""), declaration='<?xml version="1.0" encoding="iso-8859-1"?>'),
    b'<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY e "boom">]>'
    + _rdf(_ITEM.format("<dc:creator>&e;</dc:creator>"), declaration=""),
    _rdf(_ITEM.format("")).replace(b"</rdf:RDF>", b""),
    _rdf(_ITEM.format("")).replace(b"<channel", b"<channel>x</channel><channel", 1),
    _rdf(_ITEM.format("<dc:creator>caf\xe9</dc:creator>")).replace("é".encode(), b"\xe9"),
], ids=["two-dates", "two-titles", "two-dc-titles", "dc-description", "guid", "taxo-topics", "unknown-prism-name",
        "prism-other-prefix", "prism-unknown-uri", "unknown-namespace", "comment-in-creator", "child-in-subject",
        "attribute-on-identifier", "upper-case-tag", "xml-lang-item", "other-item-attribute", "xml-base",
        "root-attribute", "rss090-item", "bom", "latin1-declared", "entity-declaration", "truncated",
        "two-channels", "invalid-utf8"])
def test_rdf_refuses_what_it_is_not_sure_of_and_feedparser_still_reads_it(doc: bytes) -> None:
    assert fast_entries(doc, URL, "application/rdf+xml") is None
    fast, slow = _both(doc, URL, "application/rdf+xml")
    assert fast == slow


def test_rdf_control_document_is_taken() -> None:
    """The refusal cases above differ from this one only by what each adds: this one must go the fast way."""
    doc = _rdf(_ITEM.format("<dc:creator>a</dc:creator><prism:doi>10.1/x</prism:doi>"))
    entries = fast_entries(doc, URL, "application/rdf+xml")
    assert entries is not None
    assert entries[0]["prism_doi"] == "10.1/x"
    assert _both(doc)[0] == _both(doc)[1]
