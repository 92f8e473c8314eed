"""The only module that talks HTTP to sources.

Polite and defensive by design:
- one ``requests.Session`` with an honest User-Agent, connect and read timeouts, *and* a total deadline per fetch
  (a server that drips one byte every few seconds never trips a read timeout);
- conditional GET from the stored ETag / Last-Modified, and gzip;
- redirects are followed by hand, so that we know whether every hop was permanent (the stored URL then moves),
  and so that a redirect to a private, loopback or link-local address is refused unless the source itself lives
  on such an address;
- the size cap counts bytes *after* decompression (we decompress ourselves, with a bounded output per step), so a
  gzip bomb stops at the cap instead of filling memory;
- every failure class has its own exception with a plain-language message (``errors.FetchError`` subclasses).

It returns bytes and headers; it never parses or stores.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import re
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import NameResolutionError

from ..domain import Conditional, Fetched
from ..errors import (
    BodyTooLarge,
    ConnectionFailed,
    DNSFailure,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    RedirectRefused,
    TLSFailure,
    TooManyRedirects,
)

log = logging.getLogger(__name__)

_READ_STEP = 64 * 1024
_PERMANENT = {301, 308}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)
# Bounds on what a server may ask of us through Retry-After / Cache-Control (seconds).
MIN_SERVER_DELAY = 60
MAX_SERVER_DELAY = 7 * 24 * 3600

_STATUS_MESSAGES = {
    400: "the server rejected the request (400 Bad Request): check the source URL and its parameters",
    401: "the server wants a login (401 Unauthorized): this source is not public",
    403: "the server refused access (403 Forbidden): it may block automated readers",
    404: "the address no longer exists (404 Not Found): find the source's new feed URL",
    410: "the source is gone for good (410 Gone): it has been disabled; remove it or give it a new URL",
    429: "the server says we ask too often (429 Too Many Requests): we wait as long as it asks",
    500: "the server failed (500 Internal Server Error): usually temporary",
    502: "a gateway in front of the server failed (502 Bad Gateway): usually temporary",
    503: "the server is unavailable (503 Service Unavailable): usually temporary",
    504: "a gateway timed out (504 Gateway Timeout): usually temporary",
}


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5


def status_message(status: int) -> str:
    if status in _STATUS_MESSAGES:
        return _STATUS_MESSAGES[status]
    family = "the server refused the request" if status < 500 else "the server failed"
    return f"{family} (HTTP {status})"


def is_private_host(host: str) -> bool:
    """True when ``host`` is, or resolves to, a private, loopback, link-local or otherwise non-public address."""
    host = host.strip("[]")
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False  # unresolvable: the request itself will fail with a DNS error
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    return any(
        a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast or a.is_unspecified
        for a in addresses
    )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` that a Retry-After header asks for (a number or an HTTP date), clamped to sane bounds."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isascii: "²".isdigit() is True too
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, MIN_SERVER_DELAY), MAX_SERVER_DELAY)


def parse_max_age(headers: requests.structures.CaseInsensitiveDict[str], now: datetime) -> float | None:
    """Freshness the server grants (Cache-Control max-age, else Expires), clamped; None when it says nothing."""
    cache_control = headers.get("Cache-Control", "")
    if "no-cache" in cache_control.lower() or "no-store" in cache_control.lower():
        return None
    match = _MAX_AGE.search(cache_control)
    seconds: float | None = None
    if match:
        seconds = float(match.group(1))
    elif headers.get("Expires"):
        try:
            expires = email.utils.parsedate_to_datetime(headers["Expires"])
        except (TypeError, ValueError):
            return None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        seconds = (expires - now).total_seconds()
    if seconds is None or seconds <= 0:
        return None
    return min(seconds, MAX_SERVER_DELAY)


class _Decoder:
    """Content-Encoding decoder with bounded output per step, so a small compressed body cannot explode in memory."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in {"gzip", "x-gzip"}:
            self._zlib: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding in {"", "identity"}:
            self._zlib = None
        else:
            raise FetchError(f"the server used a compression we did not ask for ({encoding})")

    def decode(self, data: bytes, limit: int) -> bytes:
        """Decompress ``data``; raise BodyTooLarge as soon as more than ``limit`` bytes would come out."""
        if self._zlib is None:
            if len(data) > limit:
                raise BodyTooLarge("")
            return data
        out = bytearray()
        pending = data
        try:
            while pending or self._zlib.unconsumed_tail:
                chunk = self._zlib.decompress(pending or self._zlib.unconsumed_tail, limit - len(out) + 1)
                pending = b""
                out += chunk
                if len(out) > limit:
                    raise BodyTooLarge("")
                if not self._zlib.unconsumed_tail:
                    break
        except zlib.error as exc:
            raise FetchError("the compressed body is corrupt") from exc
        return bytes(out)


class Fetcher:
    """Fetches one URL at a time; share one per thread (``requests.Session`` is not guaranteed thread-safe)."""

    def __init__(
        self,
        user_agent: str,
        limits: FetchLimits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or FetchLimits()
        self._clock = clock
        self._monotonic = monotonic
        self.session = requests.Session()
        self.session.headers.update(
            {
                "User-Agent": user_agent,
                "Accept": "application/atom+xml, application/rss+xml, application/rdf+xml, application/xml;q=0.9, "
                "text/xml;q=0.9, application/json;q=0.8, text/html;q=0.7, */*;q=0.5",
                "Accept-Encoding": "gzip, deflate",
            }
        )
        self.session.max_redirects = self.limits.max_redirects

    def close(self) -> None:
        self.session.close()

    def fetch(self, url: str, conditional: Conditional | None = None) -> Fetched:
        conditional = conditional or Conditional()
        headers: dict[str, str] = {}
        if conditional.etag:
            headers["If-None-Match"] = conditional.etag
        if conditional.last_modified:
            headers["If-Modified-Since"] = conditional.last_modified
        deadline = self._monotonic() + self.limits.total_timeout
        allow_private = is_private_host(urlsplit(url).hostname or "")
        current = url
        all_permanent = True
        for _hop in range(self.limits.max_redirects + 1):
            response = self._request(current, headers, deadline)
            if response.status_code in _REDIRECTS and response.headers.get("Location"):
                target = urljoin(current, response.headers["Location"])
                response.close()
                all_permanent = all_permanent and response.status_code in _PERMANENT
                self._check_redirect(url, target, allow_private)
                log.debug("redirect %s %s -> %s", response.status_code, current, target)
                current = target
                continue
            return self._finish(url, current, response, deadline, all_permanent)
        raise TooManyRedirects(
            f"more than {self.limits.max_redirects} redirects (a redirect loop?) starting at {url}"
        )

    def _check_redirect(self, original: str, target: str, allow_private: bool) -> None:
        parts = urlsplit(target)
        if parts.scheme not in {"http", "https"}:
            raise RedirectRefused(f"refused a redirect to a non-web address ({parts.scheme}:)")
        if not allow_private and is_private_host(parts.hostname or ""):
            origin = urlsplit(original).hostname
            raise RedirectRefused(
                f"refused a redirect from {origin} to a private or local address ({parts.hostname})"
            )

    def _request(self, url: str, headers: dict[str, str], deadline: float) -> requests.Response:
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            raise FetchTimeout(f"gave up after {self.limits.total_timeout:g} s (total time limit)")
        timeout = (min(self.limits.connect_timeout, remaining), min(self.limits.read_timeout, remaining))
        try:
            return self.session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            raise TLSFailure("the secure connection failed (TLS certificate or protocol error)") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise FetchTimeout(f"the server did not accept a connection within {timeout[0]:g} s") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise FetchTimeout(f"the server did not answer within {timeout[1]:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            if _caused_by(exc, NameResolutionError) or "Name or service not known" in str(exc):
                raise DNSFailure(f"the name {urlsplit(url).hostname} could not be resolved (DNS)") from None
            raise ConnectionFailed("could not connect to the server (refused or reset)") from None
        except requests.exceptions.InvalidURL as exc:
            raise FetchError(f"invalid URL {url!r}") from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError("the request failed") from exc

    def _finish(
        self, url: str, final_url: str, response: requests.Response, deadline: float, all_permanent: bool
    ) -> Fetched:
        now = self._clock()
        moved = final_url if final_url != url and all_permanent else None
        try:
            if response.status_code == 304:
                return Fetched(
                    url=url,
                    final_url=final_url,
                    status=304,
                    not_modified=True,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                    permanent_redirect=moved,
                    max_age=parse_max_age(response.headers, now),
                )
            if response.status_code >= 400 or response.status_code < 200:
                raise HTTPStatusError(
                    status_message(response.status_code),
                    status=response.status_code,
                    retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
                )
            body = self._read_body(response, deadline)
        finally:
            response.close()
        return Fetched(
            url=url,
            final_url=final_url,
            status=response.status_code,
            body=body,
            content_type=response.headers.get("Content-Type", ""),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            permanent_redirect=moved,
            max_age=parse_max_age(response.headers, now),
            headers=tuple((k.lower(), v) for k, v in response.headers.items()),
        )

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        declared = response.headers.get("Content-Length", "")
        encoding = response.headers.get("Content-Encoding", "")
        if declared.isascii() and declared.isdigit() and not encoding and int(declared) > limit:
            raise BodyTooLarge(f"the body is {int(declared):,} bytes, over the {limit:,}-byte limit")
        decoder = _Decoder(encoding)
        body = bytearray()
        raw = response.raw
        try:
            while True:
                if self._monotonic() > deadline:
                    raise FetchTimeout(
                        f"gave up after {self.limits.total_timeout:g} s: the server sends too slowly (total time limit)"
                    )
                # read1 returns as soon as some bytes arrive, so the deadline is checked between trickles.
                chunk = raw.read1(_READ_STEP, decode_content=False)
                if not chunk:
                    break
                body += decoder.decode(chunk, limit - len(body))
        except BodyTooLarge:
            raise BodyTooLarge(
                f"the body is over the {limit:,}-byte limit (counted after decompression)"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ConnectionFailed("the connection broke while reading the body") from exc
        except OSError as exc:
            if isinstance(exc, TimeoutError | socket.timeout):
                raise FetchTimeout(f"the server stopped sending for {self.limits.read_timeout:g} s") from None
            raise ConnectionFailed("the connection broke while reading the body") from None
        except Exception as exc:  # urllib3 protocol errors (truncated chunked bodies and the like)
            if isinstance(exc, FetchError):
                raise
            if "timed out" in str(exc).lower():
                raise FetchTimeout(f"the server stopped sending for {self.limits.read_timeout:g} s") from None
            raise ConnectionFailed(f"the connection broke while reading the body ({type(exc).__name__})") from None
        return bytes(body)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        stack.extend([current.__cause__, current.__context__])
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return False
