"""PubMed E-utilities answers → one ``ParsedItem`` per article (PMID as guid, DOI when PubMed knows it). Pure.

Three shapes are read, sniffed from the bytes rather than trusted from a URL or Content-Type:
- ESummary JSON (``{"result": {"uids": [...], "<pmid>": {...}}}``, version 0.3, lower-case keys);
- EFetch XML (``<PubmedArticleSet>``), whose titles carry inline HTML (``the<i>TERT</i>gene``);
- the legacy ESummary XML (``<eSummaryResult><DocSum><Item Name=...>``).
The retriever combines several answers into one JSON document ``{"esearch": {...}, "documents": [{"format":
"esummary-json" | "efetch-xml" | "esummary-xml", "text": "..."}]}``; each document is parsed alone.
XML is parsed with entities, DTDs and network access disabled (a DOCTYPE naming NCBI's DTD is normal).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from lxml import etree

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError
from . import json_text

log = logging.getLogger(__name__)

ARTICLE_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
# Publication types that mean "not peer reviewed yet" (PubMed indexes medRxiv/bioRxiv preprints as "Preprint").
PREPRINT_TYPES = {"preprint"}
MAX_AUTHORS = 6


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           recover=False)


def parse_pubmed_date(value: str | None) -> datetime | None:
    """``2026/11/03 00:00``, ``2026 Nov 3``, ``2026 Nov``, ``1990 Spring``, ``2026`` → aware UTC; else None."""
    if not value:
        return None
    text = value.strip()
    match = re.match(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})", text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        words = text.replace("-", " ").split()
        if not words or not words[0].isdigit() or len(words[0]) != 4:
            return None
        year, month, day = int(words[0]), 1, 1
        if len(words) > 1:
            key = words[1][:3].lower()
            month = _MONTHS.get(key) or _SEASONS.get(words[1].lower()) or (
                int(words[1]) if words[1].isdigit() else 1)
        if len(words) > 2 and words[2].isdigit():
            day = int(words[2])
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _author_line(names: list[str]) -> str | None:
    names = [n for n in names if n]
    if not names:
        return None
    if len(names) > MAX_AUTHORS:
        return ", ".join(names[:MAX_AUTHORS]) + " et al."
    return ", ".join(names)


def _item(pmid: str, title: str, journal: str, authors: list[str], pubtypes: list[str], doi: str | None,
          published: datetime | None, abstract: str = "", pmcid: str | None = None) -> ParsedItem:
    evidence = "preprint" if any(t.lower() in PREPRINT_TYPES for t in pubtypes) else None
    facts = [f"<em>{escape(journal)}</em>" if journal else "", escape(", ".join(pubtypes))]
    summary = "<p>" + " · ".join(f for f in facts if f) + "</p>"
    if abstract:
        summary += f"<p>{escape(abstract)}</p>"
    extra = {"journal": journal or None, "publication_types": pubtypes, "authors": authors[:50], "pmcid": pmcid}
    return ParsedItem(
        title=title or f"PubMed article {pmid}",
        link=ARTICLE_URL.format(pmid=pmid),
        guid=f"pmid:{pmid}",
        summary=summary,
        author=_author_line(authors),
        categories=tuple(pubtypes),
        published_at=published,
        evidence_type=evidence,
        doi=doi.strip().lower() if doi else None,
        pmid=pmid,
        extra=tuple(sorted(extra.items())),
    )


# ------------------------------------------------------------------------------------------ ESummary JSON


def parse_esummary_json(document: Any) -> list[ParsedItem]:
    result = document.get("result") if isinstance(document, dict) else None
    if not isinstance(result, dict):
        error = document.get("error") if isinstance(document, dict) else None
        raise ParseError(f"PubMed ESummary answered without a `result`{f' ({error})' if error else ''}")
    raw_uids = result.get("uids")
    uids: list[Any] = raw_uids if isinstance(raw_uids, list) else [k for k in result if k.isdigit()]
    items = []
    for uid in uids:
        record = result.get(str(uid))
        if not isinstance(record, dict) or record.get("error"):
            log.warning("PubMed record %s: %s; skipped", uid, (record or {}).get("error", "missing"))
            continue
        ids = {str(a.get("idtype")): str(a.get("value")) for a in record.get("articleids") or []
               if isinstance(a, dict)}
        authors = [str(a.get("name")) for a in record.get("authors") or [] if isinstance(a, dict) and a.get("name")]
        pubtypes = [str(t) for t in record.get("pubtype") or [] if t]
        published = (parse_pubmed_date(record.get("sortpubdate")) or parse_pubmed_date(record.get("epubdate"))
                     or parse_pubmed_date(record.get("pubdate")))
        doi = ids.get("doi")
        if not doi:
            match = re.search(r"doi:\s*(10\.\S+)", str(record.get("elocationid") or ""))
            doi = match.group(1) if match else None
        items.append(_item(str(uid), str(record.get("title") or ""), str(record.get("fulljournalname")
                           or record.get("source") or ""), authors, pubtypes, doi, published,
                           pmcid=ids.get("pmc")))
    return items


# ------------------------------------------------------------------------------------------ XML


def _text(element: etree._Element | None) -> str:
    """Text of an element with inline markup, words kept apart: ``the<i>TERT</i>gene`` → ``the TERT gene``."""
    if element is None:
        return ""
    parts: list[str] = []
    for node in element.iter():
        if node is not element:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        if node is not element and node.tail:
            parts.append(" ")
            parts.append(node.tail)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _date_of(element: etree._Element | None) -> datetime | None:
    if element is None:
        return None
    year = element.findtext("Year")
    if not year:
        return parse_pubmed_date(element.findtext("MedlineDate"))
    month = element.findtext("Month") or element.findtext("Season") or ""
    return parse_pubmed_date(f"{year} {month} {element.findtext('Day') or ''}".strip())


def parse_efetch_xml(root: etree._Element) -> list[ParsedItem]:
    items = []
    for article in root.iter("PubmedArticle"):
        pmid = (article.findtext("MedlineCitation/PMID") or "").strip()
        if not pmid:
            continue
        art = article.find("MedlineCitation/Article")
        ids = {a.get("IdType"): (a.text or "").strip() for a in article.iterfind("PubmedData/ArticleIdList/ArticleId")}
        authors = []
        for author in art.iterfind("AuthorList/Author") if art is not None else []:
            name = " ".join(p for p in (author.findtext("LastName"), author.findtext("Initials")) if p)
            authors.append(name or author.findtext("CollectiveName") or "")
        pubtypes = [(t.text or "").strip() for t in art.iterfind("PublicationTypeList/PublicationType")] \
            if art is not None else []
        abstract = " ".join(_text(a) for a in art.iterfind("Abstract/AbstractText")) if art is not None else ""
        entrez = next((d for d in article.iterfind("PubmedData/History/PubMedPubDate")
                       if d.get("PubStatus") == "entrez"), None)
        published = (_date_of(art.find("ArticleDate")) if art is not None else None) or _date_of(
            art.find("Journal/JournalIssue/PubDate") if art is not None else None) or _date_of(entrez)
        items.append(_item(pmid, _text(art.find("ArticleTitle") if art is not None else None),
                           (art.findtext("Journal/Title") if art is not None else "") or "", authors, pubtypes,
                           ids.get("doi"), published, abstract=abstract, pmcid=ids.get("pmc")))
    return items


def parse_docsum_xml(root: etree._Element) -> list[ParsedItem]:
    items = []
    for doc in root.iter("DocSum"):
        pmid = (doc.findtext("Id") or "").strip()
        fields: dict[str, Any] = {}
        for entry in doc.findall("Item"):
            name = entry.get("Name") or ""
            if entry.get("Type") == "List":
                fields[name] = [(child.get("Name"), (child.text or "").strip()) for child in entry.findall("Item")]
            else:
                fields[name] = (entry.text or "").strip()
        ids = dict(fields.get("ArticleIds") or [])
        authors = [value for _, value in fields.get("AuthorList") or []]
        pubtypes = [value for _, value in fields.get("PubTypeList") or []]
        published = parse_pubmed_date(fields.get("EPubDate")) or parse_pubmed_date(fields.get("PubDate"))
        items.append(_item(pmid, fields.get("Title", ""), fields.get("FullJournalName") or fields.get("Source", ""),
                           authors, pubtypes, ids.get("doi"), published, pmcid=ids.get("pmc")))
    return items


def parse_xml(data: bytes) -> list[ParsedItem]:
    try:
        root = etree.fromstring(data.lstrip(), _parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError("the PubMed answer is not well-formed XML") from exc
    if root.tag == "PubmedArticleSet":
        return parse_efetch_xml(root)
    if root.tag == "eSummaryResult":
        error = root.findtext("ERROR")
        if error:
            raise ParseError(f"PubMed ESummary reported an error: {error}")
        return parse_docsum_xml(root)
    # NCBI has served HTML (even well-formed HTML) where XML was expected: check the root, not just the syntax.
    raise ParseError(f"the PubMed answer is a <{root.tag}> document, not PubMed XML; check the source URL")


# ------------------------------------------------------------------------------------------ dispatch


def parse_document(data: bytes) -> list[ParsedItem]:
    """One E-utilities answer or a combined document from the retriever, sniffed from its first byte."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return parse_xml(stripped)
    try:
        document = json_text.loads(stripped)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError("the PubMed answer is neither JSON nor XML") from exc
    if isinstance(document, dict) and isinstance(document.get("documents"), list):
        items: list[ParsedItem] = []
        for part in document["documents"]:
            if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                continue
            items.extend(parse_document(part["text"].encode("utf-8")))
        return items
    if isinstance(document, dict) and "esearchresult" in document:
        return []  # a bare search answer names ids only; the retriever fetches their summaries
    return parse_esummary_json(document)


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    return parse_document(fetched.body)
