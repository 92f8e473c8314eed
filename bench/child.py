"""One poll runner in a fresh process: ``python -m bench.child`` reads a JSON job on stdin, prints a JSON result.

A fresh process per runner keeps the comparison fair: each starts cold, and its peak memory is its own (sampled
from /proc for the process and its children, so a process pool is counted in full).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
ROOT = Path(__file__).resolve().parent.parent


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def tree_rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    for p in _tree(pid or os.getpid()):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_pss_bytes(pid: int | None = None) -> int:
    """Proportional memory of a process and its descendants: a page shared by n of them counts 1/n in each.
    Forked parse workers share most of their pages with the poller, which a sum of RSS counts once per process."""
    total = 0
    for p in _tree(pid or os.getpid()):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakRSS:
    """Samples the process tree's RSS (every 20 ms) and PSS (every 100 ms) while it is entered."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, pss: bool) -> None:
        self.peak = max(self.peak, tree_rss_bytes())
        if pss:
            self.peak_pss = max(self.peak_pss, tree_pss_bytes())

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            self._sample(tick % 5 == 0)
            tick += 1
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRSS:
        self._sample(True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(True)


TICKS = os.sysconf("SC_CLK_TCK")


def _live_descendants_cpu() -> float:
    """CPU seconds of this process's descendants still running (parse workers kept between polls)."""
    ticks = 0
    me = os.getpid()
    for pid in _tree(me):
        if pid == me:
            continue
        try:  # /proc/<pid>/stat after the ")" of the name: state ppid ... utime (12th) stime (13th)
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / TICKS


def _cpu() -> float:
    """CPU seconds of this process and of its children: finished ones (reaped, from rusage) and running ones (a
    process pool's workers, kept from one poll to the next, from /proc). A difference of two readings counts
    each child's CPU within the interval once, whether it ran through it, ended in it or started in it."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + _live_descendants_cpu()


def timed(fn: Callable[[], int]) -> dict[str, Any]:
    with PeakRSS() as rss:
        cpu = _cpu()
        started = time.perf_counter()
        items = fn()
        seconds = time.perf_counter() - started
        cpu = _cpu() - cpu
    return {"seconds": seconds, "cpu": cpu, "items": items, "peak_rss": rss.peak, "peak_pss": rss.peak_pss}


# ------------------------------------------------------------------------------------------------ runners


def run_baseline(job: dict[str, Any]) -> dict[str, Any]:
    """Fetch with requests (one session per thread, gzip, conditional on the second pass) and feedparser.parse."""
    import feedparser
    import requests

    urls: list[str] = job["urls"]
    local = threading.local()
    validators: dict[str, str] = {}

    def one(url: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        headers = {"If-None-Match": validators[url]} if url in validators else {}
        response = session.get(url, headers=headers, timeout=30)
        if response.status_code == 304:
            return 0
        if response.headers.get("ETag"):
            validators[url] = response.headers["ETag"]
        return len(feedparser.parse(response.content).entries)

    def poll() -> int:
        with ThreadPoolExecutor(max_workers=job["workers"]) as pool:
            return sum(pool.map(one, urls))

    return {"first": timed(poll), "second": timed(poll)}


def run_reader(job: dict[str, Any]) -> dict[str, Any]:
    """The `reader` library updating the same feeds into its own SQLite database."""
    import logging

    from reader import make_reader

    logging.getLogger("reader").setLevel(logging.ERROR)
    reader = make_reader(str(Path(job["workdir"]) / "reader.sqlite"))
    for url in job["urls"]:
        reader.add_feed(url)

    def poll() -> int:
        before = reader.get_entry_counts().total or 0
        reader.update_feeds(workers=job["workers"], scheduled=False)
        return (reader.get_entry_counts().total or 0) - before

    first = timed(poll)
    first["items"] = reader.get_entry_counts().total or 0
    return {"first": first, "second": timed(poll)}


def build_app(job: dict[str, Any]) -> Any:
    from flask_migrate import upgrade

    from aggregator import create_app

    overrides: dict[str, Any] = {
        "database_url": job["database_url"],
        "feeds_file": job["feeds_file"],
        "secret_key": "bench",
        "log_level": "WARNING",
        "poll_workers": job["workers"],
        **job.get("settings", {}),
    }
    app = create_app(overrides)
    with app.app_context():
        upgrade()
    return app


def run_ours(job: dict[str, Any]) -> dict[str, Any]:
    """Our pipeline: fetch, parse, clean, classify and store into a freshly migrated database."""
    from aggregator import store
    from aggregator.cli.poll import build_poller

    app = build_app(job)
    poller = build_poller(app)
    poller.sync_sources()
    ids = [spec.id for spec in poller.catalog.sources]
    outcomes: dict[str, int] = {}

    def poll() -> int:
        reports = poller.poll_many(ids)
        for report in reports:
            outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
        return sum(report.new for report in reports)

    first = timed(poll)
    first["outcomes"], outcomes = dict(outcomes), {}
    second = timed(poll)
    second["outcomes"] = outcomes
    with poller.database.session_scope() as session:
        first["stored"] = store.count_items(session)
    poller.database.dispose()
    return {"first": first, "second": second}


def run_ours_cli(job: dict[str, Any]) -> dict[str, Any]:
    """The whole `flask --app aggregator poll` command, twice, as a user runs it after `make db-upgrade`: a fresh
    process each time (start-up, compiling the topic rules, syncing the sources, the poll, the table), with the
    settings `make run` gives (the environment's defaults; only the database and the feeds file are set). Its
    log (INFO, two lines per source) goes to a file."""
    import subprocess

    from aggregator import store

    app = build_app({**job, "settings": {}})  # migrates the database, as `make poll` does first
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POLL_", "FETCH_"))}
    env.update(DATABASE_URL=job["database_url"], FEEDS_FILE=job["feeds_file"], SECRET_KEY="bench")  # noqa: S106
    flask = str(Path(sys.executable).with_name("flask"))
    log_path = Path(job["workdir"]) / "flask-poll.log"

    def poll() -> int:
        with log_path.open("ab") as log:
            proc = subprocess.run([flask, "--app", "aggregator", "poll", "--no-progress"], env=env,
                                  stdout=subprocess.PIPE, stderr=log, check=False, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"flask poll failed (exit {proc.returncode}); see {log_path}")
        last = proc.stdout.decode().strip().splitlines()[-1]  # "N source(s): X new, Y updated, ..."
        return int(last.split(": ", 1)[1].split(" new", 1)[0])

    first, second = timed(poll), timed(poll)
    with app.app_context():
        from aggregator.db import get_database

        with get_database().session_scope() as session:
            first["stored"] = store.count_items(session)
    return {"first": first, "second": second}


def run_ours_profiled(job: dict[str, Any]) -> dict[str, Any]:
    """The first poll, one source after another on the main thread, under pyinstrument (which samples only the
    thread that started it): where the time of our pipeline goes, stage by stage. Inside ``one_poll``, as in
    ``poll_many``, so what a poll shares (the near-duplicate candidates) is read once, as in a real poll."""
    from pyinstrument import Profiler

    from aggregator.cli.poll import build_poller

    app = build_app(job)
    poller = build_poller(app)
    poller.sync_sources()
    profiler = Profiler(interval=0.002)
    profiler.start()
    with poller.one_poll():
        for spec in poller.catalog.sources:
            poller.poll_source(spec.id)
    profiler.stop()
    poller.close()
    poller.database.dispose()
    Path(job["profile"]).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return {}


RUNNERS = {"baseline": run_baseline, "reader": run_reader, "ours": run_ours, "ours-cli": run_ours_cli,
           "ours-profile": run_ours_profiled}


def main() -> None:
    job = json.load(sys.stdin)
    result = RUNNERS[job["runner"]](job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
