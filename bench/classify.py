"""Section 4a: topic classification rate on one core, against the naive baseline in the same run.

The naive baseline (``aggregator.topics.naive``, written with the topic rules) runs one regular-expression
search per term. Both classify the same generated items (titles, summaries and categories), one after the other,
in this single process and thread. Each item is what the poll pipeline hands the classifier: ``clean_item`` has
already turned the summary's HTML into text (``aggregator.poll.clean.html_to_text``), so that is done here too, before
the clock starts.
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .corpus import ItemSpec, feed_items
from .poll import topics_config


@dataclass
class ClassifyRun:
    items: int
    ours_seconds: float
    ours_matched: int
    naive_seconds: float | None = None
    naive_items: int = 0
    naive_matched: int | None = None
    pending: str | None = None
    # the same on the items of the real feeds in tests/data/real (what feeds send: short summaries, curly
    # quotes, other scripts; few of them about our topics), classified over and over for a second or more
    real_distinct: int = 0
    real_items: int = 0
    real_seconds: float = 0.0
    real_matched: int = 0
    real_naive_items: int = 0
    real_naive_seconds: float = 0.0
    # which form of the matcher ran (aggregator.topics.MATCHER), and, when it was the compiled one, the rates of
    # the pure-Python form on the same items, measured in a child process (TOPICS_NATIVE=off)
    matcher: str = ""
    pure_rate: float | None = None
    pure_real_rate: float | None = None
    pure_problem: str | None = None

    @property
    def real_rate(self) -> float:
        return self.real_items / self.real_seconds if self.real_seconds else 0.0

    @property
    def real_naive_rate(self) -> float:
        return self.real_naive_items / self.real_naive_seconds if self.real_naive_seconds else 0.0

    @property
    def ours_rate(self) -> float:
        return self.items / self.ours_seconds

    @property
    def naive_rate(self) -> float | None:
        return self.naive_items / self.naive_seconds if self.naive_seconds else None


def make_items(count: int) -> list[ItemSpec]:
    per_feed = 50
    items: list[ItemSpec] = []
    feed = 0
    while len(items) < count:
        items.extend(feed_items(10_000 + feed, per_feed, 0.08))
        feed += 1
    return items[:count]


REAL_FEEDS = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"


def real_documents() -> list[Any]:
    """The items of every RSS, Atom and RDF fixture of tests/data/real, cleaned as the poll cleans them."""
    import logging

    from aggregator.errors import ParseError
    from aggregator.poll.clean import html_to_text
    from aggregator.poll.parse.feed import parse_feed
    from aggregator.topics import Document

    documents = []
    logging.getLogger("aggregator").setLevel(logging.ERROR)  # the fixtures' own repairs are not news here
    for path in sorted(REAL_FEEDS.glob("*.xml")) + sorted(REAL_FEEDS.glob("*.rdf")):
        try:
            items = parse_feed(path.read_bytes(), "https://example.org/feed")
        except ParseError:
            continue  # an API document (PubMed, ClinicalTrials.gov), not a feed
        for item in items:
            summary = html_to_text(item.summary or item.content)
            content = html_to_text(item.content) if item.content and item.summary else ""
            documents.append(Document(html_to_text(item.title), summary, content, item.categories))
    return documents


def _naive_classifier(config: dict[str, Any]) -> tuple[Callable[[Any], Any] | None, str | None]:
    """The naive baseline's classify function, or why it is not available."""
    try:
        naive = importlib.import_module("aggregator.topics.naive")
    except ImportError as exc:
        return None, f"aggregator/topics/naive.py is not there yet ({exc})"
    for name in ("load_naive", "load_naive_topics", "load_topics", "build", "NaiveTopicSet", "NaiveClassifier"):
        factory = getattr(naive, name, None)
        if factory is None:
            continue
        built = factory(config)
        if hasattr(built, "classify"):
            return built.classify, None
    for name in ("classify", "naive_classify"):
        fn = getattr(naive, name, None)
        if fn is not None and len(inspect.signature(fn).parameters) >= 2:
            return (lambda doc, fn=fn: fn(config, doc)), None
    return None, "aggregator/topics/naive.py has no loader with a classify method the benchmark recognises"


def corpus_documents(count: int) -> list[Any]:
    """The generated items as the classifier gets them (``clean_item`` has made their summaries text)."""
    from aggregator.poll.clean import html_to_text
    from aggregator.topics import Document

    return [
        Document(title=html_to_text(i.title), summary=html_to_text(i.summary_html), categories=i.categories)
        for i in make_items(count)
    ]


def _timed_pass(topic_set: Any, documents: list[Any], passes: int = 3) -> tuple[float, int]:
    """Seconds to classify ``documents``, the fastest of ``passes`` passes (as ``timeit`` does: what else the
    machine is doing only ever adds time), after a warm-up (lazily built tables, first-call costs)."""
    for document in documents[:50]:
        topic_set.classify(document)
    best = float("inf")
    matched = 0
    for _ in range(passes):
        started = time.perf_counter()
        matched = sum(bool(topic_set.classify(document)) for document in documents)
        best = min(best, time.perf_counter() - started)
    return best, matched


def pure_python_rates(count: int, real_seconds: float) -> dict[str, float]:
    """Items/s of this process's matcher on the corpus and on the real feed items (``python -m bench.classify``)."""
    from aggregator.topics import load_topics
    from aggregator.topics.bench import repeat

    topic_set = load_topics(topics_config())
    seconds, _ = _timed_pass(topic_set, corpus_documents(count))
    real = real_documents()
    done, elapsed = repeat(topic_set.classify, real, real_seconds)
    return {"rate": count / seconds, "real_rate": done / elapsed}


def _pure_python_in_child(count: int, real_seconds: float) -> tuple[dict[str, float] | None, str | None]:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TOPICS_NATIVE": "off"}
    argv = [sys.executable, "-m", "bench.classify", str(count), str(real_seconds)]
    child = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REAL_FEEDS.parent.parent.parent,
                           timeout=600, check=False)
    if child.returncode != 0:
        return None, (child.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(child.stdout), None


def run_classify(count: int, naive_seconds: float = 20.0) -> ClassifyRun:
    import aggregator.topics as topics
    from aggregator.topics import load_topics
    from aggregator.topics.bench import repeat

    config = topics_config()
    topic_set = load_topics(config)
    documents = corpus_documents(count)
    ours, ours_matched = _timed_pass(topic_set, documents)
    run = ClassifyRun(items=count, ours_seconds=ours, ours_matched=ours_matched, matcher=topics.MATCHER)
    naive, problem = _naive_classifier(config)
    if naive is None:
        run.pending = problem
        return run
    for document in documents[:5]:
        naive(document)
    # The naive baseline can be thousands of times slower: it classifies the same items in order until it has
    # done them all or spent ``naive_seconds``, and its rate is taken over the items it did.
    started = time.perf_counter()
    done = matched = 0
    for document in documents:
        matched += bool(naive(document))
        done += 1
        if time.perf_counter() - started > naive_seconds:
            break
    run.naive_seconds = time.perf_counter() - started
    run.naive_items, run.naive_matched = done, matched
    real = real_documents()
    if real:
        for document in real:
            topic_set.classify(document)
        run.real_distinct = len(real)
        run.real_matched = sum(bool(topic_set.classify(document)) for document in real)
        run.real_items, run.real_seconds = repeat(topic_set.classify, real, 2.0 if count > 1000 else 0.1)
        run.real_naive_items, run.real_naive_seconds = repeat(naive, real, min(naive_seconds / 4, 5.0))
    if run.matcher.startswith("compiled"):
        rates, run.pure_problem = _pure_python_in_child(count, 2.0 if count > 1000 else 0.1)
        if rates is not None:
            run.pure_rate, run.pure_real_rate = rates["rate"], rates["real_rate"]
    return run


if __name__ == "__main__":  # the pure-Python rates, for run_classify's child process: prints them as JSON
    import json
    import sys

    print(json.dumps(pure_python_rates(int(sys.argv[1]), float(sys.argv[2]))))
