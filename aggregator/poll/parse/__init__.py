"""Bytes of one source → ``ParsedItem`` list. No network, no database.

Each source kind has one parser, registered in ``PARSERS`` by kind; ``parse`` dispatches on ``spec.kind``.
The built-in kinds' modules are imported the first time a document of their kind is parsed (BeautifulSoup,
feedparser and the registry parsers are a fifth of a command's start-up, and a poll answered by 304s parses
nothing).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError

Parser = Callable[[SourceSpec, Fetched], list[ParsedItem]]


def _parse_feed(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    from .feed import parse_feed

    return parse_feed(fetched.body, fetched.final_url, fetched.content_type, spec.zone(), spec.dayfirst())


PARSERS: dict[str, Parser] = {"feed": _parse_feed}
_BUILT_IN = {kind: f"{__name__}.{kind}" for kind in ("html", "clinicaltrials", "ctis", "pubmed", "europepmc",
                                                      "sitemap")}


def register(kind: str, parser: Parser) -> None:
    PARSERS[kind] = parser


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    parser = PARSERS.get(spec.kind)
    if parser is None:
        module = _BUILT_IN.get(spec.kind)
        if module is None:
            raise ParseError(f"no parser for sources of kind {spec.kind!r}")
        parser = PARSERS.setdefault(spec.kind, importlib.import_module(module).parse)
    return parser(spec, fetched)
