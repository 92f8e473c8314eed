"""The weekly digest: which week, which items, grouped how, and the subject, text and HTML of the email.

Pure: takes items and ``now``, returns strings. No SMTP, no queries, no Flask (the Jinja templates in
``templates/email/`` are loaded with a plain ``jinja2.Environment``).

Rules:

* A digest covers one ISO week (``2026-W47``) in ``DIGEST_TIMEZONE``: Monday 00:00 to the next Monday 00:00 local
  time. An item belongs to the week its ``first_seen_at`` falls in — when *we* first saw it, not its publication
  date, so an item published long ago but discovered this week is news to the reader, and no item is ever in two
  digests.
* The scheduled run on Monday sends the week that has just ended (:func:`previous_week`).
* An item appears under the first of the reader's topics it matches (topic order of the catalog), never twice.
* Trials: a reader may follow trials (by NCT id or EU CT number) and name a country. The email then says what
  changed this week in the trials followed, and which trials began recruiting in that country ("2 trials began
  recruiting in Germany this week": a site there started recruiting, or a trial first seen this week recruits
  there). Those weeks are not quiet even when no item matched the reader's topics.
* Rendering is done once per distinct topic selection and trial news, with a placeholder for the reader's own
  links (:data:`PERSONAL_PLACEHOLDERS`), which :func:`personalise` fills in per subscriber — ten thousand readers cost a
  handful of renders, not ten thousand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..config import PROJECT_ROOT
from ..domain import DigestItem, TrialUpdate
from ..errors import BadRequest
from ..trials.countries import display_name, same_country

TEMPLATES = PROJECT_ROOT / "templates" / "email"
WEEK_RE = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
SUMMARY_CHARS = 400

# Stand-ins for the links that differ per reader; plain ASCII that neither HTML escaping nor URL quoting changes.
UNSUBSCRIBE_PLACEHOLDER = "xx-unsubscribe-url-xx"
MANAGE_PLACEHOLDER = "xx-manage-url-xx"
PERSONAL_PLACEHOLDERS = (UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER)


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week, e.g. ``Week(2026, 47)``, written ``2026-W47``."""

    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    def bounds(self, timezone: str = "UTC") -> tuple[datetime, datetime]:
        """[start, end) of the week as aware datetimes: local Monday midnight to the next one."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.monday, time(0), tzinfo=zone)
        end = datetime.combine(self.monday + timedelta(days=7), time(0), tzinfo=zone)
        return start, end

    def contains(self, moment: datetime, timezone: str = "UTC") -> bool:
        return week_of(moment, timezone) == self

    def previous(self) -> Week:
        return week_of_date(self.monday - timedelta(days=7))

    def next(self) -> Week:
        return week_of_date(self.monday + timedelta(days=7))

    def label(self) -> str:
        """"week 47, 2026 (16–22 November)" for subjects and headings."""
        monday = self.monday
        sunday = monday + timedelta(days=6)
        if monday.month == sunday.month:
            span = f"{monday.day}–{sunday.day} {sunday:%B}"
        else:
            span = f"{monday.day} {monday:%B} – {sunday.day} {sunday:%B}"
        return f"week {self.number}, {self.year} ({span})"


def parse_week(text: str) -> Week:
    """``2026-W47`` → ``Week(2026, 47)``; BadRequest (a ValueError) for anything else, naming the expected form."""
    match = WEEK_RE.match(text.strip())
    if match:
        year, number = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            pass
        else:
            return Week(year, number)
    raise BadRequest(f"{text!r} is not an ISO week: write it like 2026-W47 (year, -W, two-digit week number)")


def week_of_date(day: date) -> Week:
    year, number, _ = day.isocalendar()
    return Week(year, number)


def week_of(moment: datetime, timezone: str = "UTC") -> Week:
    """The ISO week ``moment`` (aware) falls in, seen from ``timezone``."""
    if moment.tzinfo is None:
        raise ValueError("week_of needs an aware datetime")
    return week_of_date(moment.astimezone(ZoneInfo(timezone)).date())


def previous_week(now: datetime, timezone: str = "UTC") -> Week:
    """The last complete week before ``now``: what Monday's scheduled digest sends."""
    return week_of(now, timezone).previous()


@dataclass(frozen=True)
class TrialSection:
    """The trial part of one reader's digest."""

    country: str | None
    in_country: tuple[TrialUpdate, ...]  # began recruiting in the reader's country
    followed: tuple[TrialUpdate, ...]  # changes of the trials the reader follows

    @property
    def count(self) -> int:
        return len({update.key for update in (*self.in_country, *self.followed)})

    @property
    def headline(self) -> str:
        """"2 trials began recruiting in Germany this week"."""
        n = len(self.in_country)
        return f"{n} trial{'s' if n != 1 else ''} began recruiting in {display_name(self.country or '')} this week"


def trial_section(updates: Sequence[TrialUpdate], follows: Sequence[str], country: str | None) -> TrialSection | None:
    """The week's trial news for a reader following ``follows`` and watching ``country``; None when none."""
    wanted = {key.upper() for key in follows}
    followed = tuple(u for u in updates if wanted & {i.upper() for i in u.ids})
    in_country = tuple(u for u in updates if country and any(same_country(c, country) for c in u.began_recruiting_in))
    if not followed and not in_country:
        return None
    def newest_first(chosen: tuple[TrialUpdate, ...]) -> tuple[TrialUpdate, ...]:
        return tuple(sorted(chosen, key=lambda u: (u.moment, u.key), reverse=True))

    return TrialSection(country, newest_first(in_country), newest_first(followed))


@dataclass(frozen=True)
class TopicSection:
    topic_id: str
    topic_name: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class Digest:
    """One reader's (or the preview's) digest for one week."""

    week: Week
    sections: tuple[TopicSection, ...]
    topic_ids: tuple[str, ...]
    trials: TrialSection | None = None

    @property
    def count(self) -> int:
        return sum(len(section.items) for section in self.sections)

    @property
    def trial_count(self) -> int:
        return self.trials.count if self.trials else 0

    @property
    def quiet(self) -> bool:
        return self.count == 0 and self.trial_count == 0


def in_week(items: Iterable[DigestItem], week: Week, timezone: str = "UTC") -> list[DigestItem]:
    """The items first seen during ``week``."""
    start, end = week.bounds(timezone)
    return [item for item in items if start <= item.first_seen_at < end]


def build(week: Week, items: Sequence[DigestItem], topic_ids: Sequence[str], topic_names: Mapping[str, str],
          timezone: str = "UTC", trials: TrialSection | None = None) -> Digest:
    """Select the week's items matching ``topic_ids`` and group them by topic, in the order of ``topic_names``;
    ``trials``: the reader's trial news of the week (``trial_section``)."""
    wanted = [topic for topic in topic_names if topic in set(topic_ids)]
    sections: dict[str, list[DigestItem]] = {topic: [] for topic in wanted}
    for item in sorted(in_week(items, week, timezone), key=lambda i: (i.date, i.id), reverse=True):
        for topic in wanted:
            if topic in item.topics:
                sections[topic].append(item)
                break
    return Digest(
        week=week,
        sections=tuple(TopicSection(t, topic_names[t], tuple(sections[t])) for t in wanted if sections[t]),
        topic_ids=tuple(wanted),
        trials=trials,
    )


def subject(digest: Digest) -> str:
    """"CAR T & MS research — week 47, 2026: 5 new items"."""
    count = digest.count
    news = "no new items" if count == 0 else f"{count} new item{'s' if count != 1 else ''}"
    if digest.trial_count:
        trials = digest.trial_count
        news = (f"{news} and " if count else "") + f"{trials} trial update{'s' if trials != 1 else ''}"
    return f"CAR T & MS research — week {digest.week.number}, {digest.week.year}: {news}"


@dataclass(frozen=True)
class Links:
    """Absolute links an email carries; the reader's own ones default to the placeholders."""

    site: str
    rss: str
    week_page: str
    subscribe: str
    unsubscribe: str = UNSUBSCRIBE_PLACEHOLDER
    manage: str = MANAGE_PLACEHOLDER


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    count: int
    extra: dict[str, str] = field(default_factory=dict)

    def personalise(self, unsubscribe: str, manage: str) -> Rendered:
        return Rendered(self.subject, personalise(self.text, unsubscribe, manage),
                        personalise(self.html, unsubscribe, manage), self.count)


def personalise(body: str, unsubscribe: str, manage: str) -> str:
    return body.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe).replace(MANAGE_PLACEHOLDER, manage)


@lru_cache(maxsize=4)
def environment(folder: str = str(TEMPLATES)) -> Environment:
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["day"] = lambda value: f"{value.day} {value:%b %Y}"
    env.filters["shorten"] = shorten
    env.filters["country_name"] = display_name
    return env


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def render(digest: Digest, links: Links, *, preview: bool = False) -> Rendered:
    """The subject, plain text and HTML of ``digest`` (the reader's links as placeholders unless given)."""
    env = environment()
    context = {"digest": digest, "links": links, "subject": subject(digest), "preview": preview,
               "week_label": digest.week.label()}
    return Rendered(
        subject=context["subject"],  # type: ignore[arg-type]
        text=_tidy_text(env.get_template("digest.txt").render(context)),
        html=env.get_template("digest.html").render(context),
        count=digest.count,
    )


def render_confirmation(confirm_url: str, manage_url: str | None, site: str, already: bool) -> Rendered:
    """The double opt-in email; ``already`` for an address that is subscribed (same answer on the web page)."""
    env = environment()
    context = {"confirm_url": confirm_url, "manage_url": manage_url, "site": site, "already": already}
    subject_line = ("Your CAR T & MS research digest subscription" if already
                    else "Please confirm your subscription to the CAR T & MS research digest")
    context["subject"] = subject_line
    return Rendered(
        subject=subject_line,
        text=_tidy_text(env.get_template("confirm.txt").render(context)),
        html=env.get_template("confirm.html").render(context),
        count=0,
    )


def _tidy_text(text: str) -> str:
    """At most one blank line in a row, no trailing spaces: the plain part must read well on its own."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"
