"""Throughput of ``TopicSet.classify`` against the naive one-regex-per-term baseline.

``bench_classify(config, docs)`` is pure apart from the clock; ``python -m aggregator.topics.bench
[feeds.yaml] [labelled.jsonl]`` runs it on the default rules and, given one, a labelled set such as
``tests/data/topics/dev.jsonl`` (for ``make bench``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .match import Document, TopicSet, load_topics
from .naive import load_naive_topics

__all__ = ["bench_classify", "repeat", "TYPICAL_DOCS"]

# Typical feed items: ~100-character titles, ~300-character summaries, mostly off-topic.
TYPICAL_DOCS: tuple[Document, ...] = (
    Document(
        "New lymphoma drug approved by FDA after positive phase 3 trial in patients with relapsed disease",
        "The agency approved the drug based on a randomized trial that enrolled 400 patients with relapsed or "
        "refractory disease, showing improved progression-free survival compared with standard chemotherapy and "
        "a manageable safety profile with mostly low-grade adverse events reported by investigators.",
    ),
    Document(
        "Researchers map the genome of an ancient wheat variety to improve drought tolerance in modern crops",
        "An international team sequenced the genome of emmer wheat and identified genes linked to drought "
        "tolerance, which breeders could use to develop more resilient varieties as climate change increases the "
        "frequency of dry summers in major growing regions.",
    ),
    Document(
        "Kyverna doses first patient in phase 2 trial of KYV-101 CAR T-cell therapy in progressive MS",
        "Kyverna Therapeutics announced that the first participant with progressive multiple sclerosis has "
        "received KYV-101, a fully human CD19 CAR T-cell therapy, in its open-label phase 2 study; the company "
        "expects initial data next year and continues to enroll at sites in the United States and Germany.",
    ),
    Document(
        "Tolebrutinib slows disability progression in non-relapsing secondary progressive multiple sclerosis",
        "In the phase 3 HERCULES trial the brain-penetrant BTK inhibitor reduced the risk of confirmed "
        "disability progression by 31 percent compared with placebo, while liver enzyme elevations were seen in "
        "a small share of participants and required monitoring during the first months of treatment.",
    ),
    Document(
        "Hospital system reports record quarter as outpatient visits rise and staffing shortages ease",
        "The health system said revenue grew eight percent year over year, driven by outpatient surgery and "
        "imaging, while contract labor costs fell as nurse recruitment improved; executives expect continued "
        "growth but warned that reimbursement pressure from insurers could weigh on margins next year.",
    ),
)


def repeat(classify: Callable[[Any], Any], docs: Sequence[Any], min_seconds: float) -> tuple[int, float]:
    """Classify ``docs`` over and over for at least ``min_seconds``: (items classified, seconds taken)."""
    done = 0
    started = time.perf_counter()
    while True:
        for doc in docs:
            classify(doc)
        done += len(docs)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done, elapsed


def _rate(topic_set: TopicSet, docs: Sequence[Document], min_seconds: float) -> float:
    done, elapsed = repeat(topic_set.classify, docs, min_seconds)
    return done / elapsed


def bench_classify(
    config: Mapping[str, Any], docs: Sequence[Document] = TYPICAL_DOCS, min_seconds: float = 1.0
) -> dict[str, float]:
    """Items per second for the compiled and the naive classifier on ``docs`` (one core)."""
    fast = load_topics(config)
    naive = load_naive_topics(config)
    fast_rate = _rate(fast, docs, min_seconds)
    naive_rate = _rate(naive, docs, min_seconds / 2)
    return {"items_per_s": fast_rate, "naive_items_per_s": naive_rate, "speedup": fast_rate / naive_rate}


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - thin CLI
    import json
    import sys
    from pathlib import Path

    import yaml

    args = list(sys.argv[1:] if argv is None else argv)
    config = yaml.safe_load(Path(args[0] if args else "feeds.yaml").read_text(encoding="utf-8"))
    print("typical items:", json.dumps({k: round(v, 1) for k, v in bench_classify(config).items()}))
    if len(args) > 1:
        rows = [json.loads(line) for line in Path(args[1]).read_text(encoding="utf-8").splitlines() if line.strip()]
        docs = [
            Document(r["title"], r.get("summary", ""), r.get("content", ""), tuple(r.get("categories", ())))
            for r in rows
        ]
        print("evaluation set:", json.dumps({k: round(v, 1) for k, v in bench_classify(config, docs).items()}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
