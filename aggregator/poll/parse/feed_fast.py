"""A fast path for plain RSS 2.0: the entries feedparser would give, read with lxml, or ``None`` when unsure.

feedparser (SAX events handled in Python, one dictionary per element) was half the CPU of a first poll
(docs/benchmark.md, finding 9). For the documents most feeds send — UTF-8 RSS 2.0 whose items hold only the
common elements — this reads the tree with lxml and applies, field by field, what feedparser's strict parser
does to the same text (``_FeedParserMixin.pop`` and the element handlers of ``namespaces/_base.py``): strip,
resolve the link and a permalink guid against the base URI, resolve relative URIs inside HTML with feedparser's
own ``resolve_relative_uris``, its UTF-8 repair and its cp1252 mapping, its tag rules and its guid-as-link rule.

It refuses (returns ``None``, and ``parse_feed`` runs feedparser) anything it is not sure of: a byte-order
mark, an encoding other than UTF-8 (or ASCII), a DOCTYPE or entity declaration, any well-formedness error, a root
other than ``<rss version="2.0">``, ``xml:base`` or ``base`` anywhere, an item element outside the list below
or repeated, an attribute other than ``guid``'s ``isPermaLink`` and ``category``'s ``domain``, and any element
whose text holds a comment, a processing instruction or a child element.
``tests/test_parse_feed_fast.py`` compares both paths on every fixture and on generated feeds.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

_DC = "http://purl.org/dc/elements/1.1/"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_WFW = "http://wellformedweb.org/CommentAPI/"
_SLASH = "http://purl.org/rss/1.0/modules/slash/"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

# Item children this path reads (or, for the last four, knows feedparser stores apart from every field we use).
_TITLE, _LINK, _GUID, _DESCRIPTION, _PUBDATE, _CATEGORY = "title", "link", "guid", "description", "pubDate", "category"
_CREATOR, _ENCODED = f"{{{_DC}}}creator", f"{{{_CONTENT}}}encoded"
_IGNORED = frozenset({"comments", f"{{{_WFW}}}commentRss", f"{{{_SLASH}}}comments"})
_KNOWN = frozenset({_TITLE, _LINK, _GUID, _DESCRIPTION, _PUBDATE, _CATEGORY, _CREATOR, _ENCODED}) | _IGNORED
_ATTRIBUTES = {_GUID: frozenset({"isPermaLink"}), _CATEGORY: frozenset({"domain"})}

_BOMS = (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff", b"\x00\x00\x00<", b"<\x00\x00\x00",
         b"\x00<\x00?", b"<\x00?\x00", b"Lo\xa7\x94")
_DECLARATIONS = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_LINK_REFERENCE = re.compile("&([A-Za-z0-9_]+);")

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                          dtd_validation=False, recover=False, remove_comments=False, remove_pis=False,
                          strip_cdata=True)


def _encoding_is_utf8(data: bytes, content_type: str) -> bool:
    """Whether feedparser would decode ``data`` exactly as UTF-8 (its ``convert_to_utf8``, without guessing)."""
    from feedparser.encodings import RE_XML_PI_ENCODING, parse_content_type

    match = RE_XML_PI_ENCODING.match(data)
    xml_encoding = match.group(1).decode("utf-8", "replace").lower() if match else ""
    if xml_encoding not in ("", "utf-8"):
        return False
    media, charset = parse_content_type(content_type)
    if not content_type:
        chosen = xml_encoding or "iso-8859-1"  # feedparser's choice when a server sends no Content-Type
    elif media.startswith("application/") and (media == "application/xml" or media.endswith("+xml")):
        chosen = charset or xml_encoding or "utf-8"
    elif media.startswith("text/"):
        chosen = charset or "us-ascii"
    else:
        chosen = xml_encoding or "utf-8"
    if chosen in ("us-ascii", "ascii", "iso-8859-1"):
        return data.isascii()  # then every one of these decodes it as UTF-8 does
    return chosen == "utf-8"


def fast_entries(data: bytes, url: str, content_type: str = "") -> list[dict[str, Any]] | None:
    """The entries as feedparser would give them (the keys ``parse_feed`` reads), or ``None``: use feedparser."""
    if data.startswith(_BOMS) or _DECLARATIONS.search(data) or not _encoding_is_utf8(data, content_type):
        return None
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root.tag != "rss" or root.get("version") != "2.0":
        return None
    channels = [child for child in root if child.tag == "channel"]
    if len(channels) != 1:
        return None
    items = [child for child in channels[0] if child.tag == "item"]
    base = _base_uri(url)
    if base is None:
        return None
    entry_like = 0
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if tag.rpartition("}")[2].lower() in ("item", "entry"):  # feedparser makes an entry of any of these
            entry_like += 1
        if _XML_BASE in element.attrib or "base" in element.attrib:
            return None
    if entry_like != len(items):
        return None
    from feedparser.html import _cp1252
    from feedparser.mixin import _FeedParserMixin
    from feedparser.urls import _urljoin, resolve_relative_uris

    def text(element: Any, html: bool, title: bool = False, uri: bool = False) -> str:
        output = (element.text or "").strip()
        if uri and output:
            output = _urljoin(base, output)
        if title and _FeedParserMixin.looks_like_html(output):
            html = True
        if html:
            output = resolve_relative_uris(output, base, "utf-8", "text/html")
        try:  # feedparser's repair of UTF-8 text that was decoded as Latin-1 somewhere upstream
            output = output.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        return output.translate(_cp1252)

    entries: list[dict[str, Any]] = []
    for item in items:
        if item.attrib:
            return None
        seen: dict[str, Any] = {}
        categories: list[Any] = []
        for child in item:
            tag = child.tag
            if not isinstance(tag, str):  # a comment or processing instruction between the item's elements
                continue
            if tag not in _KNOWN or len(child) or not set(child.attrib) <= _ATTRIBUTES.get(tag, frozenset()):
                return None
            if tag == _CATEGORY:
                categories.append(child)
            elif tag in seen:
                return None
            else:
                seen[tag] = child
        entries.append(_entry(seen, categories, text))
    return entries


def _entry(seen: dict[str, Any], categories: list[Any], text: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if _TITLE in seen:
        entry["title"] = text(seen[_TITLE], html=False, title=True)
    guid = seen.get(_GUID)
    if guid is not None:
        permalink = guid.get("isPermaLink", "true") == "true"
        entry["id"] = text(guid, html=False, uri=permalink)
        if permalink:
            entry["link"] = entry["id"]
    if _LINK in seen:  # a link element wins over a permalink guid, before or after it
        link = text(seen[_LINK], html=False, uri=True).replace("&amp;", "&")
        entry["link"] = _LINK_REFERENCE.sub(r"&\g<1>", link)
    if _ENCODED in seen:
        entry["content"] = [{"value": text(seen[_ENCODED], html=True)}]
    if _DESCRIPTION in seen:
        entry["summary"] = text(seen[_DESCRIPTION], html=True)
    elif "content" in entry:
        entry["summary"] = entry["content"][0]["value"]
    if _PUBDATE in seen:
        entry["published"] = text(seen[_PUBDATE], html=False)
    if _CREATOR in seen:
        entry["author"] = text(seen[_CREATOR], html=False)
    tags: list[dict[str, Any]] = []
    for category in categories:  # feedparser's _start_category, _end_category and _add_tag
        _add_tag(tags, None, category.get("domain"))
        value = text(category, html=False)
        if value:
            if tags and not tags[-1]["term"]:
                tags[-1]["term"] = value
            else:
                _add_tag(tags, value, None)
    if categories:
        entry["tags"] = tags
    return entry


def _add_tag(tags: list[dict[str, Any]], term: str | None, scheme: str | None) -> None:
    if not term and not scheme:
        return
    value = {"term": term, "scheme": scheme, "label": None}
    if value not in tags:
        tags.append(value)


def _base_uri(url: str) -> str | None:
    """feedparser's base URI for the document's items (from the Content-Location it is given), or ``None`` when
    it would change from one element depth to the next (then feedparser's own bookkeeping decides)."""
    from feedparser.urls import _urljoin, make_safe_absolute_uri

    base = make_safe_absolute_uri("", url) or make_safe_absolute_uri(url) or ""
    depths = [base]
    for _ in range(4):  # <rss>, <channel>, <item>, the item's element: unknown_starttag at each
        base = (make_safe_absolute_uri(base, base) or base) if base else _urljoin(base, base)
        depths.append(base)
    return base if len(set(depths[1:])) == 1 else None

