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

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Match:
    id: int
    score: float
    published_version: bool  # the new item is the journal version of this preprint


def _identifiers_conflict(doi: str | None, nct: str | None, evidence: str, other: Candidate) -> bool:
    if nct and other.nct_id and nct.upper() != other.nct_id.upper():
        return True
    if doi and other.doi and doi.lower() != other.doi.lower():
        return not ("preprint" in {evidence, other.evidence_type})
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
