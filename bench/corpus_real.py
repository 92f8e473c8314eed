"""A second corpus, shaped like the real feeds in tests/data/real (copied from ../shared/fixtures/real/).

``corpus.py`` makes one kind of item: a short RSS description of plain paragraphs. Real sources differ in what
makes parsing and cleaning expensive, so each feed here follows one of three real templates in turn:

- *WordPress RSS 2.0* (``wordpress_rss2_feed_wp4.7.xml``, the template of MS News Today, MSAA, MSIF): an
  excerpt in ``description`` ending in "The post … appeared first on …", the whole article (3–9 kB of HTML with
  images, ``srcset``, lists, block quotes, entities and *relative* links) in ``content:encoded``, 5–14
  ``category`` elements in CDATA, ``dc:creator``, ``guid isPermaLink="false"`` of the ``?p=N`` form;
- *bioRxiv / medRxiv RSS 1.0 (RDF)* (``biorxiv_subject_collection_rss1-rdf_no_xml_decl.rdf``): no XML
  declaration, the ``rdf:Seq`` index before the items, titles and links in CDATA with surrounding newlines, an
  abstract of 1–2 kB, Dublin Core ``dc:creator`` (a long author list), ``dc:date`` (a date only),
  ``dc:identifier`` (``doi:…``), ``dc:publisher``, ``prism`` fields;
- *Atom 1.0* (``atom_feed_served_at_rss_url.xml``): ``published`` and ``updated``, three ``link`` elements,
  an author, ``category term=…``, and HTML ``content`` with ``xml:base`` and relative links.

The same vocabulary and share of on-topic items as ``corpus.py`` (8% about CAR T in MS), deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from datetime import timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from .corpus import _NEIGHBOURS, _ON_TOPIC_SENTENCES, _ON_TOPIC_TITLES, EPOCH, FeedDoc, _words

_CATEGORIES = ("Multiple sclerosis", "MS research", "Clinical trials", "Cell therapy", "Immunology", "Neurology",
               "News", "Relapsing MS", "Progressive MS", "B cells", "Disease-modifying therapies", "Research",
               "Featured", "Living with MS", "Science", "Conferences", "ECTRIMS", "AAN", "Treatment", "Pipeline")
_AUTHORS = ("Marisa Wexler, MS", "Inês Martins, PhD", "Steve Bryson, PhD", "Margarida Maia, PhD",
            "Lindsey Shapiro, PhD", "Andrea Lobo, PhD")


def _sentence(rng: random.Random, on_topic: bool) -> str:
    text = _words(rng, 18, 40).capitalize() + "."
    if on_topic and rng.random() < 0.5:
        text = rng.choice(_ON_TOPIC_SENTENCES) + " " + text
    elif rng.random() < 0.2:
        text += f" Unlike {rng.choice(_NEIGHBOURS)}, this was not assessed."
    return text


def _title(rng: random.Random, on_topic: bool, feed: int, index: int) -> str:
    if on_topic:
        return rng.choice(_ON_TOPIC_TITLES) + f" ({feed}-{index})"
    title = _words(rng, 7, 16).capitalize()
    return title + (": " + rng.choice(_NEIGHBOURS) if rng.random() < 0.3 else "")


def _article_html(rng: random.Random, on_topic: bool, site: str, feed: int, index: int) -> str:
    """A WordPress or Atom article body: paragraphs with inline markup, a figure, a list, a quote."""
    parts = []
    for p in range(rng.randint(4, 10)):
        body = " ".join(_sentence(rng, on_topic and p == 0) for _ in range(rng.randint(2, 4)))
        body = body.replace(" the ", " the <strong>", 1).replace(" and ", "</strong> and ", 1) \
            if " the " in body and " and " in body and body.index(" the ") < body.index(" and ") else body
        if rng.random() < 0.5:
            body += (f' Read <a href="/{2026}/{11}/{feed}-{index}-{p}/">our earlier report</a>'
                     f" &#8212; or the <a href=\"https://doi.org/10.1000/real.{feed}.{index}.{p}\">study</a>.")
        if rng.random() < 0.3:
            body += " It&#8217;s &#8220;promising&#8221;, the team said&#8230;"
        parts.append(f"<p>{body}</p>")
        if p == 1:
            image = f"/wp-content/uploads/2026/11/figure-{feed}-{index}"
            parts.append(
                f'<figure class="wp-block-image"><img class="aligncenter size-large wp-image-{index}" '
                f'src="{image}.jpg" alt="" width="1024" height="576" srcset="{image}.jpg 1024w, '
                f'{image}-300x169.jpg 300w, {image}-768x432.jpg 768w" sizes="(max-width: 1024px) 100vw, 1024px" />'
                f"<figcaption>{_words(rng, 5, 12).capitalize()}.</figcaption></figure>"
            )
        if p == 3:
            items = "".join(f"<li>{_words(rng, 4, 10)}</li>" for _ in range(rng.randint(3, 6)))
            parts.append(f"<ul>{items}</ul>")
        if p == 4 and rng.random() < 0.5:
            parts.append(f"<blockquote><p>{_sentence(rng, False)}</p></blockquote>")
    return "\n".join(parts)


def _wordpress(feed: int, rng: random.Random, items: int, match_share: float) -> bytes:
    site = f"https://msnews{feed}.example.com"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
        '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
        '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
        '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '\txmlns:atom="http://www.w3.org/2005/Atom"\n'
        '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n'
        '\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n\t>\n\n<channel>\n'
        f"\t<title>MS News {feed}</title>\n"
        f'\t<atom:link href="{site}/feed/" rel="self" type="application/rss+xml" />\n'
        f"\t<link>{site}</link>\n\t<description>Multiple sclerosis news and research</description>\n"
        f"\t<lastBuildDate>{format_datetime(EPOCH)}</lastBuildDate>\n\t<language>en-US</language>\n"
        "\t<sy:updatePeriod>hourly</sy:updatePeriod>\n\t<sy:updateFrequency>1</sy:updateFrequency>\n"
        "\t<generator>https://wordpress.org/?v=6.4.2</generator>\n"
    ]
    for index in range(items):
        on_topic = rng.random() < match_share
        title = _title(rng, on_topic, feed, index)
        slug = f"{feed}-{index}-" + "-".join(title.lower().split()[:5]).replace(":", "")
        post_id = 10_000 + feed * 100 + index
        published = EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        categories = "".join(f"\t\t<category><![CDATA[{c}]]></category>\n"
                             for c in rng.sample(_CATEGORIES, rng.randint(5, 14)))
        excerpt = " ".join(_sentence(rng, on_topic) for _ in range(2))[:400].rsplit(" ", 1)[0]
        footer = (f'<p>The post <a rel="nofollow" href="{site}/news/{slug}/">{escape(title)}</a> appeared first '
                  f'on <a rel="nofollow" href="{site}">MS News {feed}</a>.</p>')
        out.append(
            f"<item>\n\t\t<title>{escape(title)}</title>\n\t\t<link>{site}/news/{slug}/</link>\n"
            f"\t\t<comments>{site}/news/{slug}/#respond</comments>\n"
            f"\t\t<pubDate>{format_datetime(published)}</pubDate>\n"
            f"\t\t<dc:creator><![CDATA[{rng.choice(_AUTHORS)}]]></dc:creator>\n{categories}\n"
            f'\t\t<guid isPermaLink="false">{site}/?p={post_id}</guid>\n'
            f"\t\t<description><![CDATA[<p>{excerpt} [&#8230;]</p>\n{footer}]]></description>\n"
            f"\t\t\t\t<content:encoded><![CDATA[{_article_html(rng, on_topic, site, feed, index)}\n{footer}]]>"
            "</content:encoded>\n"
            f"\t\t<wfw:commentRss>{site}/news/{slug}/feed/</wfw:commentRss>\n\t\t<slash:comments>0</slash:comments>\n"
            "\t</item>\n"
        )
    out.append("\t</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def _rdf(feed: int, rng: random.Random, items: int, match_share: float) -> bytes:
    base = f"http://connect.medrxiv{feed}.example.org"
    entries = []
    for index in range(items):
        on_topic = rng.random() < match_share
        title = _title(rng, on_topic, feed, index)
        doi = f"10.1101/2026.11.{feed:03d}{index:03d}"
        link = f"{base}/cgi/content/short/{doi.split('/')[1]}v1?rss=1"
        published = EPOCH - timedelta(days=rng.randint(0, 60))
        abstract = " ".join(_sentence(rng, on_topic) for _ in range(rng.randint(6, 12)))
        authors = ", ".join(f"{rng.choice(['Kaur', 'Shukla', 'Müller', 'Rossi', 'Tanaka', 'Okafor', 'Silva'])}, "
                            f"{rng.choice('ABCDEFGHKLMP')}." for _ in range(rng.randint(3, 15)))
        entries.append((link, (
            f'<item rdf:about="{link}">\n<title>\n<![CDATA[\n{title} \n]]>\n</title>\n<link>\n{link}\n</link>\n'
            f"<description><![CDATA[\n{abstract}\n]]></description>\n"
            f"<dc:creator><![CDATA[ {authors} ]]></dc:creator>\n<dc:date>{published.date().isoformat()}</dc:date>\n"
            f"<dc:identifier>doi:{doi}</dc:identifier>\n<dc:title><![CDATA[{title}]]></dc:title>\n"
            f"<dc:publisher>Cold Spring Harbor Laboratory</dc:publisher>\n"
            f"<prism:publicationDate>{published.date().isoformat()}</prism:publicationDate>\n"
            f"<prism:section>{rng.choice(['Neurology', 'Immunology', 'Allergy and Immunology'])}</prism:section>\n"
            "</item>\n"
        )))
    seq = "".join(f'<rdf:li rdf:resource="{link}"/>\n' for link, _ in entries)
    head = (
        '<rdf:RDF xmlns:admin="http://webns.net/mvcb/" xmlns="http://purl.org/rss/1.0/" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:prism="http://purl.org/rss/1.0/modules/prism/" '
        'xmlns:taxo="http://purl.org/rss/1.0/modules/taxonomy/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:syn="http://purl.org/rss/1.0/modules/syndication/">\n'
        f'<channel rdf:about="{base}">\n<title>medRxiv Subject Collection {feed}: Neurology</title>\n'
        f"<link>{base}</link>\n<description>\nThis feed contains articles for medRxiv Subject Collection\n"
        f"</description>\n<items>\n<rdf:Seq>\n{seq}</rdf:Seq>\n</items>\n</channel>\n"
    )
    return (head + "".join(body for _, body in entries) + "</rdf:RDF>\n").encode("utf-8")


def _atom(feed: int, rng: random.Random, items: int, match_share: float) -> bytes:
    site = f"https://blog{feed}.example.net"
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>Neuroimmunology blog {feed}</title>\n<subtitle>Notes from the clinic</subtitle>\n"
        f'<link rel="alternate" type="text/html" href="{site}/" />\n'
        f'<link rel="self" type="application/atom+xml" href="{site}/feeds/main" />\n'
        f"<id>{site}/feeds/main</id>\n<updated>{EPOCH.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>\n"
    ]
    for index in range(items):
        on_topic = rng.random() < match_share
        title = _title(rng, on_topic, feed, index)
        published = EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        updated = published + timedelta(minutes=rng.randint(0, 600))
        path = f"/linked/2026/11/{feed}-{index}"
        terms = "".join(f'\t<category term="{escape(c)}" />\n' for c in rng.sample(_CATEGORIES, rng.randint(2, 8)))
        out.append(
            f"<entry>\n\t<title>{escape(title)}</title>\n"
            f'\t<link rel="alternate" type="text/html" href="{site}{path}" />\n'
            f'\t<link rel="shorturl" type="text/html" href="http://s.example/{feed}{index}" />\n'
            f'\t<link rel="related" type="text/html" href="{site}/related/{feed}-{index}" />\n'
            f"\t<id>tag:blog{feed}.example.net,2026:{path}</id>\n"
            f"\t<published>{published.strftime('%Y-%m-%dT%H:%M:%SZ')}</published>\n"
            f"\t<updated>{updated.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>\n"
            f"\t<author>\n\t\t<name>{rng.choice(_AUTHORS)}</name>\n\t\t<uri>{site}/</uri>\n\t</author>\n{terms}"
            f'\t<content type="html" xml:base="{site}/linked/" xml:lang="en"><![CDATA[\n'
            f"{_article_html(rng, on_topic, site, feed, index)}\n]]></content>\n</entry>\n"
        )
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")


_TEMPLATES = (_wordpress, _rdf, _atom)


def make_real_feed(feed: int, items_per_feed: int, match_share: float = 0.08, seed: int = 11) -> FeedDoc:
    rng = random.Random(seed * 1_000_003 + feed)
    body = _TEMPLATES[feed % len(_TEMPLATES)](feed, rng, items_per_feed, match_share)
    return FeedDoc(
        index=feed,
        path=f"/real/{feed}.xml",
        body=body,
        gzipped=gzip.compress(body, compresslevel=6),
        etag='"' + hashlib.sha1(body).hexdigest()[:16] + '"',  # noqa: S324 - a validator, not security
        last_modified=format_datetime(EPOCH, usegmt=True),
        items=items_per_feed,
        on_topic=-1,  # not counted: the templates decide per item
    )


def make_real_corpus(feeds: int, items_per_feed: int, match_share: float = 0.08, seed: int = 11) -> list[FeedDoc]:
    return [make_real_feed(feed, items_per_feed, match_share, seed) for feed in range(feeds)]
