"""One active scheduler: the leader lock (PostgreSQL advisory lock, SQLite lease row) and its wiring into jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from aggregator.cli.poll import build_poller
from aggregator.db import Database, get_database
from aggregator.poll.leader import AdvisoryLockLeader, LeaseLeader, make_leader
from aggregator.poll.scheduler import configure
from tests.conftest import ROOT, make_app

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> Clock:
        self.now = T0 + timedelta(seconds=seconds)
        return self


@pytest.fixture
def migrated(any_db_url: str, feeds_file: Path) -> Iterator[Database]:
    app = make_app(any_db_url, feeds_file)
    yield get_database(app)
    get_database(app).dispose()


# ---------------------------------------------------------------------------------------------------- lease (any db)


def test_lease_one_leader_then_takeover_after_expiry(migrated: Database) -> None:
    clock = Clock()
    a = LeaseLeader(migrated, owner="a", ttl=60, clock=clock)
    b = LeaseLeader(migrated, owner="b", ttl=60, clock=clock)
    assert a.ensure() and not b.ensure()
    clock.at(50)
    assert a.ensure()  # renewed: now valid until 110
    clock.at(100)
    assert not b.ensure()  # the leader renewed in time
    # a dies here: it renews no more.
    clock.at(111)
    assert b.ensure()
    clock.at(112)
    assert not a.ensure()  # a comes back from the dead: b holds a live lease now
    assert b.ensure()


def test_lease_release_hands_over_at_once(migrated: Database) -> None:
    clock = Clock()
    a = LeaseLeader(migrated, owner="a", ttl=60, clock=clock)
    b = LeaseLeader(migrated, owner="b", ttl=60, clock=clock)
    assert a.ensure() and not b.ensure()
    a.release()
    assert b.ensure() and not a.ensure()


def test_lease_names_are_independent(migrated: Database) -> None:
    clock = Clock()
    assert LeaseLeader(migrated, "scheduler", owner="a", clock=clock).ensure()
    assert LeaseLeader(migrated, "digest", owner="b", clock=clock).ensure()


def test_lease_answers_false_when_the_database_is_gone(tmp_path: Path, feeds_file: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'x.db'}", feeds_file)
    database = get_database(app)
    leader = LeaseLeader(database, owner="a", clock=Clock())
    assert leader.ensure()
    with database.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE lease")
    assert leader.ensure() is False  # never a job on a guess
    database.dispose()


# ---------------------------------------------------------------------------------------------------- advisory lock


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    yield database
    database.dispose()


def test_make_leader_picks_by_backend(pg_database: Database, sqlite_url: str) -> None:
    assert isinstance(make_leader(pg_database), AdvisoryLockLeader)
    assert isinstance(make_leader(Database(sqlite_url)), LeaseLeader)


def _unique_name() -> str:
    # Advisory locks are database-wide, not per schema: give each test its own lock.
    return f"test-{os.getpid()}-{time.monotonic_ns()}"


def test_advisory_lock_one_leader_and_takeover_when_its_connection_dies(pg_database: Database,
                                                                        postgres_admin_url: str) -> None:
    name = _unique_name()
    a = AdvisoryLockLeader(pg_database, name, owner="a")
    b = AdvisoryLockLeader(pg_database, name, owner="b")
    try:
        assert a.ensure() and not b.ensure() and a.ensure()
        assert a._conn is not None
        pid = a._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:  # the leader's connection is cut
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert _eventually(b.ensure)
        assert not a.ensure()  # it notices it lost the lock and stands by
        b.release()
        assert _eventually(a.ensure)
    finally:
        a.close()
        b.close()


def test_advisory_lock_is_freed_when_the_leader_process_is_killed(pg_database: Database,
                                                                  postgres_url: str) -> None:
    name = _unique_name()
    code = (
        "import sys, time\n"
        "from aggregator.db import Database\n"
        "from aggregator.poll.leader import AdvisoryLockLeader\n"
        f"leader = AdvisoryLockLeader(Database({postgres_url!r}), {name!r}, owner='child')\n"
        "print('leader' if leader.ensure() else 'standby', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    b = AdvisoryLockLeader(pg_database, name, owner="b")
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "leader"
        assert not b.ensure()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert _eventually(b.ensure)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        if child.stdout:
            child.stdout.close()
        b.close()


def _eventually(check: object, attempts: int = 100) -> bool:
    """PostgreSQL frees a dead session's locks a moment after the socket closes: ask again a few times."""
    assert callable(check)
    for _ in range(attempts):
        if check():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------------- wiring


class FixedLeader:
    def __init__(self, leading: bool) -> None:
        self.name, self.owner, self.leading, self.asked = "scheduler", "fixed", leading, 0

    def ensure(self) -> bool:
        self.asked += 1
        return self.leading

    def release(self) -> None:
        self.leading = False


@pytest.mark.parametrize("leading", [True, False])
def test_every_scheduler_job_runs_only_on_the_leader(leading: bool, app: Flask) -> None:
    ran: list[str] = []
    app.extensions.setdefault("aggregator.jobs", []).append(
        lambda scheduler, _app: scheduler.add_job(lambda: ran.append("extra"), "interval", hours=1, id="extra"))
    leader = FixedLeader(leading)
    scheduler = configure(BackgroundScheduler(timezone="UTC"), app, 3600, build_poller(app), leader=leader)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"poll", "extra", "leader-heartbeat"} <= set(jobs)
    jobs["extra"].func()
    jobs["poll"].func()
    assert ran == (["extra"] if leading else [])
    assert leader.asked == 2  # both jobs asked the lock first


def test_two_configured_schedulers_only_one_runs_jobs(app: Flask) -> None:
    database = get_database(app)
    clock = Clock()
    ran: list[str] = []
    app.extensions.setdefault("aggregator.jobs", []).append(
        lambda scheduler, _app: scheduler.add_job(lambda: ran.append("tick"), "interval", hours=1, id="tick"))
    first = LeaseLeader(database, owner="first", ttl=30, clock=clock)
    second = LeaseLeader(database, owner="second", ttl=30, clock=clock)
    poller = build_poller(app)
    jobs = [{job.id: job for job in configure(BackgroundScheduler(timezone="UTC"), app, 3600, poller, leader=leader)
             .get_jobs()} for leader in (first, second)]
    for job_set in jobs:
        job_set["tick"].func()
    assert ran == ["tick"]  # the first to ask became the leader; the other stood by
    clock.at(31)  # the leader died without renewing
    jobs[1]["tick"].func()
    assert ran == ["tick", "tick"] and second.is_leader


# ---------------------------------------------------------------------------------------------------- real processes


@pytest.mark.postgres
@pytest.mark.slow
def test_two_scheduler_processes_one_active_and_takeover_on_sigkill(postgres_url: str, feeds_file: Path) -> None:
    """Two real `flask scheduler` processes on one PostgreSQL database: one is active; SIGKILL it and the other
    takes over within a tick or two."""
    import queue
    import threading

    make_app(postgres_url, feeds_file).extensions["aggregator.db"].dispose()  # migrate the schema once
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SCHEDULER_", "LEADER_"))}
    env.update({"DATABASE_URL": postgres_url, "FEEDS_FILE": str(feeds_file), "SECRET_KEY": "test",
                "LOG_LEVEL": "INFO", "SCHEDULER_TICK_SECONDS": "1", "LEADER_LEASE_SECONDS": "3",
                "PYTHONPATH": str(ROOT)})
    events: queue.Queue[tuple[int, str]] = queue.Queue()

    def start() -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "aggregator", "scheduler"], cwd=ROOT,
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                if "is now active" in line:
                    events.put((process.pid, line))

        threading.Thread(target=read, daemon=True).start()
        return process

    processes = [start(), start()]
    try:
        leader_pid, _line = events.get(timeout=60)
        with pytest.raises(queue.Empty):  # the other one stays on standby while the leader lives
            events.get(timeout=1.5)  # the standby has asked at least once (ticks are 1 s)
        leader = next(p for p in processes if p.pid == leader_pid)
        standby = next(p for p in processes if p.pid != leader_pid)
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        new_pid, _line = events.get(timeout=30)
        assert new_pid == standby.pid and standby.poll() is None
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(10)
            if process.stderr:
                process.stderr.close()
