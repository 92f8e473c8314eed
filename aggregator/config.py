"""Settings from the environment (12-factor): one table of options, each with its default, type and meaning.

Every environment variable the service reads is listed once in ``OPTIONS``; the README's configuration table is
generated from the same list (``python -m aggregator.config``), so the two cannot drift apart.
This module must not import flask, sqlalchemy or requests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"must be a positive whole number, got {value}")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must be zero or more, got {value}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"must be a positive number, got {value}")
    return value


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _parse_processes(raw: str) -> int:
    """``auto``: one worker per usable core when there are several (the poll's fetching and storing thread
    waits on the network and the database most of the time), none on one core, where a worker could only take
    turns with the process that feeds it."""
    if raw.strip().lower() == "auto":
        cores = usable_cores()
        return cores if cores > 1 else 0
    return _non_negative_int(raw)


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _base_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {raw!r}")
    return url


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw.strip()


@dataclass(frozen=True)
class Option:
    env: str
    attr: str
    default: str
    parse: Callable[[str], Any]
    help: str


def _default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'aggregator.db'}"


OPTIONS: tuple[Option, ...] = (
    Option(
        "DATABASE_URL",
        "database_url",
        "",
        _text,
        "SQLAlchemy URL. Default: SQLite at instance/aggregator.db. Production: postgresql+psycopg://user@host/db",
    ),
    Option(
        "FEEDS_FILE",
        "feeds_file",
        "feeds.yaml",
        _text,
        "The sources and topic rules (relative paths are read from the project root).",
    ),
    Option(
        "BASE_URL",
        "base_url",
        "http://127.0.0.1:5000",
        _base_url,
        "Public address of the site; absolute links in feeds and emails are built from it.",
    ),
    Option(
        "SECRET_KEY",
        "secret_key",
        "",
        _text,
        "Signs forms and unsubscribe links. Default: a random key kept in instance/secret_key. Set it in production.",
    ),
    Option("LOG_LEVEL", "log_level", "INFO", _log_level, "DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Option(
        "USER_AGENT",
        "user_agent",
        "CARTMSResearchAggregator/1.0 (+https://github.com/; research news digest)",
        _text,
        "User-Agent sent with every request to a source.",
    ),
    Option(
        "FETCH_CONNECT_TIMEOUT",
        "fetch_connect_timeout",
        "10",
        _positive_float,
        "Seconds to wait for a source's server to accept the connection.",
    ),
    Option(
        "FETCH_READ_TIMEOUT",
        "fetch_read_timeout",
        "20",
        _positive_float,
        "Seconds to wait for the next bytes from a source.",
    ),
    Option(
        "FETCH_TOTAL_TIMEOUT",
        "fetch_total_timeout",
        "60",
        _positive_float,
        "Seconds a whole fetch may take, however slowly the bytes trickle in.",
    ),
    Option(
        "FETCH_MAX_BYTES",
        "fetch_max_bytes",
        str(15 * 1024 * 1024),
        _positive_int,
        "Largest body accepted from a source, counted after decompression (gzip-bomb guard).",
    ),
    Option(
        "FETCH_MAX_REDIRECTS", "fetch_max_redirects", "5", _non_negative_int, "Redirects followed before a fetch fails."
    ),
    Option(
        "POLL_INTERVAL",
        "poll_interval",
        "3600",
        _positive_int,
        "Default seconds between two polls of a source (a source's own `interval` wins).",
    ),
    Option(
        "POLL_MAX_BACKOFF",
        "poll_max_backoff",
        str(24 * 3600),
        _positive_int,
        "Ceiling, in seconds, of the back-off of a source that keeps failing.",
    ),
    Option(
        "POLL_WORKERS",
        "poll_workers",
        "4",
        _positive_int,
        "Sources fetched at once (never more than one at a time per host).",
    ),
    Option(
        "POLL_PARSE_PROCESSES",
        "poll_parse_processes",
        "auto",
        _parse_processes,
        "Worker processes that parse, clean and classify during a poll of several sources, so a poll uses more "
        "than one core; forked by the first such poll and kept for the next. auto: one per core when the machine "
        "has several, 0 (all in the polling process) on one core. Never more than the sources polled; none for "
        "one source.",
    ),
    Option(
        "POLL_LEASE_SECONDS",
        "poll_lease_seconds",
        "600",
        _positive_int,
        "After this long a poll that never finished (a crash) is considered abandoned.",
    ),
    Option(
        "SCHEDULER_TICK_SECONDS",
        "scheduler_tick_seconds",
        "30",
        _positive_int,
        "How often the scheduler looks for sources that are due.",
    ),
    Option(
        "LEADER_LEASE_SECONDS",
        "leader_lease_seconds",
        "90",
        _positive_int,
        "Only one scheduler runs jobs; on SQLite a standby takes over when the active one has not renewed its "
        "lock for this long (on PostgreSQL the lock dies with its process at once).",
    ),
    Option("PAGE_SIZE", "page_size", "25", _positive_int, "Items per page on the web page."),
    Option("FEED_SIZE", "feed_size", "50", _positive_int, "Items in /feed.xml, /feed.atom and /feed.json."),
    Option(
        "SMTP_HOST",
        "smtp_host",
        "",
        _text,
        "Mail server. Empty (the default): emails are written as .eml files to instance/outbox/.",
    ),
    Option("SMTP_PORT", "smtp_port", "25", _positive_int, "Mail server port."),
    Option("SMTP_USERNAME", "smtp_username", "", _text, "SMTP login, if the server needs one."),
    Option("SMTP_PASSWORD", "smtp_password", "", _text, "SMTP password, if the server needs one."),
    Option("SMTP_SECURITY", "smtp_security", "none", _choice("none", "starttls", "ssl"), "none, starttls or ssl."),
    Option("SMTP_TIMEOUT", "smtp_timeout", "30", _positive_float, "Seconds before an SMTP operation gives up."),
    Option(
        "MAIL_FROM",
        "mail_from",
        "CAR T & MS Research Digest <digest@localhost>",
        _text,
        "The From address of every email.",
    ),
    Option(
        "OUTBOX_DIR", "outbox_dir", "", _text, "Where .eml files go when SMTP_HOST is empty. Default: instance/outbox."
    ),
    Option(
        "DIGEST_DAY",
        "digest_day",
        "mon",
        _choice("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        "Weekday the weekly digest is sent.",
    ),
    Option("DIGEST_TIME", "digest_time", "08:00", _text, "Local time (HH:MM) the weekly digest is sent."),
    Option("DIGEST_TIMEZONE", "digest_timezone", "UTC", _text, "Time zone of DIGEST_DAY and DIGEST_TIME (IANA name)."),
    Option(
        "DIGEST_QUIET_WEEK",
        "digest_quiet_week",
        "skip",
        _choice("skip", "note"),
        "A week with nothing new: skip (send nothing) or note (send a short 'quiet week' email).",
    ),
    Option(
        "SUBSCRIBE_RATE_LIMIT",
        "subscribe_rate_limit",
        "5",
        _positive_int,
        "Subscription requests accepted per client address per hour.",
    ),
    Option(
        "RATE_LIMIT_STORAGE_URL",
        "rate_limit_storage_url",
        "memory://",
        _text,
        "Where rate-limit counts are kept. memory:// counts in each process (one worker); with several gunicorn "
        "workers or machines use Redis, e.g. redis://127.0.0.1:6379, so the limit holds across all of them.",
    ),
    Option(
        "TRUSTED_PROXIES",
        "trusted_proxies",
        "0",
        _non_negative_int,
        "Proxies (routers, load balancers) in front of the web process whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed. 0: none, the TCP peer is the client. Behind one router: 1. Too high lets "
        "visitors choose their own address.",
    ),
    Option(
        "LINK_CHECK_PER_HOUR",
        "link_check_per_hour",
        "20",
        _non_negative_int,
        "Items' own links the scheduler tries each hour (HEAD, least recently checked first, 2 s apart per host); "
        "one answering 404/410 makes feeds and emails link to the item's page here. 0: never.",
    ),
    Option(
        "CONFIRM_MAX_AGE",
        "confirm_max_age",
        str(7 * 24 * 3600),
        _positive_int,
        "Seconds a confirmation link stays valid.",
    ),
    Option(
        "NCBI_API_KEY",
        "ncbi_api_key",
        "",
        _text,
        "NCBI E-utilities API key for `pubmed` sources (optional): allows 10 requests a second instead of 3.",
    ),
    Option(
        "NCBI_EMAIL",
        "ncbi_email",
        "",
        _text,
        "Contact address sent to NCBI with every E-utilities request (NCBI asks for one; it may block without).",
    ),
    Option(
        "DIGEST_MAX_ATTEMPTS",
        "digest_max_attempts",
        "4",
        _positive_int,
        "Tries per digest email when the mail server answers with a temporary (4xx) failure, in one run.",
    ),
    Option(
        "DIGEST_RETRY_SECONDS",
        "digest_retry_seconds",
        "30",
        _positive_float,
        "Wait before the first retry of temporary failures; doubled for each further round.",
    ),
    Option(
        "DIGEST_SUSPEND_AFTER",
        "digest_suspend_after",
        "3",
        _positive_int,
        "Permanent (5xx) failures in a row after which an address is suspended (no more digests).",
    ),
    Option(
        "TOPICS_NATIVE",
        "topics_native",
        "auto",
        _choice("auto", "off", "require"),
        "Topic matcher: auto = the mypyc build of `make native` when it is fresh, else pure Python (same results, "
        "about 1.4× slower); off = pure Python; require = refuse to start without the build. Read at import.",
    ),
    Option(
        "DIGEST_LEASE_SECONDS",
        "digest_lease_seconds",
        "300",
        _positive_int,
        "A digest sender that stopped renewing its lock this long ago (a crash) is replaced by the next one.",
    ),
)


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    feeds_file: str = "feeds.yaml"
    base_url: str = "http://127.0.0.1:5000"
    secret_key: str = ""
    log_level: str = "INFO"
    user_agent: str = ""
    fetch_connect_timeout: float = 10.0
    fetch_read_timeout: float = 20.0
    fetch_total_timeout: float = 60.0
    fetch_max_bytes: int = 15 * 1024 * 1024
    fetch_max_redirects: int = 5
    poll_interval: int = 3600
    poll_max_backoff: int = 24 * 3600
    poll_workers: int = 4
    poll_parse_processes: int = 0  # from_env reads the default `auto` as the usable cores (0 on one core)
    topics_native: str = "auto"  # read and checked by aggregator.topics.native at import; here for the README table
    poll_lease_seconds: int = 600
    scheduler_tick_seconds: int = 30
    leader_lease_seconds: int = 90
    page_size: int = 25
    feed_size: int = 50
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "none"
    smtp_timeout: float = 30.0
    mail_from: str = ""
    outbox_dir: str = ""
    digest_day: str = "mon"
    digest_time: str = "08:00"
    digest_timezone: str = "UTC"
    digest_quiet_week: str = "skip"
    subscribe_rate_limit: int = 5
    rate_limit_storage_url: str = "memory://"
    trusted_proxies: int = 0
    link_check_per_hour: int = 20
    confirm_max_age: int = 7 * 24 * 3600
    ncbi_api_key: str = field(default="", repr=False)
    ncbi_email: str = ""
    digest_max_attempts: int = 4
    digest_retry_seconds: float = 30.0
    digest_suspend_after: int = 3
    digest_lease_seconds: int = 300

    @property
    def feeds_path(self) -> Path:
        path = Path(self.feeds_file)
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def outbox_path(self) -> Path:
        return Path(self.outbox_dir) if self.outbox_dir else INSTANCE_DIR / "outbox"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every option from ``environ`` (default: ``os.environ``); ``overrides`` win (tests use them)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for option in OPTIONS:
            raw = environ.get(option.env, option.default)
            try:
                values[option.attr] = option.parse(raw)
            except ValueError as exc:
                problems.append(f"{option.env}={raw!r}: {exc}")
        if problems:
            raise ConfigError(
                "Invalid configuration: " + "; ".join(problems) + ". See the README's Configuration table."
            )
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"Unknown settings: {', '.join(sorted(unknown))}")
        if not values["database_url"]:
            values["database_url"] = _default_database_url()
        _check_digest_time(values["digest_time"])
        return cls(**values)


def _check_digest_time(value: str) -> None:
    hour, _, minute = value.partition(":")
    digits = hour.isascii() and hour.isdigit() and minute.isascii() and minute.isdigit()
    if not (digits and 0 <= int(hour) < 24 and 0 <= int(minute) < 60):
        raise ConfigError(f"DIGEST_TIME={value!r}: expected HH:MM, for example 08:00")


def instance_secret_key(instance_dir: Path = INSTANCE_DIR) -> str:
    """A random key kept in ``instance/secret_key`` so signed links survive restarts of a development install."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def markdown_table() -> str:
    """The configuration table for the README."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for option in OPTIONS:
        default = f"`{option.default}`" if option.default else "(empty)"
        lines.append(f"| `{option.env}` | {default} | {option.help} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print(markdown_table())
