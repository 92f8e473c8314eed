"""Sending one week's digest to every confirmed subscriber, exactly once.

The design, step by step (docs/email.md tells the same story for operators):

1. **One sender at a time.** The run takes the database lease ``digest-sender`` (table ``lease``) and renews it
   between batches. A second sender started at the same time finds the lease held and stops without sending.
   A lease whose holder died (expired, or a process of this host that no longer exists) is taken over.
2. **One row per reader and week.** ``delivery(subscriber_id, week)`` is unique; the run creates the missing
   ``pending`` rows for all confirmed subscribers before sending anything.
3. **Claim, send, record.** Rows are claimed in batches by a conditional UPDATE (``pending`` → ``sending``, only
   if still pending) and committed *before* the SMTP conversation; after the server accepts a message its row
   becomes ``sent`` in its own commit. A row that is ``sent``, ``skipped`` or ``failed`` is never sent again, so a
   second ``digest send`` of the same week sends nothing.
4. **Crash recovery.** Rows a dead sender left in ``sending`` go back to ``pending`` when the next sender takes
   the lease, and are sent with the same Message-ID. The only message that can arrive twice is one the server
   accepted in the instant between its "250 OK" and our commit — SMTP offers no way to close that gap; the stable
   Message-ID lets mail clients fold such a duplicate.
5. **Failures.** A temporary failure (4xx, lost connection) puts the row back to ``pending``; the run retries those
   rows after ``DIGEST_RETRY_SECONDS``, doubling, up to ``DIGEST_MAX_ATTEMPTS`` rounds, and leaves the rest for the
   next run. A permanent failure (5xx) marks the row ``failed`` and counts against the address; after
   ``DIGEST_SUSPEND_AFTER`` permanent failures in a row the address is ``suspended``.

Clock, sleep and transport are injected so tests drive retries and back-off without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ..config import Settings, instance_secret_key
from ..db import Database
from ..domain import DigestItem, TrialUpdate
from ..errors import DeliveryError
from ..store import mail as store_mail
from . import digest
from .digest import Week
from .mailer import BulkMessage, OutboxTransport, SMTPTransport, SMTPUnavailable, make_message_id
from .subscriptions import DEFAULT_TOPIC, Links, Tokens

log = logging.getLogger(__name__)

LEASE_NAME = "digest-sender"
BATCH = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SendReport:
    """What one run did; ``busy`` when another sender held the lease and this run sent nothing."""

    week: str
    items: int = 0
    recipients: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retry_later: int = 0
    suspended: int = 0
    resumed: int = 0
    busy: bool = False
    dry_run: bool = False
    holder: str | None = None
    previews: list[tuple[str, int]] = field(default_factory=list)  # dry run: (email, items)

    def summary(self) -> str:
        if self.busy:
            return (f"{self.week}: another sender is running ({self.holder}); nothing sent. "
                    "It will finish the week; run again later to check.")
        if self.dry_run:
            would = sum(1 for _, count in self.previews if count)
            return (f"{self.week} (dry run): {self.items} new item(s); {self.recipients} confirmed subscriber(s), "
                    f"{would} would get a digest. Nothing was sent or recorded.")
        parts = [f"{self.sent} sent", f"{self.skipped} skipped (nothing new or not subscribed)",
                 f"{self.failed} failed permanently", f"{self.retry_later} left for a later retry"]
        if self.suspended:
            parts.append(f"{self.suspended} address(es) suspended")
        if self.resumed:
            parts.append(f"{self.resumed} interrupted by an earlier crash and resent")
        return f"{self.week}: {self.items} new item(s); " + ", ".join(parts) + "."


TransportFactory = Callable[[], SMTPTransport | OutboxTransport | Any]


def default_transport(settings: Settings) -> TransportFactory:
    from .mailer import open_transport

    return lambda: open_transport(settings)


def digest_links(settings: Settings, week: Week) -> digest.Links:
    base = settings.base_url
    return digest.Links(site=base + "/", rss=base + "/feed.xml", week_page=f"{base}/digest/{week}",
                        subscribe=base + "/subscribe")


class Sender:
    """Sends one week's digest; see the module docstring for the guarantees."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        topic_names: Mapping[str, str],
        *,
        transport: TransportFactory | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        owner: str | None = None,
        batch: int = BATCH,
        on_sent: Callable[[int], None] | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.topic_names = dict(topic_names)
        self.transport_factory = transport or default_transport(settings)
        self.clock = clock
        self.sleep = sleep
        self.owner = owner or store_mail.process_owner()
        self._renewed_at = datetime.min.replace(tzinfo=UTC)
        self._trial_updates: list[TrialUpdate] = []
        self.batch = batch
        self.on_sent = on_sent
        key = secret_key or settings.secret_key or instance_secret_key()
        self.links = Links(settings.base_url, Tokens(key, settings.confirm_max_age))

    # ------------------------------------------------------------------------------------------------ public

    def send_week(self, week: Week | str, *, dry_run: bool = False) -> SendReport:
        week = digest.parse_week(week) if isinstance(week, str) else week
        report = SendReport(week=str(week), dry_run=dry_run)
        start, end = week.bounds(self.settings.digest_timezone)
        with self.database.session_scope() as session:
            items = store_mail.items_first_seen_between(session, start, end)
            # The week's trial news; each reader's share of it depends on the trials and country they chose.
            self._trial_updates = store_mail.trial_updates_between(session, start, end)
            report.items = len(items)
            if dry_run:
                return self._dry_run(session, week, items, report)
        session = self.database.sessions()
        try:
            if not self._take_lease(session, report):
                return report
            try:
                self._prepare(session, week, report)
                self._send_rounds(session, week, items, report)
            finally:
                session.rollback()
                store_mail.release_lease(session, LEASE_NAME, self.owner)
                session.commit()
        finally:
            session.close()
        log.info("digest %s", report.summary())
        return report

    # ------------------------------------------------------------------------------------------------ steps

    def _dry_run(self, session: Session, week: Week, items: list[DigestItem], report: SendReport) -> SendReport:
        for subscriber in store_mail.list_subscribers(session, "confirmed"):
            built = digest.build(week, items, subscriber.topics or [DEFAULT_TOPIC], self.topic_names,
                                 self.settings.digest_timezone,
                                 digest.trial_section(self._trial_updates, subscriber.trials or (),
                                                      subscriber.country))
            report.previews.append((subscriber.email, built.count + built.trial_count))
        report.recipients = len(report.previews)
        return report

    def _take_lease(self, session: Session, report: SendReport) -> bool:
        taken = store_mail.acquire_lease(session, LEASE_NAME, self.owner, self.clock(),
                                         self.settings.digest_lease_seconds)
        session.commit()
        if not taken:
            holder = store_mail.lease_holder(session, LEASE_NAME)
            report.busy = True
            report.holder = holder.owner if holder else None
            session.commit()
        return taken

    def _renew_if_due(self, session: Session) -> None:
        """Renew within a batch too when the server is slow: a lease must never lapse while we hold claimed rows."""
        if (self.clock() - self._renewed_at).total_seconds() > self.settings.digest_lease_seconds / 3:
            self._renew_lease(session)

    def _renew_lease(self, session: Session) -> None:
        self._renewed_at = self.clock()
        if not store_mail.acquire_lease(session, LEASE_NAME, self.owner, self.clock(),
                                        self.settings.digest_lease_seconds):
            session.commit()
            raise DeliveryError("the digest sender lost its lease to another sender (it stalled longer than "
                                "DIGEST_LEASE_SECONDS); stopping so that nothing is sent twice")
        session.commit()

    def _prepare(self, session: Session, week: Week, report: SendReport) -> None:
        recipients = store_mail.confirmed_subscriber_ids(session)
        report.recipients = len(recipients)
        store_mail.ensure_deliveries(session, str(week), recipients)
        report.resumed = store_mail.release_orphans(session, str(week), self.owner,
                                                    "interrupted by a crash of an earlier sender; sent again")
        session.commit()

    def _send_rounds(self, session: Session, week: Week, items: list[DigestItem], report: SendReport) -> None:
        cache: dict[tuple[Any, ...], tuple[BulkMessage, int]] = {}
        links = digest_links(self.settings, week)
        retry: list[int] | None = None
        rounds = self.settings.digest_max_attempts
        with self.transport_factory() as transport:
            for round_number in range(rounds):
                if round_number:
                    pause = self.settings.digest_retry_seconds * 2 ** (round_number - 1)
                    log.info("digest %s: %d temporary failure(s), retrying in %.0f s", week, len(retry or ()), pause)
                    self.sleep(pause)
                failed_now: list[int] = []
                cursor = 0
                while True:
                    self._renew_lease(session)
                    ids = store_mail.pending_ids(session, str(week), cursor, self.batch, retry)
                    if not ids:
                        break
                    cursor = ids[-1]
                    claimed = store_mail.claim_deliveries(session, ids, self.owner, self.clock())
                    session.commit()
                    for index, row in enumerate(claimed):
                        self._renew_if_due(session)
                        outcome = self._deliver(session, transport, week, items, links, cache, row, report)
                        if outcome == "retry":
                            failed_now.append(row.delivery_id)
                        elif outcome == "unavailable":
                            # The server is down: give the rest of the batch back untouched and pause.
                            failed_now.append(row.delivery_id)
                            for rest in claimed[index + 1:]:
                                store_mail.mark_retry(session, rest, self.owner, "mail server unavailable")
                                failed_now.append(rest.delivery_id)
                            session.commit()
                            break
                    else:
                        continue
                    break  # unavailable: end this round early
                retry = failed_now
                if not retry:
                    break
            report.retry_later = len(retry or ())

    def _deliver(self, session: Session, transport: Any, week: Week, items: list[DigestItem],
                 links: digest.Links, cache: dict[tuple[Any, ...], tuple[BulkMessage, int]],
                 row: store_mail.Claimed, report: SendReport) -> str:
        if row.subscriber_status != "confirmed":
            store_mail.mark_skipped(session, row, self.owner, f"address is {row.subscriber_status}")
            session.commit()
            report.skipped += 1
            return "skipped"
        topics = row.topics or (DEFAULT_TOPIC,)
        trials = digest.trial_section(self._trial_updates, row.trials, row.country)
        # One render per distinct choice: readers with the same topics and the same trial news share it.
        choice = (topics, trials)
        if choice not in cache:
            built = digest.build(week, items, topics, self.topic_names, self.settings.digest_timezone, trials)
            rendered = digest.render(built, links)
            cache[choice] = (BulkMessage(self.settings.mail_from, rendered.subject, rendered.text, rendered.html,
                                         digest.PERSONAL_PLACEHOLDERS), built.count + built.trial_count)
        bulk, count = cache[choice]
        if count == 0 and self.settings.digest_quiet_week == "skip":
            store_mail.mark_skipped(session, row, self.owner, "nothing new on the reader's topics this week")
            session.commit()
            report.skipped += 1
            return "skipped"
        unsubscribe, manage = self.links.personal(row.subscriber_id, row.email)
        # Derived from the delivery row: a resend after a crash carries the same Message-ID.
        message_id = row.message_id or make_message_id(self.settings.mail_from,
                                                       f"digest.{week}.{row.subscriber_id}.{row.delivery_id}")
        try:
            data = bulk.render(to=row.email, message_id=message_id, date=self.clock(), unsubscribe_url=unsubscribe,
                               values={digest.UNSUBSCRIBE_PLACEHOLDER: unsubscribe,
                                       digest.MANAGE_PLACEHOLDER: manage})
            transport.send_raw(row.email, data, message_id)
        except SMTPUnavailable as exc:
            store_mail.mark_retry(session, row, self.owner, str(exc))
            session.commit()
            log.warning("digest %s: %s", week, exc)
            return "unavailable"
        except DeliveryError as exc:
            if exc.permanent:
                suspended = store_mail.mark_failed(session, row, self.owner, str(exc), self.clock(),
                                                   self.settings.digest_suspend_after)
                session.commit()
                report.failed += 1
                report.suspended += suspended
                log.warning("digest %s: permanent failure for subscriber %d: %s%s", week, row.subscriber_id, exc,
                            " (address suspended)" if suspended else "")
                return "failed"
            store_mail.mark_retry(session, row, self.owner, str(exc))
            session.commit()
            log.info("digest %s: temporary failure for subscriber %d: %s", week, row.subscriber_id, exc)
            return "retry"
        store_mail.mark_sent(session, row, self.owner, self.clock(), count, message_id)
        session.commit()
        report.sent += 1
        if self.on_sent is not None:
            self.on_sent(row.subscriber_id)
        return "sent"


def send_week(
    database: Database,
    settings: Settings,
    topic_names: Mapping[str, str],
    week: Week | str,
    *,
    dry_run: bool = False,
    **options: Any,
) -> SendReport:
    """Send ``week``'s digest (``Week`` or ``"2026-W47"``) to every confirmed subscriber, exactly once.

    The entry point for the CLI, the scheduler and the benchmark. ``options`` go to :class:`Sender`
    (``transport``, ``clock``, ``sleep``, ``owner``, ``batch``). One SMTP connection carries every message.
    """
    return Sender(database, settings, topic_names, **options).send_week(week, dry_run=dry_run)
