"""The Markdown report: every figure beside its in-run baseline, as a ratio, with each target marked met or missed."""

from __future__ import annotations

import platform
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .classify import ClassifyRun
from .poll import PollRun
from .serving import ServingRun, full_scans

MB = 1024 * 1024


@dataclass
class EmailRun:
    subscribers: int
    ours_seconds: float | None = None
    ours_sent: int = 0
    baseline_seconds: float | None = None
    baseline_sent: int = 0
    pending: str | None = None


@dataclass
class Results:
    started: str
    options: dict[str, Any]
    polls: list[PollRun] = field(default_factory=list)
    postgres_polls: list[PollRun] = field(default_factory=list)
    serving: list[ServingRun] = field(default_factory=list)
    search: list[ServingRun] = field(default_factory=list)
    classify: ClassifyRun | None = None
    email: EmailRun | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _rate(items: int, seconds: float) -> str:
    return f"{items / seconds:,.0f}" if seconds else "–"


CORPUS_NAMES = {"bench": "bench corpus", "real": "corpus shaped like real feeds"}
POSTGRES_SUFFIX = ", PostgreSQL"


def _poll_section(runs: list[PollRun], title: str) -> list[str]:
    out = [f"## {title}", ""]
    for run in runs:
        corpus = CORPUS_NAMES.get(run.corpus, run.corpus)
        out.append(f"### {run.feeds} feeds × {run.items_per_feed} items, {corpus}, {run.workers} concurrent fetches")
        out.append("")
        base = run.results.get("baseline", {}).get("first")
        peer = run.results.get("reader", {}).get("first")
        rows = []
        for label, result in run.results.items():
            first = result["first"]
            vs_base = f"{first['seconds'] / base['seconds']:.2f}×" if base else "–"
            vs_peer = f"{peer['seconds'] / first['seconds']:.2f}× faster" if peer else "–"
            targets = []
            if label.startswith("ours") and base:
                targets.append(f"≤ baseline: {verdict(first['seconds'] <= base['seconds'])}")
            if label.startswith("ours") and peer:
                targets.append(f"≥ 1.6× reader: {verdict(peer['seconds'] / first['seconds'] >= 1.6)}")
            sqlite = run.results.get(label.removesuffix(POSTGRES_SUFFIX), {}).get("first")
            if label.endswith(POSTGRES_SUFFIX) and sqlite:
                ratio = first["seconds"] / sqlite["seconds"]
                targets.append(f"{ratio:.2f}× SQLite, ≤ 1.2×: {verdict(ratio <= 1.2)}")
            cpu_ratio = f"{first['cpu'] / base['cpu']:.2f}×" if base and base.get("cpu") else "–"
            pss = first.get("peak_pss", 0)
            pss_ratio = f"{pss / base['peak_pss']:.2f}×" if base and base.get("peak_pss") else "–"
            rows.append([label, f"{first['seconds']:.2f}", first["items"], _rate(first["items"], first["seconds"]),
                         f"{first['peak_rss'] / MB:.0f}", f"{pss / MB:.0f}", pss_ratio, f"{first.get('cpu', 0):.1f}",
                         vs_base, cpu_ratio, vs_peer, "; ".join(targets) or "–"])
        out += ["**First poll** (empty database)", "",
                table(["runner", "wall s", "items", "items/s", "peak RSS MB", "peak PSS MB", "PSS ÷ baseline",
                       "CPU s", "time ÷ baseline", "CPU ÷ baseline", "reader time ÷ this", "targets"], rows), "",
                "RSS sums each process of the tree; PSS counts a page shared by the poller and its forked parse "
                "workers once in all (the memory they take from the machine).", ""]
        rows = []
        for label, result in run.results.items():
            first, second = result["first"], result["second"]
            req = run.second_poll_requests.get(label, {})
            share = second["seconds"] / first["seconds"] if first["seconds"] else 0.0
            target = verdict(share < 0.05 and req.get("not_modified") == req.get("requests")) \
                if label.startswith("ours") else "–"
            rows.append([label, f"{second['seconds']:.3f}", req.get("requests", "–"), req.get("conditional", "–"),
                         req.get("not_modified", "–"), second["items"], f"{share:.1%}", target])
        out += ["**Second poll** (nothing changed)", "",
                table(["runner", "wall s", "requests", "conditional", "answered 304", "items parsed",
                       "÷ first poll", "target < 5%, all 304"], rows), ""]
        if any(label == "reader" and run.second_poll_requests.get(label, {}).get("requests") == 0
               for label in run.results):
            out += ["`reader` sent no request on its second update: it skips feeds whose last update is recent, "
                    "so its second-poll time is not comparable.", ""]
    return out


def _scaling_section(runs: list[PollRun]) -> list[str]:
    if len(runs) < 2:
        return []
    out = [f"## How time and memory grow (first poll, {CORPUS_NAMES.get(runs[0].corpus, runs[0].corpus)})", ""]
    labels = [label for label in runs[0].results if label.startswith("ours") or label in {"baseline", "reader"}]
    rows = []
    smallest = runs[0]
    for label in labels:
        ref = smallest.results[label]["first"]
        ref_per_item = ref["seconds"] / max(ref["items"], 1)
        for run in runs:
            if label not in run.results:
                continue
            first = run.results[label]["first"]
            per_item = first["seconds"] / max(first["items"], 1)
            grow_items = first["items"] / max(ref["items"], 1)
            grow_rss = first["peak_rss"] / max(ref["peak_rss"], 1)
            linear = per_item <= ref_per_item * 1.25 and grow_rss <= max(grow_items, 1.0) * 1.25
            rows.append([label, run.feeds, first["items"], f"{first['seconds']:.2f}", f"{per_item * 1e3:.3f}",
                         f"{first['peak_rss'] / MB:.0f}", f"{grow_items:.1f}×", f"{grow_rss:.2f}×",
                         verdict(linear) if run is not smallest else "–"])
    out += [table(["runner", "feeds", "items", "wall s", "ms per item", "peak RSS MB", "items ÷ smallest",
                   "RSS ÷ smallest", "linear or better"], rows), "",
            "Linear or better: time per item within 25% of the smallest run's, and memory growing no faster than "
            "the item count.", ""]
    return out


def _serving_section(runs: list[ServingRun], title: str = "Serving (gunicorn, loopback clients)",
                     targets_of: Callable[[ServingRun], dict[str, float]] | None = None,
                     intro: str = "") -> list[str]:
    out = [f"## {title}", ""] + ([intro, ""] if intro else [])
    for run in runs:
        targets = targets_of(run) if targets_of else {"digest page /": 3.0, "/feed.xml": 3.0, "/feed.xml 304": 1.5}
        out.append(f"### {run.backend}, {run.items:,} stored items ({run.workers} gunicorn workers, "
                   f"{run.clients} client threads; bulk insert {run.insert_seconds:.1f} s)")
        out.append("")
        health = next((e for e in run.endpoints if e.name == "/healthz"), None)
        rows = []
        for e in run.endpoints:
            p50_ratio = e.p50_ms / health.p50_ms if health and health.p50_ms else 0.0
            p99_ratio = e.p99_ms / health.p99_ms if health and health.p99_ms else 0.0
            limit = targets.get(e.name)
            target = f"p50 ≤ {limit:g}× /healthz: {verdict(p50_ratio <= limit)}" if limit else "–"
            rps_ratio = e.rps / health.rps if health and health.rps else 0.0
            rows.append([e.name, f"`{e.path}`", e.status, e.requests, e.errors, f"{e.rps:,.0f}", f"{rps_ratio:.2f}",
                         f"{e.p50_ms:.1f}", f"{e.p99_ms:.1f}", f"{p50_ratio:.2f}×", f"{p99_ratio:.2f}×", target])
        out += [table(["endpoint", "path", "status", "requests", "errors", "req/s", "req/s ÷ healthz", "p50 ms",
                       "p99 ms", "p50 ÷ healthz", "p99 ÷ healthz", "target"], rows), ""]
        if not run.plans:
            continue
        scans = full_scans(run.plans)
        out.append("Query plans (" + ("`EXPLAIN QUERY PLAN`" if run.backend == "sqlite" else "`EXPLAIN`") + "): "
                   + ("no query reads the whole item table." if not scans else
                      "**full scans:** " + "; ".join(scans)))
        out.append("")
        out.append("```text")
        for name, lines in run.plans.items():
            out.append(f"-- {name}")
            out += [f"   {line}" for line in lines]
        out += ["```", ""]
    return out


def _classify_section(run: ClassifyRun | None) -> list[str]:
    out = ["## Classification (one core)", ""]
    if run is None:
        return out + ["Not run.", ""]
    compiled = run.matcher.startswith("compiled")
    ours = "topic rules (ours, compiled with mypyc)" if compiled else "topic rules (ours, pure Python)"
    rows = [[ours, run.items, f"{run.ours_seconds:.2f}", f"{run.ours_rate:,.0f}", run.ours_matched,
             f"≥ 50,000/s: {verdict(run.ours_rate >= 50_000)}"]]
    if run.pure_rate is not None:
        rows.append(["ours, pure Python (`TOPICS_NATIVE=off`)", run.items, f"{run.items / run.pure_rate:.2f}",
                     f"{run.pure_rate:,.0f}", "–", f"the compiled form is {run.ours_rate / run.pure_rate:.2f}× this"])
    if run.naive_seconds is not None and run.naive_rate is not None:
        ratio = run.ours_rate / run.naive_rate
        rows.append(["naive baseline (one regex search per term)", run.naive_items, f"{run.naive_seconds:.2f}",
                     f"{run.naive_rate:,.1f}", run.naive_matched, "–"])
        rows[0][-1] += f"; ≥ 5× naive ({ratio:.1f}×): {verdict(ratio >= 5)}"
    if run.real_items:
        real_ratio = run.real_rate / run.real_naive_rate if run.real_naive_rate else 0.0
        rows.append([f"ours, real feed items ({run.real_distinct} distinct)", run.real_items,
                     f"{run.real_seconds:.2f}", f"{run.real_rate:,.0f}", f"{run.real_matched} of {run.real_distinct}",
                     f"≥ 50,000/s: {verdict(run.real_rate >= 50_000)}; {real_ratio:.0f}× naive"])
        if run.pure_real_rate is not None:
            rows.append(["ours, pure Python, real feed items", "–", "–", f"{run.pure_real_rate:,.0f}", "–",
                         f"the compiled form is {run.real_rate / run.pure_real_rate:.2f}× this"])
        rows.append(["naive baseline, real feed items", run.real_naive_items, f"{run.real_naive_seconds:.2f}",
                     f"{run.real_naive_rate:,.1f}", "–", "–"])
    out += [table(["classifier", "items", "seconds", "items/s", "items matched", "targets"], rows), ""]
    if run.real_items:
        out += ["The first rows classify the generated corpus (0.5–2.5 kB summaries, 8% on topic, and trap phrases "
                "such as LC-MS/MS, multiple myeloma and CAR T in lymphoma in most items; seconds: the fastest of three "
                "passes, as `timeit` takes); the real feed items are those of the RSS, Atom and RDF fixtures in "
                "`tests/data/real`, classified over and over.", ""]
    out += [f"Topic matcher: {run.matcher or 'unknown'} (`make native` compiles it; `aggregator/topics/native.py`)."
            + (" The pure-Python rows ran in a child process with `TOPICS_NATIVE=off`, on the same items." if
               run.pure_rate is not None else ""), ""]
    if run.pure_problem:
        out += [f"Pure-Python rows not measured: {run.pure_problem}.", ""]
    if run.pending:
        out += [f"Naive baseline **pending**: {run.pending}.", ""]
    return out


def _email_section(run: EmailRun | None) -> list[str]:
    out = ["## Digest sending (local aiosmtpd)", ""]
    if run is None:
        return out + ["Not run.", ""]
    if run.pending:
        return out + [f"**Pending**: {run.pending}.", ""]
    rows = []
    base_rate = run.baseline_sent / run.baseline_seconds if run.baseline_seconds else 0.0
    if run.ours_seconds:
        rate = run.ours_sent / run.ours_seconds
        ratio = rate / base_rate if base_rate else 0.0
        rows.append(["send_week (render, record, send)", run.ours_sent, f"{run.ours_seconds:.2f}", f"{rate:,.0f}",
                     f"{ratio:.2f}", f"≥ 0.5× baseline: {verdict(ratio >= 0.5)}"])
    rows.append(["baseline: smtplib loop, pre-rendered", run.baseline_sent, f"{run.baseline_seconds or 0:.2f}",
                 f"{base_rate:,.0f}", "1.00", "–"])
    out += [table(["sender", "messages", "seconds", "messages/s", "÷ baseline", "target"], rows), ""]
    return out


def render(results: Results) -> str:
    import sys

    out = [
        "# Benchmark results",
        "",
        f"Generated by `make bench` at {results.started} in {results.seconds:.0f} s. Machine: {platform.machine()}, "
        f"{_cpus()} CPU(s), Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}. "
        f"Options: {', '.join(f'{k}={v}' for k, v in results.options.items())}. "
        f"Load average (1 min) at start and end: {results.load[0]:.1f} and {results.load[1]:.1f}"
        + (" — **the machine was busy with other work; wall-time ratios are noisy, CPU-time ratios less so**."
           if max(results.load) > _cpus() else "."),
        "",
        "Every figure is measured in the same run as its baseline; ratios, not absolute numbers, are what carry "
        "to another machine. How to run and what was found: docs/benchmark.md.",
        "",
    ]
    out += _poll_section(results.polls, "Polling")
    for corpus in dict.fromkeys(run.corpus for run in results.polls):
        out += _scaling_section([run for run in results.polls if run.corpus == corpus])
    if results.postgres_polls:
        out += _poll_section(results.postgres_polls, "Polling (PostgreSQL)")
    out += _serving_section(results.serving)
    if results.search:
        from .search import targets

        out += _serving_section(results.search, "Search (gunicorn, loopback clients)", targets,
                                "Every request asks a query no earlier one asked (the page caches per query; "
                                "bench/search.py says how); the last row is a repeated, cached query.")
    out += _classify_section(results.classify)
    out += _email_section(results.email)
    if results.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in results.notes] + [""]
    return "\n".join(out)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
