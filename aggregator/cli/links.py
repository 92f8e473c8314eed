"""`flask check-links`: try the items' own links now (the scheduler also does it, LINK_CHECK_PER_HOUR an hour)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ..db import get_database
from ..poll.link_check import LinkChecker, LinkReport, check_links


def run(app: Flask, limit: int) -> LinkReport:
    settings = app.extensions["aggregator"].settings
    checker = LinkChecker(settings.user_agent, timeout=(settings.fetch_connect_timeout, settings.fetch_read_timeout))
    try:
        return check_links(get_database(app), checker, limit)
    finally:
        checker.close()


@click.command("check-links")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Links to try, least recently checked first.")
@with_appcontext
def check_links_command(limit: int) -> None:
    """Try items' own links; mark those answering 404/410 so feeds and emails link to the item's page instead."""
    report = run(current_app._get_current_object(), limit)  # type: ignore[attr-defined]
    click.echo(f"checked {report.checked}: {report.ok} ok, {report.gone} gone (404/410), "
               f"{report.unknown} without a usable answer")


def add_link_job(scheduler: Any, app: Flask) -> None:
    per_hour: int = app.extensions["aggregator"].settings.link_check_per_hour
    if per_hour <= 0:
        return
    from ..poll.scheduler import logged_job

    scheduler.add_job(logged_job("check-links", lambda: run(app, per_hour)), "interval", hours=1,
                      id="check-links", max_instances=1, coalesce=True, replace_existing=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(check_links_command)
    jobs: list[Callable[[Any, Flask], None]] = app.extensions.setdefault("aggregator.jobs", [])
    if add_link_job not in jobs:
        jobs.append(add_link_job)
