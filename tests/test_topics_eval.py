"""Precision and recall of the default topic rules on the labelled sets, with bootstrap 95% intervals (issue #13).

``tests/data/topics/dev.jsonl`` is for tuning; ``tests/data/topics/test.jsonl`` is never read while tuning (see
``tests/data/topics/README.md``). One item per line: ``{"id", "title", "summary", "content"?, "categories"?,
"source_kind", "url"?, "origin", "labels": {topic: bool}, "note"}``. Add cases to ``dev`` with
``python tests/data/topics/split.py --add FILE --dev``.

The issue's targets are asserted on ``test`` only. Both sets' figures are printed in the session summary (and in
this module's captured output, ``-rA``); the ``dev`` errors are listed by title, the ``test`` errors only counted.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from aggregator.topics import Document, TopicSet, load_topics
from tests.topics_metrics import REPORT, Pair, bootstrap, counts, precision, recall

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests/data/topics"
SPLITS = ("dev", "test")
TARGETS = {  # topic: (min precision, min recall), asserted on test (issue #13)
    "car-t-ms": (0.98, 0.97),
    "car-t-autoimmune": (0.96, 0.96),
    "ms-research": (0.96, 0.96),
}
# Targets the rules miss on `test` today (measured 2026-12-03 after adding the car-t-ms boundary items of heldout-4
# unseen: car-t-ms precision 0.959 = 71/74 < 0.98, as before; ms-research recall 0.958 = 182/190 < 0.96, met at
# 0.962 before heldout-4 put more MS items on test). strict: the day a target is met, its mark must go.
# Not tuned away: `test` is never read while tuning, so the misses stay until dev-set work fixes their kind.
NOT_YET = {("car-t-ms", "precision"), ("ms-research", "recall")}


def load_split(name: str) -> list[dict]:
    path = DATA / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_doc(row: dict) -> Document:
    return Document(row["title"], row.get("summary", ""), row.get("content", ""), tuple(row.get("categories", ())))


@pytest.fixture(scope="module")
def topics() -> TopicSet:
    return load_topics(yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def outcomes(topics: TopicSet) -> dict[str, dict[str, list[tuple[Pair, dict]]]]:
    """split -> topic -> [((expected, got), row)]"""
    out: dict[str, dict[str, list[tuple[Pair, dict]]]] = {}
    for split in SPLITS:
        out[split] = {t: [] for t in TARGETS}
        for row in load_split(split):
            got = {m.topic_id for m in topics.classify(to_doc(row))}
            for topic in TARGETS:
                out[split][topic].append(((row["labels"][topic], topic in got), row))
    return out


def test_split_shape() -> None:
    spec = importlib.util.spec_from_file_location("topics_split", DATA / "split.py")
    assert spec and spec.loader
    split = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(split)
    dev, test = load_split("dev"), load_split("test")
    assert len(dev) + len(test) >= 640
    assert sum(r["origin"] == "heldout-2" for r in dev + test) >= 400  # the second set, issue #13 item 1
    assert sum(r["origin"] == "heldout-3" for r in dev + test) >= 120  # newer items added unseen (2026-12-03)
    assert sum(r["origin"] == "heldout-4" for r in dev + test) >= 80  # car-t-ms boundary items, added unseen
    assert {r["origin"] for r in dev + test} <= {"eval-v1", "heldout-2", "heldout-3", "heldout-4", "export-labels"}
    assert 0.30 < len(test) / (len(dev) + len(test)) < 0.50
    ids = [r["id"] for r in dev + test]
    assert len(ids) == len(set(ids)), "an item is in both sets or twice"
    titles = [split.normalise(r["title"]) for r in dev + test]
    assert len(titles) == len(set(titles)), "two items with the same normalised title"
    for name, rows in (("dev", dev), ("test", test)):
        for row in rows:
            assert set(row["labels"]) == set(TARGETS), row["title"]
            assert row["note"], row["title"]
            assert len(row["id"]) == 12 and int(row["id"], 16) >= 0  # stable_id of the title the row was added with
            forced = row.get("split") == "dev-forced"
            assert (name == "dev") if forced else split.side(row["id"]) == name, row["title"]
            if row["labels"]["car-t-ms"]:  # every car-t-ms item is also in the two wider topics
                assert row["labels"]["car-t-autoimmune"] and row["labels"]["ms-research"], row["title"]
        for topic in TARGETS:
            assert sum(r["labels"][topic] for r in rows) >= 10, (name, topic)
    assert split.main(["--check"]) == 0


def test_report(outcomes: dict[str, dict[str, list[tuple[Pair, dict]]]]) -> None:
    """Prints both sets' figures; the assertions are in test_target_on_test."""
    lines = ["topic filter on the labelled sets (bootstrap 95% interval, 1000 resamples, seed 13)"]
    for split in SPLITS:
        for topic in TARGETS:
            pairs = [p for p, _ in outcomes[split][topic]]
            c = counts(pairs)
            lines.append(
                f"{split:4} {topic:16} tp={c.tp:3} fp={c.fp:3} fn={c.fn:3} tn={c.tn:3}"
                f"  precision={bootstrap(pairs, precision)}  recall={bootstrap(pairs, recall)}"
            )
    # test restricted to the sets whose items the rules were not written from (heldout-3: the newer 2024-2026 items,
    # added after the #13 rules; heldout-4: items around the car-t-ms boundary, added before these rules were tuned)
    for origin in ("heldout-2", "heldout-3", "heldout-4"):
        for topic in TARGETS:
            pairs = [p for p, row in outcomes["test"][topic] if row["origin"] == origin]
            c = counts(pairs)
            lines.append(
                f"test/{origin} {topic:16} tp={c.tp:3} fp={c.fp:3} fn={c.fn:3} tn={c.tn:3}"
                f"  precision={bootstrap(pairs, precision)}  recall={bootstrap(pairs, recall)}"
            )
    for topic in TARGETS:
        for (expected, got), row in outcomes["dev"][topic]:
            if expected != got:
                lines.append(f"  dev {'FN' if expected else 'FP'} {topic}: {row['title'][:90]!r} ({row['note']})")
    REPORT[:] = lines
    print("\n".join(lines))
    assert len(lines) > 6


@pytest.mark.parametrize(
    ("topic", "metric"),
    [
        pytest.param(
            topic,
            metric,
            marks=[pytest.mark.xfail(strict=True, reason="issue #13: below target on test (NOT_YET)")]
            if (topic, metric) in NOT_YET
            else [],
        )
        for topic in TARGETS
        for metric in ("precision", "recall")
    ],
)
def test_target_on_test(topic: str, metric: str, outcomes: dict[str, dict[str, list[tuple[Pair, dict]]]]) -> None:
    pairs = [p for p, _ in outcomes["test"][topic]]
    c = counts(pairs)
    value = precision(c) if metric == "precision" else recall(c)
    target = TARGETS[topic][0 if metric == "precision" else 1]
    assert value is not None and value >= target, (
        f"test {topic} {metric} {value} < {target} (tp={c.tp} fp={c.fp} fn={c.fn}); errors not listed: test is unseen"
    )
