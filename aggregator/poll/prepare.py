"""Parse → clean → classify of one fetched document, in this process or in a pool of worker processes.

These three stages are pure CPU work (feedparser, nh3, the topic rules) and hold the GIL, so fetch threads
alone cannot use a second core. ``PreparePool`` runs them in forked worker processes
(``POLL_PARSE_PROCESSES``, by default one per core on a machine with several); the poller's threads keep
fetching and storing meanwhile. With 0 processes (one core, or a poll of one source) everything runs inline, with
the same results.

Workers are forked once, before the poll threads start, and inherit the classifier (nothing big is pickled but
the fetched bytes and the prepared items); a worker compiles the topic rules on its first document when the
poller had not compiled them yet, so a poll answered by 304s compiles them nowhere. A worker that dies makes
the pool fall back to inline work for the rest of the poll instead of failing every source.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

from ..domain import CleanItem, Fetched, SourceSpec
from ..errors import ParseError
from ..topics.classify import Classifier, TopicRows
from .clean import DATE_PROBLEM, clean_item
from .parse import parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    items: list[CleanItem]
    boilerplate: frozenset[str]
    topic_rows: list[TopicRows]


@dataclass(frozen=True)
class _Failed:
    """A ParseError crossing the process boundary (its ``feed_link`` and ``kind`` would not survive pickling)."""

    message: str
    feed_link: str | None
    kind: str

    def error(self) -> ParseError:
        exc = ParseError(self.message, feed_link=self.feed_link)
        exc.kind = self.kind
        return exc


def prepare(classifier: Classifier, spec: SourceSpec, fetched: Fetched, now: datetime,
            known_boilerplate: frozenset[str]) -> Prepared:
    """Parse, clean and classify; raises ParseError when the bytes are not a document we can read."""
    parsed = parse(spec, fetched)
    cleaned = [clean_item(item, spec, now) for item in parsed]
    _log_date_problems(spec, cleaned)
    boilerplate = classifier.boilerplate([item.summary_text for item in cleaned]) or known_boilerplate
    topic_rows = [classifier.topic_rows(item, boilerplate) for item in cleaned]
    return Prepared(cleaned, boilerplate, topic_rows)


def _log_date_problems(spec: SourceSpec, items: list[CleanItem]) -> None:
    problems = [item.extra[DATE_PROBLEM] for item in items if DATE_PROBLEM in item.extra]
    if problems:
        log.warning("source %s: %d item(s) dated by first-seen time instead of the source's date (e.g. %r: %s)",
                    spec.id, len(problems), problems[0]["source_date"], problems[0]["reason"])


_worker_classifier: Classifier | None = None
ORPHAN_CHECK_SECONDS = 0.5


def _init_worker(classifier: Classifier) -> None:
    global _worker_classifier
    classifier.after_fork()  # compiles the rules on its first document if the poller had not yet
    _worker_classifier = classifier
    # A poller killed outright (SIGKILL, the OOM killer) cannot stop its workers, and they would wait for work
    # forever, holding their memory and the poller's stdout and stderr (so whoever waits for its output hangs).
    # Each worker leaves on its own as soon as its parent is gone.
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="orphan-check", daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(1)


def _prepare_in_worker(spec: SourceSpec, fetched: Fetched, now: datetime,
                       known_boilerplate: frozenset[str]) -> Prepared | _Failed:
    assert _worker_classifier is not None, "worker started without its classifier"
    try:
        return prepare(_worker_classifier, spec, fetched, now, known_boilerplate)
    except ParseError as exc:
        return _Failed(str(exc), exc.feed_link, exc.kind)


def _ready() -> bool:
    return True


class PreparePool:
    """``prepare`` in ``processes`` forked workers; inline when ``processes`` is 0 or fork is unavailable."""

    def __init__(self, classifier: Classifier, processes: int) -> None:
        self.classifier = classifier
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0 and "fork" in multiprocessing.get_all_start_methods():
            self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_init_worker, initargs=(classifier,))
            # Fork every worker now, while the caller has not started its threads yet.
            self._pool.submit(_ready).result()

    @property
    def pooled(self) -> bool:
        return self._pool is not None

    def prepare(self, spec: SourceSpec, fetched: Fetched, now: datetime,
                known_boilerplate: frozenset[str]) -> Prepared:
        pool = self._pool
        if pool is not None:
            try:
                result = pool.submit(_prepare_in_worker, spec, fetched, now, known_boilerplate).result()
            except BrokenProcessPool:
                log.error("a parse worker process died; parsing inline for the rest of this poll")
                self._drop_pool()
            else:
                if isinstance(result, _Failed):
                    raise result.error()
                return result
        return prepare(self.classifier, spec, fetched, now, known_boilerplate)

    def _drop_pool(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
