"""The topic rules are checked when the app is built and compiled on first use (issue #16: a poll answered by
304s never classifies, so it never pays for compiling them)."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregator import create_app
from aggregator.cli.poll import build_poller
from aggregator.context import Services
from aggregator.errors import SourceConfigError
from aggregator.topics import load_topics
from aggregator.topics.classify import Classifier
from tests.conftest import make_app, topics_config, write_feeds_file
from tests.feed_server import FeedServer

RSS = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
       "<item><title>KYV-101 CAR T-cell therapy in multiple sclerosis</title><link>https://n.example/1</link>"
       "<description>CD19 CAR T in progressive MS.</description></item></channel></rss>")


def _services(app: Any) -> Services:
    services: Services = app.extensions["aggregator"]
    return services


def test_building_the_app_does_not_compile_the_rules_and_a_304_poll_never_does(
    tmp_path: Path, feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.add("/a.xml", RSS)
    feed_server.add("/b.xml", RSS.replace("/1<", "/2<"))
    sources = [{"id": "a", "name": "A", "url": feed_server.url("/a.xml")},
               {"id": "b", "name": "B", "url": feed_server.url("/b.xml")}]
    feeds = write_feeds_file(tmp_path / "feeds.yaml", sources)
    first = make_app(sqlite_url, feeds)
    assert not _services(first).classifier.compiled
    poller = build_poller(first)
    poller.sync_sources()
    reports = poller.poll_many(["a", "b"])
    assert [r.outcome for r in reports] == ["ok", "ok"]
    assert _services(first).classifier.compiled  # something was parsed: classified, so compiled

    again = make_app(sqlite_url, feeds)  # a new process, as the next `flask poll` is
    poller = build_poller(again)
    poller.sync_sources()
    reports = poller.poll_many(["a", "b"])
    assert [r.outcome for r in reports] == ["not-modified", "not-modified"]
    assert not _services(again).classifier.compiled


def test_bad_topic_rules_still_fail_when_the_app_is_built(tmp_path: Path, sqlite_url: str) -> None:
    config = topics_config()
    config["topics"] = [{"id": "broken", "all_of": ["no-such-list"]}]
    path = tmp_path / "feeds.yaml"
    source = {"id": "p", "name": "P", "url": "http://127.0.0.1:9/feed.xml", "enabled": False}
    path.write_text(yaml.safe_dump({"sources": [source], **config}), encoding="utf-8")
    with pytest.raises(SourceConfigError, match="topic rules"):
        create_app({"database_url": sqlite_url, "feeds_file": str(path), "secret_key": "x"})


def test_compiled_once_whichever_thread_asks_first() -> None:
    calls = []
    compiled = load_topics(topics_config())

    def load() -> Any:
        calls.append(1)
        return compiled

    classifier = Classifier(load=load)
    threads = [threading.Thread(target=lambda: classifier.topic_ids) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    assert classifier.topic_set is compiled
    with pytest.raises(TypeError):
        Classifier()


def test_a_lazy_classifier_pickles_as_the_compiled_rules() -> None:
    classifier = Classifier(load=lambda: load_topics(topics_config()))
    copy = pickle.loads(pickle.dumps(classifier))
    assert copy.compiled
    assert copy.topic_ids == classifier.topic_ids
    match = copy.matches("KYV-101 CAR T-cell therapy in multiple sclerosis")
    assert match == classifier.matches("KYV-101 CAR T-cell therapy in multiple sclerosis")
