"""Operator commands of the email digest (``flask --app aggregator digest --help``, ``subscribers --help``) and the
scheduler's weekly digest job. Thin: each calls delivery, digest or the subscription store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..context import services
from ..db import get_database
from ..errors import BadRequest, ConfigError, DeliveryError
from ..mail import digest, subscriptions
from ..mail.delivery import Sender, SendReport, digest_links
from ..mail.mailer import Outgoing, build_message, make_message_id, send_one
from ..store import mail as store_mail

log = logging.getLogger(__name__)

digest_cli = AppGroup("digest", help="Send or preview the weekly email digest.")
subscribers_cli = AppGroup("subscribers", help="Add, list and remove digest subscribers.")


def _now() -> datetime:
    clock: Callable[[], datetime] = current_app.extensions.get("aggregator.clock", lambda: datetime.now(UTC))
    return clock()


def _week(text: str | None) -> digest.Week:
    settings = services().settings
    if not text:
        return digest.previous_week(_now(), settings.digest_timezone)
    try:
        return digest.parse_week(text)
    except BadRequest as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from exc


def make_sender(app: Flask, **options: Any) -> Sender:
    svc = app.extensions["aggregator"]
    options.setdefault("clock", app.extensions.get("aggregator.clock", lambda: datetime.now(UTC)))
    return Sender(get_database(app), svc.settings, svc.topic_names, secret_key=app.config["SECRET_KEY"], **options)


@digest_cli.command("send")
@click.option("--week", "week_text", metavar="YYYY-Www",
              help="The ISO week to send, e.g. 2026-W47. Default: the last complete week.")
@click.option("--dry-run", is_flag=True, help="Show who would get how many items; send and record nothing.")
def send_command(week_text: str | None, dry_run: bool) -> None:
    """Send a week's digest to every confirmed subscriber, exactly once.

    Safe to run again: subscribers who already got this week's digest are skipped, and a run that was
    interrupted is completed. Exit status 0 when done (or another sender is running), 1 when some
    emails are left for a later retry.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    week = _week(week_text)
    try:
        report = make_sender(app).send_week(week, dry_run=dry_run)
    except DeliveryError as exc:
        raise click.ClickException(str(exc)) from exc
    if dry_run:
        for email, count in report.previews:
            click.echo(f"{email}: {count} item(s)" + ("" if count else " (nothing would be sent)"))
    click.echo(report.summary())
    if report.retry_later:
        raise SystemExit(1)


@digest_cli.command("preview")
@click.option("--week", "week_text", metavar="YYYY-Www", help="The ISO week, e.g. 2026-W47. Default: the last one.")
@click.option("--topic", "topics", multiple=True, metavar="ID", help="Only these topics (repeatable). Default: all.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write. Default: instance/outbox/preview-YYYY-Www.eml (or .html / .txt).")
@click.option("--format", "fmt", type=click.Choice(["eml", "html", "text"]), default="eml", show_default=True,
              help="eml: the whole email, to open in a mail client; html or text: one part.")
def preview_command(week_text: str | None, topics: tuple[str, ...], output: Path | None, fmt: str) -> None:
    """Write a week's digest to a file, exactly as a subscriber would get it (with placeholder personal links)."""
    svc = services()
    settings = svc.settings
    week = _week(week_text)
    unknown = [t for t in topics if t not in svc.topic_names]
    if unknown:
        raise click.BadParameter(f"unknown topic(s) {', '.join(unknown)}. Known: {', '.join(svc.topic_names)}",
                                 param_hint="--topic")
    start, end = week.bounds(settings.digest_timezone)
    with get_database().session_scope() as session:
        items = store_mail.items_first_seen_between(session, start, end)
    built = digest.build(week, items, list(topics) or list(svc.topic_names), svc.topic_names,
                         settings.digest_timezone)
    links = digest_links(settings, week)
    rendered = digest.render(built, links, preview=True)
    rendered = rendered.personalise(settings.base_url + "/unsubscribe/(your-link)",
                                    settings.base_url + "/subscribe/manage/(your-link)")
    suffix = {"eml": ".eml", "html": ".html", "text": ".txt"}[fmt]
    path = output or settings.outbox_path / f"preview-{week}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "eml":
        message = build_message(settings.mail_from, Outgoing(
            to="preview@example.invalid", subject=rendered.subject, text=rendered.text, html=rendered.html,
            message_id=make_message_id(settings.mail_from), date=_now(),
            unsubscribe_url=settings.base_url + "/unsubscribe/(your-link)"))
        path.write_bytes(message.as_bytes())
    else:
        path.write_text(rendered.html if fmt == "html" else rendered.text, encoding="utf-8")
    click.echo(f"{rendered.subject}\nWritten to {path}")


@subscribers_cli.command("add")
@click.argument("email")
@click.option("--topics", "topics_text", default=subscriptions.DEFAULT_TOPIC, show_default=True,
              help="Comma-separated topic ids.")
@click.option("--confirmed", is_flag=True,
              help="Subscribe at once, without a confirmation email (only with the person's consent).")
def add_command(email: str, topics_text: str, confirmed: bool) -> None:
    """Add EMAIL. Without --confirmed it waits for its owner to open the emailed confirmation link."""
    svc = services()
    try:
        address = subscriptions.normalise_address(email)
    except subscriptions.InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    wanted = [t.strip() for t in topics_text.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in svc.topic_names]
    if unknown or not wanted:
        raise click.BadParameter(f"unknown or no topic(s) {', '.join(unknown)}. Known: {', '.join(svc.topic_names)}",
                                 param_hint="--topics")
    topics = subscriptions.clean_topics(wanted, list(svc.topic_names))
    now = _now()
    with get_database().session_scope() as session:
        subscriber = store_mail.subscriber_by_email(session, address)
        if subscriber is None:
            subscriber = store_mail.add_subscriber(session, address, topics, now,
                                                   status="confirmed" if confirmed else "pending")
        else:
            subscriber.topics = topics
            if confirmed:
                subscriptions.confirm(session, subscriber.id, subscriber.email, now)
        status = subscriber.status
        confirm_url = None
        if status == "pending":
            tokens = subscriptions.Tokens(current_app.config["SECRET_KEY"], svc.settings.confirm_max_age, _now)
            confirm_url = subscriptions.Links(svc.settings.base_url, tokens).confirm(subscriber)
    if confirm_url:
        rendered = digest.render_confirmation(confirm_url, None, svc.settings.base_url + "/", already=False)
        try:
            send_one(svc.settings, Outgoing(to=address, subject=rendered.subject, text=rendered.text,
                                            html=rendered.html, message_id=make_message_id(svc.settings.mail_from),
                                            date=now))
        except DeliveryError as exc:
            raise click.ClickException(f"{address} added, but the confirmation email failed: {exc}") from exc
        click.echo(f"{address}: pending; confirmation email sent (topics: {', '.join(topics)}).")
    else:
        click.echo(f"{address}: {status} (topics: {', '.join(topics)}).")


@subscribers_cli.command("list")
@click.option("--status", type=click.Choice(["pending", "confirmed", "unsubscribed", "suspended"]),
              help="Only subscribers in this state.")
def list_command(status: str | None) -> None:
    """List subscribers: address, state, topics, permanent failures."""
    with get_database().session_scope() as session:
        rows = store_mail.list_subscribers(session, status)
        for s in rows:
            failures = f"  {s.permanent_failures} failure(s): {s.last_failure}" if s.permanent_failures else ""
            click.echo(f"{s.email}\t{s.status}\t{','.join(s.topics or [])}{failures}")
        counts = store_mail.count_by_status(session)
    click.echo(f"{len(rows)} subscriber(s)." + (" " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                                               if counts and not status else ""))


@subscribers_cli.command("remove")
@click.argument("email")
def remove_command(email: str) -> None:
    """Forget EMAIL and its delivery records (to honour an erasure request; readers unsubscribe themselves)."""
    address = email.strip().lower()
    with get_database().session_scope() as session:
        removed = store_mail.delete_subscriber(session, address)
    if not removed:
        raise click.ClickException(f"{address} is not on the list (see `subscribers list`).")
    click.echo(f"{address} removed.")


# ---------------------------------------------------------------------------------------------------- scheduler


def digest_trigger(settings: Any) -> Any:
    """The cron trigger of DIGEST_DAY at DIGEST_TIME in DIGEST_TIMEZONE."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        zone = ZoneInfo(settings.digest_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"DIGEST_TIMEZONE={settings.digest_timezone!r} is not an IANA time zone "
                          "(e.g. Europe/London)") from exc
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    return CronTrigger(day_of_week=settings.digest_day, hour=hour, minute=minute, timezone=zone)


def digest_job(app: Flask) -> Callable[[], str]:
    def job() -> str:
        with app.app_context():
            sender = make_sender(app)
            week = digest.previous_week(sender.clock(), sender.settings.digest_timezone)
            report: SendReport = sender.send_week(week)
        return f"({report.summary()})"

    return job


def add_digest_job(scheduler: Any, app: Flask) -> None:
    from ..poll.scheduler import logged_job

    scheduler.add_job(
        logged_job("digest", digest_job(app)),
        digest_trigger(app.extensions["aggregator"].settings),
        id="digest",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,  # a scheduler that was down at 08:00 still sends the digest by 14:00
        replace_existing=True,
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(digest_cli)
    app.cli.add_command(subscribers_cli)
    jobs: list[Callable[[Any, Flask], None]] = app.extensions.setdefault("aggregator.jobs", [])
    if add_digest_job not in jobs:
        jobs.append(add_digest_job)
