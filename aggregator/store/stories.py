"""One story, several sources: near-duplicate titles and preprint → journal links. Pure: no I/O.

Items that share a DOI, PMID or link already share ``store.story_key_of``. This module catches the rest:
- the same press release syndicated by several sites under slightly different titles ("Kyverna Announces ..."
  vs "Kyverna announces ... | Business Wire"), and
- a preprint later published in a journal (new DOI, often a lightly edited title).
Titles are normalised (case, accents, punctuation, site suffixes after " | " or " - ", stop words) into a set of
words; two titles are the same story when their Jaccard similarity reaches ``THRESHOLD`` and each has at least
``MIN_WORDS`` significant words (short titles like "Research update" say too little to group on).
Different scholarly identifiers veto a match (two papers with different DOIs are two papers), except that a
preprint's DOI differs from its journal version's by nature.
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

THRESHOLD = 0.75
MIN_WORDS = 5
_STOP = {"a", "an", "and", "the", "of", "in", "on", "for", "to", "with", "by", "at", "from", "as", "is", "are",
         "its", "it", "or", "vs", "versus", "into", "new", "study", "trial", "after", "about"}
# " | Business Wire", " - Medscape": a trailing site name, separated by a pipe or a spaced dash.
_SUFFIX = re.compile(r"\s+(\||–|—|-)\s+[^|–—-]{2,40}$")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def normalize_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower().strip()
    previous = None
    while previous != text:  # "Title | Site - Section" loses both suffixes
        previous = text
        text = _SUFFIX.sub("", text)
    return text


@lru_cache(maxsize=65536)  # pure, and the same stored titles are compared again at every poll
def title_words(title: str) -> frozenset[str]:
    """The significant words of a title; "CAR-T" and "CAR T" both give "car" and "t" → kept as "car-t"."""
    text = normalize_title(title).replace("car t-cell", "car-t cell").replace("car t ", "car-t ")
    return frozenset(w for w in _WORD.findall(text) if w not in _STOP)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Candidate:
    """A stored primary item another item may duplicate."""

    id: int
    title: str
    evidence_type: str
    doi: str | None = None
    nct_id: str | None = None
    # Where and when it was first seen: what ``RecentPrimaries`` filters and ranks by.
    source_id: str | None = None
    first_seen_at: datetime | None = None


@dataclass(frozen=True)
class Match:
    id: int
    score: float
    published_version: bool  # the new item is the journal version of this preprint


def _identifiers_conflict(doi: str | None, nct: str | None, evidence: str, other: Candidate) -> bool:
    if nct and other.nct_id and nct.upper() != other.nct_id.upper():
        return True
    if doi and other.doi and doi.lower() != other.doi.lower():
        return "preprint" not in {evidence, other.evidence_type}
    return False


def find_near_duplicate(title: str, evidence_type: str, candidates: Iterable[Candidate],
                        doi: str | None = None, nct_id: str | None = None) -> Match | None:
    """The most similar candidate at or above THRESHOLD, or None."""
    words = title_words(title)
    if len(words) < MIN_WORDS:
        return None
    best: Match | None = None
    for candidate in candidates:
        other = title_words(candidate.title)
        if len(other) < MIN_WORDS or _identifiers_conflict(doi, nct_id, evidence_type, candidate):
            continue
        score = similarity(words, other)
        if score >= THRESHOLD and (best is None or score > best.score):
            best = Match(candidate.id, score, published_version=(
                candidate.evidence_type == "preprint" and evidence_type == "peer-reviewed"))
    return best


class NearDuplicateIndex:
    """``find_near_duplicate`` over a fixed candidate list, without comparing every title with every candidate.

    Same answers (tested against ``find_near_duplicate``), found through an inverted index with prefix
    filtering: a candidate at or above THRESHOLD shares at least ``ceil(THRESHOLD × n)`` of the n words of the
    title, so it must contain one of any ``n − ceil(THRESHOLD × n) + 1`` of them; only the candidates listed
    under the rarest such words are scored. Comparing each new item with 3,000 stored titles one by one cost
    ~70 ms per item (see docs/benchmark.md); this costs well under a millisecond.
    """

    def __init__(self, candidates: Sequence[Candidate] = ()) -> None:
        self._candidates: list[Candidate] = []
        self._words: list[frozenset[str]] = []
        self._postings: dict[str, list[int]] = {}
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        """Append a candidate (it comes after every candidate already there)."""
        index = len(self._candidates)
        self._candidates.append(candidate)
        words = title_words(candidate.title)
        self._words.append(words)
        if len(words) < MIN_WORDS:
            return
        for word in words:
            self._postings.setdefault(word, []).append(index)

    def find(self, title: str, evidence_type: str, doi: str | None = None,
             nct_id: str | None = None) -> Match | None:
        words = title_words(title)
        if len(words) < MIN_WORDS:
            return None
        # Candidate order, as in find_near_duplicate: the first of equal scores wins.
        return self._best(words, sorted(self._reachable(words)), evidence_type, doi, nct_id)

    def _reachable(self, words: frozenset[str]) -> set[int]:
        """The candidates that may reach THRESHOLD with ``words``: those under its rarest words."""
        # The epsilon only ever lowers the required overlap, which widens the prefix: never a missed match.
        overlap = max(1, math.ceil(THRESHOLD * len(words) - 1e-9))
        rarest = sorted(words, key=lambda w: len(self._postings.get(w, ())))[: len(words) - overlap + 1]
        return {i for word in rarest for i in self._postings.get(word, ())}

    def _best(self, words: frozenset[str], indexes: Iterable[int], evidence_type: str, doi: str | None,
              nct_id: str | None) -> Match | None:
        best: Match | None = None
        for index in indexes:
            candidate = self._candidates[index]
            if _identifiers_conflict(doi, nct_id, evidence_type, candidate):
                continue
            score = similarity(words, self._words[index])
            if score >= THRESHOLD and (best is None or score > best.score):
                best = Match(candidate.id, score, published_version=(
                    candidate.evidence_type == "preprint" and evidence_type == "peer-reviewed"))
        return best


_Key = tuple[datetime, int]


class RecentPrimaries:
    """The near-duplicate candidates of a whole poll, kept up to date as items are stored.

    Holds recent primary items of every source (each with ``source_id`` and ``first_seen_at``). For a new item
    of source S, ``find`` considers exactly the candidates the store used to read for S with one query per
    source: the ``limit`` most recent (first seen, then id, descending) items of *other* sources first seen at
    or after ``since``, best score first, the most recent of equal scores. Reading and indexing those 3,000
    rows again for every polled source cost ~30 ms per source (docs/benchmark.md); here they are read once per
    poll and the items stored since are added.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._index = NearDuplicateIndex()
        self._order: list[_Key] = []  # the index's candidates' keys, by index position
        self._keys: list[_Key] = []  # every key, ascending
        self._by_source: dict[str, list[_Key]] = {}  # each source's keys, ascending
        self._ids: set[int] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self._ids

    def add(self, candidates: Iterable[Candidate]) -> None:
        """Add candidates (in any order; one already present is ignored)."""
        for candidate in candidates:
            if candidate.id in self._ids:
                continue
            if candidate.source_id is None or candidate.first_seen_at is None:
                raise ValueError("a candidate of RecentPrimaries needs its source_id and first_seen_at")
            key = (candidate.first_seen_at, candidate.id)
            self._ids.add(candidate.id)
            insort(self._keys, key)
            insort(self._by_source.setdefault(candidate.source_id, []), key)
            self._order.append(key)
            self._index.add(candidate)

    def _lowest_key(self, source_id: str) -> _Key | None:
        """The key of the ``limit``-th most recent candidate of another source; None when there are fewer."""
        keys, own = self._keys, self._by_source.get(source_id, [])
        if len(keys) - len(own) <= self.limit:
            return None

        def others_from(position: int) -> int:  # candidates of other sources at or above keys[position]
            return (len(keys) - position) - (len(own) - bisect_left(own, keys[position]))

        low, high = 0, len(keys) - 1  # the first position from which at most ``limit`` others remain
        while low < high:
            middle = (low + high) // 2
            if others_from(middle) <= self.limit:
                high = middle
            else:
                low = middle + 1
        return keys[low]

    def find(self, title: str, evidence_type: str, source_id: str, since: datetime, doi: str | None = None,
             nct_id: str | None = None) -> Match | None:
        words = title_words(title)
        if len(words) < MIN_WORDS:
            return None
        lowest = self._lowest_key(source_id)
        candidates, order = self._index._candidates, self._order
        indexes = [
            i for i in self._index._reachable(words)
            if candidates[i].source_id != source_id and order[i][0] >= since and (lowest is None or order[i] >= lowest)
        ]
        indexes.sort(key=order.__getitem__, reverse=True)  # most recent first, as the per-source query read them
        return self._index._best(words, indexes, evidence_type, doi, nct_id)
