"""Values derived from many stored items (counts, the trial code map, the momentum chart, rendered feeds and
item lists), recomputed only when the store's change marker moves; and values that depend on nothing but their key.

With 100,000 stored items each of these aggregates took longer than the rest of a page view together. The marker
(newest item change, newest event; two index lookups, read once per request) moves whenever any of them could
change, so a cached value is never stale. Small bounded caches per app, shared by the threads of a web worker.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import current_app, g

from .. import store
from ..db import request_session

T = TypeVar("T")
MAX_ENTRIES = 512
MAX_MEMOIZED = 4096  # highlighted titles and summaries: a few pages' worth of items, under a kilobyte each
MAX_RENDERED = 64  # feed documents (~100 kB) and the item lists of pages (~40 kB)
_lock = threading.Lock()


def change_marker() -> tuple[Any, int]:
    if "change_marker" not in g:
        g.change_marker = store.change_marker(request_session())
    marker: tuple[Any, int] = g.change_marker
    return marker


def _cached(name: str, limit: int, key: Hashable, stamp: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or the value cached in ``name`` under ``key`` if it was computed with the same ``stamp``."""
    cache: OrderedDict[Hashable, tuple[Hashable, Any]] = current_app.extensions.setdefault(name, OrderedDict())
    with _lock:
        hit = cache.get(key)
        if hit is not None and hit[0] == stamp:
            cache.move_to_end(key)
            value: T = hit[1]
            return value
    value = compute()
    with _lock:
        cache[key] = (stamp, value)
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)
    return value


def derived(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its cached value if nothing was stored since it was computed."""
    return _cached("aggregator.derived", MAX_ENTRIES, key, change_marker(), compute)


def rendered(key: Hashable, compute: Callable[[], T]) -> T:
    """Like ``derived``, for rendered documents and fragments (tens of kilobytes each: a smaller cache).

    ``key`` must name every input that the change marker does not cover (the query, the source names).
    """
    return _cached("aggregator.rendered", MAX_RENDERED, key, change_marker(), compute)


def memoized(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, cached by ``key`` alone: only for values that depend on nothing but ``key`` and what is fixed
    for the app's life (its settings and topic rules), such as a title with the rules' terms highlighted."""
    return _cached("aggregator.memoized", MAX_MEMOIZED, key, None, compute)
