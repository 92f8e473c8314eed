"""A fast path for plain RSS 2.0 and RSS 1.0 (RDF): the entries feedparser would give, read with lxml, or ``None``.

feedparser (SAX events handled in Python, one dictionary per element) was half the CPU of a first poll
(docs/benchmark.md, finding 9). For the documents most feeds send — UTF-8 RSS 2.0 or RSS 1.0 whose items hold
only the common elements — this reads the tree with lxml and applies, field by field, what feedparser's strict
parser does to the same text (``_FeedParserMixin.pop`` and the element handlers of ``namespaces/_base.py`` and
``namespaces/dc.py``): strip, resolve the link and a permalink guid against the base URI, resolve relative URIs
inside HTML with feedparser's own ``resolve_relative_uris``, its UTF-8 repair and its cp1252 mapping, its tag
rules and its guid-as-link rule; for RSS 1.0 also ``rdf:about`` as the id, ``dc:date`` as ``updated``, the first
non-empty of ``title``/``dc:title``, the last ``dc:creator``, ``dc:subject`` as a tag and the raw keys
``dc_identifier`` and ``prism_doi`` (the last of each) that ``feed.py`` reads a DOI from.

It refuses (returns ``None``, and ``parse_feed`` runs feedparser) anything it is not sure of: a byte-order
mark, an encoding other than UTF-8 (or ASCII), a DOCTYPE or entity declaration, any well-formedness error, a root
other than ``<rss version="2.0">`` or ``<rdf:RDF>`` with one RSS 1.0 channel, ``xml:base`` or ``base`` anywhere,
an item element outside the lists below (by namespace and exact name) or repeated where it may not be, an
attribute other than ``guid``'s ``isPermaLink``, ``category``'s ``domain`` and an RSS 1.0 item's ``rdf:about``,
and any element whose text holds a comment, a processing instruction or a child element.
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
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS1 = "http://purl.org/rss/1.0/"
# feedparser maps the first to "prism"; the other two it does not know, so it keys their elements by the prefix
# the document gives them, which is why an RSS 1.0 item's prism element must be written with ``prism:``.
_PRISM = frozenset({"http://prismstandard.org/namespaces/1.2/basic/", "http://purl.org/rss/1.0/modules/prism/",
                    "http://prismstandard.org/namespaces/basic/2.0/"})

# Item children this path reads (or, for the last four, knows feedparser stores apart from every field we use).
_TITLE, _LINK, _GUID, _DESCRIPTION, _PUBDATE, _CATEGORY = "title", "link", "guid", "description", "pubDate", "category"
_CREATOR, _ENCODED = f"{{{_DC}}}creator", f"{{{_CONTENT}}}encoded"
_IGNORED = frozenset({"comments", f"{{{_WFW}}}commentRss", f"{{{_SLASH}}}comments"})
_KNOWN = frozenset({_TITLE, _LINK, _GUID, _DESCRIPTION, _PUBDATE, _CATEGORY, _CREATOR, _ENCODED}) | _IGNORED
_ATTRIBUTES = {_GUID: frozenset({"isPermaLink"}), _CATEGORY: frozenset({"domain"})}

# RSS 1.0 item children: feedparser's key for each (what its handlers store) or None where it stores nothing we read.
_RDF_ABOUT = f"{{{_RDF}}}about"
_RSS1_ITEM, _RSS1_CHANNEL, _RDF_ROOT = f"{{{_RSS1}}}item", f"{{{_RSS1}}}channel", f"{{{_RDF}}}RDF"
_R_TITLE, _R_LINK, _R_DESCRIPTION = f"{{{_RSS1}}}title", f"{{{_RSS1}}}link", f"{{{_RSS1}}}description"
_DC_TITLE, _DC_DATE, _DC_SUBJECT = f"{{{_DC}}}title", f"{{{_DC}}}date", f"{{{_DC}}}subject"
_DC_IDENTIFIER, _DC_PUBLISHER = f"{{{_DC}}}identifier", f"{{{_DC}}}publisher"
_RDF_KNOWN = frozenset({_R_TITLE, _R_LINK, _R_DESCRIPTION, _ENCODED, _CREATOR, _DC_TITLE, _DC_DATE, _DC_SUBJECT,
                        _DC_IDENTIFIER, _DC_PUBLISHER})
_RDF_REPEATABLE = frozenset({_CREATOR, _DC_SUBJECT, _DC_IDENTIFIER, _DC_PUBLISHER})
# prism elements (local names as written; feedparser lower-cases them into ``prism_<name>``): only ``doi`` is read.
_PRISM_NAMES = frozenset({"doi", "publicationDate", "section", "volume", "number", "startingPage", "endingPage",
                          "issueName", "publicationName", "coverDate", "coverDisplayDate", "url", "issn", "eIssn"})

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
    if root.tag == "rss" and root.get("version") == "2.0":
        channels = [child for child in root if child.tag == "channel"]
        if len(channels) != 1:
            return None
        items = [child for child in channels[0] if child.tag == "item"]
        rdf = False
    elif root.tag == _RDF_ROOT and not root.attrib:
        if len([child for child in root if child.tag == _RSS1_CHANNEL]) != 1:
            return None
        items = [child for child in root if child.tag == _RSS1_ITEM]  # RSS 1.0 items are the channel's siblings
        rdf = True
    else:
        return None
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
        entry = _rdf_item(item, text) if rdf else _rss2_item(item, text)
        if entry is None:
            return None
        entries.append(entry)
    return entries


def _rss2_item(item: Any, text: Any) -> dict[str, Any] | None:
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
    return _entry(seen, categories, text)


def _rdf_item(item: Any, text: Any) -> dict[str, Any] | None:
    """An RSS 1.0 item as feedparser's handlers leave it (the keys ``feed.py`` reads)."""
    if set(item.attrib) - {_RDF_ABOUT}:
        return None
    titles: list[Any] = []  # title and dc:title share feedparser's _start_title/_end_title
    seen: dict[str, Any] = {}
    last: dict[str, Any] = {}  # the repeatable ones: feedparser keeps the last (same depth, overwrite)
    subjects: list[Any] = []
    prism_doi = None
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if len(child) or child.attrib:
            return None
        namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        if namespace in _PRISM:
            if child.prefix != "prism" or name not in _PRISM_NAMES:
                return None
            if name == "doi":
                prism_doi = child
            continue
        if tag not in _RDF_KNOWN:
            return None
        if tag in (_R_TITLE, _DC_TITLE):
            if tag in seen:
                return None
            seen[tag] = child
            titles.append(child)
        elif tag == _DC_SUBJECT:
            subjects.append(child)
        elif tag in _RDF_REPEATABLE:
            last[tag] = child
        elif tag in seen:
            return None
        else:
            seen[tag] = child
    entry: dict[str, Any] = {}
    about = item.get(_RDF_ABOUT)
    if about:  # _start_item: the attribute as written, neither stripped nor resolved
        entry["id"] = about
    for title in titles:  # the first non-empty title wins (feedparser's title_depth)
        entry["title"] = text(title, html=False, title=True)
        if entry["title"]:
            break
    if _R_LINK in seen:
        link = text(seen[_R_LINK], html=False, uri=True).replace("&amp;", "&")
        entry["link"] = _LINK_REFERENCE.sub(r"&\g<1>", link)
    if _ENCODED in seen:
        entry["content"] = [{"value": text(seen[_ENCODED], html=True)}]
    if _R_DESCRIPTION in seen:
        entry["summary"] = text(seen[_R_DESCRIPTION], html=True)
    elif "content" in entry:
        entry["summary"] = entry["content"][0]["value"]
    if _DC_DATE in seen:
        entry["updated"] = text(seen[_DC_DATE], html=False)
    if _CREATOR in last:
        entry["author"] = text(last[_CREATOR], html=False)
    if _DC_IDENTIFIER in last:
        entry["dc_identifier"] = text(last[_DC_IDENTIFIER], html=False)
    if prism_doi is not None:
        entry["prism_doi"] = text(prism_doi, html=False)
    if subjects:
        tags: list[dict[str, Any]] = []
        for subject in subjects:  # _start_category with no attributes adds nothing; _end_category adds the term
            value = text(subject, html=False)
            if value:
                _add_tag(tags, value, None)
        entry["tags"] = tags
    return entry


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

