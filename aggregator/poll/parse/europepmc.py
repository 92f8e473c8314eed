"""Europe PMC REST search JSON (``…/webservices/rest/search?…&format=json``) → items. Pure.

Why a kind of its own: Europe PMC indexes PubMed *and* the preprint servers (``source: PPR``: medRxiv, bioRxiv,
Research Square …) under one keyword search, in a JSON layout no feed parser reads. One search answer is one poll
(``sort=P_PDATE_D desc`` puts the newest first; the page size bounds it), so the default retriever suffices.

The layout (real answers in tests/data/real/europepmc_rest_search_json_*.json): ``{hitCount, request,
resultList: {result: [...]}}``; a result has ``id``, ``source`` (MED, PMC, PPR, AGR …), ``pmid``/``pmcid``/
``doi`` when known, ``title``, ``authorString``, ``journalTitle`` (``resultType=lite``) or
``journalInfo.journal.title`` (``core``), ``abstractText`` (core only; may hold inline HTML), ``pubType`` and
``firstPublicationDate`` (``YYYY-MM-DD``). Every field may be missing. An answer with ``errCode``/``errMsg``, or
without ``resultList``, is a parse error, not an empty source.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError
from . import json_text
from .dates import parse_date

log = logging.getLogger(__name__)

ARTICLE_URL = "https://europepmc.org/article/{source}/{id}"
MAX_RESULTS = 1000
MAX_AUTHORS_CHARS = 300


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _journal(result: dict[str, Any]) -> str:
    info = result.get("journalInfo")
    journal = info.get("journal") if isinstance(info, dict) else None
    title = _str(journal.get("title")) if isinstance(journal, dict) else ""
    return title or _str(result.get("journalTitle"))


def _item(result: dict[str, Any]) -> ParsedItem | None:
    ident, source = _str(result.get("id")), _str(result.get("source")).upper()
    if not ident or not source:
        return None
    preprint = source == "PPR" or "preprint" in _str(result.get("pubType")).lower()
    journal = _journal(result)
    kind = "Preprint" if preprint else _str(result.get("pubType"))
    facts = [f"<em>{escape(journal)}</em>" if journal else "", escape(kind)]
    summary = "<p>" + " · ".join(f for f in facts if f) + "</p>"
    abstract = _str(result.get("abstractText"))
    if abstract:
        summary += f"<p>{abstract}</p>"  # HTML from a stranger: clean.py sanitises every summary with nh3
    raw_date = _str(result.get("firstPublicationDate")) or _str(result.get("pubYear")) or None
    authors = _str(result.get("authorString"))
    doi = _str(result.get("doi")).lower() or None
    pmid = _str(result.get("pmid")) or None
    extra = {"journal": journal or None, "europepmc_source": source, "europepmc_id": ident,
             "pmcid": _str(result.get("pmcid")) or None}
    return ParsedItem(
        title=_str(result.get("title")) or f"Europe PMC record {source}/{ident}",
        link=ARTICLE_URL.format(source=source, id=ident),
        guid=f"europepmc:{source}:{ident}",
        summary=summary,
        author=(authors[:MAX_AUTHORS_CHARS].rsplit(",", 1)[0] + " et al.") if len(authors) > MAX_AUTHORS_CHARS
        else authors or None,
        categories=tuple(t.strip() for t in _str(result.get("pubType")).split(";") if t.strip()),
        published_at=parse_date(raw_date) if raw_date and len(raw_date) >= 10 else None,
        date_text=raw_date,
        evidence_type="preprint" if preprint else None,
        doi=doi,
        pmid=pmid if pmid and pmid.isdigit() else None,
        extra=tuple(sorted(extra.items())),
    )


def parse_search(data: bytes) -> list[ParsedItem]:
    try:
        document = json_text.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError("the Europe PMC answer is not JSON; is the URL a rest/search query with format=json?") from exc
    if not isinstance(document, dict):
        raise ParseError("the Europe PMC answer is not a search result object")
    if document.get("errCode") or document.get("errMsg"):
        raise ParseError(f"Europe PMC reported an error: {str(document.get('errMsg') or document['errCode'])[:300]}")
    result_list = document.get("resultList")
    results = result_list.get("result") if isinstance(result_list, dict) else None
    if not isinstance(results, list):
        raise ParseError("the Europe PMC answer has no resultList; is the URL a rest/search query with format=json?")
    items = []
    for result in results[:MAX_RESULTS]:
        item = _item(result) if isinstance(result, dict) else None
        if item is None:
            log.warning("Europe PMC result without id or source skipped")
            continue
        items.append(item)
    return items


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    return parse_search(fetched.body)
