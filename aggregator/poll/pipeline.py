"""The poll pipeline, top to bottom: claim → fetch → parse → clean → classify → store → record health.

``Poller.poll_source`` runs these stages for one source and never raises for a source's fault: every failure is
recorded on the source row (its health, shown on /sources) with a back-off, and the other sources go on.
``Poller.poll_many`` polls several sources at once, at most one request at a time per host.
The orchestrator sends no HTTP and writes no SQL itself: it calls fetch, parse, clean, classify and store.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .. import store
from ..config import Settings
from ..db import Database
from ..domain import Conditional, Fetched, PollReport, SourceSpec
from ..errors import FetchError, HTTPStatusError, ParseError
from ..topics.classify import Classifier
from . import policy
from .catalog import Catalog
from .fetch import Fetcher, FetchLimits
from .prepare import PreparePool, prepare

if TYPE_CHECKING:
    from ..models import Source

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# A retriever turns a source into one ``Fetched`` document; kinds that need several requests register their own.
Retriever = Callable[[Fetcher, SourceSpec, str, Conditional], Fetched]


def _default_retriever(fetcher: Fetcher, spec: SourceSpec, url: str, conditional: Conditional) -> Fetched:
    return fetcher.fetch(url, conditional)


RETRIEVERS: dict[str, Retriever] = {}


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_owner() -> str:
    """Who holds a lease: host, process and a random tag, so two pollers never mistake each other."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _SourceState:
    url: str
    conditional: Conditional
    error_count: int
    boilerplate: frozenset[str]


class Poller:
    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        classifier: Classifier,
        settings: Settings,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.classifier = classifier
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = owner or make_owner()
        self._local = threading.local()
        self._fetchers: list[Fetcher] = []
        self._fetchers_lock = threading.Lock()
        # Parse worker processes: forked by the first poll of several sources and kept for the next polls of this
        # poller (forking them cost as much as a whole poll of 304s); shut down by shutdown() or at exit.
        self._kept_pool: PreparePool | None = None
        self._prepare_pool: PreparePool | None = None  # the workers this poll uses, if any
        self._near: store.NearDuplicates | None = None  # near-duplicate candidates during one_poll

    # ------------------------------------------------------------------ entry points

    def sync_sources(self) -> None:
        # Two pollers starting at once may both insert a new source row; the loser retries and then finds it.
        for attempt in range(3):
            try:
                with self.database.session_scope() as session:
                    store.sync_sources(session, self.catalog.sources, self.clock())
                return
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("another poller added the same sources at the same moment; syncing again")

    def due_sources(self) -> list[str]:
        with self.database.session_scope() as session:
            return store.due_source_ids(session, self.clock(), self.settings.poll_lease_seconds)

    def poll_due(self, on_done: Callable[[PollReport], None] | None = None) -> list[PollReport]:
        self.sync_sources()
        return self.poll_many(self.due_sources(), on_done, due_only=True)

    def poll_many(
        self,
        source_ids: Iterable[str],
        on_done: Callable[[PollReport], None] | None = None,
        due_only: bool = False,
    ) -> list[PollReport]:
        """Poll the given sources concurrently, one host at a time each, and return their reports in order.

        ``due_only``: skip a source that stopped being due since the list was made (another poller just polled it).
        """
        ids = list(source_ids)
        groups: dict[str, list[str]] = defaultdict(list)
        for source_id in ids:
            spec = self.catalog.source(source_id)
            host = urlsplit(spec.url).hostname or source_id if spec else source_id
            groups[host].append(source_id)
        reports: dict[str, PollReport] = {}

        def run_group(group: Sequence[str]) -> list[PollReport]:
            results = []
            for source_id in group:
                report = self.poll_source(source_id, due_only)
                if on_done:
                    on_done(report)
                results.append(report)
            return results

        workers = max(1, min(self.settings.poll_workers, len(groups)))
        # Worker processes only where they can overlap with something: several sources, and never more than them.
        processes = min(self.settings.poll_parse_processes, len(ids)) if len(ids) > 1 else 0
        with self.one_poll(processes), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
            futures = [pool.submit(run_group, group) for group in groups.values()]
            for future in as_completed(futures):
                for report in future.result():
                    reports[report.source_id] = report
        self.close()
        return [reports[source_id] for source_id in ids if source_id in reports]

    @contextmanager
    def one_poll(self, processes: int = 0) -> Iterator[None]:
        """What the sources polled inside share: the near-duplicate candidates (read once, not once per source)
        and, with ``processes``, the parse worker processes. Enter it before starting poll threads."""
        # Forked before the poll threads so its workers fork from a process with no thread mid-work; again only if
        # a worker died (the pool then went inline).
        if processes and (self._kept_pool is None or not self._kept_pool.pooled):
            if self._kept_pool is not None:
                self._kept_pool.close()
            self._kept_pool = PreparePool(self.classifier, processes)
        self._prepare_pool = self._kept_pool if processes else None
        self._near = store.NearDuplicates()
        try:
            yield
        finally:
            self._prepare_pool = None
            self._near = None

    def shutdown(self) -> None:
        """Stop the parse worker processes (a later poll forks new ones) and close the connections."""
        pool, self._kept_pool = self._kept_pool, None
        if pool is not None:
            pool.close()
        self.close()

    def close(self) -> None:
        with self._fetchers_lock:
            for fetcher in self._fetchers:
                fetcher.close()
            self._fetchers.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ one source

    def poll_source(self, source_id: str, due_only: bool = False) -> PollReport:
        started = time.monotonic()
        spec = self.catalog.source(source_id)
        if spec is None:
            return PollReport(source_id, "error", error=f"unknown source {source_id!r} (not in feeds.yaml)")
        try:
            state = self._claim(spec, due_only)
        except SQLAlchemyError as exc:
            log.error("source %s: database unavailable, poll skipped: %s", source_id, exc)
            return PollReport(source_id, "error", error=f"database unavailable: {exc.__class__.__name__}")
        if state is None:
            why = "not due any more, or another poller is polling it" if due_only else "another poller is polling it"
            return PollReport(source_id, "skipped", error=why)
        log.info("polling %s (%s)", source_id, state.url)
        try:
            report = self._poll_claimed(spec, state)
        except Exception as exc:  # the last line of defence: one source never stops the others
            log.exception("source %s: unexpected failure", source_id)
            report = self._record_failure(spec, state, f"internal error ({exc.__class__.__name__}): {exc}",
                                          "internal")
        seconds = time.monotonic() - started
        log.info("polled %s: %s new=%d updated=%d unchanged=%d%s in %.2fs", source_id, report.outcome, report.new,
                 report.updated, report.unchanged, f" error={report.error}" if report.error else "", seconds)
        return PollReport(report.source_id, report.outcome, report.new, report.updated, report.unchanged,
                          report.error, seconds)

    def _claim(self, spec: SourceSpec, due_only: bool = False) -> _SourceState | None:
        now = self.clock()
        lease = self.settings.poll_lease_seconds
        for attempt in (1, 2):
            # One transaction in the usual case (the row exists and is free): a poll of 304s is mostly this.
            with self.database.session_scope() as session:
                claimed = store.claim_source(session, spec.id, self.owner, now, lease, due_only=due_only)
                source = store.get_source(session, spec.id)
                if claimed and source is not None:
                    state = self._state_of(source)
                    if spec.kind == "sitemap":  # it fetches only the article pages it has not stored yet
                        state.conditional = Conditional(state.conditional.etag, state.conditional.last_modified,
                                                        store.known_links(session, spec.id))
                    return state
            if source is not None or attempt == 2:
                return None  # another poller holds it (or, with due_only, polled it a moment ago)
            self.sync_sources()  # a source added to feeds.yaml since this poller synced: add its row, then claim
        return None

    @staticmethod
    def _state_of(source: Source) -> _SourceState:
        return _SourceState(
            url=source.url,
            conditional=Conditional(source.etag, source.last_modified),
            error_count=source.error_count or 0,
            boilerplate=frozenset(source.boilerplate or ()),
        )

    def _fetcher(self) -> Fetcher:
        fetcher: Fetcher | None = getattr(self._local, "fetcher", None)
        if fetcher is None:
            s = self.settings
            fetcher = Fetcher(
                s.user_agent,
                FetchLimits(s.fetch_connect_timeout, s.fetch_read_timeout, s.fetch_total_timeout, s.fetch_max_bytes,
                            s.fetch_max_redirects),
                clock=self.clock,
            )
            self._local.fetcher = fetcher
            with self._fetchers_lock:
                self._fetchers.append(fetcher)
        return fetcher

    def _interval(self, spec: SourceSpec) -> int:
        return spec.interval or self.settings.poll_interval

    def _poll_claimed(self, spec: SourceSpec, state: _SourceState) -> PollReport:
        retriever = RETRIEVERS.get(spec.kind, _default_retriever)
        try:
            fetched = retriever(self._fetcher(), spec, state.url, state.conditional)
        except HTTPStatusError as exc:
            return self._record_failure(spec, state, str(exc), exc.kind, retry_after=exc.retry_after,
                                        gone=exc.gone)
        except FetchError as exc:
            return self._record_failure(spec, state, str(exc), exc.kind)
        now = self.clock()
        if fetched.not_modified:
            outcome = store.PollOutcome(
                status="not-modified",
                next_poll_at=policy.next_poll_after_success(now, self._interval(spec), fetched.max_age, self.rng),
                etag=fetched.etag or state.conditional.etag,
                last_modified=fetched.last_modified or state.conditional.last_modified,
                moved_to=fetched.permanent_redirect,
            )
            self._record(spec, outcome)
            return PollReport(spec.id, "not-modified")
        try:
            pool = self._prepare_pool
            prepared = (pool.prepare(spec, fetched, now, state.boilerplate) if pool is not None
                        else prepare(self.classifier, spec, fetched, now, state.boilerplate))
        except ParseError as exc:
            return self._record_failure(spec, state, str(exc), exc.kind, feed_hint=exc.feed_link)
        cleaned, boilerplate, topic_rows = prepared.items, prepared.boilerplate, prepared.topic_rows
        near = self._near
        try:
            with self.database.session_scope() as session:
                counts = store.upsert_items(session, spec.id, cleaned, topic_rows, now, near)
                store.record_poll(
                    session,
                    spec.id,
                    self.owner,
                    now,
                    store.PollOutcome(
                        status="ok",
                        next_poll_at=policy.next_poll_after_success(now, self._interval(spec), fetched.max_age,
                                                                    self.rng),
                        etag=fetched.etag,
                        last_modified=fetched.last_modified,
                        moved_to=fetched.permanent_redirect,
                        new_items=counts.new,
                        new_matches=counts.new_matches,
                        boilerplate=sorted(boilerplate),
                    ),
                )
        except SQLAlchemyError as exc:
            log.error("source %s: could not store %d items: %s", spec.id, len(cleaned), exc)
            return self._record_failure(spec, state, f"could not store the items (database error: "
                                        f"{exc.__class__.__name__}); they will be fetched again", "storage")
        if near is not None:
            near.add(counts.primaries)  # committed: candidates for the sources polled after this one
        return PollReport(spec.id, "ok", counts.new, counts.updated, counts.unchanged)

    def _record(self, spec: SourceSpec, outcome: store.PollOutcome) -> None:
        with self.database.session_scope() as session:
            store.record_poll(session, spec.id, self.owner, self.clock(), outcome)

    def _record_failure(
        self,
        spec: SourceSpec,
        state: _SourceState,
        message: str,
        kind: str,
        retry_after: float | None = None,
        gone: bool = False,
        feed_hint: str | None = None,
    ) -> PollReport:
        now = self.clock()
        errors = state.error_count + 1
        next_at = policy.next_poll_after_failure(
            now, self._interval(spec), errors, self.settings.poll_max_backoff, retry_after, self.rng
        )
        log.warning("source %s failed (%s, %d in a row; next try %s): %s", spec.id, kind, errors,
                    next_at.isoformat(timespec="seconds"), message)
        outcome = store.PollOutcome(status="gone" if gone else "error", next_poll_at=next_at, error=message,
                                    error_kind=kind, feed_hint=feed_hint)
        try:
            self._record(spec, outcome)
        except SQLAlchemyError as exc:  # the lease expires on its own; the next poll retries
            log.error("source %s: could not record the failure either: %s", spec.id, exc)
        return PollReport(spec.id, "error", error=message)
