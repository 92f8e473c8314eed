"""Bytes of one source → ``ParsedItem`` list. No network, no database.

Each source kind has one parser, registered in ``PARSERS`` by kind; ``parse`` dispatches on ``spec.kind``.
"""

from __future__ import annotations

from collections.abc import Callable

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError
from . import clinicaltrials, ctis, europepmc, html, pubmed, sitemap
from .feed import parse_feed

Parser = Callable[[SourceSpec, Fetched], list[ParsedItem]]

PARSERS: dict[str, Parser] = {
    "feed": lambda spec, fetched: parse_feed(fetched.body, fetched.final_url, fetched.content_type, spec.zone(),
                                             spec.dayfirst()),
    "html": html.parse,
    "clinicaltrials": clinicaltrials.parse,
    "ctis": ctis.parse,
    "pubmed": pubmed.parse,
    "europepmc": europepmc.parse,
    "sitemap": sitemap.parse,
}


def register(kind: str, parser: Parser) -> None:
    PARSERS[kind] = parser


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    try:
        parser = PARSERS[spec.kind]
    except KeyError:
        raise ParseError(f"no parser for sources of kind {spec.kind!r}") from None
    return parser(spec, fetched)
