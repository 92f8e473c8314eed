"""A deterministic corpus of RSS feeds with realistic sizes and a share of on-topic items.

Sizes follow the journal and news feeds in feeds.yaml: 50 items per feed, titles of 8-18 words, summaries of
2-5 HTML paragraphs (0.5-2.5 kB) with links and emphasis, 1-4 categories, an author and a date. About
``match_share`` of the items are about CAR T cells and multiple sclerosis (some name KYV-101), so the topic
filter has real work to do; the rest mix neighbouring vocabulary (mass spectrometry "MS", cars, oncology CAR T).
"""

from __future__ import annotations

import gzip
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

EPOCH = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)

_FILLER = (
    "patients cohort study results clinical treatment response safety efficacy analysis data trial randomised "
    "outcome disease progression baseline follow-up months years adverse events dose infusion cells immune "
    "therapy lymphocytes antibodies serum levels imaging lesions brain spinal cord disability score relapse "
    "remission biomarker neurofilament light chain cytokine release syndrome neurotoxicity centre network "
    "registry prospective retrospective multicentre open-label phase primary secondary endpoint observed "
    "compared significant reduction increase participants enrolled reported findings suggest further research"
).split()
_NEIGHBOURS = (
    "LC-MS/MS quantification of serum metabolites",
    "the new electric car market in Europe",
    "CAR T-cell therapy for relapsed B-cell lymphoma",
    "multiple myeloma treated with BCMA-directed therapy",
    "ocrelizumab and ofatumumab in relapsing disease",
    "autologous haematopoietic stem cell transplantation",
    "lupus nephritis outcomes after rituximab",
    "MS Office macros in hospital administration",
)
_ON_TOPIC_TITLES = (
    "CD19 CAR T-cell therapy in progressive multiple sclerosis: first results",
    "KYV-101 chimeric antigen receptor T cells for refractory multiple sclerosis",
    "Anti-CD19 CAR T cells deplete B cells in the CNS of patients with MS",
    "Phase 1 trial of KYV-101 in multiple sclerosis begins enrolling",
    "Chimeric antigen receptor T-cell therapy in MS: a case series",
)
_ON_TOPIC_SENTENCES = (
    "Autologous CD19-directed CAR T cells (KYV-101) were infused after lymphodepletion in patients with "
    "progressive multiple sclerosis.",
    "CAR T-cell therapy led to deep B-cell depletion in cerebrospinal fluid, and oligoclonal bands declined.",
    "No high-grade cytokine release syndrome or ICANS was observed in the MS cohort.",
)


@dataclass(frozen=True)
class FeedDoc:
    """One feed as the server sends it."""

    index: int
    path: str
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: str
    items: int
    on_topic: int


@dataclass(frozen=True)
class ItemSpec:
    """One generated item, before it is rendered into a feed or stored directly."""

    guid: str
    title: str
    link: str
    summary_html: str
    summary_text: str
    author: str
    categories: tuple[str, ...]
    published_at: datetime
    on_topic: bool
    mentions_kyv: bool


def _vocabulary(size: int = 6000) -> tuple[list[str], list[float]]:
    """Pseudo-words with Zipf-like frequencies after the common medical words: real titles draw on a large
    vocabulary, so two unrelated titles rarely share more than a few words."""
    rng = random.Random(1)
    syllables = ["ka", "lo", "mi", "ne", "ter", "gal", "vin", "dro", "sep", "ul", "tra", "phe", "cor", "bi", "nu"]
    words = list(_FILLER)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in words:
            words.append(word)
    weights, total = [], 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 8)
        weights.append(total)
    return words, weights


_VOCABULARY, _CUMULATIVE = _vocabulary()


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(_VOCABULARY, cum_weights=_CUMULATIVE, k=rng.randint(low, high)))


def make_item(rng: random.Random, feed: int, index: int, match_share: float) -> ItemSpec:
    on_topic = rng.random() < match_share
    if on_topic:
        title = rng.choice(_ON_TOPIC_TITLES) + f" ({feed}-{index})"
    else:
        title = _words(rng, 8, 18).capitalize()
        if rng.random() < 0.3:
            title += ": " + rng.choice(_NEIGHBOURS)
    paragraphs = []
    for p in range(rng.randint(2, 5)):
        sentence = _words(rng, 25, 60).capitalize() + "."
        if on_topic and p == 0:
            sentence = rng.choice(_ON_TOPIC_SENTENCES) + " " + sentence
        elif rng.random() < 0.25:
            sentence += f" In contrast, <em>{rng.choice(_NEIGHBOURS)}</em> was studied separately."
        if rng.random() < 0.4:
            sentence += f' See <a href="https://doi.org/10.1000/bench.{feed}.{index}.{p}">the full text</a>.'
        paragraphs.append(sentence)
    summary_html = "".join(f"<p>{p}</p>" for p in paragraphs)
    summary_text = " ".join(p.replace("<em>", "").replace("</em>", "") for p in paragraphs)
    return ItemSpec(
        guid=f"urn:bench:{feed}:{index}",
        title=title,
        link=f"https://journal{feed % 40}.example.org/article/{feed}-{index}?utm_source=rss",
        summary_html=summary_html,
        summary_text=summary_text,
        author=f"{rng.choice(['A.', 'B.', 'C.', 'M.'])} {rng.choice(['Smith', 'Müller', 'Rossi', 'Tanaka', 'Okafor'])}",
        categories=tuple(rng.sample(["Neurology", "Immunology", "Oncology", "Neuroscience", "Cell therapy", "Trials"],
                                    rng.randint(1, 4))),
        published_at=EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 90)),
        on_topic=on_topic,
        mentions_kyv=on_topic and "KYV-101" in (title + summary_html),
    )


def render_rss(feed: int, items: list[ItemSpec]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>Bench Journal {feed}</title><link>https://journal{feed % 40}.example.org/</link>",
        f"<description>Research feed number {feed} of the benchmark corpus</description><language>en</language>",
    ]
    for item in items:
        categories = "".join(f"<category>{escape(c)}</category>" for c in item.categories)
        parts.append(
            f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
            f'<guid isPermaLink="false">{item.guid}</guid><pubDate>{format_datetime(item.published_at)}</pubDate>'
            f"<dc:creator>{escape(item.author)}</dc:creator>{categories}"
            f"<description>{escape(item.summary_html)}</description></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def feed_items(feed: int, items_per_feed: int, match_share: float, seed: int = 7) -> list[ItemSpec]:
    rng = random.Random(seed * 1_000_003 + feed)
    return [make_item(rng, feed, index, match_share) for index in range(items_per_feed)]


def make_feed(feed: int, items_per_feed: int, match_share: float = 0.08, seed: int = 7) -> FeedDoc:
    items = feed_items(feed, items_per_feed, match_share, seed)
    body = render_rss(feed, items)
    return FeedDoc(
        index=feed,
        path=f"/feeds/{feed}.xml",
        body=body,
        gzipped=gzip.compress(body, compresslevel=6),
        etag='"' + hashlib.sha1(body).hexdigest()[:16] + '"',  # noqa: S324 - a validator, not security
        last_modified=format_datetime(EPOCH, usegmt=True),
        items=len(items),
        on_topic=sum(item.on_topic for item in items),
    )


def make_corpus(feeds: int, items_per_feed: int, match_share: float = 0.08, seed: int = 7) -> list[FeedDoc]:
    return [make_feed(feed, items_per_feed, match_share, seed) for feed in range(feeds)]
