"""Crashes and concurrency: a poller killed at random points loses nothing and leaves no source stuck; two pollers
at once store nothing twice and never poll one source twice at once; a database that goes away mid-poll (or fills
up) is reported and the poll retried.

The pollers here are real ``flask --app aggregator poll`` processes, killed with SIGKILL, against real SQLite and
PostgreSQL databases and slow feed servers on three loopback addresses.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from aggregator.cli.poll import build_poller
from aggregator.db import Database, get_database
from aggregator.models import Item, Source
from tests import fault_server as fs
from tests.conftest import ROOT, make_app, write_feeds_file

ITEMS_PER_SOURCE = 6
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
SOURCES_PER_HOST = 4


@pytest.fixture
def servers() -> Iterator[list[fs.FaultServer]]:
    started = [fs.FaultServer(host).start() for host in HOSTS]
    yield started
    for server in started:
        server.stop()


def _catalog(tmp_path: Path, servers: list[fs.FaultServer], delay: float) -> dict[str, str]:
    sources = {}
    for h, server in enumerate(servers):
        for n in range(SOURCES_PER_HOST):
            name = f"h{h}s{n}"
            sources[name] = server.add(f"/{name}.xml", fs.ok(fs.simple_feed(name, ITEMS_PER_SOURCE), delay=delay))
    write_feeds_file(tmp_path / "feeds.yaml", [{"id": k, "name": k, "url": v} for k, v in sources.items()])
    return sources


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FETCH_", "POLL_", "DATABASE_", "FLASK_"))}
    env.update({
        "DATABASE_URL": db_url,
        "FEEDS_FILE": str(tmp_path / "feeds.yaml"),
        "SECRET_KEY": "test",
        "LOG_LEVEL": "WARNING",
        "POLL_LEASE_SECONDS": "1",  # a killed poller's sources are free again one second later
        "POLL_WORKERS": "3",
        "FETCH_TOTAL_TIMEOUT": "10",
        "PYTHONPATH": str(ROOT),
    })
    return env


def _start_poller(db_url: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "aggregator", "poll", "--no-progress", *args],
                            cwd=ROOT, env=_env(db_url, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _total_hits(servers: list[fs.FaultServer]) -> int:
    return sum(len(server.hits) for server in servers)


def _state(database: Database) -> tuple[dict[str, int], list[str], int]:
    """(items per source, sources still marked as polling, distinct keys) as stored."""
    with database.session_scope() as session:
        counts = dict(session.execute(select(Item.source_id, func.count(Item.id)).group_by(Item.source_id)).all())
        stuck = list(session.scalars(select(Source.id).where(Source.polling_owner.is_not(None))))
        keys = session.scalar(select(func.count(func.distinct(Item.source_id + "|" + Item.key)))) or 0
    return {k: int(v) for k, v in counts.items()}, stuck, int(keys)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [29])
def test_sigkill_at_random_points_loses_nothing_and_leaves_nothing_stuck(
        seed: int, any_db_url: str, tmp_path: Path, servers: list[fs.FaultServer]) -> None:
    rng = random.Random(seed)
    sources = _catalog(tmp_path, servers, delay=0.08)
    app = make_app(any_db_url, tmp_path / "feeds.yaml")
    database = get_database(app)
    expected = len(sources) * ITEMS_PER_SOURCE
    kills = 0
    for _round in range(3):
        before = _total_hits(servers)
        target = before + rng.randint(1, len(sources) - 1)
        poller = _start_poller(any_db_url, tmp_path)
        while poller.poll() is None and _total_hits(servers) < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.12))  # sometimes mid-fetch, sometimes mid-store
        if poller.poll() is None:
            poller.send_signal(signal.SIGKILL)
            kills += 1
        poller.communicate(timeout=30)
    assert kills >= 2, "the poller finished before it could be killed: the test proved nothing"

    # Start again (as a restarted worker would) until every source has been polled to the end.
    for _attempt in range(8):
        poller = _start_poller(any_db_url, tmp_path)
        _out, err = poller.communicate(timeout=60)
        assert poller.returncode == 0, err
        counts, stuck, _ = _state(database)
        if sum(counts.values()) == expected and not stuck:
            break
    counts, stuck, distinct = _state(database)
    assert counts == {name: ITEMS_PER_SOURCE for name in sources}  # every item stored, none lost ...
    assert distinct == expected  # ... and each exactly once
    assert stuck == []  # no source left marked as polling
    database.dispose()


@pytest.mark.postgres
def test_two_pollers_at_once_on_postgresql(postgres_url: str, tmp_path: Path,
                                           servers: list[fs.FaultServer]) -> None:
    sources = _catalog(tmp_path, servers, delay=0.05)
    app = make_app(postgres_url, tmp_path / "feeds.yaml")  # migrated, but no source row yet: both race to add them
    database = get_database(app)
    pollers = [_start_poller(postgres_url, tmp_path, "--due") for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in pollers]
    for poller, (_out, err) in zip(pollers, outputs, strict=True):
        assert poller.returncode == 0, err
    counts, stuck, distinct = _state(database)
    assert counts == {name: ITEMS_PER_SOURCE for name in sources}
    assert distinct == len(sources) * ITEMS_PER_SOURCE  # no duplicate items
    assert stuck == []
    for server in servers:  # no source was ever fetched by both pollers at the same time
        assert all(peak == 1 for peak in server.max_active_by_path.values()), server.max_active_by_path
    assert sum(len(s.hits) for s in servers) >= len(sources)
    database.dispose()


# ---------------------------------------------------------------------------------------------------- database trouble


class ListHandler(logging.Handler):
    """Collects log records (alembic's logging set-up replaces the root handlers, and caplog's with them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.postgres
def test_database_going_away_mid_poll_is_reported_and_retried(postgres_url: str, postgres_admin_url: str,
                                                              tmp_path: Path) -> None:
    schema = make_url(postgres_url).query["options"].split("=", 1)[1]  # type: ignore[union-attr]
    admin = psycopg.connect(postgres_admin_url, autocommit=True)

    def vanish(handler: Any, server: fs.FaultServer) -> None:
        # The database disappears while the feed is being fetched: its schema is renamed away and every
        # connection to it is cut.
        admin.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"')
        fs.send(handler, 200, fs.simple_feed("doomed", 4).encode(), "application/rss+xml")

    with fs.FaultServer() as server:
        url = server.add("/doomed.xml", vanish)
        write_feeds_file(tmp_path / "feeds.yaml", [{"id": "doomed", "name": "Doomed", "url": url}])
        app = make_app(postgres_url, tmp_path / "feeds.yaml", poll_lease_seconds=300)
        clock = Clock()
        poller = build_poller(app)
        poller.clock = clock
        logged = ListHandler()
        logging.getLogger("aggregator.poll.pipeline").addHandler(logged)
        try:
            reports = poller.poll_due()
            assert [(r.source_id, r.outcome) for r in reports] == [("doomed", "error")]
            assert "could not store" in (reports[0].error or "") and "fetched again" in (reports[0].error or "")
            # Reported in the log at ERROR level, not swallowed:
            assert any("could not record the failure either" in m for m in logged.messages(logging.ERROR))

            admin.execute(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"')
            server.add("/doomed.xml", fs.ok(fs.simple_feed("doomed", 4)))
            assert poller.due_sources() == []  # the interrupted poll still holds its lease ...
            clock.now += timedelta(seconds=301)
            reports = poller.poll_due()  # ... until it expires: then the source is polled again
            assert [(r.source_id, r.outcome, r.new) for r in reports] == [("doomed", "ok", 4)]
            with get_database(app).session_scope() as session:
                row = session.get(Source, "doomed")
                assert row is not None and row.polling_owner is None and row.error_count == 0
        finally:
            logging.getLogger("aggregator.poll.pipeline").removeHandler(logged)
            if admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (f"{schema}_away",)).fetchone():
                admin.execute(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"')
            admin.close()
            get_database(app).dispose()


def test_full_disk_while_storing_is_reported_and_nothing_is_lost(sqlite_url: str, tmp_path: Path) -> None:
    with fs.FaultServer() as server:
        url = server.add("/big.xml", fs.ok(fs.rss([fs.FeedItem(title=f"Item {n}", link=f"http://e.org/{n}",
                                                               guid=f"g{n}", summary="x" * 4000)
                                                   for n in range(60)])))
        write_feeds_file(tmp_path / "feeds.yaml", [{"id": "big", "name": "Big", "url": url}])
        app = make_app(sqlite_url, tmp_path / "feeds.yaml")
        database = get_database(app)
        database.dispose()
        with database.session_scope() as session:
            pages = session.connection().exec_driver_sql("PRAGMA page_count").scalar()

        def full_disk(dbapi_connection: Any, _record: Any) -> None:
            # SQLite's own "disk full": the file may not grow past its current size (plus a few pages).
            dbapi_connection.execute(f"PRAGMA max_page_count = {int(pages) + 8}")

        event.listen(database.engine, "connect", full_disk)
        database.dispose()  # pooled connections were opened before the disk "filled up"
        clock = Clock()
        poller = build_poller(app)
        poller.clock = clock
        reports = poller.poll_due()
        assert reports[0].outcome == "error" and "could not store the items" in (reports[0].error or "")
        with database.session_scope() as session:
            row = session.get(Source, "big")
            assert row is not None and row.last_error_kind == "storage" and row.polling_owner is None
            assert row.etag is None  # no validator kept: the next poll fetches the whole feed again
            assert session.scalar(select(func.count(Item.id))) == 0

        event.remove(database.engine, "connect", full_disk)
        database.dispose()  # the disk has room again
        clock.now = row.next_poll_at or clock.now
        reports = poller.poll_due()
        assert (reports[0].outcome, reports[0].new) == ("ok", 60)
        database.dispose()
