"""POLL_PARSE_PROCESSES: parsing, cleaning and classifying in worker processes gives exactly what inline work
gives, carries parse failures (with their feed hint) back intact, and survives a worker that dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.domain import Fetched, SourceSpec
from aggregator.errors import ParseError
from aggregator.models import Item, ItemTopic, Source
from aggregator.poll.prepare import PreparePool, prepare
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.test_pipeline import CAR_T_MS, MS_ONLY, NOW, UNRELATED, Clock, item, poller, rss

SPEC = SourceSpec(id="s", name="S", url="https://feed.example/rss")
HTML_WITH_FEED = (b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" '
                  b'href="/real-feed.xml"></head><body>Not a feed</body></html>')


def fetched(body: bytes, content_type: str = "application/rss+xml") -> Fetched:
    return Fetched(url=SPEC.url, final_url=SPEC.url, status=200, body=body, content_type=content_type)


def _classifier(app: Flask) -> Any:
    return app.extensions["aggregator"].classifier


def test_pool_prepares_what_inline_prepares(app: Flask) -> None:
    classifier = _classifier(app)
    document = fetched(rss(CAR_T_MS, MS_ONLY, UNRELATED).encode())
    pool = PreparePool(classifier, 2)
    try:
        assert pool.pooled
        pooled = pool.prepare(SPEC, document, NOW, frozenset())
    finally:
        pool.close()
    inline = prepare(classifier, SPEC, document, NOW, frozenset())
    assert pooled == inline
    assert {row[0] for rows in pooled.topic_rows for row in rows} >= {"car-t-ms"}


def test_parse_failure_in_a_worker_keeps_its_message_and_feed_hint(app: Flask) -> None:
    pool = PreparePool(_classifier(app), 1)
    try:
        try:
            pool.prepare(SPEC, fetched(HTML_WITH_FEED, "text/html"), NOW, frozenset())
        except ParseError as exc:
            assert exc.feed_link == "https://feed.example/real-feed.xml"
            assert exc.kind == "parse" and "web page" in str(exc)
        else:
            raise AssertionError("a web page was accepted as a feed")
    finally:
        pool.close()


def test_a_dead_worker_makes_the_pool_work_inline(app: Flask) -> None:
    pool = PreparePool(_classifier(app), 1)
    try:
        assert pool._pool is not None
        for pid in list(pool._pool._processes):  # the worker is killed as if by the OOM killer
            os.kill(pid, signal.SIGKILL)
        result = pool.prepare(SPEC, fetched(rss(CAR_T_MS).encode()), NOW, frozenset())
        assert [i.title for i in result.items] == [
            "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated"]
        assert not pool.pooled
    finally:
        pool.close()


def test_zero_processes_means_inline(app: Flask) -> None:
    pool = PreparePool(_classifier(app), 0)
    assert not pool.pooled
    assert len(pool.prepare(SPEC, fetched(rss(CAR_T_MS, MS_ONLY).encode()), NOW, frozenset()).items) == 2


def _snapshot(app: Flask) -> list[tuple[Any, ...]]:
    with get_database(app).session_scope() as session:
        items = session.execute(select(Item.source_id, Item.key, Item.title, Item.summary_html, Item.content_hash)
                                .order_by(Item.source_id, Item.key)).all()
        topics = session.execute(select(Item.key, ItemTopic.topic_id, ItemTopic.score).join(ItemTopic)
                                 .order_by(Item.key, ItemTopic.topic_id)).all()
        health = session.execute(select(Source.id, Source.status, Source.last_error_kind, Source.feed_hint)
                                 .order_by(Source.id)).all()
    return [tuple(r) for r in items] + [tuple(r) for r in topics] + [tuple(r) for r in health]


def test_poll_with_parse_processes_stores_what_an_inline_poll_stores(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.add("/a.xml", rss(CAR_T_MS, MS_ONLY))
    feed_server.add("/b.xml", rss(UNRELATED, item("Another CD19 CAR T trial in MS", "https://b.example/2",
                                                  "CAR T cells for multiple sclerosis.", guid="b2")))
    feed_server.add("/page.html", HTML_WITH_FEED, content_type="text/html")
    sources = [{"id": name, "name": name, "url": feed_server.url(path)}
               for name, path in (("a", "/a.xml"), ("b", "/b.xml"), ("page", "/page.html"))]
    feeds = write_feeds_file(tmp_path / "feeds.yaml", sources)
    snapshots = []
    for processes, db in ((0, sqlite_url), (2, f"sqlite:///{tmp_path / 'pooled.db'}")):
        app = make_app(db, feeds, poll_parse_processes=processes)
        assert build_poller(app).settings.poll_parse_processes == processes
        reports = {r.source_id: r for r in poller(app, Clock(NOW)).poll_many(["a", "b", "page"])}
        assert (reports["a"].new, reports["b"].new, reports["page"].outcome) == (2, 2, "error")
        snapshots.append(_snapshot(app))
        get_database(app).dispose()
    assert snapshots[0] == snapshots[1]
    assert ("page", "error", "parse", feed_server.url("/real-feed.xml")) in snapshots[1]


def test_workers_are_forked_once_for_the_polls_of_one_poller_and_again_after_one_died(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    # Forking the workers for every poll cost as much as a whole poll of 304s (docs/benchmark.md).
    feed_server.add("/a.xml", rss(CAR_T_MS))
    feed_server.add("/b.xml", rss(MS_ONLY))
    sources = [{"id": name, "name": name, "url": feed_server.url(f"/{name}.xml")} for name in ("a", "b")]
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "feeds.yaml", sources), poll_parse_processes=2)
    clock = Clock(NOW)
    polling = poller(app, clock)
    try:
        assert polling._kept_pool is None  # nothing is forked before a poll needs it
        assert [r.new for r in polling.poll_many(["a", "b"])] == [1, 1]
        kept = polling._kept_pool
        assert kept is not None and kept.pooled and kept._pool is not None
        workers = set(kept._pool._processes)
        feed_server.add("/a.xml", rss(CAR_T_MS, UNRELATED))  # something new to parse in the second poll
        assert [r.new for r in polling.poll_many(["a", "b"])] == [1, 0]
        assert polling._kept_pool is kept and set(kept._pool._processes) == workers  # the same processes
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        feed_server.add("/b.xml", rss(MS_ONLY, UNRELATED))
        assert [r.new for r in polling.poll_many(["a", "b"])] == [0, 1]  # parsed inline once the pool broke
        assert not kept.pooled
        polling.poll_many(["a", "b"])
        assert polling._kept_pool is not kept and polling._kept_pool is not None and polling._kept_pool.pooled
    finally:
        polling.shutdown()
    assert polling._kept_pool is None


_KEEPS_A_POOL = """
import sys, time
from aggregator.topics.classify import Classifier
from aggregator.poll.prepare import PreparePool
from aggregator.topics import load_topics
from tests.conftest import topics_config
pool = PreparePool(Classifier(load_topics(topics_config())), 2)
print(*pool._pool._processes, flush=True)  # the worker pids
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent (now init) has not collected it yet


def test_workers_leave_when_their_poller_is_killed_outright() -> None:
    """SIGKILL (or the OOM killer) gives the poller no chance to stop its workers: they must not linger, holding
    memory and the poller's output pipes (whoever reads its output would wait for ever)."""
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen([sys.executable, "-c", _KEEPS_A_POOL], stdout=subprocess.PIPE, cwd=root) as poller_process:
        assert poller_process.stdout is not None
        workers = [int(pid) for pid in poller_process.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        poller_process.send_signal(signal.SIGKILL)
        poller_process.wait()
        deadline = time.monotonic() + 60  # a liveness bound, not a speed goal: they leave within a second or so
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "parse workers outlived their killed poller"
        assert poller_process.stdout.read() == b""  # EOF: no worker holds the pipe open any more
