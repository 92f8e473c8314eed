"""A fault-injecting HTTP server on loopback for the hostile-source tests.

Each path is given a *behaviour*: a function that receives the request handler and writes whatever it likes to the
socket, including nothing at all. The built-in behaviours cover what strangers' servers do to feed readers:
never answering, dripping one byte at a time, endless or huge bodies, gzip bombs, truncated bodies, redirect loops,
error statuses with ``Retry-After``. The server records every request and counts how many are in flight at once
(``max_active``), so a test can prove that one host is never hit with many requests at once.

Blocking behaviours wait on ``stopping`` so that ``stop()`` releases them at once: no test waits for a sleeping
server thread. Bind to another loopback address (``host="127.0.0.2"``) to get a second "host".
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

Behaviour = Callable[[BaseHTTPRequestHandler, "FaultServer"], None]


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]


class FaultServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, Behaviour] = {}
        self.hits: list[Hit] = []
        self.stopping = threading.Event()
        self.active = 0
        self.max_active = 0
        self.active_by_path: dict[str, int] = {}
        self.max_active_by_path: dict[str, int] = {}
        self.active_changed = threading.Condition()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with server.active_changed:
                    server.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}))
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                    now = server.active_by_path[self.path] = server.active_by_path.get(self.path, 0) + 1
                    server.max_active_by_path[self.path] = max(server.max_active_by_path.get(self.path, 0), now)
                    server.active_changed.notify_all()
                try:
                    behaviour = server.routes.get(self.path) or server.routes.get(self.path.split("?", 1)[0])
                    if behaviour is None:
                        send(self, 404, b"not found", "text/plain")
                    else:
                        behaviour(self, server)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on us: exactly what the hostile behaviours are for
                finally:
                    with server.active_changed:
                        server.active -= 1
                        server.active_by_path[self.path] -= 1
                        server.active_changed.notify_all()

        self.httpd = ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name=f"fault-{host}")

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, behaviour: Behaviour) -> str:
        self.routes[path] = behaviour
        return self.url(path)

    def hits_to(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    def wait_for_active(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` requests are in flight at once (False on timeout)."""
        with self.active_changed:
            return self.active_changed.wait_for(lambda: self.active >= count, timeout)


# ---------------------------------------------------------------------------------------------------- behaviours


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None,
         headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def ok(body: bytes | str, content_type: str = "application/rss+xml; charset=utf-8", status: int = 200,
       headers: dict[str, str] | None = None, delay: float = 0.0) -> Behaviour:
    """An ordinary answer, optionally after ``delay`` seconds (for concurrency tests)."""
    data = body.encode("utf-8") if isinstance(body, str) else body

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        if delay:
            server.stopping.wait(delay)
        send(handler, status, data, content_type, headers)

    return behave


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"error") -> Behaviour:
    return ok(body, "text/plain", status=code, headers=headers)


def never_answer() -> Behaviour:
    """Accept the connection, read the request, and say nothing until the server stops."""

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        server.stopping.wait(60)

    return behave


def drip(body: bytes | str, every: float = 0.05) -> Behaviour:
    """Headers at once, then the body one byte every ``every`` seconds: each read succeeds, the whole never ends."""
    data = body.encode("utf-8") if isinstance(body, str) else body

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.flush()
        for index in range(len(data)):
            if server.stopping.wait(every):
                return
            handler.wfile.write(data[index:index + 1])
            handler.wfile.flush()

    return behave


def endless(chunk: bytes = b"<item><title>again</title></item>" * 100, declare_length: bool = False) -> Behaviour:
    """A body that never ends (no Content-Length, connection-close framing), sent as fast as the client reads."""

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        if declare_length:
            handler.send_header("Content-Length", str(10**12))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>")
        while not server.stopping.is_set():
            handler.wfile.write(chunk)

    return behave


def gzip_bomb(decompressed_size: int) -> Behaviour:
    """A small gzip body that inflates to ``decompressed_size`` bytes of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1024 * 1024)
    parts = []
    remaining = decompressed_size
    while remaining > 0:
        parts.append(compressor.compress(block[: min(len(block), remaining)]))
        remaining -= len(block)
    parts.append(compressor.flush())
    payload = b"".join(parts)

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        send(handler, 200, payload, "application/rss+xml", {"Content-Encoding": "gzip"})

    return behave


def gzipped(body: bytes | str, content_type: str = "application/rss+xml") -> Behaviour:
    data = body.encode("utf-8") if isinstance(body, str) else body
    payload = gzip.compress(data)

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        send(handler, 200, payload, content_type, {"Content-Encoding": "gzip"})

    return behave


def truncated(body: bytes | str, keep: int) -> Behaviour:
    """Declare the full length, send only ``keep`` bytes, then hang up."""
    data = body.encode("utf-8") if isinstance(body, str) else body

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(data[:keep])
        handler.wfile.flush()
        handler.close_connection = True

    return behave


def redirect(location: str, code: int = 302) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        send(handler, code, b"", None, {"Location": location})

    return behave


def raw(data: bytes) -> Behaviour:
    """Write ``data`` to the socket as is (no status line of ours), then hang up: for malformed HTTP."""

    def behave(handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        handler.wfile.write(data)
        handler.wfile.flush()
        handler.close_connection = True

    return behave


# ---------------------------------------------------------------------------------------------------- feeds


@dataclass(frozen=True)
class FeedItem:
    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    content: str = ""
    published: datetime | None = None


def rss(items: Iterable[FeedItem], title: str = "Test feed", escape_fields: bool = True) -> str:
    """An RSS 2.0 document. With ``escape_fields`` the values are XML-escaped (HTML in them arrives as text
    that feedparser unescapes, which is how real feeds carry markup)."""
    esc = escape if escape_fields else (lambda text: text)
    parts = [f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
             f"xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel><title>{esc(title)}</title>"
             "<link>http://example.org/</link><description>tests</description>"]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{esc(item.title)}</title><link>{esc(item.link)}</link>")
        if item.guid:
            parts.append(f"<guid isPermaLink='false'>{esc(item.guid)}</guid>")
        if item.summary:
            parts.append(f"<description>{esc(item.summary)}</description>")
        if item.content:
            parts.append(f"<content:encoded>{esc(item.content)}</content:encoded>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published.astimezone(UTC))}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts)


def simple_feed(name: str, count: int, base: str = "http://example.org") -> str:
    """``count`` plain items with unique guids, named after ``name``."""
    published = datetime(2026, 11, 1, tzinfo=UTC)
    return rss([FeedItem(title=f"{name} item {n}", link=f"{base}/{name}/{n}", guid=f"{name}-{n}",
                         summary=f"Summary {n} of {name}.", published=published) for n in range(count)], title=name)

