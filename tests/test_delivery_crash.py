"""A sender process killed with SIGKILL in the middle of a week's digest, then restarted: every reader gets exactly
one digest. A real ``flask --app aggregator digest send`` subprocess, a real SMTP server, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from aggregator.db import get_database
from tests.conftest import ROOT, make_app
from tests.mail_support import WEEK, add_item, add_subscribers
from tests.smtp_server import SMTPServer, smtp_server_fixture  # noqa: F401 - the smtp_server fixture

READERS = 8


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_killed_sender_is_completed_by_the_next_run_and_nobody_gets_two(
    any_db_url: str, feeds_file: Path, smtp_server: SMTPServer
) -> None:
    app = make_app(any_db_url, feeds_file, **smtp_server.settings())
    database = get_database(app)
    add_item(database, "CAR T item", ["car-t-ms"])
    readers = add_subscribers(database, READERS)
    database.dispose()

    env = {
        **os.environ,
        "DATABASE_URL": any_db_url,
        "FEEDS_FILE": str(feeds_file),
        "SECRET_KEY": "test-secret",
        "BASE_URL": "http://aggregator.test",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_SECURITY": "none",
        "LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).parent / "flask"), "--app", "aggregator", "digest", "send", "--week", WEEK]

    smtp_server.handler.hold_after = 3  # the fourth transaction hangs in MAIL FROM: the sender is mid-week
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(smtp_server.handler.in_mail.is_set, "the sender to reach its fourth message")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)  # reaped: its pid no longer exists, so its lease is free at once
    assert first.returncode == -signal.SIGKILL
    assert len(smtp_server.messages) == 3

    smtp_server.handler.hold_after = None
    smtp_server.handler.release.set()
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "interrupted by an earlier crash and resent" in second.stdout

    received = Counter(r for message in smtp_server.messages for r in message.rcpt_tos)
    assert received == Counter({reader: 1 for reader in readers})
