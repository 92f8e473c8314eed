"""Production behind a router: TRUSTED_PROXIES (Werkzeug's ProxyFix) and the subscription rate limit (Flask-Limiter).

In process (Flask test client, memory storage): a client's own X-Forwarded-For changes nothing when no proxy is
trusted; with one trusted proxy each forwarded client has its own limit, and only the value the proxy appended counts.
Across processes (two real gunicorn servers on 127.0.0.1, one worker each, as two workers or two machines are): with
Redis storage they share one limit; with memory storage each counts alone (which is why production needs Redis).
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ROOT, make_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_required() -> bool:
    return os.environ.get("REQUIRE_REDIS", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} does not answer ({exc})"
        if redis_required():
            pytest.fail(message + " and REQUIRE_REDIS=1 makes it required. Start it: redis-server --daemonize yes")
        pytest.skip(message)
    return REDIS_URL


def _subscribe(client: FlaskClient, email: str, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    page = client.get("/subscribe", headers=headers)
    token = CSRF.search(page.get_data(as_text=True))
    assert token, "no CSRF token on /subscribe"
    response = client.post("/subscribe", data={"email": email, "topics": ["car-t-ms"], "csrf_token": token.group(1)},
                           headers=headers)
    return response.status_code


def _app(sqlite_url: str, feeds_file: Path, tmp_path: Path, trusted: int) -> Flask:
    return make_app(sqlite_url, feeds_file, outbox_dir=str(tmp_path / "outbox"), subscribe_rate_limit=5,
                    trusted_proxies=trusted)


def test_a_spoofed_forwarded_for_changes_nothing_without_trusted_proxies(
        sqlite_url: str, feeds_file: Path, tmp_path: Path) -> None:
    client = _app(sqlite_url, feeds_file, tmp_path, trusted=0).test_client()
    statuses = [_subscribe(client, f"s{n}@example.org", forwarded=f"198.51.100.{n}") for n in range(7)]
    assert statuses == [303] * 5 + [429, 429]


def test_each_forwarded_client_has_its_own_limit_behind_one_trusted_proxy(
        sqlite_url: str, feeds_file: Path, tmp_path: Path) -> None:
    client = _app(sqlite_url, feeds_file, tmp_path, trusted=1).test_client()
    assert [_subscribe(client, f"a{n}@example.org", forwarded="203.0.113.1") for n in range(6)] == [303] * 5 + [429]
    assert _subscribe(client, "b@example.org", forwarded="203.0.113.2") == 303
    # What the client wrote left of the value our proxy appended is not believed: still 203.0.113.1, still limited.
    assert _subscribe(client, "c@example.org", forwarded="192.0.2.77, 203.0.113.1") == 429


def test_a_form_sent_back_for_a_typo_does_not_count(sqlite_url: str, feeds_file: Path, tmp_path: Path) -> None:
    client = _app(sqlite_url, feeds_file, tmp_path, trusted=0).test_client()
    assert [_subscribe(client, "not an address") for _ in range(6)] == [400] * 6
    assert _subscribe(client, "fine@example.org") == 303


def test_links_are_built_from_base_url_whatever_the_forwarded_host(
        sqlite_url: str, feeds_file: Path, tmp_path: Path) -> None:
    client = _app(sqlite_url, feeds_file, tmp_path, trusted=1).test_client()
    feed = client.get("/feed.xml", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
                                            "Host": "other.example"}).get_data(as_text=True)
    assert "http://aggregator.test/" in feed and "evil.example" not in feed and "other.example" not in feed


# ----------------------------------------------------------------------------------------- real gunicorn processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def servers(sqlite_url: str, feeds_file: Path, tmp_path: Path) -> Iterator[object]:
    """Start two gunicorn servers on 127.0.0.1 over one migrated SQLite database: ``start(storage_url)``."""
    make_app(sqlite_url, feeds_file)  # migrates the database the servers share
    started: list[subprocess.Popen[bytes]] = []

    def start(storage_url: str) -> list[str]:
        urls = []
        for n in range(2):
            port = _free_port()
            env = {**os.environ, "DATABASE_URL": sqlite_url, "FEEDS_FILE": str(feeds_file), "SECRET_KEY": "shared",
                   "BASE_URL": "http://aggregator.test", "OUTBOX_DIR": str(tmp_path / "outbox"),
                   "RATE_LIMIT_STORAGE_URL": storage_url, "TRUSTED_PROXIES": "1", "SUBSCRIBE_RATE_LIMIT": "5",
                   "POLL_PARSE_PROCESSES": "0", "LOG_LEVEL": "WARNING"}
            with (tmp_path / f"gunicorn-{n}.log").open("wb") as log:
                started.append(subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--workers", "1", "--no-control-socket",
                     "--bind", f"127.0.0.1:{port}", "aggregator:create_app()"],
                    cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url + "/healthz", timeout=10).status_code == 200:
                        break
                except requests.RequestException:  # not listening yet, or still starting (slow on a busy machine)
                    pass
                assert time.monotonic() < deadline, (tmp_path / "gunicorn-0.log").read_text(errors="replace")
                time.sleep(0.2)
        return urls

    yield start
    for process in started:
        process.terminate()
    for process in started:
        process.wait(timeout=20)


def _http_subscribe(session: requests.Session, url: str, email: str, client: str) -> int:
    headers = {"X-Forwarded-For": client}
    token = CSRF.search(session.get(url + "/subscribe", headers=headers, timeout=10).text)
    assert token
    response = session.post(url + "/subscribe", headers=headers, allow_redirects=False, timeout=10,
                            data={"email": email, "topics": ["car-t-ms"], "csrf_token": token.group(1)})
    return response.status_code


def _alternating(urls: list[str], count: int) -> list[int]:
    # A random forwarded address per run: counts already in Redis from an earlier run cannot meet this one.
    client = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    session = requests.Session()
    return [_http_subscribe(session, urls[n % 2], f"g{n}@example.org", client) for n in range(count)]


def test_two_gunicorn_processes_share_one_limit_through_redis(servers: object, redis_url: str) -> None:
    urls = servers(redis_url)  # type: ignore[operator]
    assert _alternating(urls, 7) == [303] * 5 + [429, 429]


def test_with_memory_storage_each_process_counts_alone(servers: object) -> None:
    urls = servers("memory://")  # type: ignore[operator]
    # Six requests, three each: under the limit of five in either process, so none refused (the reason for Redis).
    assert _alternating(urls, 6) == [303] * 6
