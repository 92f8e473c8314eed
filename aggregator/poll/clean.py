"""Pure cleaning of what a stranger sent: sanitised HTML, plain-text titles, canonical links, identity and hash.

- HTML goes through an nh3 allow-list: no scripts, event handlers, styles, iframes, forms, images (tracking
  pixels) or non-web URLs; links get ``rel="noopener noreferrer nofollow"``.
- Titles are text, never HTML: tags are stripped and entities decoded; templates escape them again on output.
- Links are canonicalised (tracking parameters and fragments dropped, Google redirect wrappers unwrapped) so the
  same story from two sources, or one link with per-fetch tracking, is recognised as one.
Nothing here fetches or stores.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import nh3

from ..domain import CleanItem, ParsedItem, SourceSpec
from .parse.dates import implausible

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "dd", "dl", "dt", "em", "i", "li", "ol", "p", "pre",
    "q", "s", "small", "strong", "sub", "sup", "u", "ul", "h3", "h4", "h5", "h6", "table", "thead", "tbody",
    "tr", "th", "td", "caption", "figure", "figcaption", "hr", "span", "mark",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Elements whose text is not content: nh3 drops them with everything inside.
_CLEAN_CONTENT_TAGS = {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math", "form"}

_TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "_hsenc", "_hsmi", "rss",
                    "ref", "ref_src", "fc", "ff", "v", "cmpid", "icid", "af"}
# Control characters (Unicode category Cc) except tab and newline; a regex, not a per-character loop (the
# loop cost more than nh3 itself, see docs/benchmark.md).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# "<" followed by what an HTML parser takes for the start of a tag, comment or declaration.
_TAG_START = re.compile(r"<[a-zA-Z!/?]")
# Characters a URL may keep as they are (RFC 3986 reserved and unreserved, and % for existing escapes); quotes,
# angle brackets, spaces and the like are percent-encoded so a link cannot break out of an attribute anywhere.
_URL_SAFE_CHARS = "/:?#[]@!$&()*+,;=%~-._"
# WordPress appends "The post <title> appeared first on <site>." to every excerpt: noise, and it repeats the title.
# Searched only in text that has its fixed words: a regular-expression search of every summary cost more
# than nh3's sanitising of it (docs/benchmark.md).
_WORDPRESS_FOOTER_WORDS = " appeared first on "
_WORDPRESS_FOOTER = re.compile(r"\s*(<p>)?\s*The post .{1,600}? appeared first on .{1,300}?\.\s*(</p>)?\s*$",
                               re.DOTALL)
# The key of ``CleanItem.extra`` that records a source's date we did not use: {"reason", "source_date"}.
DATE_PROBLEM = "date_problem"
_MAX_TITLE = 500
_MAX_SUMMARY_HTML = 20_000
_MAX_TEXT = 50_000


def sanitize_html(fragment: str) -> str:
    """Allow-listed HTML, safe to show in a browser or an email."""
    if not fragment:
        return ""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags=_CLEAN_CONTENT_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (or of text that merely contains entities), whitespace collapsed."""
    if not fragment:
        return ""
    if "<" in fragment:
        # Block-level boundaries become spaces so "word</p><p>word" does not glue into one word.
        fragment = re.sub(r"<(br|/p|/div|/li|/h\d|/tr|/td|/th)\b[^>]*>", " ", fragment, flags=re.IGNORECASE)
        fragment = nh3.clean(fragment, tags=set(), clean_content_tags=_CLEAN_CONTENT_TAGS, strip_comments=True)
    # nh3 leaves entities encoded; a title may also be double-escaped by its publisher (&amp;lt;b&amp;gt;).
    text = html.unescape(html.unescape(fragment)) if "&" in fragment else fragment
    # Unescaping can turn text back into markup (a title escaped three times over): strip again until no tag is
    # left, so a title stays text even for a feed reader that inserts it as HTML.
    # Control characters go first: removing one afterwards could join "<" and "?" into a tag start.
    text = _CONTROL.sub("", text)
    for _ in range(8):
        if not _TAG_START.search(text):
            break
        text = _CONTROL.sub("", html.unescape(nh3.clean(text, tags=set(), clean_content_tags=_CLEAN_CONTENT_TAGS)))
    else:
        text = _TAG_START.sub(lambda m: "\u2039" + m.group(0)[1:], text)
    # Whitespace collapsed: str.split() splits on exactly what r"\s+" matches (str.isspace), and drops the ends.
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",.;:-–— ")
    return cut + "…"


def _unwrap_redirect(parts: tuple[str, str, str, str, str]) -> str | None:
    scheme, netloc, path, query, _ = parts
    host = netloc.lower()
    if (host.endswith("google.com") and path == "/url") or host.endswith("safelinks.protection.outlook.com"):
        params = dict(parse_qsl(query))
        inner = params.get("url") or params.get("q")
        if inner and inner.startswith(("http://", "https://")):
            return inner
    return None


_URL_TABS_NEWLINES = re.compile(r"[\t\n\r]")


def _split_web_url(link: str | None) -> tuple[str, str, str, str, str] | None:
    """The parts of an http(s) URL as a browser would read it, or None for anything else.

    Like a browser (WHATWG URL), leading and trailing control characters and spaces are dropped and tabs and
    newlines anywhere are removed, so "\\x08javascript:" can never pass for something else; what is left is
    parsed once and every later step works on the parts, never on the raw string.
    """
    if not link:
        return None
    link = _URL_TABS_NEWLINES.sub("", link.strip("".join(chr(c) for c in range(33)) + "\x7f"))
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return (parts.scheme.lower(), parts.netloc, parts.path, parts.query, parts.fragment)


def normalize_link(link: str | None) -> str | None:
    """A canonical form of an http(s) link for identity and de-duplication; None for anything else."""
    parts = _split_web_url(link)
    if parts is None:
        return None
    inner = _unwrap_redirect(parts)
    if inner:
        return normalize_link(inner)
    scheme, netloc, raw_path, raw_query, _fragment = parts
    host = netloc.lower()
    if host.endswith(":80") and scheme == "http":
        host = host[:-3]
    if host.endswith(":443") and scheme == "https":
        host = host[:-4]
    if host.startswith("www."):
        host = host[4:]
    if not host or host.startswith(":"):
        return None  # "http://www." or "http://:80/": no host at all
    query = [(k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True)
             if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS]
    # Percent-encode what must be (spaces, quotes), keeping existing escapes: normalising twice changes nothing.
    path = quote(raw_path or "/", safe=_URL_SAFE_CHARS)
    if len(path) > 1:
        path = path.rstrip("/") or "/"  # "//" is the root, as "/" is: normalising twice changes nothing
    # http and https versions of one page are one story.
    return urlunsplit(("https", host, path, urlencode(sorted(query)), ""))


def safe_link(link: str | None) -> str | None:
    """The link to show readers: only http(s), never javascript:, data: or other schemes; quotes and angle
    brackets percent-encoded so the link cannot break out of an attribute even in a careless reader."""
    parts = _split_web_url(link)
    if parts is None:
        return None
    inner = _unwrap_redirect(parts)
    if inner:
        return safe_link(inner) if inner != link else None
    return quote(urlunsplit(parts), safe=_URL_SAFE_CHARS)


def content_hash(title: str, summary_text: str, content_text: str) -> str:
    digest = hashlib.sha256()
    for part in (title, summary_text, content_text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def identity_key(guid: str | None, normalized: str | None, hash_: str) -> str:
    """How an item is recognised within its source: guid, else normalised link, else a hash of its content."""
    if guid:
        return "guid:" + guid[:900]
    if normalized:
        return "link:" + normalized[:900]
    return "hash:" + hash_


def clean_item(item: ParsedItem, spec: SourceSpec, now: datetime) -> CleanItem:
    title = truncate(html_to_text(item.title), _MAX_TITLE)
    summary_source = item.summary or item.content
    if _WORDPRESS_FOOTER_WORDS in summary_source:
        summary_source = _WORDPRESS_FOOTER.sub("", summary_source)
    summary_html = sanitize_html(summary_source[:_MAX_SUMMARY_HTML * 5])[:_MAX_SUMMARY_HTML]
    summary_text = html_to_text(summary_source)[:_MAX_TEXT]
    content_text = html_to_text(item.content)[:_MAX_TEXT] if item.content and item.summary else ""
    link = safe_link(item.link)
    normalized = normalize_link(link)
    guid = item.guid.strip() if item.guid and item.guid.strip() else None
    hash_ = content_hash(title, summary_text, content_text)
    if not title:
        title = truncate(summary_text, 120) or (link or "Untitled item")
    published = item.published_at
    extra = dict(item.extra)
    # A date we cannot read or do not believe (before 1990, more than a day ahead: a typo, a wrong zone, a
    # scheduled post) is dropped, so the first-seen time stands in; what the source wrote is kept, and why.
    problem = implausible(published, now) or ("unreadable" if published is None and item.date_text else None)
    if problem:
        published = None
        extra[DATE_PROBLEM] = {"reason": problem, "source_date": truncate(html_to_text(item.date_text or ""), 120)}
    return CleanItem(
        key=identity_key(guid, normalized, hash_),
        title=title,
        link=link,
        normalized_link=normalized,
        guid=guid,
        summary_html=summary_html,
        summary_text=summary_text,
        content_text=content_text,
        author=html_to_text(item.author or "")[:200] or None,
        categories=tuple(html_to_text(c)[:100] for c in item.categories[:30] if c),
        published_at=published,
        content_hash=hash_,
        evidence_type=item.evidence_type or spec.evidence_type,
        doi=item.doi,
        pmid=item.pmid,
        nct_id=item.nct_id,
        extra=extra,
    )
