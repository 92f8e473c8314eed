"""Serves a corpus over HTTP on loopback, like a real feed host: gzip, ETag, Last-Modified, 304 on revalidation.

Feeds are spread over several loopback addresses (127.0.0.1 … 127.0.0.N, all answered by the kernel on
Linux) because the aggregator fetches at most one feed at a time per host: with one address every runner would
be forced to one connection, which says nothing about real polling of many publishers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .corpus import FeedDoc


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0
        self.conditional = 0

    def count(self, conditional: bool, not_modified: bool) -> None:
        with self.lock:
            self.requests += 1
            self.conditional += conditional
            self.not_modified += not_modified

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "conditional": self.conditional, "not_modified": self.not_modified}

    def reset(self) -> None:
        with self.lock:
            self.requests = self.not_modified = self.conditional = 0


def _handler(docs: dict[str, FeedDoc], counters: _Counters) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            doc = docs.get(self.path)
            if doc is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            fresh = (inm == doc.etag) if inm else (ims == doc.last_modified if ims else False)
            counters.count(bool(inm or ims), fresh)
            if fresh:
                self.send_response(304)
                self.send_header("ETag", doc.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            gzip_ok = "gzip" in (self.headers.get("Accept-Encoding") or "")
            body = doc.gzipped if gzip_ok else doc.body
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", doc.etag)
            self.send_header("Last-Modified", doc.last_modified)
            if gzip_ok:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

    return Handler


class CorpusServer:
    """``urls`` lists every feed's address; ``counters`` tells how many requests were conditional and got 304."""

    def __init__(self, docs: Sequence[FeedDoc], hosts: int = 8) -> None:
        self.counters = _Counters()
        self._by_path = {doc.path: doc for doc in docs}
        handler = _handler(self._by_path, self.counters)
        self._servers = []
        for n in range(1, hosts + 1):
            server = ThreadingHTTPServer((f"127.0.0.{n}", 0), handler)
            server.daemon_threads = True
            self._servers.append(server)
        self.urls = [self._url(i, doc) for i, doc in enumerate(docs)]
        self._threads: list[threading.Thread] = []

    def _url(self, i: int, doc: FeedDoc) -> str:
        host, port = self._servers[i % len(self._servers)].server_address[:2]
        return f"http://{host}:{port}{doc.path}"

    def start(self) -> CorpusServer:
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, name="bench-feeds", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
