"""Shared fixtures: real SQLite and PostgreSQL databases migrated by Alembic, a real feed server on 127.0.0.1,
and the Flask app, client and CLI runner built on them.

PostgreSQL: each test gets its own schema in the `test` database on 127.0.0.1:5432, dropped afterwards.
When no server answers, PostgreSQL tests are skipped with a loud summary line, unless REQUIRE_POSTGRES=1 (CI),
in which case they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_pg_problem: list[str] = []
_apps: list[Flask] = []


def dispose_apps() -> None:
    """Close every connection pool the test opened (an open pool keeps a PostgreSQL schema from being dropped)."""
    while _apps:
        _apps.pop().extensions["aggregator.db"].dispose()


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    dispose_apps()


def postgres_required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "").lower() in {"1", "true", "yes"}


def _postgres_available() -> str | None:
    """None when PostgreSQL answers; otherwise why not."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    problem = _postgres_available()
    if problem:
        message = f"PostgreSQL at {PG_ADMIN_URL} does not answer ({problem})"
        if postgres_required():
            pytest.fail(
                message + " and REQUIRE_POSTGRES=1 makes it required. Start it: "
                "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
            )
        _pg_problem.append(message)
        pytest.skip(message)
    return PG_ADMIN_URL


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under pytest-xdist the topic report is filled in a worker: hand it to the controller (pytest_testnodedown).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from tests.topics_metrics import REPORT

        workeroutput["topics_report"] = list(REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    from tests.topics_metrics import REPORT

    lines = getattr(node, "workeroutput", {}).get("topics_report")
    if lines:
        REPORT[:] = lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.topics_metrics import REPORT  # filled by tests/test_topics_eval.py when it runs

    if REPORT:
        terminalreporter.write_sep("=", "topic filter quality (dev and test, issue #13)")
        for line in REPORT:
            terminalreporter.write_line(line)
    if _pg_problem:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS WERE SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_pg_problem[0] + ". Set REQUIRE_POSTGRES=1 to make this an error.")


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh, private schema."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    base = postgres_admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}?options=-csearch_path%3D{schema}"
    dispose_apps()
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per test process (Debian's, through Playwright); each test opens its own context."""
    from tests import browser_support

    with browser_support.open_chromium() as chromium:
        yield chromium


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


def topics_config() -> dict[str, Any]:
    """The topic rules of the shipped feeds.yaml (everything but its sources)."""
    data = yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if key != "sources"}


def write_feeds_file(path: Path, sources: list[dict[str, Any]]) -> Path:
    document = {"sources": sources, **topics_config()}
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def make_app(database_url: str, feeds_file: Path, **overrides: Any) -> Flask:
    from flask_migrate import upgrade

    from aggregator import create_app

    config: dict[str, Any] = {
        "database_url": database_url,
        "feeds_file": str(feeds_file),
        "secret_key": "test-secret",
        "base_url": "http://aggregator.test",
        "TESTING": True,
        # Parsing in this process, whatever the machine's cores (the shipped default, `auto`, forks a worker per
        # core): tests read the stages' log records and replace stages; tests/test_prepare_pool.py checks that a
        # poll with workers stores exactly what an inline one does.
        "poll_parse_processes": 0,
        **overrides,
    }
    app = create_app(config)
    _apps.append(app)
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def feeds_file(tmp_path: Path) -> Path:
    """A feeds file with no reachable source (tests add their own with write_feeds_file)."""
    return write_feeds_file(
        tmp_path / "feeds.yaml",
        [
            {"id": "placeholder", "name": "Placeholder", "url": "http://127.0.0.1:9/feed.xml", "enabled": False},
        ],
    )


@pytest.fixture
def app(sqlite_url: str, feeds_file: Path) -> Flask:
    return make_app(sqlite_url, feeds_file)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
