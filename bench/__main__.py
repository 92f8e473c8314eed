"""``python -m bench`` (``make bench``): run every section, print the report and write it to bench/results.md.

Default sizes fit in about ten minutes on a two-core machine; ``BENCH_FULL=1`` adds the larger sizes
(2,000 feeds; serving from 10,000 and 100,000 items). ``--smoke`` is the tiny run the test suite uses.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aggregator.config import Settings

from .classify import run_classify
from .mail import run_email
from .poll import OursVariant, postgres_problem, postgres_schema, run_polls
from .report import POSTGRES_SUFFIX, Results, render
from .search import run_search
from .serving import run_serving

DEFAULT_OUT = Path(__file__).resolve().parent / "results.md"


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    full = os.environ.get("BENCH_FULL", "").lower() in {"1", "true", "yes"}
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--feeds", type=_ints, default=_ints("100,500,2000" if full else "100,500"),
                        help="corpus sizes in feeds, comma-separated (default 100,500; BENCH_FULL=1: 100,500,2000)")
    parser.add_argument("--items-per-feed", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="concurrent fetches, the same for every runner")
    parser.add_argument("--serve-items", type=_ints, default=_ints("10000,100000" if full else "100000"))
    parser.add_argument("--classify-items", type=int, default=20_000)
    parser.add_argument("--naive-seconds", type=float, default=20.0,
                        help="time budget of the naive classifier (its rate is taken over the items it did)")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--parse-processes", type=int, default=0,
                        help="also run our pipeline with this POLL_PARSE_PROCESSES (default 0: no such variant; "
                             "ours runs with the shipped default, auto, and with 0)")
    parser.add_argument("--corpora", default="bench,real",
                        help="which corpora to poll: bench (corpus.py), real (corpus_real.py, shaped like real feeds)")
    parser.add_argument("--no-cli", action="store_true",
                        help="skip the runs of the whole `flask --app aggregator poll` command")
    parser.add_argument("--search-items", type=int, default=100_000,
                        help="stored items of the search section (default 100,000)")
    parser.add_argument("--sections", default="poll,serve,search,classify,email")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL even when it answers")
    parser.add_argument("--profile", action="store_true",
                        help="also profile our first poll of the largest size with pyinstrument (bench/profile-*.txt)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (5 feeds × 5 items, 200 stored items): checks that the benchmark works")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.smoke:
        args.feeds, args.items_per_feed, args.serve_items, args.search_items = [5], 5, [200], 200
        args.classify_items, args.subscribers, args.naive_seconds = 200, 20, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    sections = set(args.sections.split(","))
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    results = Results(started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), options={
        "feeds": "/".join(map(str, args.feeds)), "items per feed": args.items_per_feed, "workers": args.workers,
        "stored items": "/".join(map(str, args.serve_items)), "search items": args.search_items,
        "classify items": args.classify_items,
        "subscribers": args.subscribers, "corpora": args.corpora,
        "POLL_PARSE_PROCESSES (shipped default)": f"auto = {Settings.from_env({}).poll_parse_processes} here",
    })

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def checkpoint() -> None:
        """Write what is measured so far: a long run interrupted late still leaves its figures."""
        results.seconds = time.perf_counter() - started
        results.load = (load_at_start, os.getloadavg()[0])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(results) + "\n", encoding="utf-8")

    pg_problem = "skipped (--no-postgres)" if args.no_postgres else postgres_problem()
    if pg_problem:
        results.notes.append(f"PostgreSQL sections skipped: {pg_problem}.")
    # "ours": Poller.poll_many with the shipped settings (POLL_PARSE_PROCESSES=auto); the CLI variant is the whole
    # `flask poll` command a user runs (start-up and table included); "no parse processes" is what one core gets.
    variants = [OursVariant("ours", {})]
    if not args.no_cli:
        variants.append(OursVariant("ours: flask poll command", {}, cli=True))
    variants.append(OursVariant("ours, no parse processes", {"poll_parse_processes": 0}))
    if args.parse_processes > 0:
        variants.append(OursVariant(f"ours, {args.parse_processes} parse processes",
                                    {"poll_parse_processes": args.parse_processes}))
    # Classification first: it measures one core. Run after the serving section it came out a third slower than
    # alone (the database server is still busy then, after 100,000-row inserts and dropped schemas).
    if "classify" in sections:
        log("classification …")
        results.classify = run_classify(args.classify_items, args.naive_seconds)
        checkpoint()
    if "poll" in sections:
        for corpus in [c.strip() for c in args.corpora.split(",") if c.strip()]:
            for feeds in args.feeds:
                run_variants = list(variants)
                if not pg_problem and feeds == max(args.feeds):
                    run_variants.append(OursVariant("ours" + POSTGRES_SUFFIX, {}, postgres=True))
                profile_dir = args.out.parent if args.profile and feeds == max(args.feeds) else None
                results.polls.append(run_polls(feeds, args.items_per_feed, args.workers, run_variants,
                                               profile_dir=profile_dir, log=log, corpus=corpus))
                checkpoint()
    if "serve" in sections:
        import tempfile

        for items in args.serve_items:
            with tempfile.TemporaryDirectory(prefix="bench-serve-db-") as tmp:
                small = args.smoke
                results.serving.append(run_serving(f"sqlite:///{tmp}/serve.db", items, "sqlite",
                                                   workers=1 if small else 2, max_requests=20 if small else 400,
                                                   max_seconds=2 if small else 8, log=log))
        if not pg_problem:
            with postgres_schema() as url:
                results.serving.append(run_serving(url, max(args.serve_items), "postgresql",
                                                   max_requests=20 if args.smoke else 400,
                                                   max_seconds=2 if args.smoke else 8, log=log))
        checkpoint()
    if "search" in sections:
        import tempfile

        small = args.smoke
        limits = {"max_requests": 20 if small else 300, "max_seconds": 2 if small else 8}
        with tempfile.TemporaryDirectory(prefix="bench-search-db-") as tmp:
            log("search …")
            results.search.append(run_search(f"sqlite:///{tmp}/search.db", args.search_items, "sqlite",
                                             workers=1 if small else 2, log=log, **limits))
        checkpoint()
        if not pg_problem:
            with postgres_schema() as url:
                results.search.append(run_search(url, args.search_items, "postgresql", log=log, **limits))
        checkpoint()
    if "email" in sections:
        log("digest sending …")
        results.email = run_email(args.subscribers)
    results.seconds = time.perf_counter() - started
    results.load = (load_at_start, os.getloadavg()[0])
    report = render(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")
    print(report)
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
