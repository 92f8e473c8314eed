"""Retrievers for source kinds that need several requests per poll, registered in ``pipeline.RETRIEVERS``.

Each returns one ``Fetched`` whose body is a JSON document combining the answers, so parsing stays pure:
- ``clinicaltrials``: the API v2 ``/studies`` query of the source URL, then its next pages by ``pageToken``
  (at most ``options.max_pages``, default 5; a token seen twice stops the loop), combined as
  ``{"studies": [...], "totalCount": n, "pages": k, "truncated": bool}``. At most 1 request/s (no published limit).
- ``sitemap``: the sitemap, then at most ``options.max_new_pages`` new article pages (``retrieve_sitemap.py``).
- ``pubmed``: ESearch (the source URL, forced to ``retmode=json``), then ESummary JSON (``options.details:
  esummary``, the default) or EFetch XML (``efetch``, for abstracts) in batches of at most 200 ids, combined as
  ``{"esearch": {...}, "documents": [{"format", "text"}]}``. Every request carries ``tool`` and ``email`` and,
  when ``NCBI_API_KEY`` is set, ``api_key``; NCBI's published limits are respected (3 requests/s without a key,
  10 with one). NCBI's throttle answer (HTTP 429 with ``{"error": "API rate limit exceeded"}``, sometimes with
  HTTP 200) is retried once after a second, then reported as a 429 so the source backs off.
All HTTP goes through ``fetch.Fetcher`` (timeouts, size cap, redirects); the clock and sleep are injectable so
tests never wait.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import Settings
from ..domain import Conditional, Fetched, SourceSpec
from ..errors import FetchError, HTTPStatusError
from .fetch import Fetcher
from .parse import json_text

log = logging.getLogger(__name__)

TOOL = "cartms_research_aggregator"
PUBMED_BATCH = 200  # ids per ESummary/EFetch request (JSON allows 500; smaller keeps answers well under the cap)
PUBMED_MAX_IDS = 1000
CTGOV_MAX_PAGES = 5
NCBI_RATE = 3.0
NCBI_RATE_WITH_KEY = 10.0
CTGOV_RATE = 1.0
RATE_LIMIT_PAUSE = 1.0  # seconds before the one retry after NCBI's throttle answer


class APIError(FetchError):
    """An API answered, but with an error document instead of results."""

    kind = "api"


class RateLimiter:
    """At most ``per_second`` calls of ``wait`` per second, spaced evenly; thread-safe."""

    def __init__(self, per_second: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._monotonic()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def with_params(url: str, **params: str | None) -> str:
    """``url`` with ``params`` set (replacing any of the same name); None values are left out."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _json(fetched: Fetched, what: str) -> Any:
    try:
        return json_text.loads(fetched.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(f"{what} did not answer with JSON (got {fetched.content_type or 'no content type'}); "
                       "check the source URL") from exc


def _int_option(spec: SourceSpec, name: str, default: int) -> int:
    raw = spec.option(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise APIError(f"options.{name} of source {spec.id} must be a whole number of at least 1, got {raw!r}; "
                       "fix it in feeds.yaml")
    return raw


def _is_throttle(document: Any) -> bool:
    return isinstance(document, dict) and "rate limit" in str(document.get("error", "")).lower()


class Retrieval:
    """The retrievers of one process, sharing per-host rate limiters."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.monotonic = monotonic
        self.sleep = sleep
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def register(self) -> None:
        from .pipeline import RETRIEVERS

        RETRIEVERS["clinicaltrials"] = self.clinicaltrials
        RETRIEVERS["pubmed"] = self.pubmed
        RETRIEVERS["sitemap"] = self.sitemap

    def limiter(self, url: str, per_second: float) -> RateLimiter:
        host = urlsplit(url).netloc.lower()
        with self._lock:
            limiter = self._limiters.get(host)
            if limiter is None or limiter.interval != 1.0 / per_second:
                limiter = self._limiters[host] = RateLimiter(per_second, self.monotonic, self.sleep)
            return limiter

    # ------------------------------------------------------------------ ClinicalTrials.gov

    def clinicaltrials(self, fetcher: Fetcher, spec: SourceSpec, url: str, conditional: Conditional) -> Fetched:
        max_pages = _int_option(spec, "max_pages", CTGOV_MAX_PAGES)
        limiter = self.limiter(url, CTGOV_RATE)
        limiter.wait()
        first = fetcher.fetch(url, conditional)
        if first.not_modified:
            return first
        document = _json(first, "ClinicalTrials.gov")
        if not isinstance(document, dict) or not isinstance(document.get("studies"), list):
            raise APIError("the ClinicalTrials.gov answer has no `studies` list; is the URL an api/v2/studies query?")
        studies: list[Any] = list(document["studies"])
        token = document.get("nextPageToken")
        seen_tokens: set[str] = set()
        pages = 1
        while isinstance(token, str) and token and pages < max_pages and token not in seen_tokens:
            seen_tokens.add(token)
            limiter.wait()
            page = _json(fetcher.fetch(with_params(url, pageToken=token)), "ClinicalTrials.gov")
            if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
                raise APIError(f"page {pages + 1} of the ClinicalTrials.gov answer has no `studies` list")
            studies.extend(page["studies"])
            token = page.get("nextPageToken")  # later pages carry no totalCount, only the next token
            pages += 1
        truncated = bool(token)
        if truncated:
            log.warning("source %s: stopped after %d pages (options.max_pages); %s studies in all", spec.id, pages,
                        document.get("totalCount", "more"))
        combined = {"studies": studies, "totalCount": document.get("totalCount"), "pages": pages,
                    "truncated": truncated}
        return replace(first, body=json.dumps(combined).encode("utf-8"), content_type="application/json")

    # ------------------------------------------------------------------ sitemaps (aggregator/poll/retrieve_sitemap.py)

    def sitemap(self, fetcher: Fetcher, spec: SourceSpec, url: str, conditional: Conditional) -> Fetched:
        from .retrieve_sitemap import retrieve

        return retrieve(self, fetcher, spec, url, conditional)

    # ------------------------------------------------------------------ PubMed

    def _ncbi_params(self) -> dict[str, str | None]:
        return {"tool": TOOL, "email": self.settings.ncbi_email or None,
                "api_key": self.settings.ncbi_api_key or None}

    def _ncbi_get(self, fetcher: Fetcher, url: str) -> Fetched:
        """One E-utilities request within the rate limit; NCBI's throttle answer is retried once."""
        rate = NCBI_RATE_WITH_KEY if self.settings.ncbi_api_key else NCBI_RATE
        limiter = self.limiter(url, rate)
        for attempt in (1, 2):
            limiter.wait()
            try:
                fetched = fetcher.fetch(url)
            except HTTPStatusError as exc:
                if exc.status != 429:
                    raise
                if attempt == 1:
                    self.sleep(RATE_LIMIT_PAUSE)
                    continue
                raise HTTPStatusError(self._throttle_message(), 429, exc.retry_after) from None
            if fetched.body[:200].lstrip().startswith(b"{") and _is_throttle(_json(fetched, "PubMed")):
                if attempt == 1:
                    self.sleep(RATE_LIMIT_PAUSE)
                    continue
                raise HTTPStatusError(self._throttle_message(), 429)
            return fetched
        raise AssertionError("unreachable")  # pragma: no cover

    def _throttle_message(self) -> str:
        hint = ("Another process may share this API key" if self.settings.ncbi_api_key
                else "Set NCBI_API_KEY to be allowed 10 requests a second")
        return f"NCBI says we ask too often (429 API rate limit exceeded); we back off. {hint}."

    def pubmed(self, fetcher: Fetcher, spec: SourceSpec, url: str, conditional: Conditional) -> Fetched:
        params = self._ncbi_params()
        search = self._ncbi_get(fetcher, with_params(url, retmode="json", **params))
        document = _json(search, "PubMed ESearch")
        result = document.get("esearchresult") if isinstance(document, dict) else None
        if not isinstance(result, dict):
            raise APIError("PubMed ESearch answered without `esearchresult`; is the URL an esearch.fcgi query?")
        if result.get("ERROR"):
            raise APIError(f"PubMed ESearch reported an error: {str(result['ERROR'])[:300]}")
        errors = result.get("errorlist") or {}
        if isinstance(errors, dict) and any(errors.values()):
            # PubMed drops phrases it does not know and runs the rest; the query may now mean something else.
            log.warning("source %s: PubMed ignored part of the query: %s", spec.id, errors)
        ids = [str(i) for i in result.get("idlist") or [] if str(i).isdigit()]
        ids = list(dict.fromkeys(ids))[: _int_option(spec, "max_ids", PUBMED_MAX_IDS)]
        details = str(spec.option("details", "esummary"))
        if details not in {"esummary", "efetch"}:
            raise APIError(f"options.details must be esummary or efetch, got {details!r}")
        parts = urlsplit(url)
        base_path = parts.path.rsplit("/", 1)[0]
        db = dict(parse_qsl(parts.query)).get("db", "pubmed")
        documents = []
        for start in range(0, len(ids), PUBMED_BATCH):
            batch = ",".join(ids[start:start + PUBMED_BATCH])
            if details == "esummary":
                target = urlunsplit((parts.scheme, parts.netloc, f"{base_path}/esummary.fcgi", "", ""))
                target = with_params(target, db=db, retmode="json", id=batch, **params)
                fmt = "esummary-json"
            else:
                target = urlunsplit((parts.scheme, parts.netloc, f"{base_path}/efetch.fcgi", "", ""))
                target = with_params(target, db=db, retmode="xml", rettype="abstract", id=batch, **params)
                fmt = "efetch-xml"
            answer = self._ncbi_get(fetcher, target)
            documents.append({"format": fmt, "text": answer.body.decode("utf-8", "replace")})
        combined = {
            "esearch": {key: result.get(key) for key in ("count", "querytranslation", "errorlist", "warninglist")},
            "ids": ids,
            "documents": documents,
        }
        # No validators: the search answer changes daily and NCBI sends none; identity is the PMID.
        # final_url and redirects are dropped: they would carry our api_key to the log, the database and /sources.
        return replace(search, url=url, final_url=url, body=json.dumps(combined).encode("utf-8"),
                       content_type="application/json", etag=None, last_modified=None, permanent_redirect=None)


def register(settings: Settings, monotonic: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> Retrieval:
    retrieval = Retrieval(settings, monotonic, sleep)
    retrieval.register()
    return retrieval
