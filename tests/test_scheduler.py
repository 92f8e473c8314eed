"""The scheduler's jobs: each tick polls only what is due, a failing job is logged and does not kill the scheduler."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.models import Item, Source
from aggregator.poll import scheduler
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.test_pipeline import CAR_T_MS, rss


def test_poll_job_polls_due_sources_once(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    feed_server.add("/a.xml", rss(CAR_T_MS))
    app = make_app(
        sqlite_url,
        write_feeds_file(
            tmp_path / "f.yaml", [{"id": "a", "name": "A", "url": feed_server.url("/a.xml"), "interval": "1h"}]
        ),
    )
    job = scheduler.poll_due_job(app, build_poller(app))
    assert job() == "(1 sources polled, 1 new items, 0 failed)"
    assert job() == "(0 sources polled, 0 new items, 0 failed)"  # not due again for an hour
    assert len(feed_server.requests_to("/a.xml")) == 1
    with get_database(app).session_scope() as session:
        assert session.query(Item).count() == 1
        source = session.get(Source, "a")
        assert source is not None and source.next_poll_at is not None


def test_jobs_are_single_instance_and_coalesced(app: object) -> None:
    sched = BackgroundScheduler(timezone="UTC")
    scheduler.configure(sched, app, tick_seconds=30, poller=build_poller(app))  # type: ignore[arg-type]
    job = sched.get_job("poll")
    assert job is not None and job.max_instances == 1 and job.coalesce is True
    assert job.trigger.interval.total_seconds() == 30


def test_a_failing_job_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("database went away")

    with caplog.at_level(logging.INFO, logger="aggregator.poll.scheduler"):
        scheduler.logged_job("poll", broken)()
    messages = [r.getMessage() for r in caplog.records]
    assert "job poll: starting" in messages and "job poll: failed" in messages
