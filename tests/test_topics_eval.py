"""Precision and recall of the default topic rules on the labelled evaluation set.

``tests/data/topics/eval.jsonl``: one item per line, ``{"title", "summary", "content"?,
"categories"?, "source_kind"?, "labels": {topic: bool}, "note"}``. Add a case by adding a line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aggregator.topics import Document, TopicSet, load_topics

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests/data/topics/eval.jsonl"
THRESHOLDS = {  # topic: (min precision, min recall)
    "car-t-ms": (0.98, 0.97),
    "car-t-autoimmune": (0.95, 0.95),
    "ms-research": (0.95, 0.95),
}


def load_eval() -> list[dict]:
    return [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_doc(row: dict) -> Document:
    return Document(row["title"], row.get("summary", ""), row.get("content", ""), tuple(row.get("categories", ())))


@pytest.fixture(scope="module")
def topics() -> TopicSet:
    return load_topics(yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def confusion(topics: TopicSet) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {t: {"tp": [], "fp": [], "fn": [], "tn": []} for t in THRESHOLDS}
    for row in load_eval():
        got = {m.topic_id for m in topics.classify(to_doc(row))}
        for topic in THRESHOLDS:
            expected = row["labels"][topic]
            key = ("tp" if topic in got else "fn") if expected else ("fp" if topic in got else "tn")
            out[topic][key].append(f"{row['title'][:80]!r} ({row['note']})")
    return out


def test_eval_set_shape() -> None:
    rows = load_eval()
    assert len(rows) >= 320
    for row in rows:
        assert set(row["labels"]) == set(THRESHOLDS), row["title"]
        assert row["note"], row["title"]
        if row["labels"]["car-t-ms"]:  # every car-t-ms item is also in the two wider topics
            assert row["labels"]["car-t-autoimmune"] and row["labels"]["ms-research"], row["title"]
    titles = [r["title"] for r in rows]
    assert len(titles) == len(set(titles)), "duplicate titles"


@pytest.mark.parametrize("topic", list(THRESHOLDS))
def test_precision_and_recall(topic: str, confusion: dict[str, dict[str, list[str]]]) -> None:
    c = {k: len(v) for k, v in confusion[topic].items()}
    precision = c["tp"] / max(1, c["tp"] + c["fp"])
    recall = c["tp"] / max(1, c["tp"] + c["fn"])
    print(
        f"\n{topic}: tp={c['tp']} fp={c['fp']} fn={c['fn']} tn={c['tn']} precision={precision:.3f} recall={recall:.3f}"
    )
    for kind in ("fp", "fn"):
        for item in confusion[topic][kind]:
            print(f"  {kind.upper()}: {item}")
    min_p, min_r = THRESHOLDS[topic]
    assert precision >= min_p, f"{topic} precision {precision:.3f} < {min_p}: {confusion[topic]['fp']}"
    assert recall >= min_r, f"{topic} recall {recall:.3f} < {min_r}: {confusion[topic]['fn']}"
