"""Frozen dataclasses passed between the stages (sources → fetch → parse → clean → topics → store).

Stages exchange these, never ORM objects. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

SOURCE_KINDS = ("feed", "html", "clinicaltrials", "pubmed", "ctis", "europepmc", "sitemap")

# What kind of evidence a source publishes; shown as a badge so readers can tell a trial record from a news story.
EVIDENCE_TYPES: dict[str, str] = {
    "trial-registry": "Trial registry",
    "peer-reviewed": "Peer-reviewed paper",
    "preprint": "Preprint",
    "press-release": "Press release",
    "society-news": "Society or centre news",
    "news": "General news",
}


@dataclass(frozen=True)
class SourceSpec:
    """One entry of ``feeds.yaml`` after validation."""

    id: str
    name: str
    url: str
    kind: str = "feed"
    interval: int | None = None  # seconds; None means the POLL_INTERVAL default
    homepage: str | None = None
    enabled: bool = True
    evidence_type: str = "news"
    language: str | None = None
    # Per-kind settings (CSS selectors for `html`, and so on), kept as sorted pairs so the spec stays hashable.
    options: tuple[tuple[str, Any], ...] = ()
    line: int | None = None  # where it stands in feeds.yaml, for error messages
    # The publisher this source is one route to ("Cleveland Clinic"); /sources shows a group's routes together.
    group: str | None = None
    # The group is one the product promises; `check-sources --live` fails when none of its routes works.
    seed: bool = False

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    def zone(self) -> tzinfo:
        """The zone of the dates this source writes without one: ``options.timezone`` (validated), else UTC."""
        name = self.option("timezone")
        return ZoneInfo(name) if name else UTC

    def dayfirst(self) -> bool:
        """``options.dayfirst``: the source writes 03/11/2026 for 3 November."""
        return bool(self.option("dayfirst", False))


@dataclass(frozen=True)
class Conditional:
    """What we remember of the last answer, to make the next request conditional."""

    etag: str | None = None
    last_modified: str | None = None
    # The normalised links already stored for the source: a ``sitemap`` source fetches only pages not among them.
    known_links: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fetched:
    """The outcome of one successful HTTP exchange (a 304 is a success with ``not_modified``)."""

    url: str  # the URL that was asked for
    final_url: str  # after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    # Set when every redirect on the way was permanent (301/308): the source has moved for good.
    permanent_redirect: str | None = None
    # Seconds the server asked us to wait before the next poll (Cache-Control max-age / Expires), if any.
    max_age: float | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ParsedItem:
    """One item as the source described it, before cleaning. Fields hold raw text or HTML from a stranger."""

    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""  # HTML or text
    content: str = ""  # HTML or text
    author: str | None = None
    categories: tuple[str, ...] = ()
    published_at: datetime | None = None  # aware UTC
    updated_at: datetime | None = None
    date_text: str | None = None  # the date as the source wrote it (recorded when it is not believed)
    evidence_type: str | None = None  # overrides the source's when the item knows better
    doi: str | None = None
    pmid: str | None = None
    nct_id: str | None = None
    # Kind-specific facts (trial status and phase, journal, ...), JSON-serialisable.
    extra: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class CleanItem:
    """An item ready to store: sanitised HTML, plain-text title, canonical link, identity key and content hash."""

    key: str  # identity within the source: guid, else normalised link, else content hash
    title: str  # plain text, never HTML
    link: str | None
    normalized_link: str | None
    guid: str | None
    summary_html: str  # sanitised
    summary_text: str  # plain text, for matching, search and the short summary
    content_text: str  # plain text of the full content, for matching only
    author: str | None
    categories: tuple[str, ...]
    published_at: datetime | None
    content_hash: str
    evidence_type: str
    doi: str | None = None
    pmid: str | None = None
    nct_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PollReport:
    """What one poll of one source did; the CLI prints these as a table."""

    source_id: str
    outcome: str  # "ok", "not-modified", "error", "skipped"
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None
    seconds: float = 0.0


# The weekly digest's rows: the store builds them from the database (store_mail), the digest reads them.
@dataclass(frozen=True)
class DigestItem:
    """One item as a digest shows it (plain, sanitised fields; built by the store from the database)."""

    id: int
    title: str
    link: str | None
    source_name: str
    date: datetime  # the item's date shown to readers (published when credible, else first seen)
    first_seen_at: datetime
    summary: str  # plain text of the sanitised summary
    topics: tuple[str, ...]  # topic ids it matched
    evidence: str = ""
    link_gone: bool = False  # its link answered 404/410: the email links to its page on the site instead


@dataclass(frozen=True)
class TrialUpdate:
    """What happened to one trial during the week (built by the store from its change events)."""

    key: str  # NCT id, else EU CT number
    ids: tuple[str, ...]  # every number it is known by (followed by any of them)
    title: str
    path: str  # our trial page, relative to the site ("/trials/NCT06384976")
    moment: datetime  # the latest change of the week
    summaries: tuple[str, ...]  # the change sentences, oldest first
    began_recruiting_in: tuple[str, ...] = ()  # countries where sites started recruiting this week
    new: bool = False  # first seen this week
