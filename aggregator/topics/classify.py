"""Glue between cleaned items and the topic rules: builds the rule engine's ``Document`` and turns its matches
into the rows the store keeps (topic id, score, hits as JSON). Pure: no I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..domain import CleanItem
from . import Document, TopicMatch, TopicSet, find_boilerplate

# Boilerplate is only guessed from a batch large enough for "repeated in most items" to mean something.
MIN_ITEMS_FOR_BOILERPLATE = 5

TopicRows = list[tuple[str, float, list[dict[str, Any]]]]


class Classifier:
    """The topic rules applied to cleaned items. Give the rules compiled (``topic_set``) or a function that compiles
    them (``load``): then they are compiled on first use, once, whichever thread asks first. A command that never
    classifies (a poll answered by 304s) never pays for compiling them; forked parse workers compile their own
    copy on their first document (the pages of a shared one would be copied anyway, as reference counts change)."""

    def __init__(self, topic_set: TopicSet | None = None, *, load: Callable[[], TopicSet] | None = None) -> None:
        if (topic_set is None) == (load is None):
            raise TypeError("give the compiled topic_set or load, not both or neither")
        self._topic_set = topic_set
        self._load = load
        self._lock = threading.Lock()

    @property
    def topic_set(self) -> TopicSet:
        topic_set = self._topic_set
        if topic_set is None:
            with self._lock:
                if self._topic_set is None:
                    assert self._load is not None
                    self._topic_set = self._load()
                topic_set = self._topic_set
        return topic_set

    @property
    def compiled(self) -> bool:
        return self._topic_set is not None

    def after_fork(self) -> None:
        """In a forked child: a new lock (another thread of the parent may have held this one at the fork)."""
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"topic_set": self.topic_set}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._topic_set, self._load, self._lock = state["topic_set"], None, threading.Lock()

    @property
    def topic_ids(self) -> list[str]:
        return [topic.id for topic in self.topic_set.topics]

    def boilerplate(self, texts: Sequence[str]) -> frozenset[str]:
        if len(texts) < MIN_ITEMS_FOR_BOILERPLATE:
            return frozenset()
        return frozenset(find_boilerplate(list(texts)))

    def matches(
        self,
        title: str,
        summary: str = "",
        content: str = "",
        categories: Sequence[str] = (),
        boilerplate: frozenset[str] = frozenset(),
    ) -> list[TopicMatch]:
        document = Document(
            title=title, summary=summary, content=content, categories=tuple(categories), boilerplate=boilerplate
        )
        return self.topic_set.classify(document)

    def topic_rows(self, item: CleanItem, boilerplate: frozenset[str] = frozenset()) -> TopicRows:
        found = self.matches(item.title, item.summary_text, item.content_text, item.categories, boilerplate)
        return [(match.topic_id, float(match.score), [hit_to_dict(hit) for hit in match.hits]) for match in found]


def hit_to_dict(hit: Any) -> dict[str, Any]:
    return {"field": hit.field, "term_list": hit.term_list, "term": hit.term, "text": hit.text}
