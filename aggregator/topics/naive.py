"""A naive baseline classifier: the same rules and scoring, but one regex search per term.

It exists to measure the compiled matcher against (``bench.py``) and to cross-check it in tests:
both must put the same items in the same topics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .match import TopicSet, _RawHit
from .rules import WORD_CHAR, parse_config, starts_with_word_char
from .text import Folded

__all__ = ["NaiveScan", "load_naive_topics"]


class NaiveScan:
    """The scan of a ``TopicSet`` as one compiled regex per term over the text (no trie, no prefilter)."""

    def __init__(self, topic_set: TopicSet) -> None:
        self._patterns = topic_set._patterns
        self._naive: list[tuple[re.Pattern[str], bool, int]] = []
        entry_of: dict[tuple[bool, tuple[str, ...]], int] = {}
        for mode, items in topic_set._term_items.items():
            for atoms, entry in items:
                entry_of[(mode == "cased", atoms)] = entry
        for (cased, atoms), entry in entry_of.items():
            prefix = f"(?<!{WORD_CHAR})" if starts_with_word_char(atoms) else ""
            self._naive.append((re.compile(prefix + "".join(atoms)), cased, entry))

    def __call__(self, folded: Folded, gated: bool = False) -> list[_RawHit]:
        hits: list[_RawHit] = []
        for rx, cased, entry in self._naive:
            text = folded.cased if cased else folded.folded
            for m in rx.finditer(text):
                hits.append((m.start(), m.end(), entry))
        for pattern, _literal, _lead, entry in self._patterns:
            for m in pattern.finditer(folded.cased):
                if m.end() > m.start():
                    hits.append((m.start(), m.end(), entry))
        # overlapping hits are resolved downstream exactly as for the compiled scan (per-list
        # de-duplication, traps hide what they overlap)
        return hits


def load_naive_topics(config: Mapping[str, Any]) -> TopicSet:
    """The rules of ``config`` with the naive scan: the same topics, hits and scores, found the slow way."""
    topic_set = TopicSet(parse_config(config), use_prefilter=False)
    topic_set.replace_scan(NaiveScan(topic_set))
    return topic_set
