"""APScheduler jobs: polling the sources that are due. Jobs are plain functions that call the pipeline.

The schedule itself lives in the database (each source's ``next_poll_at``, set with jitter and back-off by
``policy``); the scheduler only wakes every ``SCHEDULER_TICK_SECONDS`` to poll whatever is due. That keeps each
source on its own interval, survives restarts, and — with the per-source lease — never polls one source twice at
once, even with two schedulers running.
Only one scheduler process is active at a time (``leader.py``): every job first asks the leader lock, and a
standby scheduler's jobs do nothing until the active one dies and the standby takes the lock over.
In production the scheduler is its own process (``flask --app aggregator scheduler``, the Procfile's ``worker``);
``make run`` starts it in a background thread of the web process instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from ..db import get_database
from .leader import Leader, make_leader
from .pipeline import Poller

log = logging.getLogger(__name__)


def logged_job(name: str, job: Callable[[], Any]) -> Callable[[], None]:
    """Wrap a job so its start, finish and failure are logged, and a failure never kills the scheduler."""

    def run() -> None:
        log.info("job %s: starting", name)
        try:
            result = job()
        except Exception:
            log.exception("job %s: failed", name)
            return
        log.info("job %s: finished %s", name, result if result is not None else "")

    return run


def poll_due_job(app: Flask, poller: Poller) -> Callable[[], str]:
    """The poll job. ``poller`` is built by the caller (the CLI or the demo) and kept for the scheduler's life: its
    parse worker processes (POLL_PARSE_PROCESSES) are forked once, by the first poll of several sources, not at
    every tick. Taking it rather than building it keeps this module below the CLI: the scheduler never imports
    the commands that start it."""

    def job() -> str:
        with app.app_context():
            reports = poller.poll_due()
        failed = sum(report.outcome == "error" for report in reports)
        new = sum(report.new for report in reports)
        return f"({len(reports)} sources polled, {new} new items, {failed} failed)"

    return job


def leader_only(leader: Leader, name: str, job: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``job`` only while this process holds the leader lock; a standby skips it quietly."""

    def run() -> Any:
        if not leader.ensure():
            log.debug("job %s: skipped, another scheduler is active", name)
            return None
        return job()

    run.__name__ = getattr(job, "__name__", name)
    return run


def configure(scheduler: BaseScheduler, app: Flask, tick_seconds: int, poller: Poller,
              leader: Leader | None = None) -> BaseScheduler:
    scheduler.add_job(
        logged_job("poll", poll_due_job(app, poller)),
        "interval",
        seconds=tick_seconds,
        id="poll",
        max_instances=1,  # a slow poll is never overlapped by the next tick
        coalesce=True,
        next_run_time=None,
        replace_existing=True,
    )
    # First tick right away rather than one interval after start.
    scheduler.modify_job("poll", next_run_time=_now())
    extra: list[Callable[[BaseScheduler, Flask], None]] = app.extensions.get("aggregator.jobs", [])
    for add_job in extra:
        add_job(scheduler, app)
    if leader is None:
        leader = make_leader(get_database(app), "scheduler", ttl=app.extensions["aggregator"].settings
                             .leader_lease_seconds)
    # Every job, ours and those registered by other modules, runs only on the active scheduler.
    for job in scheduler.get_jobs():
        scheduler.modify_job(job.id, func=leader_only(leader, job.id, job.func))
    # The heartbeat keeps the lease of an active scheduler fresh during a long job, and lets a standby notice
    # a dead leader within a third of the lease.
    heartbeat = max(1, int(getattr(leader, "ttl", 90) // 3))
    scheduler.add_job(leader.ensure, "interval", seconds=heartbeat, id="leader-heartbeat", max_instances=1,
                      coalesce=True, replace_existing=True)
    app.extensions["aggregator.poll.leader"] = leader
    return scheduler


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def background(app: Flask, tick_seconds: int, poller: Poller) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
    configure(scheduler, app, tick_seconds, poller)
    return scheduler


def blocking(app: Flask, tick_seconds: int, poller: Poller) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone="UTC")
    configure(scheduler, app, tick_seconds, poller)
    return scheduler
