"""RSS 2.0, Atom (with feedgen) and JSON Feed 1.1 documents from stored items. Pure: given items, returns bytes.

Only sanitised fields go out (the summary HTML was cleaned by nh3 before it was stored; titles are plain text).
Guids are stable: our own item URL-independent tag URI, so readers never see an item twice when a link changes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import nh3
from feedgen.feed import FeedGenerator

from ..models import Item


@dataclass(frozen=True)
class FeedMeta:
    title: str
    description: str
    self_url: str  # absolute URL of this feed document
    page_url: str  # absolute URL of the matching web page
    base_url: str
    updated: datetime | None
    # source id → (name, homepage) as feeds.yaml has them now; a source no longer listed keeps its stored ones
    sources: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)


def item_guid(base_url: str, item: Item) -> str:
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
    return f"tag:{host},2026:item/{item.id}"


def item_link(base_url: str, item: Item) -> str | None:
    """Where an item's entry links: its own link, or its page on this site once that link answered 404/410."""
    return f"{base_url}/items/{item.id}" if item.link_gone else item.link


def _source_of(meta: FeedMeta, item: Item) -> tuple[str, str | None]:
    """(name, homepage) of an item's source: feeds.yaml's today, else what was stored."""
    listed = meta.sources.get(item.source_id)
    if listed is not None:
        return listed
    return (item.source.name if item.source else item.source_id), (item.source.homepage if item.source else None)


def _summary_html(item: Item, notes: dict[int, str] | None) -> str:
    summary = item.summary_html or ""
    if notes and item.id in notes:  # a trial's status change: the news is the update, so it comes first
        summary = f"<p><strong>Update:</strong> {html.escape(notes[item.id])}.</p>{summary}"
    return summary


def _channel(meta: FeedMeta) -> FeedGenerator:
    """The channel part every feed of ours shares: ids, titles, the self and page links, language, generator."""
    generator = FeedGenerator()
    generator.id(meta.self_url)
    generator.title(meta.title)
    generator.subtitle(meta.description)
    generator.description(meta.description)
    # feedgen makes the last link added the RSS channel's <link>, which must be the page (RSS 2.0: "the URL to the
    # HTML website"), not the feed itself: self first.
    generator.link(href=meta.self_url, rel="self")
    generator.link(href=meta.page_url, rel="alternate")
    generator.language("en")
    generator.generator("CAR T & MS Research Aggregator")
    return generator


def _generator(meta: FeedMeta, items: Sequence[Item], topic_names: dict[str, str],
               notes: dict[int, str] | None = None) -> FeedGenerator:
    generator = _channel(meta)
    generator.load_extension("dc", atom=False, rss=True)
    if meta.updated:
        generator.updated(meta.updated)
        generator.lastBuildDate(meta.updated)
    # feedgen prepends entries; add oldest first so the document lists newest first.
    for item in reversed(items):
        entry = generator.add_entry()
        entry.id(item_guid(meta.base_url, item))
        entry.guid(item_guid(meta.base_url, item), permalink=False)
        entry.title(item.title)
        link = item_link(meta.base_url, item)
        if link:
            entry.link(href=link, rel="alternate")
        summary = _summary_html(item, notes)
        entry.description(summary or item.title)
        entry.summary(summary or item.title, type="html")
        entry.published(item.sort_at)
        entry.updated(item.updated_at)
        source_name, homepage = _source_of(meta, item)
        entry.author(name=item.author or source_name)
        entry.source(title=source_name, url=homepage or None)
        for topic in sorted(t.topic_id for t in item.topics):
            entry.category(term=topic, label=topic_names.get(topic, topic))
    return generator


def render_rss(meta: FeedMeta, items: Sequence[Item], topic_names: dict[str, str],
               notes: dict[int, str] | None = None) -> bytes:
    rss: bytes = _generator(meta, items, topic_names, notes).rss_str(pretty=True)
    return rss


def render_atom(meta: FeedMeta, items: Sequence[Item], topic_names: dict[str, str],
                notes: dict[int, str] | None = None) -> bytes:
    atom: bytes = _generator(meta, items, topic_names, notes).atom_str(pretty=True)
    return atom


JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def render_json_feed(meta: FeedMeta, items: Sequence[Item], topic_names: dict[str, str],
                     notes: dict[int, str] | None = None) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1) of the same items, ids and links as the RSS and Atom.

    ``content_html`` is the stored summary (cleaned by nh3 when stored) cleaned by nh3 once more, the way it goes
    out; titles and names are plain text, and ``<``, ``>`` and ``&`` are written as JSON escapes, so even a browser
    that opened the document as HTML would find no markup in it.
    """
    entries = []
    for item in items:
        source_name, homepage = _source_of(meta, item)
        summary = _summary_html(item, notes)
        entry: dict[str, object] = {
            "id": item_guid(meta.base_url, item),
            "url": item_link(meta.base_url, item) or meta.page_url,
            "title": item.title,
            "content_html": nh3.clean(summary) if summary else html.escape(item.title),
            "date_published": _rfc3339(item.sort_at),
            "date_modified": _rfc3339(item.updated_at),
            "authors": [{"name": item.author or source_name}],
            "tags": [topic_names.get(t, t) for t in sorted(t.topic_id for t in item.topics)],
            "_car_t_ms": {"source": {"id": item.source_id, "name": source_name, "homepage": homepage},
                          "evidence_type": item.evidence_type,
                          "topics": sorted(t.topic_id for t in item.topics)},
        }
        if item.summary_text:
            entry["summary"] = item.summary_text
        entries.append(entry)
    document = {
        "version": JSON_FEED_VERSION,
        "title": meta.title,
        "home_page_url": meta.page_url,
        "feed_url": meta.self_url,
        "description": meta.description,
        "language": "en",
        "authors": [{"name": "CAR T & MS Research", "url": meta.base_url + "/"}],
        "items": entries,
    }
    text = json.dumps(document, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


@dataclass(frozen=True)
class TrialFeedEntry:
    """One entry of a trial's own feed: the changes one poll found (or the day we first saw the trial)."""

    guid: str
    title: str
    link: str
    summary_html: str  # built by the caller from escaped sentences
    published: datetime


def render_trial_feed(meta: FeedMeta, entries: Sequence[TrialFeedEntry], atom: bool) -> bytes:
    """RSS 2.0 (or Atom) of one trial's changes, newest first."""
    generator = _channel(meta)
    generator.author(name="CAR T & MS Research")  # Atom wants an author for the feed or every entry
    if meta.updated:
        generator.updated(meta.updated)
        generator.lastBuildDate(meta.updated)
    for entry in sorted(entries, key=lambda e: (e.published, e.guid)):  # feedgen prepends: oldest first
        added = generator.add_entry()
        added.id(entry.guid)
        added.guid(entry.guid, permalink=False)
        added.title(entry.title)
        added.link(href=entry.link, rel="alternate")
        added.description(entry.summary_html)
        added.summary(entry.summary_html, type="html")
        added.published(entry.published)
        added.updated(entry.published)
    document: bytes = generator.atom_str(pretty=True) if atom else generator.rss_str(pretty=True)
    return document
