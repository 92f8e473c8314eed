"""Reviewers' verdicts (``flask label``, ``flask export-labels``) on SQLite and PostgreSQL: stored, honoured at
once by the page and the feeds, kept by ``reclassify`` and by a poll that changes the item, and exported as
labelled lines of the evaluation set."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from aggregator import store
from aggregator.cli.poll import build_poller
from aggregator.context import services
from aggregator.db import get_database
from aggregator.domain import CleanItem, ParsedItem, SourceSpec
from aggregator.models import Item, ItemTopic, ReviewLabel
from aggregator.poll.clean import clean_item
from aggregator.topics.review import Verdict, apply_verdicts
from tests.conftest import make_app, write_feeds_file
from tests.kinds_helpers import NOW

CAR_T_MS = "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patient dosed"
MS_ONLY = "Ocrelizumab dosing intervals in relapsing multiple sclerosis cohorts"


def _clean(title: str, guid: str, summary: str = "") -> CleanItem:
    spec = SourceSpec(id="news", name="News", url="https://news.example/feed", evidence_type="press-release")
    return clean_item(ParsedItem(title=title, link=f"https://news.example/{guid}", guid=guid, summary=summary),
                      spec, NOW)


def _store(app: Flask, items: list[CleanItem], at: object = NOW) -> None:
    with app.app_context():
        classifier = services().classifier
    with get_database(app).session_scope() as session:
        store.upsert_items(session, "news", items, [classifier.topic_rows(i) for i in items], at)  # type: ignore[arg-type]


def _topics(app: Flask) -> dict[str, set[str]]:
    with get_database(app).session_scope() as session:
        out: dict[str, set[str]] = {}
        for item in session.scalars(select(Item)):
            out[item.title] = {t.topic_id for t in item.topics}
        return out


def _ids(app: Flask) -> dict[str, int]:
    with get_database(app).session_scope() as session:
        return {item.title: item.id for item in session.scalars(select(Item))}


def test_label_is_honoured_kept_and_exported(tmp_path: Path, any_db_url: str) -> None:
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "news", "name": "News", "url": "https://news.example/feed", "evidence_type": "press-release"}]))
    runner = app.test_cli_runner()
    client = app.test_client()
    # No app context held around the requests: each request must read the store afresh (its own ``g``).
    build_poller(app).sync_sources()
    _store(app, [_clean(CAR_T_MS, "a"), _clean(MS_ONLY, "b")])
    ids = _ids(app)
    # The rules' own decisions, before any verdict (checked by the topic definitions, issue #3).
    assert _topics(app) == {CAR_T_MS: {"car-t-ms", "car-t-autoimmune", "ms-research"}, MS_ONLY: {"ms-research"}}
    assert 'href="https://news.example/b"' not in client.get("/?topic=car-t-ms").get_data(as_text=True)
    etag = client.get("/feed.xml?topic=car-t-ms").headers["ETag"]

    no = runner.invoke(args=["label", str(ids[CAR_T_MS]), "--topic", "car-t-ms", "--no",
                             "--note", "  a trial   plan, not results "])
    assert no.exit_code == 0, no.output
    assert f"Item {ids[CAR_T_MS]} (KYV-101" in no.output and "does not belong in car-t-ms" in no.output
    yes = runner.invoke(args=["label", str(ids[MS_ONLY]), "--topic", "car-t-ms", "--yes", "--note", "CAR T arm"])
    assert yes.exit_code == 0, yes.output
    # Only the topic of the verdict moves: the other topics stay as the rules decided.
    assert _topics(app) == {CAR_T_MS: {"car-t-autoimmune", "ms-research"},
                            MS_ONLY: {"ms-research", "car-t-ms"}}

    # At once: the page, the feed (a new ETag, not a 304) and the explanation.
    page = client.get("/?topic=car-t-ms").get_data(as_text=True)
    assert 'href="https://news.example/b"' in page and 'href="https://news.example/a"' not in page
    assert "a reviewer decided it belongs here (“CAR T arm”)" in page
    feed = client.get("/feed.xml?topic=car-t-ms", headers={"If-None-Match": etag})
    assert feed.status_code == 200 and "https://news.example/b" in feed.get_data(as_text=True)
    assert "https://news.example/a" not in feed.get_data(as_text=True)
    wide = client.get("/?topic=car-t-autoimmune").get_data(as_text=True)
    assert 'href="https://news.example/a"' in wide  # still in the wider topic: no verdict there

    # reclassify keeps both verdicts; so does a poll that changes the item.
    assert runner.invoke(args=["reclassify", "--no-progress"]).exit_code == 0
    assert _topics(app)[CAR_T_MS] == {"car-t-autoimmune", "ms-research"}
    assert _topics(app)[MS_ONLY] == {"ms-research", "car-t-ms"}
    _store(app, [_clean(CAR_T_MS, "a", "Updated: dosing continues."),
                 _clean(MS_ONLY, "b", "Updated: a new cohort.")], NOW + timedelta(days=1))
    assert _topics(app)[CAR_T_MS] == {"car-t-autoimmune", "ms-research"}
    assert _topics(app)[MS_ONLY] == {"ms-research", "car-t-ms"}

    # A second verdict on the same item and topic replaces the first.
    again = runner.invoke(args=["label", str(ids[CAR_T_MS]), "--topic", "car-t-ms", "--no", "--note", "plan only"])
    assert again.exit_code == 0 and "already so" in again.output
    with get_database(app).session_scope() as session:
        assert session.scalar(select(ReviewLabel.note).where(ReviewLabel.item_id == ids[CAR_T_MS])) == "plan only"

    out = tmp_path / "labels.jsonl"
    exported = runner.invoke(args=["export-labels", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = {row["title"]: row for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(rows) == {CAR_T_MS, MS_ONLY}
    assert rows[CAR_T_MS] == {
        "title": CAR_T_MS, "summary": "Updated: dosing continues.", "source_kind": "press_release",
        "url": "https://news.example/a",
        "labels": {"car-t-ms": False, "car-t-autoimmune": True, "ms-research": True},
        "reviewed": ["car-t-ms"], "note": "reviewer: car-t-ms no: plan only",
    }
    # A "yes" for car-t-ms implies the two wider topics (issue #3: every car-t-ms item is in both).
    assert rows[MS_ONLY]["labels"] == {"car-t-ms": True, "car-t-autoimmune": True, "ms-research": True}
    assert rows[MS_ONLY]["note"] == "reviewer: car-t-ms yes: CAR T arm"


def test_label_refuses_what_it_cannot_record(app: Flask) -> None:
    runner = app.test_cli_runner()
    unknown_topic = runner.invoke(args=["label", "1", "--topic", "knitting", "--yes"])
    assert unknown_topic.exit_code == 2 and "unknown topic 'knitting'" in unknown_topic.output
    no_verdict = runner.invoke(args=["label", "1", "--topic", "car-t-ms"])
    assert no_verdict.exit_code == 2 and "--yes" in no_verdict.output
    missing = runner.invoke(args=["label", "999", "--topic", "car-t-ms", "--no"])
    assert missing.exit_code == 1 and "no item 999" in missing.output
    with get_database(app).session_scope() as session:
        assert session.scalars(select(ReviewLabel)).all() == []
        assert session.scalars(select(ItemTopic)).all() == []
    empty = runner.invoke(args=["export-labels"])
    assert empty.exit_code == 0 and "Exported 0 reviewed item(s)." in empty.output


def test_apply_verdicts_keeps_the_rules_hits_beside_the_reviewer() -> None:
    hit = {"field": "title", "term_list": "car_t", "term": "CAR T", "text": "CAR T"}
    rows = [("car-t-ms", 3.0, [hit]), ("ms-research", 2.0, [])]
    got = apply_verdicts(rows, {"car-t-ms": Verdict(True, "sure"), "ms-research": Verdict(False),
                                "car-t-autoimmune": Verdict(True)})
    reviewer = {"field": "reviewer", "term_list": "", "term": "", "text": "sure"}
    assert got == [("car-t-ms", 3.0, [reviewer, hit]),
                   ("car-t-autoimmune", 1.0, [{**reviewer, "text": ""}])]
    assert apply_verdicts(rows, {}) is rows
    assert replace(Verdict(True), note="x").note == "x"
