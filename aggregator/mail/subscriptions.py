"""Subscriptions: signed links, address checking, and the rules of subscribing, confirming and leaving.

* Double opt-in: a new address is ``pending`` until its owner opens the confirmation link (signed and expiring
  after ``CONFIRM_MAX_AGE``). Only ``confirmed`` addresses get digests.
* No account enumeration: asking to subscribe gives the same web answer, and always sends one email, whatever the
  state of the address (new, pending, confirmed, unsubscribed). A confirmed address gets a "you're already
  subscribed" note with its manage link instead of a confirmation.
* Leaving is one click and needs no login: the manage/unsubscribe link is signed (no expiry — an old digest's link
  must keep working) and names the subscriber id and address, so it dies with the row if the address is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from ..errors import InvalidLink
from ..models import Subscriber
from ..store import mail as store_mail
from ..trials.record import trial_key as parse_trial_key

DEFAULT_TOPIC = "car-t-ms"

# URL paths of the subscription pages; the blueprint mounts them and emails build absolute links from BASE_URL.
CONFIRM_PATH = "/subscribe/confirm/"
MANAGE_PATH = "/subscribe/manage/"
UNSUBSCRIBE_PATH = "/unsubscribe/"


class InvalidAddress(ValueError):
    """The visitor typed something that is not a usable email address; the message says what is wrong."""


def normalise_address(raw: str) -> str:
    """The address as stored: syntax checked (no DNS lookups), domain in ASCII, all lower case."""
    text = (raw or "").strip()
    if not text:
        raise InvalidAddress("Please enter your email address.")
    if len(text) > 254:
        raise InvalidAddress("That email address is too long.")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"That email address is not valid: {exc}") from exc
    return str(result.ascii_email or result.normalized).lower()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _signer_with_clock(clock: Callable[[], datetime]) -> type[TimestampSigner]:
    """itsdangerous reads the system clock; this signer reads ours, so tests can age a link without waiting."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return ClockSigner


class Tokens:
    """Signed tokens for the confirm link (expiring) and the manage/unsubscribe link (lasting)."""

    def __init__(self, secret_key: str, confirm_max_age: int, clock: Callable[[], datetime] = utcnow) -> None:
        self._confirm = URLSafeTimedSerializer(secret_key, salt="digest-confirm", signer=_signer_with_clock(clock))
        self._list = URLSafeSerializer(secret_key, salt="digest-list")
        self.confirm_max_age = confirm_max_age

    def confirm_token(self, subscriber: Subscriber) -> str:
        return self._confirm.dumps([subscriber.id, subscriber.email])

    def list_token(self, subscriber_id: int, email: str) -> str:
        return self._list.dumps([subscriber_id, email])

    def read_confirm(self, token: str) -> tuple[int, str]:
        try:
            data = self._confirm.loads(token, max_age=self.confirm_max_age)
        except SignatureExpired as exc:
            raise InvalidLink("This confirmation link has expired. Please subscribe again to get a new one.",
                              expired=True) from exc
        except BadSignature as exc:
            raise InvalidLink("This confirmation link is not valid (it may have been cut short by your email "
                              "program). Please copy the whole link, or subscribe again.") from exc
        return _pair(data)

    def read_list(self, token: str) -> tuple[int, str]:
        try:
            data = self._list.loads(token)
        except BadSignature as exc:
            raise InvalidLink("This link is not valid (it may have been cut short by your email program). "
                              "Please copy the whole link from the latest digest.") from exc
        return _pair(data)


def _pair(data: Any) -> tuple[int, str]:
    if isinstance(data, list) and len(data) == 2 and isinstance(data[0], int) and isinstance(data[1], str):
        return data[0], data[1]
    raise InvalidLink("This link is not valid.")


@dataclass(frozen=True)
class Links:
    """Absolute links for one subscriber, built from ``BASE_URL``."""

    base_url: str
    tokens: Tokens

    def confirm(self, subscriber: Subscriber) -> str:
        return self.base_url + CONFIRM_PATH + self.tokens.confirm_token(subscriber)

    def manage(self, subscriber_id: int, email: str) -> str:
        return self.base_url + MANAGE_PATH + self.tokens.list_token(subscriber_id, email)

    def unsubscribe(self, subscriber_id: int, email: str) -> str:
        return self.base_url + UNSUBSCRIBE_PATH + self.tokens.list_token(subscriber_id, email)

    def personal(self, subscriber_id: int, email: str) -> tuple[str, str]:
        """(unsubscribe, manage) links of one reader: one signature for both (they share the token)."""
        token = self.tokens.list_token(subscriber_id, email)
        return self.base_url + UNSUBSCRIBE_PATH + token, self.base_url + MANAGE_PATH + token


MAX_FOLLOWED_TRIALS = 50


class InvalidTrial(ValueError):
    """A trial to follow that is not named by an NCT number or an EU CT number; the message says how to write it."""


def trial_key(text: str) -> str:
    """``" nct06384976 "`` → ``"NCT06384976"``; an EU CT number as it is; anything else: ``InvalidTrial``."""
    key = parse_trial_key(text)
    if key is None:
        raise InvalidTrial(f"“{(text or '').strip()[:40]}” is not a trial number: write NCT and 8 digits "
                           "(NCT06384976) or an EU CT number (2025-523726-40-00).")
    return key


def clean_trials(requested: Sequence[str]) -> list[str]:
    """Valid trial numbers, normalised, without repeats, at most ``MAX_FOLLOWED_TRIALS`` (invalid ones dropped:
    a stale form or a hostile post must not store junk)."""
    keys: list[str] = []
    for text in requested:
        try:
            keys.append(trial_key(text))
        except InvalidTrial:
            continue
    return list(dict.fromkeys(keys))[:MAX_FOLLOWED_TRIALS]


def clean_country(requested: str | None, known: Sequence[str]) -> str | None:
    """One of ``known`` (the country list of the form), else None (no country alerts)."""
    wanted = (requested or "").strip().casefold()
    return next((name for name in known if name.casefold() == wanted), None) if wanted else None


def clean_topics(requested: Sequence[str], known: Sequence[str]) -> list[str]:
    """Known topic ids in catalog order; unknown ones (a stale form, a hostile post) are dropped."""
    wanted = set(requested)
    return [topic for topic in known if topic in wanted]


@dataclass(frozen=True)
class SubscribeOutcome:
    subscriber: Subscriber
    already_confirmed: bool  # send the "already subscribed" note rather than a confirmation


def request_subscription(session: Session, email: str, topics: Sequence[str], now: datetime,
                         trials: Sequence[str] = ()) -> SubscribeOutcome:
    """Record a wish to subscribe; the caller then sends the email this outcome calls for."""
    subscriber = store_mail.subscriber_by_email(session, email)
    if subscriber is None:
        added = store_mail.add_subscriber(session, email, topics, now)
        added.trials = list(trials)
        return SubscribeOutcome(added, already_confirmed=False)
    if subscriber.status == "confirmed":
        # Someone else may be typing this address: change nothing, tell the owner.
        return SubscribeOutcome(subscriber, already_confirmed=True)
    # Pending, unsubscribed or suspended: the new choice of topics waits for the owner's confirmation.
    subscriber.topics = list(topics)
    if trials:
        subscriber.trials = list(dict.fromkeys([*(subscriber.trials or []), *trials]))[:MAX_FOLLOWED_TRIALS]
    if subscriber.status != "pending":
        subscriber.status = "pending"
    return SubscribeOutcome(subscriber, already_confirmed=False)


def find(session: Session, subscriber_id: int, email: str) -> Subscriber:
    subscriber = store_mail.subscriber_by_id(session, subscriber_id)
    if subscriber is None or subscriber.email != email:
        raise InvalidLink("This link belongs to an address that is no longer on our list. You can subscribe again.")
    return subscriber


def confirm(session: Session, subscriber_id: int, email: str, now: datetime) -> Subscriber:
    subscriber = find(session, subscriber_id, email)
    if subscriber.status != "confirmed":
        subscriber.status = "confirmed"
        subscriber.confirmed_at = now
        subscriber.unsubscribed_at = None
        subscriber.permanent_failures = 0
    return subscriber


def unsubscribe(session: Session, subscriber_id: int, email: str, now: datetime) -> Subscriber:
    """Idempotent: a second click (or a mail client's retry of the one-click POST) changes nothing."""
    subscriber = find(session, subscriber_id, email)
    if subscriber.status != "unsubscribed":
        subscriber.status = "unsubscribed"
        subscriber.unsubscribed_at = now
    return subscriber


def set_topics(session: Session, subscriber_id: int, email: str, topics: Sequence[str]) -> Subscriber:
    subscriber = find(session, subscriber_id, email)
    subscriber.topics = list(topics)
    return subscriber


def set_trial_alerts(session: Session, subscriber_id: int, email: str, trials: Sequence[str],
                     country: str | None) -> Subscriber:
    """The trials a reader follows in the weekly email, and the country whose newly recruiting trials to announce."""
    subscriber = find(session, subscriber_id, email)
    subscriber.trials = list(trials)
    subscriber.country = country
    return subscriber


def resubscribe(session: Session, subscriber_id: int, email: str, now: datetime) -> Subscriber:
    """From the manage page after unsubscribing: the signed link proves the address, so no new opt-in is needed.

    A suspended address (its mail bounced) stays suspended: only the operator can lift that.
    """
    subscriber = find(session, subscriber_id, email)
    if subscriber.status == "unsubscribed" and subscriber.confirmed_at is not None:
        subscriber.status = "confirmed"
        subscriber.unsubscribed_at = None
    return subscriber
