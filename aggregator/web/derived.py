"""Values derived from many stored items (counts, the trial code map, the momentum chart), recomputed only when
the store's change marker moves.

With 100,000 stored items each of these aggregates took longer than the rest of a page view together. The marker
(newest item change, newest event; two index lookups, read once per request) moves whenever any of them could
change, so a cached value is never stale. One small cache per app, shared by the threads of a web worker.
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
_lock = threading.Lock()


def change_marker() -> tuple[Any, int]:
    if "change_marker" not in g:
        g.change_marker = store.change_marker(request_session())
    marker: tuple[Any, int] = g.change_marker
    return marker


def derived(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its cached value if nothing was stored since it was computed."""
    marker = change_marker()
    cache: OrderedDict[Hashable, tuple[tuple[Any, int], Any]] = current_app.extensions.setdefault(
        "aggregator.derived", OrderedDict()
    )
    with _lock:
        hit = cache.get(key)
        if hit is not None and hit[0] == marker:
            cache.move_to_end(key)
            value: T = hit[1]
            return value
    value = compute()
    with _lock:
        cache[key] = (marker, value)
        cache.move_to_end(key)
        while len(cache) > MAX_ENTRIES:
            cache.popitem(last=False)
    return value
