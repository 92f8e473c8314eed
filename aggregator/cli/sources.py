"""``flask check-sources --live``: fetch every enabled source once and say what works (aggregator/poll/diagnosis.py).

Registered by aggregator/cli/poll.py. Nothing is written to the database; the production fetcher (USER_AGENT, timeouts,
size cap) and each kind's own retriever are used, so what works here works in the poller.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import with_appcontext

from ..context import services
from ..poll.diagnosis import CheckResult, check_source, failed_seed_groups
from ..poll.fetch import Fetcher, FetchLimits
from ..poll.pipeline import RETRIEVERS, _default_retriever

Clock = Callable[[], datetime]


def _age(newest: datetime | None, now: datetime) -> str:
    if newest is None:
        return "-"
    days = (now - newest).days
    return f"{newest.date().isoformat()} ({days} d ago)" if days else f"{newest.date().isoformat()} (today)"


def render(results: list[CheckResult], names: dict[str, str], groups: dict[str, str | None], now: datetime) -> str:
    lines = []
    for r in results:
        topics = ", ".join(f"{topic} {count}" for topic, count in sorted(r.matches.items())) or "no matches"
        group = f" [{groups[r.source_id]}]" if groups.get(r.source_id) else ""
        lines.append(f"{'OK  ' if r.ok else 'FAIL'} {r.source_id}{group} — {names.get(r.source_id, '')}")
        lines.append(f"     status {r.status} · {r.items} items · newest {_age(r.newest, now)} · {topics}")
        lines.append(f"     {r.diagnosis}")
    return "\n".join(lines)


@click.command("check-sources")
@with_appcontext
@click.option("--live", is_flag=True, help="Really fetch each source once (needs the network). Without it, "
              "only list what would be checked.")
@click.option("--source", "source_ids", multiple=True, metavar="ID", help="Check only this source (repeatable).")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: when on a terminal).")
def check_sources_command(live: bool, source_ids: tuple[str, ...], progress: bool | None) -> None:
    """Fetch every enabled source once and print, per source: HTTP status, items, newest item date, matches per
    topic, and a diagnosis in words (wrong query, an HTML page and where its feed is, 403 to our client, a page
    built by JavaScript ...). Run it first after deploying, and after editing feeds.yaml.

    Nothing is stored. Exit status: 0 when every seed publisher (`seed: true` in feeds.yaml) has at least one
    working route, 1 when one has none, 2 for an unknown --source.
    """
    run_check(live, source_ids, progress)


def run_check(live: bool, source_ids: tuple[str, ...], progress: bool | None,
              clock: Clock = lambda: datetime.now(UTC)) -> None:
    svc = services()
    catalog = svc.catalog
    unknown = [sid for sid in source_ids if catalog.source(sid) is None]
    if unknown:
        raise click.BadParameter(f"unknown source(s) {', '.join(unknown)}", param_hint="--source")
    specs = [catalog.source(sid) for sid in source_ids] if source_ids else [s for s in catalog.sources if s.enabled]
    targets = [s for s in specs if s is not None]
    if not live:
        for spec in targets:
            click.echo(f"{spec.id:32} {spec.kind:15} {spec.url}")
        click.echo(f"\n{len(targets)} source(s) would be fetched once each. Add --live to do it.")
        return
    s = svc.settings
    fetcher = Fetcher(s.user_agent, FetchLimits(s.fetch_connect_timeout, s.fetch_read_timeout, s.fetch_total_timeout,
                                                s.fetch_max_bytes, s.fetch_max_redirects), clock=clock)
    results: dict[str, CheckResult] = {}
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with click.progressbar(targets, label="Checking", file=sys.stderr, hidden=not show, show_pos=True,
                               item_show_func=lambda spec: spec.id if spec else "") as bar:
            for spec in bar:
                retriever = RETRIEVERS.get(spec.kind, _default_retriever)
                results[spec.id] = check_source(spec, fetcher, retriever, svc.classifier, clock())
    finally:
        fetcher.close()
    ordered = [results[spec.id] for spec in targets]
    now = clock()
    click.echo(render(ordered, {x.id: x.name for x in catalog.sources}, {x.id: x.group for x in catalog.sources},
                      now))
    working = sum(r.ok for r in ordered)
    click.echo(f"\n{working} of {len(ordered)} source(s) work.")
    failed = failed_seed_groups(targets, results)
    if failed:
        click.echo(f"No working route for seed publisher(s): {', '.join(failed)}. Fix or add a route in "
                   "feeds.yaml before relying on this deployment.", err=True)
        sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(check_sources_command)
