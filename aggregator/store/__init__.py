"""The repository: every SQL statement of the service lives in this package, one module per entity.

``sources`` (source rows and their health), ``items`` (writes of items, topics and events), ``labels`` (reviewers'
verdicts), ``reading`` (what pages and feeds read), ``trials`` (the read model of trials); subscribers and
deliveries are in ``aggregator.store.mail``.
Everything is re-exported here, so callers write ``store.upsert_items(...)``.

Functions take a ``Session`` and plain values or domain dataclasses; the caller owns the transaction.
Writes are idempotent: polling the same items twice changes nothing, and a changed item is updated in place and
keeps its first-seen time. Nothing here fetches, parses or renders.
"""

from __future__ import annotations

from .fulltext import search_condition
from .items import (
    NEAR_DUPLICATE_DAYS,
    NEAR_DUPLICATE_LIMIT,
    NearDuplicates,
    TopicRows,
    UpsertCounts,
    add_event,
    count_items,
    delete_orphan_topics,
    events_for,
    iter_items_for_reclassify,
    key_hash,
    replace_topics,
    story_key_of,
    upsert_items,
    verdicts_for,
)
from .labels import item_with_topics, iter_labelled_items, set_label
from .links import LinkToCheck, links_to_check, record_link_check
from .paging import item_by_id, items_after, mark_link_gone
from .reading import (
    ItemFilter,
    _filtered,
    also_reported,
    change_marker,
    count_matching,
    items_naming,
    matching_items,
    momentum_day_counts,
    momentum_day_statements,
    momentum_rows,
    topic_counts,
    trial_code_map,
    trial_records,
    walk_is_cheaper,
)
from .search import COUNT_CAP, ORDERS, SearchHit, count_search, search_items
from .sources import (
    PollOutcome,
    SourceHistory,
    all_sources,
    claim_source,
    due_source_ids,
    get_source,
    known_links,
    record_poll,
    release_source,
    source_histories,
    source_item_counts,
    sync_sources,
)
from .trials import record_rows, trial_events, trial_view, trial_views

__all__ = [
    "known_links",
    "change_marker",
    "NEAR_DUPLICATE_DAYS",
    "NEAR_DUPLICATE_LIMIT",
    "NearDuplicates",
    "TopicRows",
    "UpsertCounts",
    "add_event",
    "count_items",
    "delete_orphan_topics",
    "events_for",
    "iter_items_for_reclassify",
    "key_hash",
    "replace_topics",
    "story_key_of",
    "upsert_items",
    "verdicts_for",
    "item_with_topics",
    "iter_labelled_items",
    "set_label",
    "ItemFilter",
    "item_by_id",
    "items_after",
    "mark_link_gone",
    "LinkToCheck",
    "links_to_check",
    "record_link_check",
    "_filtered",
    "also_reported",
    "COUNT_CAP",
    "count_matching",
    "count_search",
    "items_naming",
    "matching_items",
    "momentum_day_counts",
    "momentum_day_statements",
    "momentum_rows",
    "topic_counts",
    "trial_code_map",
    "trial_records",
    "walk_is_cheaper",
    "ORDERS",
    "SearchHit",
    "search_condition",
    "search_items",
    "PollOutcome",
    "SourceHistory",
    "all_sources",
    "claim_source",
    "due_source_ids",
    "get_source",
    "record_poll",
    "release_source",
    "source_histories",
    "source_item_counts",
    "sync_sources",
    "record_rows",
    "trial_events",
    "trial_view",
    "trial_views",
]
