"""Glue between cleaned items and the topic rules: builds the rule engine's ``Document`` and turns its matches
into the rows the store keeps (topic id, score, hits as JSON). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain import CleanItem
from . import Document, TopicMatch, TopicSet, find_boilerplate

# Boilerplate is only guessed from a batch large enough for "repeated in most items" to mean something.
MIN_ITEMS_FOR_BOILERPLATE = 5

TopicRows = list[tuple[str, float, list[dict[str, Any]]]]


class Classifier:
    def __init__(self, topic_set: TopicSet) -> None:
        self.topic_set = topic_set

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
