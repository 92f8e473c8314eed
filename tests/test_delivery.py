"""Exactly-once sending of the weekly digest, on SQLite and PostgreSQL, through a real SMTP server on 127.0.0.1:
a repeated send, temporary and permanent failures, suspension, a dead sender's leftovers, concurrent senders,
and the CLI and scheduler entry points."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from aggregator.cli.mail import add_digest_job, digest_job, digest_trigger, make_sender
from aggregator.db import Database, get_database
from aggregator.models import Delivery, Lease, Subscriber
from aggregator.store import mail as store_mail
from tests.conftest import make_app
from tests.mail_support import AFTER_WEEK, IN_WEEK, WEEK, Clock, add_item, add_subscribers, parts, subscriber
from tests.smtp_server import SMTPServer, smtp_server_fixture  # noqa: F401 - the smtp_server fixture

NEXT_WEEK = "2026-W47"


@pytest.fixture
def mail_app(any_db_url: str, feeds_file: Path, smtp_server: SMTPServer) -> Iterator[Flask]:
    application = make_app(
        any_db_url,
        feeds_file,
        **smtp_server.settings(),
        digest_retry_seconds=30.0,
        digest_max_attempts=3,
        digest_suspend_after=2,
        mail_from="CAR T & MS Research <digest@cartms.example>",
    )
    application.extensions["aggregator.clock"] = Clock()
    yield application
    get_database(application).dispose()


def db(app: Flask) -> Database:
    return get_database(app)


def deliveries(app: Flask, week: str = WEEK) -> dict[str, Delivery]:
    with db(app).session_scope() as session:
        rows = store_mail.deliveries_of(session, week)
        emails = {s.id: s.email for s in store_mail.list_subscribers(session)}
        for row in rows:
            session.expunge(row)
    return {emails[row.subscriber_id]: row for row in rows}


def recipients(server: SMTPServer) -> Counter[str]:
    return Counter(r for message in server.messages for r in message.rcpt_tos)


def test_each_confirmed_reader_gets_one_digest_and_a_second_run_sends_nothing(
    mail_app: Flask, smtp_server: SMTPServer
) -> None:
    database = db(mail_app)
    add_item(database, "KYV-101 CAR T in progressive MS", ["car-t-ms"], summary="Six patients treated.")
    add_item(database, "Last week's item", ["car-t-ms"], first_seen=IN_WEEK - timedelta(days=7))
    readers = add_subscribers(database, 4)
    add_subscribers(database, 1, status="pending", prefix="pending")
    add_subscribers(database, 1, status="unsubscribed", prefix="gone")

    report = make_sender(mail_app).send_week(WEEK)
    assert (report.sent, report.items, report.recipients) == (4, 1, 4)
    assert recipients(smtp_server) == Counter({r: 1 for r in readers})
    rows = deliveries(mail_app)
    assert set(rows) == set(readers) and {r.status for r in rows.values()} == {"sent"}
    assert {(r.sent_at, r.item_count, r.attempts) for r in rows.values()} == {(AFTER_WEEK, 1, 1)}

    message = smtp_server.to(readers[0])[0]
    assert message["Subject"] == "CAR T & MS research — week 46, 2026: 1 new item"
    assert message["Message-ID"] == rows[readers[0]].message_id
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    assert "KYV-101 CAR T in progressive MS" in text and "Six patients treated." in html
    assert "Last week's item" not in text
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://aggregator.test/unsubscribe/") and unsubscribe in text and unsubscribe in html

    again = make_sender(mail_app).send_week(WEEK)
    assert again.sent == 0 and len(smtp_server.messages) == 4
    assert mail_app.test_cli_runner().invoke(args=["digest", "send", "--week", WEEK]).exit_code == 0
    assert len(smtp_server.messages) == 4


def test_each_reader_gets_the_items_of_their_topics_and_quiet_weeks_follow_the_setting(
    mail_app: Flask, smtp_server: SMTPServer
) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    add_item(database, "MS item", ["ms-research"])
    [both] = add_subscribers(database, 1, topics=("car-t-ms", "ms-research"), prefix="both")
    [ms_only] = add_subscribers(database, 1, topics=("ms-research",), prefix="ms")
    [quiet] = add_subscribers(database, 1, topics=("car-t-autoimmune",), prefix="quiet")

    report = make_sender(mail_app).send_week(WEEK)
    assert (report.sent, report.skipped) == (2, 1)
    text_both = parts(smtp_server.to(both)[0])[0]
    assert "CAR T item" in text_both and "MS item" in text_both
    text_ms = parts(smtp_server.to(ms_only)[0])[0]
    assert "MS item" in text_ms and "CAR T item" not in text_ms
    assert smtp_server.to(quiet) == [] and deliveries(mail_app)[quiet].status == "skipped"

    noting = make_sender(mail_app, **{})
    object.__setattr__(noting, "settings", _with(noting.settings, digest_quiet_week="note"))
    assert noting.send_week(NEXT_WEEK).sent == 3  # nothing at all that week: everyone gets the short note
    assert "quiet week" in parts(smtp_server.to(quiet)[0])[0].lower()


def _with(settings: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(settings, **changes)


def test_temporary_failures_are_retried_with_backoff_and_then_left_for_the_next_run(
    mail_app: Flask, smtp_server: SMTPServer
) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    flaky, down, fine = add_subscribers(database, 3)
    smtp_server.refuse(flaky, "451 4.7.1 Greylisted, try again later", times=2)
    smtp_server.refuse(down, "452 4.2.2 Mailbox full")
    pauses: list[float] = []

    report = make_sender(mail_app, sleep=pauses.append).send_week(WEEK)
    assert pauses == [30.0, 60.0]  # DIGEST_RETRY_SECONDS, doubled; three rounds in all
    assert (report.sent, report.retry_later, report.failed) == (2, 1, 0)
    assert recipients(smtp_server) == Counter({flaky: 1, fine: 1})
    rows = deliveries(mail_app)
    assert rows[flaky].attempts == 3 and rows[flaky].status == "sent"
    assert rows[down].status == "pending" and "452" in (rows[down].error or "")
    assert subscriber(database, down).status == "confirmed"  # a full mailbox is not a reason to give up on it

    smtp_server.handler.fail.clear()
    result = mail_app.test_cli_runner().invoke(args=["digest", "send", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert recipients(smtp_server) == Counter({flaky: 1, fine: 1, down: 1})


def test_permanent_failures_are_recorded_and_repeated_ones_suspend_the_address(
    mail_app: Flask, smtp_server: SMTPServer
) -> None:
    database = db(mail_app)
    add_item(database, "Week 46 item", ["car-t-ms"])
    add_item(database, "Week 47 item", ["car-t-ms"], first_seen=IN_WEEK + timedelta(days=7))
    add_item(database, "Week 48 item", ["car-t-ms"], first_seen=IN_WEEK + timedelta(days=14))
    bouncing, fine = add_subscribers(database, 2)
    smtp_server.refuse(bouncing, "550 5.1.1 No such user")
    pauses: list[float] = []

    first = make_sender(mail_app, sleep=pauses.append).send_week(WEEK)
    assert (first.sent, first.failed, first.suspended, pauses) == (1, 1, 0, [])  # no retry of a 5xx
    row = deliveries(mail_app)[bouncing]
    assert row.status == "failed" and "550" in (row.error or "")
    assert subscriber(database, bouncing).permanent_failures == 1

    second = make_sender(mail_app).send_week(NEXT_WEEK)
    assert (second.failed, second.suspended) == (1, 1)
    suspended = subscriber(database, bouncing)
    assert suspended.status == "suspended" and "550" in (suspended.last_failure or "")

    third = make_sender(mail_app).send_week("2026-W48")
    assert third.recipients == 1 and recipients(smtp_server) == Counter({fine: 3})
    assert bouncing not in deliveries(mail_app, "2026-W48")
    # Nothing was lost: both failures stay on record.
    assert deliveries(mail_app, WEEK)[bouncing].status == deliveries(mail_app, NEXT_WEEK)[bouncing].status == "failed"


def test_a_success_resets_the_count_of_permanent_failures(mail_app: Flask, smtp_server: SMTPServer) -> None:
    database = db(mail_app)
    add_item(database, "Week 46 item", ["car-t-ms"])
    add_item(database, "Week 47 item", ["car-t-ms"], first_seen=IN_WEEK + timedelta(days=7))
    [reader] = add_subscribers(database, 1)
    smtp_server.refuse(reader, "550 5.2.1 Mailbox disabled", times=1)
    make_sender(mail_app).send_week(WEEK)
    assert subscriber(database, reader).permanent_failures == 1
    make_sender(mail_app).send_week(NEXT_WEEK)
    assert subscriber(database, reader).permanent_failures == 0
    assert subscriber(database, reader).status == "confirmed"


def test_a_dead_senders_claimed_rows_are_sent_again_with_the_same_message_id(
    mail_app: Flask, smtp_server: SMTPServer
) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    done, interrupted, untouched = add_subscribers(database, 3)
    dead = "ghost-host-that-is-not-us:4242:dead"
    with database.session_scope() as session:
        ids = {s.email: s.id for s in store_mail.list_subscribers(session)}
        session.add(
            Delivery(subscriber_id=ids[done], week=WEEK, status="sent", attempts=1, item_count=1, message_id="<old@x>")
        )
        session.add(
            Delivery(
                subscriber_id=ids[interrupted],
                week=WEEK,
                status="sending",
                attempts=1,
                claimed_by=dead,
                claimed_at=AFTER_WEEK,
                message_id="<interrupted@cartms.example>",
                item_count=0,
            )
        )
        # The dead sender's lease has expired (it ran on another host, so only the expiry frees it).
        session.add(Lease(name="digest-sender", owner=dead, expires_at=AFTER_WEEK - timedelta(seconds=1)))

    report = make_sender(mail_app).send_week(WEEK)
    assert (report.sent, report.resumed) == (2, 1)
    assert recipients(smtp_server) == Counter({interrupted: 1, untouched: 1})
    assert smtp_server.to(interrupted)[0]["Message-ID"] == "<interrupted@cartms.example>"
    with database.session_scope() as session:
        assert store_mail.lease_holder(session, "digest-sender") is None  # released at the end


def test_a_live_sender_holding_the_lease_makes_a_second_one_stop(mail_app: Flask, smtp_server: SMTPServer) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    add_subscribers(database, 2)
    with database.session_scope() as session:
        session.add(
            Lease(name="digest-sender", owner="other-host:1:live", expires_at=AFTER_WEEK + timedelta(minutes=5))
        )
    report = make_sender(mail_app).send_week(WEEK)
    assert report.busy and report.holder == "other-host:1:live" and report.sent == 0
    assert smtp_server.messages == [] and deliveries(mail_app) == {}
    assert "another sender is running" in report.summary()

    clock: Clock = mail_app.extensions["aggregator.clock"]
    clock.advance(minutes=6)  # the other sender stopped renewing its lease: it is presumed dead
    assert make_sender(mail_app).send_week(WEEK).sent == 2


def test_only_one_of_two_claims_on_the_same_rows_wins(mail_app: Flask) -> None:
    database = db(mail_app)
    add_subscribers(database, 3)
    with database.session_scope() as session:
        store_mail.ensure_deliveries(session, WEEK, store_mail.confirmed_subscriber_ids(session))
        store_mail.ensure_deliveries(session, WEEK, store_mail.confirmed_subscriber_ids(session))  # idempotent
        ids = store_mail.pending_ids(session, WEEK, 0, 10)
    assert len(ids) == 3
    with database.session_scope() as first, database.session_scope() as second:
        won_first = store_mail.claim_deliveries(first, ids, "a", AFTER_WEEK)
        first.commit()
        won_second = store_mail.claim_deliveries(second, ids, "b", AFTER_WEEK)
    assert len(won_first) == 3 and won_second == []


def test_two_concurrent_senders_send_each_digest_once(mail_app: Flask, smtp_server: SMTPServer) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    readers = add_subscribers(database, 12)
    smtp_server.handler.delay = 0.01  # long enough for the two runs to overlap
    start = threading.Barrier(2)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run(owner: str) -> None:
        try:
            sender = make_sender(mail_app, owner=owner, clock=lambda: datetime.now(UTC), batch=3)
            start.wait()
            reports.append(sender.send_week(WEEK))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"test-thread:{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert recipients(smtp_server) == Counter({r: 1 for r in readers})
    assert sum(r.sent for r in reports) == 12


def test_dry_run_sends_and_records_nothing(mail_app: Flask, smtp_server: SMTPServer) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    add_subscribers(database, 2)
    add_subscribers(database, 1, topics=("ms-research",), prefix="ms")
    result = mail_app.test_cli_runner().invoke(args=["digest", "send", "--week", WEEK, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "reader0@example.org: 1 item(s)" in result.output
    assert "ms0@example.org: 0 item(s) (nothing would be sent)" in result.output
    assert "2 would get a digest" in result.output
    assert smtp_server.messages == [] and deliveries(mail_app) == {}


def test_cli_rejects_a_malformed_week(mail_app: Flask) -> None:
    result = mail_app.test_cli_runner().invoke(args=["digest", "send", "--week", "2026-47"])
    assert result.exit_code == 2 and "2026-W47" in result.output


def test_cli_default_week_is_the_last_complete_one(mail_app: Flask, smtp_server: SMTPServer) -> None:
    add_item(db(mail_app), "CAR T item", ["car-t-ms"])
    add_subscribers(db(mail_app), 1)
    result = mail_app.test_cli_runner().invoke(args=["digest", "send"])  # the clock says Monday 16 November
    assert result.exit_code == 0 and WEEK in result.output
    assert len(smtp_server.messages) == 1


def test_the_monday_after_the_53rd_week_sends_2026_w53_with_its_items_only(mail_app: Flask,
                                                                          smtp_server: SMTPServer) -> None:
    # 2026 has 53 ISO weeks: 2026-W53 runs from Monday 28 December 2026 to Sunday 3 January 2027.
    database = db(mail_app)
    add_item(database, "CAR T item of Sunday 27 December (2026-W52)", ["car-t-ms"],
             first_seen=datetime(2026, 12, 27, 23, 59, 59, tzinfo=UTC))
    add_item(database, "CAR T item of Monday 28 December (2026-W53)", ["car-t-ms"],
             first_seen=datetime(2026, 12, 28, 0, 0, tzinfo=UTC))
    add_item(database, "CAR T item of Sunday 3 January (2026-W53)", ["car-t-ms"],
             first_seen=datetime(2027, 1, 3, 23, 30, tzinfo=UTC))
    add_item(database, "CAR T item of Monday 4 January (2027-W01)", ["car-t-ms"],
             first_seen=datetime(2027, 1, 4, 0, 1, tzinfo=UTC))
    [reader] = add_subscribers(database, 1)
    mail_app.extensions["aggregator.clock"].now = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # DIGEST_DAY/TIME
    result = mail_app.test_cli_runner().invoke(args=["digest", "send"])
    assert result.exit_code == 0, result.output
    assert "2026-W53" in result.output
    [message] = smtp_server.messages
    text, _ = parts(message.message())
    assert "Monday 28 December" in text and "Sunday 3 January" in text
    assert "Sunday 27 December" not in text and "Monday 4 January" not in text
    assert message.rcpt_tos == (reader,)


def test_cli_preview_writes_an_eml_that_parses(mail_app: Flask, tmp_path: Path) -> None:
    add_item(db(mail_app), "CAR T <preview> item", ["car-t-ms"])
    target = tmp_path / "preview.eml"
    result = mail_app.test_cli_runner().invoke(args=["digest", "preview", "--week", WEEK, "-o", str(target)])
    assert result.exit_code == 0, result.output
    import email
    from email.policy import default

    message = email.message_from_bytes(target.read_bytes(), policy=default)
    text, html = parts(message)  # type: ignore[arg-type]
    assert "CAR T <preview> item" in text and "CAR T &lt;preview&gt; item" in html
    html_file = tmp_path / "p.html"
    assert (
        mail_app.test_cli_runner()
        .invoke(args=["digest", "preview", "--week", WEEK, "--format", "html", "-o", str(html_file)])
        .exit_code
        == 0
    )
    assert html_file.read_text().startswith("<!DOCTYPE html>")


def test_cli_subscribers_add_list_remove(mail_app: Flask, smtp_server: SMTPServer) -> None:
    runner = mail_app.test_cli_runner()
    result = runner.invoke(
        args=["subscribers", "add", "Nurse@Example.ORG", "--topics", "car-t-ms,ms-research", "--confirmed"]
    )
    assert result.exit_code == 0, result.output
    assert "nurse@example.org: confirmed" in result.output and smtp_server.messages == []
    result = runner.invoke(args=["subscribers", "add", "pending@example.org"])
    assert result.exit_code == 0 and "confirmation email sent" in result.output
    assert "/subscribe/confirm/" in parts(smtp_server.to("pending@example.org")[0])[0]
    assert runner.invoke(args=["subscribers", "add", "not-an-address"]).exit_code == 2
    assert runner.invoke(args=["subscribers", "add", "a@example.org", "--topics", "nope"]).exit_code == 2
    listing = runner.invoke(args=["subscribers", "list"]).output
    assert "nurse@example.org\tconfirmed\tcar-t-ms,ms-research" in listing and "pending@example.org\tpending" in listing
    assert "2 subscriber(s)" in listing
    assert runner.invoke(args=["subscribers", "list", "--status", "pending"]).output.count("@") == 1
    assert runner.invoke(args=["subscribers", "remove", "nurse@example.org"]).exit_code == 0
    missing = runner.invoke(args=["subscribers", "remove", "nurse@example.org"])
    assert missing.exit_code == 1 and "not on the list" in missing.output
    with db(mail_app).session_scope() as session:
        assert [s.email for s in session.query(Subscriber)] == ["pending@example.org"]


def test_scheduler_job_follows_digest_day_time_and_zone(mail_app: Flask, smtp_server: SMTPServer) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    settings = _with(
        mail_app.extensions["aggregator"].settings,
        digest_day="fri",
        digest_time="07:30",
        digest_timezone="Europe/Paris",
    )
    trigger = digest_trigger(settings)
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 16, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 11, 20, 6, 30, tzinfo=UTC)  # Friday 07:30 in Paris (UTC+1)
    assert add_digest_job in mail_app.extensions["aggregator.jobs"]

    scheduler = BackgroundScheduler(timezone="UTC")
    add_digest_job(scheduler, mail_app)
    job = scheduler.get_job("digest")
    assert job is not None and job.max_instances == 1 and job.coalesce
    default_fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 17, tzinfo=UTC))
    assert (default_fire.weekday(), default_fire.hour, default_fire.minute) == (0, 8, 0)

    add_item(db(mail_app), "CAR T item", ["car-t-ms"])
    add_subscribers(db(mail_app), 1)
    assert "1 sent" in digest_job(mail_app)()  # the clock says Monday 16 November: week 46 goes out
    assert len(smtp_server.messages) == 1


def test_a_bad_digest_timezone_is_reported_clearly(mail_app: Flask) -> None:
    from aggregator.errors import ConfigError

    with pytest.raises(ConfigError, match="DIGEST_TIMEZONE"):
        digest_trigger(_with(mail_app.extensions["aggregator"].settings, digest_timezone="Mars/Olympus"))


def test_the_lease_is_renewed_during_a_slow_batch_so_it_never_lapses(mail_app: Flask, smtp_server: SMTPServer) -> None:
    database = db(mail_app)
    add_item(database, "CAR T item", ["car-t-ms"])
    add_subscribers(database, 8)
    moments = iter(AFTER_WEEK + timedelta(seconds=45 * n) for n in range(10_000))  # a very slow mail server
    current: list[datetime] = [AFTER_WEEK]

    def clock() -> datetime:
        current[0] = next(moments)
        return current[0]

    lapses: list[str] = []

    def check_lease(_subscriber_id: int) -> None:
        with database.session_scope() as session:
            lease = store_mail.lease_holder(session, "digest-sender")
            if lease is None or lease.expires_at <= current[0]:
                lapses.append(f"lease lapsed at {current[0]}")

    sender = make_sender(mail_app, clock=clock, on_sent=check_lease)
    assert sender.send_week(WEEK).sent == 8
    assert lapses == []
