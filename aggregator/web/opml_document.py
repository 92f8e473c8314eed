"""OPML 2.0 subscription lists (http://opml.org/spec2.opml), so a feed reader can import every source or every
topic feed at once. Pure: outlines in, bytes out.

Written with ElementTree, which escapes every attribute value (``&``, ``<``, quotes, line breaks); characters that
XML 1.0 cannot carry at all (control characters from a hostile source name) are dropped first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Outline:
    """One subscription (``xml_url`` set) or a group of them (``children``)."""

    text: str
    xml_url: str | None = None
    html_url: str | None = None
    description: str | None = None
    feed_type: str = "rss"
    children: Sequence[Outline] = field(default=())


def _clean(value: str) -> str:
    return _NOT_XML.sub("", value)


def _add(parent: ET.Element, outline: Outline) -> None:
    attrs = {"text": _clean(outline.text)}
    if outline.xml_url:
        attrs.update(type=outline.feed_type, title=_clean(outline.text), xmlUrl=_clean(outline.xml_url))
        if outline.html_url:
            attrs["htmlUrl"] = _clean(outline.html_url)
        if outline.description:
            attrs["description"] = _clean(outline.description)
    node = ET.SubElement(parent, "outline", attrs)
    for child in outline.children:
        _add(node, child)


def render_opml(title: str, outlines: Sequence[Outline], owner_url: str, created: datetime | None = None) -> bytes:
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _clean(title)
    if created is not None:
        ET.SubElement(head, "dateCreated").text = format_datetime(created.astimezone(UTC), usegmt=True)
    ET.SubElement(head, "ownerId").text = owner_url
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    for outline in outlines:
        _add(body, outline)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
