"""Sections 1, 2 and 5: first and second poll of a served corpus by the baseline, `reader` and our pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .corpus import make_corpus
from .corpus_real import make_real_corpus
from .server import CorpusServer

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", os.environ.get("TEST_POSTGRES_URL",
                                                                    "postgresql://postgres@127.0.0.1:5432/test"))


@dataclass
class PollRun:
    """Every runner's first and second poll of one corpus size."""

    feeds: int
    items_per_feed: int
    workers: int
    corpus: str = "bench"  # "bench" (corpus.py) or "real" (corpus_real.py: shaped like real feeds)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # runner label → {"first": …, "second": …}
    second_poll_requests: dict[str, dict[str, int]] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


def topics_config() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if key != "sources"}


def write_feeds_file(path: Path, urls: list[str]) -> Path:
    sources = [{"id": f"bench-{i}", "name": f"Bench Journal {i}", "url": url, "evidence_type": "peer-reviewed"}
               for i, url in enumerate(urls)]
    path.write_text(yaml.safe_dump({"sources": sources, **topics_config()}, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path


def run_child(job: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run one runner in a fresh interpreter; raise with its stderr when it fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "bench.child"], input=json.dumps(job), capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench runner {job['runner']} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def postgres_problem() -> str | None:
    """None when the benchmark's PostgreSQL answers; otherwise why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip the PostgreSQL runs"
        return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return None


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@dataclass(frozen=True)
class OursVariant:
    label: str
    settings: dict[str, Any]
    postgres: bool = False
    cli: bool = False  # the whole `flask --app aggregator poll` command, as `make poll` runs it


CORPORA = {"bench": make_corpus, "real": make_real_corpus}


def run_polls(
    feeds: int,
    items_per_feed: int,
    workers: int,
    variants: list[OursVariant],
    peers: bool = True,
    profile_dir: Path | None = None,
    log: Any = print,
    corpus: str = "bench",
) -> PollRun:
    docs = CORPORA[corpus](feeds, items_per_feed)
    run = PollRun(feeds=feeds, items_per_feed=items_per_feed, workers=workers, corpus=corpus)
    server = CorpusServer(docs, hosts=max(workers * 2, 2)).start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            work = Path(tmp)
            feeds_file = write_feeds_file(work / "feeds.yaml", server.urls)
            base = {"urls": server.urls, "workers": workers}
            jobs: list[tuple[str, dict[str, Any], bool]] = []
            if peers:
                jobs.append(("baseline", {**base, "runner": "baseline"}, False))
                jobs.append(("reader", {**base, "runner": "reader"}, False))
            for variant in variants:
                jobs.append((variant.label, {**base, "runner": "ours-cli" if variant.cli else "ours",
                                             "feeds_file": str(feeds_file), "settings": variant.settings},
                             variant.postgres))
            for label, job, postgres in jobs:
                log(f"  poll {feeds}×{items_per_feed} ({corpus} corpus): {label} …")
                job_dir = work / label.replace(" ", "_").replace("/", "_")
                job_dir.mkdir()
                job["workdir"] = str(job_dir)
                server.counters.reset()
                if postgres:
                    with postgres_schema() as url:
                        job["database_url"] = url
                        result = run_child(job)
                else:
                    job["database_url"] = f"sqlite:///{job_dir / 'aggregator.db'}"
                    result = run_child(job)
                counts = server.counters.snapshot()
                run.results[label] = result
                # Requests of the second poll = all requests minus the first poll's (one per feed).
                run.second_poll_requests[label] = {
                    "requests": counts["requests"] - feeds,
                    "conditional": counts["conditional"],
                    "not_modified": counts["not_modified"],
                }
            if profile_dir is not None:
                # pyinstrument samples one thread: the first 50 feeds, one after another on the main thread.
                log(f"  poll {feeds}×{items_per_feed}: profiling ours …")
                sample = write_feeds_file(work / "profile-feeds.yaml", server.urls[:50])
                path = profile_dir / f"profile-poll-{corpus}-{feeds}.txt"
                run_child({**base, "runner": "ours-profile", "feeds_file": str(sample), "profile": str(path),
                           "database_url": f"sqlite:///{work / 'profile.db'}"})
                run.profiles["ours"] = str(path)
    finally:
        server.stop()
    return run
