"""Section 3: serving pages and feeds from a large database under gunicorn, each endpoint against /healthz.

The items are bulk-inserted with SQLAlchemy Core (polling 100,000 items would take minutes and measure the
poller, not the pages). Clients are threads opening one connection per request (gunicorn's sync workers close
the connection after each answer), bounded by a request count and a time limit per endpoint.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, create_engine, insert, text

from .corpus import EPOCH, ItemSpec, make_item
from .poll import ROOT, topics_config

SOURCES = 20


@dataclass
class EndpointResult:
    name: str
    path: str
    status: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class ServingRun:
    backend: str
    items: int
    clients: int
    workers: int
    endpoints: list[EndpointResult] = field(default_factory=list)
    plans: dict[str, list[str]] = field(default_factory=dict)
    insert_seconds: float = 0.0


def write_feeds_file(path: Path) -> Path:
    import yaml

    sources = [{"id": f"src-{i}", "name": f"Bench Journal {i}", "url": f"http://127.0.0.1:9/{i}.xml",
                "evidence_type": "peer-reviewed"} for i in range(SOURCES)]
    path.write_text(yaml.safe_dump({"sources": sources, **topics_config()}, sort_keys=False), encoding="utf-8")
    return path


def migrate(database_url: str, feeds_file: Path) -> None:
    from flask_migrate import upgrade

    from aggregator import create_app

    app = create_app({"database_url": database_url, "feeds_file": str(feeds_file), "secret_key": "bench",
                      "log_level": "WARNING"})
    with app.app_context():
        upgrade()
    app.extensions["aggregator.db"].dispose()


def _templates(count: int, seed: int = 11) -> list[ItemSpec]:
    rng = random.Random(seed)
    return [make_item(rng, i % SOURCES, i, 0.08) for i in range(count)]


def bulk_insert(database_url: str, items: int, batch: int = 5000) -> float:
    """Insert ``items`` items (8% on topic, with their topic rows) straight into the tables; returns seconds."""
    from aggregator.models import Item, ItemTopic, Source

    started = time.perf_counter()
    templates = _templates(min(items, 4000))
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(insert(Source.__table__), [
            {"id": f"src-{i}", "name": f"Bench Journal {i}", "configured_url": f"http://127.0.0.1:9/{i}.xml",
             "url": f"http://127.0.0.1:9/{i}.xml", "kind": "feed", "enabled": True, "in_catalog": True,
             "evidence_type": "peer-reviewed", "status": "ok", "error_count": 0, "last_polled_at": EPOCH}
            for i in range(SOURCES)])
    item_id = 0
    while item_id < items:
        rows: list[dict[str, Any]] = []
        topics: list[dict[str, Any]] = []
        for _ in range(min(batch, items - item_id)):
            item_id += 1
            t = templates[item_id % len(templates)]
            key = f"urn:bench:{item_id}"
            when = EPOCH - timedelta(minutes=item_id)
            rows.append({
                "id": item_id, "source_id": f"src-{item_id % SOURCES}", "key": key,
                "key_hash": hashlib.sha1(key.encode()).hexdigest(),  # noqa: S324
                "title": t.title, "link": f"{t.link}&n={item_id}", "normalized_link": f"{t.link}&n={item_id}",
                "guid": key, "summary_html": t.summary_html, "summary_text": t.summary_text, "content_text": "",
                "author": t.author, "categories": list(t.categories), "published_at": when,
                "evidence_type": "peer-reviewed", "extra": {}, "content_hash": hashlib.sha256(key.encode()).hexdigest(),
                "first_seen_at": when, "updated_at": when, "sort_at": when,
                "story_key": hashlib.sha1(key.encode()).hexdigest(),  # noqa: S324
                "duplicate_of_id": None,
            })
            if t.on_topic:
                hits = [{"field": "title", "term_list": "car_t", "term": "CAR T", "text": "CAR T"}]
                topics.append({"item_id": item_id, "topic_id": "car-t-ms", "score": 6.0, "hits": hits})
                topics.append({"item_id": item_id, "topic_id": "ms-research", "score": 3.0, "hits": hits})
            elif item_id % 5 == 0:
                topics.append({"item_id": item_id, "topic_id": "ms-research", "score": 1.0, "hits": []})
        with engine.begin() as conn:
            conn.execute(insert(Item.__table__), rows)
            if topics:
                conn.execute(insert(ItemTopic.__table__), topics)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------ query plans


def query_plans(database_url: str, feeds_file: Path) -> dict[str, list[str]]:
    """EXPLAIN (QUERY PLAN) of the page, count and feed-fingerprint queries for the measured filters."""
    from aggregator import create_app, store

    app = create_app({"database_url": database_url, "feeds_file": str(feeds_file), "secret_key": "bench",
                      "log_level": "WARNING"})
    engine = app.extensions["aggregator.db"].engine
    from sqlalchemy import func, select

    from aggregator.models import Item

    cases = {
        "digest page (topic car-t-ms)": store.ItemFilter(topic="car-t-ms"),
        "filtered (topic + source)": store.ItemFilter(topic="car-t-ms", source="src-3"),
        "search q=KYV-101": store.ItemFilter(topic="car-t-ms", q="KYV-101"),
    }
    statements: dict[str, Select[Any]] = {}
    for name, filters in cases.items():
        statements[f"{name}: items"] = store._filtered(select(Item.id), filters).order_by(
            Item.sort_at.desc(), Item.id.desc()).limit(25)
        statements[f"{name}: items, newest-first walk"] = store._filtered(
            select(Item.id), filters, newest_first=True).order_by(Item.sort_at.desc(), Item.id.desc()).limit(25)
        statements[f"{name}: count"] = store._filtered(select(func.count(Item.id)), filters)
    # The same statements as store.also_reported (which builds and runs it in one go) and the momentum chart's.
    statements["also reported (duplicates of a page's 25 items)"] = select(Item).where(
        Item.duplicate_of_id.in_(list(range(1, 26)))).order_by(Item.first_seen_at)
    per_topic, per_item = store.momentum_day_statements(engine.dialect.name, EPOCH - timedelta(weeks=52))
    statements["momentum chart: matches per topic and day (a year)"] = per_topic
    statements["momentum chart: matching items per day (a year)"] = per_item
    statements["feed.xml fingerprint (304 path)"] = store._filtered(
        select(func.count(Item.id), func.max(Item.updated_at)), store.ItemFilter(topic="car-t-ms"))
    plans: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name, statement in statements.items():
            compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
            if engine.dialect.name == "sqlite":
                values = {**compiled.params}
                for key, value in values.items():  # the driver needs what UTCDateTime would bind: naive UTC
                    if hasattr(value, "tzinfo") and value.tzinfo is not None:
                        values[key] = value.replace(tzinfo=None)
                params: Any = tuple(values[key] for key in (compiled.positiontup or []))
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params).all()
                plans[name] = [str(row[-1]) for row in rows]
            else:
                rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
                plans[name] = [str(row[0]) for row in rows]
    engine.dispose()
    return plans


def full_scans(plans: dict[str, list[str]]) -> list[str]:
    """Queries whose plan reads a whole table of items (no index)."""
    found = []
    for name, lines in plans.items():
        if "newest-first walk" in name:  # an index-order walk that LIMIT stops; used only when walk_is_cheaper
            continue
        for line in lines:
            words = line.replace("`--", "").replace("|--", "").split()
            # SQLite: "SCAN item" walks every row, in table or in index order alike ("SEARCH" uses a key).
            sqlite_scan = words[:1] == ["SCAN"] and words[1:2] in (["item"], ["item_topic"])
            pg_scan = "Seq Scan on item " in line + " " or "Seq Scan on item_topic" in line
            if sqlite_scan or pg_scan:
                found.append(f"{name}: {line.strip()}")
    return found


# ------------------------------------------------------------------------------------------ load generation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Gunicorn:
    def __init__(self, database_url: str, feeds_file: Path, workers: int) -> None:
        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "FEEDS_FILE": str(feeds_file), "SECRET_KEY": "bench",
               "LOG_LEVEL": "WARNING", "BASE_URL": f"http://127.0.0.1:{self.port}", "PYTHONPATH": str(ROOT)}
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.proc = subprocess.Popen(
            [str(gunicorn), "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "aggregator:create_app()"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited: " + (self.proc.stderr.read().decode()[-3000:]
                                                          if self.proc.stderr else ""))
            try:
                if get(self.port, "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz on port {self.port} within {timeout:g} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def measure(port: int, name: str, path: str, clients: int, max_requests: int, max_seconds: float,
            headers: dict[str, str] | None = None, expect: int = 200,
            path_for: Callable[[int], str] | None = None) -> EndpointResult:
    """``path_for``: the path of the n-th request (0, 1, …) instead of ``path`` every time (bench/search.py)."""
    for _ in range(2):  # warm up: templates compiled, caches filled (a slow page may not answer in time)
        try:
            get(port, path, headers)
        except OSError:
            pass
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.perf_counter() + max_seconds

    def client() -> None:
        nonlocal errors
        while True:
            with lock:
                if budget[0] <= 0 or time.perf_counter() > deadline:
                    return
                budget[0] -= 1
                target = path_for(budget[0]) if path_for else path
            started = time.perf_counter()
            try:
                status = get(port, target, headers)[0]
            except OSError:
                status = 0
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += status != expect

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return EndpointResult(name, path, expect, len(latencies), seconds,
                          statistics.median(latencies) * 1000 if latencies else 0.0, p99 * 1000, errors)


def run_serving(database_url: str, items: int, backend: str, clients: int = 4, workers: int = 2,
                max_requests: int = 400, max_seconds: float = 8.0,
                log: Callable[[str], None] = print) -> ServingRun:
    run = ServingRun(backend=backend, items=items, clients=clients, workers=workers)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        feeds_file = write_feeds_file(Path(tmp) / "feeds.yaml")
        migrate(database_url, feeds_file)
        log(f"  serving {backend} {items:,} items: bulk insert …")
        run.insert_seconds = bulk_insert(database_url, items)
        run.plans = query_plans(database_url, feeds_file)
        server = Gunicorn(database_url, feeds_file, workers)
        try:
            server.wait_ready()
            status, headers, _ = get(server.port, "/feed.xml")
            etag = headers.get("etag", "")
            endpoints = [
                ("/healthz", "/healthz", None, 200),
                ("digest page /", "/", None, 200),
                ("filtered page", "/?topic=car-t-ms&source=src-3", None, 200),
                ("search", "/?q=KYV-101", None, 200),
                ("/feed.xml", "/feed.xml", None, 200),
                ("/feed.xml 304", "/feed.xml", {"If-None-Match": etag}, 304),
            ]
            for name, path, req_headers, expect in endpoints:
                log(f"  serving {backend}: {name} …")
                run.endpoints.append(measure(server.port, name, path, clients, max_requests, max_seconds,
                                             req_headers, expect))
        finally:
            server.stop()
    return run
