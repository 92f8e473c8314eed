"""The link checker: tries the items' own links, a few at a time, and records the ones that answer 404 or 410.

The poller reads feeds, never the pages they link to, so a dead link would go unnoticed; this is where a 404/410 is
seen. ``store.record_link_check`` marks it (``item.link_gone``), and feeds, emails and the list then link to the
item's page here instead (``syndication.item_link``).

Polite and careful with hostile links: a HEAD request (a GET, closed unread, if the server refuses HEAD, and to
confirm a 404/410 before believing it), our User-Agent, short timeouts, redirects followed by hand (web addresses
only), at least ``min_gap`` seconds between two requests to one host, and never a private or local address unless
it is the host of the item's own source (an intranet feed linking to its own pages), so a feed cannot make us probe
the network we run in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import requests

from .. import store
from ..db import Database
from .fetch import is_private_host

log = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)
HEAD_REFUSED = (403, 405, 501)


@dataclass
class LinkChecker:
    user_agent: str
    timeout: tuple[float, float] = (5.0, 10.0)
    max_redirects: int = 5
    min_gap: float = 2.0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _last: dict[str, float] = field(default_factory=dict)
    _session: requests.Session | None = None

    def _request(self, method: str, url: str) -> int:
        host = urlsplit(url).hostname or ""
        wait = self._last.get(host, float("-inf")) + self.min_gap - self.monotonic()
        if wait > 0:
            self.sleep(wait)
        if self._session is None:
            self._session = requests.Session()
            self._session.headers["User-Agent"] = self.user_agent
        try:
            response = self._session.request(method, url, timeout=self.timeout, allow_redirects=False, stream=True)
            response.close()  # the body is never read
        finally:
            self._last[host] = self.monotonic()
        if response.status_code in REDIRECTS and response.headers.get("Location"):
            raise _Redirect(urljoin(url, response.headers["Location"]))
        return response.status_code

    def _follow(self, method: str, url: str, allowed: frozenset[str]) -> int | None:
        current = url
        for _hop in range(self.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                log.info("link check: %s is not a web address", current)
                return None
            if parts.hostname not in allowed and is_private_host(parts.hostname):
                log.warning("link check: refused %s (a private or local address)", current)
                return None
            try:
                return self._request(method, current)
            except _Redirect as hop:
                current = hop.target
            except requests.RequestException as exc:
                log.info("link check: %s did not answer (%s)", current, exc.__class__.__name__)
                return None
        log.info("link check: more than %d redirects from %s", self.max_redirects, url)
        return None

    def status_of(self, url: str, source_url: str = "") -> int | None:
        """The final HTTP status of ``url`` (redirects followed), or None when there was no usable answer."""
        allowed = frozenset({urlsplit(source_url).hostname or ""} - {""})
        status = self._follow("HEAD", url, allowed)
        if status in HEAD_REFUSED or status in (404, 410):  # some servers answer HEAD wrongly: ask with GET
            status = self._follow("GET", url, allowed)
        return status

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class _Redirect(Exception):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


@dataclass(frozen=True)
class LinkReport:
    checked: int = 0
    ok: int = 0
    gone: int = 0
    unknown: int = 0


def check_links(database: Database, checker: LinkChecker, limit: int,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> LinkReport:
    """Try up to ``limit`` links (least recently checked first) and record each answer, one short transaction
    each (a slow server holds no lock)."""
    with database.session_scope() as session:
        batch = store.links_to_check(session, limit)
    counts = {"ok": 0, "gone": 0, "unknown": 0}
    for link in batch:
        status = checker.status_of(link.link, link.source_url)
        with database.session_scope() as session:
            outcome = store.record_link_check(session, link.item_id, status, clock())
        counts[outcome] += 1
        if outcome == "gone":
            log.info("link check: item %d's link answered %s: %s", link.item_id, status, link.link)
    return LinkReport(checked=len(batch), **counts)
