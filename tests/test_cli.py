"""The operator contract, run as operators run it: `flask --app aggregator ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import ROOT, make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.test_pipeline import CAR_T_MS, MS_ONLY, rss

FLASK = [sys.executable, "-m", "flask", "--app", "aggregator"]


def flask(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLASK, *args], cwd=ROOT, env={**os.environ, **env}, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_db_upgrade_poll_and_page_through_the_contract(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    feed_server.add("/news.xml", rss(CAR_T_MS, MS_ONLY))
    feeds = write_feeds_file(
        tmp_path / "feeds.yaml",
        [
            {"id": "news", "name": "News", "url": feed_server.url("/news.xml")},
            {"id": "down", "name": "Down", "url": "http://127.0.0.1:9/x.xml"},
        ],
    )
    env = {"DATABASE_URL": any_db_url, "FEEDS_FILE": str(feeds), "SECRET_KEY": "s"}
    upgraded = flask(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    polled = flask(["poll"], env)
    assert polled.returncode == 0, polled.stderr
    table = polled.stdout
    assert "source  outcome" in table
    assert any(line.startswith("news") and " ok " in line and " 2 " in line for line in table.splitlines())
    assert any(
        line.startswith("down") and "error" in line and "could not connect" in line for line in table.splitlines()
    )
    assert "2 source(s): 2 new, 0 updated, 0 unchanged, 1 failed." in table
    again = flask(["poll", "--source", "news"], env)
    assert "not-modified" in again.stdout
    unknown = flask(["poll", "--source", "nope"], env)
    assert unknown.returncode == 2 and "unknown source(s) nope" in unknown.stderr
    app = make_app(any_db_url, feeds)
    assert "KYV-101" in app.test_client().get("/?topic=car-t-ms").get_data(as_text=True)


def test_bad_feeds_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("sources:\n  - id: a\n    name: A\n    url: nowhere\ntopics:\n  - id: t\n")
    result = flask(["check-feeds"], {"FEEDS_FILE": str(bad), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode != 0
    assert "line 2: `url` must be an http(s) address" in result.stderr


def test_help_explains_each_command() -> None:
    result = flask(["--help"], {})
    for command in ("poll", "reclassify", "classify", "scheduler", "serve", "check-feeds", "db"):
        assert command in result.stdout
    poll_help = flask(["poll", "--help"], {}).stdout
    assert "--source ID" in poll_help and "back-off" in poll_help


def test_classify_json_lines(runner: object, app: Flask) -> None:
    lines = "\n".join(
        [
            json.dumps({"title": "CAR-T cells in relapsing-remitting MS", "summary": "CD19 CAR T for RRMS."}),
            json.dumps({"title": "LC-MS/MS assay", "summary": "Mass spectrometry.", "link": "https://x"}),
            "not json",
            json.dumps(["a", "list"]),
        ]
    )
    result = app.test_cli_runner().invoke(args=["classify"], input=lines)
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 2
    assert "car-t-ms" in out[0]["topics"] and out[0]["matches"][0]["topic_id"] in out[0]["topics"]
    assert out[1]["topics"] == [] and out[1]["link"] == "https://x"
    assert "line 3: skipped" in result.stderr and "line 4: skipped" in result.stderr
    explained = app.test_cli_runner().invoke(args=["classify", "--explain"], input=lines.splitlines()[0])
    assert "car-t-ms" in explained.stdout and "title" in explained.stdout


def test_classify_takes_a_lone_surrogate_escape(app: Flask) -> None:
    # JSON may escape half a surrogate pair; it comes back as U+FFFD, and the item is classified as usual
    line = '{"title": "KYV-101 CAR T \\ud83d in progressive MS", "summary": "\\udfff"}'
    result = app.test_cli_runner().invoke(args=["classify"], input=line)
    assert result.exit_code == 0, result.output
    [out] = [json.loads(row) for row in result.stdout.splitlines()]
    assert out["title"] == "KYV-101 CAR T \ufffd in progressive MS" and "car-t-ms" in out["topics"]


def test_classify_reads_a_file(app: Flask, tmp_path: Path) -> None:
    source = tmp_path / "items.jsonl"
    source.write_text(json.dumps({"title": "Ocrelizumab in primary progressive multiple sclerosis"}) + "\n")
    result = app.test_cli_runner().invoke(args=["classify", str(source)])
    assert json.loads(result.stdout)["topics"] == ["ms-research"]


@pytest.mark.parametrize(
    ("command", "label", "summary"),
    [
        ("poll", "Polling", "source  outcome"),
        ("reclassify", "Reclassifying", "Reclassified 0 item(s)"),
    ],
)
def test_progress_bar_goes_to_stderr_only_when_asked(
    tmp_path: Path, sqlite_url: str, command: str, label: str, summary: str
) -> None:
    feeds = write_feeds_file(tmp_path / "feeds.yaml", [{"id": "x", "name": "X", "url": "http://127.0.0.1:9/x.xml"}])
    runner = make_app(sqlite_url, feeds).test_cli_runner()
    shown = runner.invoke(args=[command, "--progress"])
    hidden = runner.invoke(args=[command, "--no-progress"])
    assert shown.exit_code == hidden.exit_code == 0
    assert label in shown.stderr and label not in shown.stdout  # the bar never mixes into the table on stdout
    assert label not in hidden.stderr
    assert summary in shown.stdout and summary in hidden.stdout


@pytest.mark.parametrize("scheduler", ["--scheduler", "--no-scheduler"])
def test_serve_keeps_serving(tmp_path: Path, feed_server: FeedServer, scheduler: str) -> None:
    """`make run` is `flask --app aggregator serve`: it must stay up, serve the page and (by default) poll."""
    import socket
    import time
    import urllib.request

    feed_server.add("/news.xml", rss(CAR_T_MS))
    feeds = write_feeds_file(
        tmp_path / "feeds.yaml", [{"id": "news", "name": "News", "url": feed_server.url("/news.xml")}]
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/serve.db", "FEEDS_FILE": str(feeds), "SECRET_KEY": "s"}
    assert flask(["db", "upgrade"], env).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*FLASK, "serve", "--port", str(port), scheduler],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, "flask serve exited instead of serving"
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
            except OSError:
                time.sleep(0.3)
                continue
            if scheduler == "--no-scheduler" or "first patients treated" in page:
                break
            time.sleep(0.3)
        assert "Research on CAR T-cell therapy and multiple sclerosis" in page
        assert ("first patients treated" in page) == (scheduler == "--scheduler")
    finally:
        process.terminate()
        process.wait(timeout=20)
