"""Section "search": the digest page's full-text search from a large database under gunicorn, against /healthz.

The same database and server as the serving section (``serving.bulk_insert``: the FTS5 triggers or the generated
tsvector index every row as it goes in). Each request asks a query no earlier request asked: the page caches its
item list and count per query until the store changes, so a repeated URL would measure the cache. The query is
made unique by excluding a word no item holds (``-zq17``), which costs the engine one failed lookup; the
"repeated" row shows what a cached answer costs for comparison.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from .serving import EndpointResult, Gunicorn, ServingRun, bulk_insert, get, measure, migrate, write_feeds_file

# (name, query, extra parameters): what the bench corpus holds (bench/corpus.py): "KYV-101" in part of the 8%
# on-topic items, "lymphodepletion" in a sentence of them, "multiple sclerosis" in most on-topic titles, "cells"
# in the filler words of two items in three; no NCT id at all (the identifier case finds nothing).
CASES = (
    ("identifier KYV-101, ranked", "KYV-101", ""),
    ("identifier KYV101 (no hyphen), ranked", "KYV101", ""),
    ("phrase, ranked", '"cytokine release syndrome"', ""),
    ("prefix lymphodep*, ranked", "lymphodep*", ""),
    ("prefix kyv*, ranked", "kyv*", ""),
    ("common word cells, ranked", "cells", ""),
    ("OR, ranked", "lupus OR myeloma", ""),
    ("exclusion cells -lupus, ranked", "cells -lupus", ""),
    ("NCT id (no match), ranked", "NCT06451159", ""),
    ("two words, newest first", "multiple sclerosis", "&order=newest"),
    ("common word, newest first", "cells", "&order=newest"),
    ("identifier, topic + source filter", "KYV-101", "&source=src-3"),  # topic=all, see search_path
)
TARGET = 3.0  # p50 ≤ 3× /healthz (issue #17)


def search_path(query: str, extra: str, n: int) -> str:
    return f"/?topic=all&q={quote(f'{query} -zq{n}')}{extra}"


def run_search(database_url: str, items: int, backend: str, clients: int = 4, workers: int = 2,
               max_requests: int = 300, max_seconds: float = 8.0,
               log: Callable[[str], None] = print) -> ServingRun:
    run = ServingRun(backend=backend, items=items, clients=clients, workers=workers)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        feeds_file = write_feeds_file(Path(tmp) / "feeds.yaml")
        migrate(database_url, feeds_file)
        log(f"  search {backend} {items:,} items: bulk insert …")
        run.insert_seconds = bulk_insert(database_url, items)
        server = Gunicorn(database_url, feeds_file, workers)
        try:
            server.wait_ready()
            run.endpoints.append(measure(server.port, "/healthz", "/healthz", clients, max_requests, max_seconds))
            for name, query, extra in CASES:
                log(f"  search {backend}: {name} …")
                status, _, body = get(server.port, search_path(query, extra, 0))
                if status != 200 or b'class="item"' not in body:  # a tiny (smoke) corpus may hold no match
                    log(f"  search {backend}: {name} answered {status} with no result")
                run.endpoints.append(measure(server.port, name, search_path(query, extra, 1), clients,
                                             max_requests, max_seconds,
                                             path_for=lambda n, q=query, e=extra: search_path(q, e, n + 2)))
            name, query, extra = CASES[0]
            run.endpoints.append(measure(server.port, "repeated (cached) " + name, search_path(query, extra, 1),
                                         clients, max_requests, max_seconds))
        finally:
            server.stop()
    return run


def targets(run: ServingRun) -> dict[str, float]:
    return {e.name: TARGET for e in run.endpoints if e.name != "/healthz" and not e.name.startswith("repeated")}


__all__ = ["CASES", "EndpointResult", "run_search", "search_path", "targets"]
