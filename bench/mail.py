"""Section 4b: sending one week's digest to confirmed subscribers through a local aiosmtpd server.

Ours: ``aggregator.mail.delivery.send_week`` end to end (select the week's items, render per reader, record each
delivery exactly-once in the database, send over one SMTP connection). Baseline, in the same run and against
the same server: a plain smtplib loop sending messages rendered beforehand (copies of a digest ours sent, one
per address) — the floor for any sender that speaks SMTP from Python.
"""

from __future__ import annotations

import hashlib
import smtplib
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from .report import EmailRun
from .serving import _free_port, migrate, write_feeds_file

WEEK = "2026-W46"  # Monday 9 to Sunday 15 November 2026
IN_WEEK = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)


class _Counter:
    """aiosmtpd handler that accepts everything, counts, and keeps the first message as a sample."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.sample: bytes | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        with self.lock:
            self.count += 1
            if self.sample is None:
                self.sample = bytes(envelope.content)
        return "250 Message accepted for delivery"


def _seed(database_url: str, subscribers: int, items: int = 40) -> None:
    from aggregator.models import Item, ItemTopic, Source, Subscriber

    engine = create_engine(database_url)
    created = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(Source.__table__), [{
            "id": "src-0", "name": "Bench Journal", "configured_url": "http://127.0.0.1:9/0.xml",
            "url": "http://127.0.0.1:9/0.xml", "kind": "feed", "enabled": True, "in_catalog": True,
            "evidence_type": "peer-reviewed", "status": "ok", "error_count": 0}])
        rows, topics = [], []
        for n in range(1, items + 1):
            key = f"urn:mail:{n}"
            when = IN_WEEK + timedelta(minutes=n)
            digest = hashlib.sha1(key.encode()).hexdigest()  # noqa: S324
            rows.append({
                "id": n, "source_id": "src-0", "key": key, "key_hash": digest,
                "title": f"CD19 CAR T-cell therapy in multiple sclerosis: report {n}",
                "link": f"https://journal.example.org/{n}", "normalized_link": f"https://journal.example.org/{n}",
                "guid": key, "summary_html": "<p>Autologous CAR T cells were given to people with MS.</p>" * 3,
                "summary_text": "Autologous CAR T cells were given to people with MS. " * 3, "content_text": "",
                "author": "A. Smith", "categories": [], "published_at": when, "evidence_type": "peer-reviewed",
                "extra": {}, "content_hash": digest, "first_seen_at": when, "updated_at": when, "sort_at": when,
                "story_key": digest, "duplicate_of_id": None})
            topics.append({"item_id": n, "topic_id": "car-t-ms" if n % 3 else "ms-research", "score": 3.0,
                           "hits": []})
        conn.execute(insert(Item.__table__), rows)
        conn.execute(insert(ItemTopic.__table__), topics)
        conn.execute(insert(Subscriber.__table__), [{
            "email": f"reader{n}@example.org", "topics": ["car-t-ms", "ms-research"] if n % 4 else ["car-t-ms"],
            "status": "confirmed", "created_at": created, "confirmed_at": created, "permanent_failures": 0}
            for n in range(subscribers)])
    engine.dispose()


def _baseline(port: int, sample: bytes, subscribers: int) -> float:
    """smtplib over one connection, messages rendered before the clock starts."""
    messages = [(f"reader{n}@example.org", sample.replace(b"reader0@example.org", f"reader{n}@example.org".encode()))
                for n in range(subscribers)]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for address, body in messages:
            smtp.sendmail("digest@localhost", [address], body)
    return time.perf_counter() - started


def run_email(subscribers: int) -> EmailRun:
    try:
        from aiosmtpd.controller import Controller

        from aggregator.mail.delivery import send_week
    except ImportError as exc:
        return EmailRun(subscribers=subscribers, pending=f"the digest sender is not there yet ({exc})")
    from aggregator import create_app
    from aggregator.db import get_database

    run = EmailRun(subscribers=subscribers)
    handler = _Counter()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'mail.db'}"
            feeds_file = write_feeds_file(Path(tmp) / "feeds.yaml")
            migrate(url, feeds_file)
            _seed(url, subscribers)
            app = create_app({"database_url": url, "feeds_file": str(feeds_file), "secret_key": "bench",
                              "log_level": "WARNING", "smtp_host": "127.0.0.1", "smtp_port": port,
                              "base_url": "http://127.0.0.1:5000", "mail_from": "Digest <digest@localhost>"})
            services = app.extensions["aggregator"]
            database = get_database(app)
            started = time.perf_counter()
            report = send_week(database, services.settings, services.topic_names, WEEK)
            run.ours_seconds = time.perf_counter() - started
            run.ours_sent = report.sent
            database.dispose()
        if handler.sample is None:
            run.pending = f"send_week sent nothing ({report.summary()})"
            return run
        sent_before = handler.count
        run.baseline_seconds = _baseline(port, handler.sample, subscribers)
        run.baseline_sent = handler.count - sent_before
    finally:
        controller.stop()
    return run
