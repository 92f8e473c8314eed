"""Operator commands (``flask --app aggregator <command> --help``). Thin: each calls the pipeline or the store."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .. import store, topics
from ..context import services
from ..db import get_database
from ..domain import PollReport
from ..poll.parse import json_text
from ..poll.pipeline import Poller
from ..topics.classify import hit_to_dict
from ..topics.review import apply_verdicts


def build_poller(app: Flask) -> Poller:
    state = app.extensions["aggregator"]
    return Poller(get_database(app), state.catalog, state.classifier, state.settings)


def _report_table(reports: Sequence[PollReport]) -> str:
    headers = ("source", "outcome", "new", "updated", "unchanged", "seconds", "error")
    rows = [
        (r.source_id, r.outcome, str(r.new), str(r.updated), str(r.unchanged), f"{r.seconds:.1f}",
         (r.error or "")[:90])
        for r in reports
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    totals = (sum(r.new for r in reports), sum(r.updated for r in reports), sum(r.unchanged for r in reports))
    failed = sum(r.outcome == "error" for r in reports)
    lines.append(f"\n{len(reports)} source(s): {totals[0]} new, {totals[1]} updated, {totals[2]} unchanged, "
                 f"{failed} failed.")
    return "\n".join(lines)


@click.command("poll")
@with_appcontext
@click.option("--source", "source_ids", multiple=True, metavar="ID",
              help="Poll only this source (repeatable). Default: every enabled source.")
@click.option("--due", is_flag=True, help="Poll only the sources whose next poll is due (what the scheduler does).")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: when on a terminal).")
def poll_command(source_ids: tuple[str, ...], due: bool, progress: bool | None) -> None:
    """Poll the sources in feeds.yaml once, store new and changed items, and print a table per source.

    A failing source is reported and retried later with back-off; it never stops the others.
    Exit status is 0 even when some sources failed (see the table), 2 for an unknown source id.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    catalog = services().catalog
    unknown = [sid for sid in source_ids if catalog.source(sid) is None]
    if unknown:
        known = ", ".join(spec.id for spec in catalog.sources)
        raise click.BadParameter(f"unknown source(s) {', '.join(unknown)}. Known: {known}", param_hint="--source")
    poller = build_poller(app)
    poller.sync_sources()
    if source_ids:
        targets = list(source_ids)
    elif due:
        targets = poller.due_sources()
    else:
        targets = [spec.id for spec in catalog.sources if spec.enabled]
    if not targets:
        click.echo("Nothing to poll: no enabled source" + (" is due." if due else " in feeds.yaml."))
        return
    show = sys.stderr.isatty() if progress is None else progress
    lock = threading.Lock()
    with click.progressbar(length=len(targets), label="Polling", file=sys.stderr, hidden=not show,
                           show_pos=True, item_show_func=lambda r: r) as bar:

        def done(report: PollReport) -> None:
            with lock:
                bar.update(1, report.source_id)

        try:
            reports = poller.poll_many(targets, done, due_only=due)
        finally:
            poller.shutdown()
    click.echo(_report_table(reports))


@click.command("reclassify")
@with_appcontext
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: when on a terminal).")
def reclassify_command(progress: bool | None) -> None:
    """Re-apply the topic rules of feeds.yaml to every stored item (after editing the rules).

    Reviewers' verdicts (`label`) are kept: they override the rules for their item and topic.
    """
    svc = services()
    database = get_database()
    show = sys.stderr.isatty() if progress is None else progress
    changed = total = 0
    now = datetime.now(UTC)
    with database.session_scope() as session:
        count = store.count_items(session)
        removed = store.delete_orphan_topics(session, svc.classifier.topic_ids)
    with click.progressbar(length=count, label="Reclassifying", file=sys.stderr, hidden=not show,
                           show_pos=True) as bar, database.session_scope() as session:
        for batch in store.iter_items_for_reclassify(session):
            verdicts = store.verdicts_for(session, [item.id for item in batch])
            for item in batch:
                boilerplate = frozenset(item.source.boilerplate or ()) if item.source else frozenset()
                matches = svc.classifier.matches(item.title, item.summary_text, item.content_text,
                                                 item.categories or (), boilerplate)
                rows = [(m.topic_id, float(m.score), [hit_to_dict(h) for h in m.hits]) for m in matches]
                rows = apply_verdicts(rows, verdicts.get(item.id, {}))  # a reviewer's word outlives the rules
                if store.replace_topics(item, rows):
                    changed += 1
                    item.updated_at = now  # its feeds changed: revalidating readers must see it
            total += len(batch)
            session.flush()
            session.commit()
            session.expunge_all()
            bar.update(len(batch))
    click.echo(f"Reclassified {total} item(s): {changed} changed topics"
               + (f", {removed} match(es) of removed topics dropped." if removed else "."))


@click.command("classify")
@with_appcontext
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--explain", is_flag=True, help="Print a readable account of each decision instead of JSON Lines.")
def classify_command(file: IO[str], explain: bool) -> None:
    """Classify JSON Lines from FILE (default: standard input) with the topic rules of feeds.yaml.

    Each input line is an object with "title", "summary" and optionally "content", "link" and "categories".
    Each output line is the same object with "topics" (matching topic ids) and "matches" (the terms that
    matched, per field) added. A line that is not a JSON object is reported on standard error and skipped.
    """
    classifier = services().classifier
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            record: Any = json_text.loads(line)  # a lone surrogate escape becomes U+FFFD
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            click.echo(f"line {number}: skipped, {exc}", err=True)
            continue
        matches = classifier.matches(
            str(record.get("title") or ""), str(record.get("summary") or ""), str(record.get("content") or ""),
            [str(c) for c in record.get("categories") or []],
        )
        if explain:
            title = str(record.get("title") or "")[:100]
            click.echo(nl=False, message=f"{number}: {title}\n")
            if not matches:
                click.echo(nl=False, message="   no topic matched\n")
            for match in matches:
                click.echo(nl=False, message=f"   {match.explain()}\n")
            continue
        record["topics"] = [match.topic_id for match in matches]
        record["matches"] = [match.to_dict() for match in matches]
        click.echo(nl=False, message=json.dumps(record, ensure_ascii=False) + "\n")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler in the foreground (the Procfile's worker): polls due sources and sends the digest."""
    from ..poll import scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = services().settings
    click.echo(f"Scheduler started: looking for due sources every {settings.scheduler_tick_seconds} s. Ctrl+C stops.")
    click.echo(f"Topic matcher: {topics.MATCHER}.")
    try:
        scheduler.blocking(app, settings.scheduler_tick_seconds, build_poller(app)).start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("Scheduler stopped.")
    finally:  # hand the leader lock over at once rather than after its expiry
        leader = app.extensions.get("aggregator.poll.leader")
        if leader is not None:
            leader.release()


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--scheduler/--no-scheduler", "with_scheduler", default=True, show_default=True,
              help="Also poll the sources in a background thread of this process.")
def serve_command(host: str, port: int, with_scheduler: bool) -> None:
    """Serve the site with the development server and, by default, the scheduler in the same process.

    This is what `make run` uses. In production run gunicorn and a separate `scheduler` process (see Procfile).
    """
    from ..poll import scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if with_scheduler:
        scheduler.background(app, services().settings.scheduler_tick_seconds, build_poller(app)).start()
        click.echo("Background scheduler started: sources are polled as they fall due.")
        click.echo(f"Topic matcher: {topics.MATCHER}.")
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl+C stops).")
    # Not app.run(): Flask ignores it inside a `flask` command (it would block the CLI), and the process would exit.
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


@click.command("check-feeds")
@with_appcontext
def check_feeds_command() -> None:
    """Validate feeds.yaml (sources and topic rules) and list what it defines."""
    svc = services()
    enabled = [spec for spec in svc.catalog.sources if spec.enabled]
    click.echo(f"{svc.settings.feeds_path}: {len(svc.catalog.sources)} sources ({len(enabled)} enabled), "
               f"{len(svc.classifier.topic_ids)} topics: {', '.join(svc.classifier.topic_ids)}. OK.")
    click.echo(f"Topic matcher: {topics.MATCHER}.")


def init_app(app: Flask) -> None:
    for command in (poll_command, reclassify_command, classify_command, scheduler_command, serve_command,
                    check_feeds_command):
        app.cli.add_command(command)
