"""Classify an item into topics: compiled term lists, hits, scores, explanations.

Rule order (applied to every item, for every topic, in this order)
-------------------------------------------------------------------
1. **Prepare.** Each field (title, summary, content, categories) is turned into plain text: HTML
   tags are stripped (block tags become line breaks), entities decoded. Sentences of summary and
   content that are the source's boilerplate (``Document.boilerplate``, see ``find_boilerplate``)
   are blanked. The text is folded (NFKC, accents dropped, dashes unified; casefolded for ordinary
   terms, case kept for ``exact_case_terms``).
2. **Scan.** Terms are grouped by the beginning of their first word; each group is compiled into one
   small regular expression (a trie of its terms). One Aho-Corasick pass over the item
   (``prefilter.py``) finds where the first words stand, and only there does a group's regex run.
   Within a group the longest term wins at a position, and hits do not overlap; each hit is
   attributed to every term list that holds that term. An item with no hit for any topic's
   requirements stops here (the *gate*). Text the prefilter does not cover (non-ASCII after folding)
   is scanned with two regexes of all the terms instead (a trie for case-insensitive terms, one for
   ``exact_case_terms``), and raw ``patterns`` run where their literal occurs. The order of the work is
   not the order of the rules: the lists only the later steps read (traps, context, cues, rivals)
   are scanned for when a step first reads them, and a topic whose requirements cannot reach their
   scores even counted in full is dropped before that (``_reachable``); the hits are those of a
   whole scan (docs/benchmark.md, finding 10).
3. **Ignore traps.** Hits of the topic's ``ignore`` lists (``LC-MS/MS``, ``MS Office``,
   ``multiple myeloma``...) are spans of trap text: a hit of any other list that overlaps one of
   them does not count, unless the hit is longer and contains the trap (``BMS-986353`` is not
   hidden by the trap ``MS-98...``).
4. **Disable.** A term list with ``disabled_by: [X]`` counts for nothing in an item where list X
   has a (non-ignored) hit; e.g. the abbreviation ``MS`` in an item that defines
   "mass spectrometry (MS)".
5. **Passing mentions.** Hits of the topic's ``passing_cues`` lists mark a span: the sentence they
   stand in (``cue_scope: sentence``, e.g. "were excluded", "is also developing") or everything
   from that sentence to the end of the field (``cue_scope: rest_of_field``, e.g. "About Kyverna",
   "Exclusion Criteria:"). Term hits inside such a span weigh ``passing_weight`` times their weight.
6. **Score each requirement.** The score of a requirement is the sum over its hits of
   ``field weight × list weight × (passing_weight if passing else 1)``. Default field weights:
   title 3, categories 1.5, summary 1, content 0.5. A requirement holds when its score reaches
   ``min_score`` (default 1: one plain mention in the summary or title suffices; in the content
   alone it takes two). *Subject rule*: when the title has a hit of one of the requirement's
   ``rivals`` (another disease, another therapy) and no hit of the requirement itself, the title
   is about something else, and the requirement needs ``min_score_with_rival_in_title``
   (default 2) instead, e.g. two real mentions in the summary.
7. **Combine.** A topic matches when every requirement (``all_of``; ``any_of`` is one more
   requirement) holds and no ``none_of`` list reaches ``min_score`` (scored the same way).
8. **Imply.** Finally a topic matches whenever a topic in its ``implied_by`` matches (so every
   ``car-t-ms`` item is in ``car-t-autoimmune``); it then carries that topic's hits.

The score of a match is the sum of its requirement scores. Hits list what counted, in text order.
"""

from __future__ import annotations

import functools
import operator
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from .prefilter import ItemScan, build_prefilter, emit_trie, insert_term
from .rules import (
    FIELDS,
    WORD_CLASS_BODY,
    RuleSet,
    Topic,
    TopicConfigError,
    literal_anchor,
    misspellings,
    parse_config,
    required_literal,
    starts_with_word_char,
    term_atoms,
)
from .text import Folded, fold, html_to_text, non_ascii_chars, normalise_sentence, remove_boilerplate, sentence_bounds

__all__ = ["Document", "Hit", "TopicMatch", "TopicSet", "load_topics"]

FIELD_SEP = "\n\x00\n"  # between fields: no separator or word pattern can cross it
_SEP_LEN = len(FIELD_SEP)


@dataclass(frozen=True)
class Document:
    """An item to classify. Fields may contain HTML; ``boilerplate`` holds sentences to ignore."""

    title: str
    summary: str = ""
    content: str = ""
    categories: tuple[str, ...] = ()
    boilerplate: frozenset[str] = frozenset()


class Hit(NamedTuple):
    """One term found in one field of an item: what the page highlights and "why this item is here"
    lists. A named tuple: items are classified by the hundred thousand."""

    field: str  # title | summary | content | categories
    term_list: str
    term: str  # the rule's term (or pattern)
    text: str  # the text as it appeared (after HTML stripping)

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "term_list": self.term_list, "term": self.term, "text": self.text}


@dataclass(frozen=True)
class TopicMatch:
    topic_id: str
    score: float
    hits: tuple[Hit, ...]
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"topic_id": self.topic_id, "score": self.score, "hits": [h.to_dict() for h in self.hits]}

    def explain(self) -> str:
        """E.g. ``car-t-ms (score 7): CAR T (title: 'CAR-T'), MS (summary: 'multiple sclerosis')``."""
        labels = dict(self.labels)
        parts: dict[str, list[str]] = {}
        for hit in self.hits:
            parts.setdefault(hit.term_list, [])
            item = f"{hit.field}: {hit.text!r}"
            if item not in parts[hit.term_list]:
                parts[hit.term_list].append(item)
        body = ", ".join(f"{labels.get(name, name)} ({'; '.join(items)})" for name, items in parts.items())
        return f"{self.topic_id} (score {self.score:g}): {body}"


# --- compilation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One distinct compiled term, and every (list, term) that holds it."""

    owners: tuple[tuple[str, str], ...]


def _compile_trie(
    items: list[tuple[tuple[str, ...], int]],
) -> tuple[re.Pattern[str] | None, list[int], re.Pattern[str] | None, list[int]]:
    """Compile many terms into two regexes, each a trie of the terms (the scan of text the
    prefilter does not cover: non-ASCII text).

    The main one, for terms starting with a (non-CJK) word character, is
    ``[\\W<CJK>](?:trie)``: it consumes the character *before* the term. Starting with a
    character class lets the regex engine skip quickly to the next non-word character, instead of
    trying every term at every position. The text is given a leading newline so that a term at the
    very start is found. The other regex holds terms starting with a CJK or punctuation character
    and is only run on text that has them.
    """
    word_trie: dict[str, Any] = {}
    other_trie: dict[str, Any] = {}
    for atoms, entry_id in items:
        insert_term(word_trie if starts_with_word_char(atoms) else other_trie, atoms, entry_id)
    word_groups: list[int] = []
    other_groups: list[int] = []
    word_rx = re.compile(f"[{WORD_CLASS_BODY}]" + emit_trie(word_trie, word_groups)) if word_trie else None
    other_rx = re.compile(emit_trie(other_trie, other_groups)) if other_trie else None
    return word_rx, word_groups, other_rx, other_groups


class _RegexScan:
    """Terms compiled into a few big regexes (tries), run over the whole text: the scan of the terms the
    prefilter cannot key, and of every term when it is off."""

    def __init__(
        self, folded_items: list[tuple[tuple[str, ...], int]], cased_items: list[tuple[tuple[str, ...], int]]
    ) -> None:
        self._rx_folded, self._groups_folded, self._rx_folded_other, self._groups_folded_other = _compile_trie(
            folded_items
        )
        self._rx_cased, self._groups_cased, self._rx_cased_other, self._groups_cased_other = _compile_trie(cased_items)
        other_first = {atoms[0] for atoms, _ in folded_items + cased_items if not starts_with_word_char(atoms)}
        # a cheap test for "this text may hold a term that starts with CJK or punctuation": the set of those
        # first characters when they are all outside ASCII (Chinese terms), else a regex
        self._other_first_chars = (
            frozenset(other_first) if all(len(a) == 1 and not a.isascii() for a in other_first) else None
        )
        self._other_first = re.compile("|".join(sorted(other_first))) if other_first else None

    def _may_hold_other(self, folded: Folded) -> bool:
        if self._other_first_chars is None:
            return self._other_first is not None and self._other_first.search(folded.folded) is not None
        if folded.others is not None:  # known from folding
            return not self._other_first_chars.isdisjoint(folded.others)
        return not self._other_first_chars.isdisjoint(non_ascii_chars(folded.folded))

    def scan(self, folded: Folded, append: Callable[[_RawHit], None]) -> None:
        for rx, text, groups in (
            (self._rx_folded, folded.folded, self._groups_folded),
            (self._rx_cased, folded.cased, self._groups_cased),
        ):
            if rx is not None:
                # the leading "\n" is consumed as the character before a term: offsets shift by -1
                for m in rx.finditer("\n" + text):
                    append((m.start(), m.end() - 1, groups[m.lastindex - 1]))  # type: ignore[operator]
        if self._other_first is not None and self._may_hold_other(folded):
            for rx, text, groups in (
                (self._rx_folded_other, folded.folded, self._groups_folded_other),
                (self._rx_cased_other, folded.cased, self._groups_cased_other),
            ):
                if rx is not None:
                    for m in rx.finditer(text):
                        append((m.start(), m.end(), groups[m.lastindex - 1]))  # type: ignore[operator]


# A hit inside the classifier is a plain tuple (start, end, field, term list, term), offsets in the
# folded text: items are classified by the hundred thousand, and a tuple costs a fraction of an object.
_Hit = tuple[int, int, str, str, str]
_START: Final = 0
_END: Final = 1
_FIELD: Final = 2
_LIST: Final = 3
_TERM: Final = 4
_RawHit = tuple[int, int, int]  # (start, end, entry)
_NO_RAW_HITS: list[_RawHit] = []  # never appended to
_LAST_TIER: Final = 2  # term lists are scanned for in tiers 0, 1, 2 (TopicSet.__init__)


_START_AND_LIST = operator.itemgetter(_START, _LIST)
_new_hit = tuple.__new__  # Hit(...) without the Python-level __new__ of a named tuple


def _by_start_then_longest(h: _Hit) -> tuple[int, int]:
    return h[_START], -h[_END]


class TopicSet:
    """Compiled topic rules. Build with ``load_topics(config)``; thread-safe and reusable."""

    def __init__(self, rules: RuleSet, use_prefilter: bool = True) -> None:
        self.rules = rules
        self._use_prefilter = use_prefilter
        self.topics: tuple[Topic, ...] = rules.topics
        self._labels = tuple((name, tl.label) for name, tl in rules.term_lists.items())
        self._disabled_by = {name: tl.disabled_by for name, tl in rules.term_lists.items()}
        self._requires = {name: tl.requires for name, tl in rules.term_lists.items()}
        by_key: dict[tuple[bool, tuple[str, ...]], int] = {}
        folded_items: list[tuple[tuple[str, ...], int]] = []
        cased_items: list[tuple[tuple[str, ...], int]] = []
        owners: list[list[tuple[str, str]]] = []
        keyed_terms: list[tuple[str, str, bool, tuple[str, ...], int]] = []
        for tl in rules.term_lists.values():
            for match_case, terms in ((False, tl.terms), (True, tl.exact_case_terms)):
                for term in terms:
                    atoms = term_atoms(term, match_case)
                    key = (match_case, atoms)
                    if key not in by_key:
                        by_key[key] = len(owners)
                        owners.append([])
                        (cased_items if match_case else folded_items).append((atoms, by_key[key]))
                    if (tl.name, term) not in owners[by_key[key]]:
                        owners[by_key[key]].append((tl.name, term))
                    keyed_terms.append((tl.name, term, match_case, atoms, by_key[key]))
        # misspelt forms of long words (``misspellings: true``), after every real term: a form that is some
        # list's real term stays that term; otherwise its hits name the term it misspells
        for tl in rules.term_lists.values():
            if not tl.misspellings:
                continue
            for term in tl.terms:
                for variant in misspellings(term):
                    atoms = term_atoms(variant, False)
                    key = (False, atoms)
                    if key in by_key:
                        continue
                    by_key[key] = len(owners)
                    owners.append([(tl.name, term)])
                    folded_items.append((atoms, by_key[key]))
                    keyed_terms.append((tl.name, variant, False, atoms, by_key[key]))  # keyed by its own text
        self._entries = [_Entry(tuple(o)) for o in owners]
        self._term_items = {"folded": folded_items, "cased": cased_items}
        # raw patterns, each with a literal it requires (a cheap `in` test before the regex runs) and, where
        # known, how far before that literal a match can start (then the regex runs only near the literal)
        self._patterns: list[tuple[re.Pattern[str], str | None, int | None, int]] = []
        for tl in rules.term_lists.values():
            for pattern in tl.patterns:
                self._entries.append(_Entry(((tl.name, pattern),)))
                anchor = literal_anchor(pattern)
                literal, lead = anchor if anchor is not None else (required_literal(pattern), None)
                self._patterns.append((re.compile(pattern), literal, lead, len(self._entries) - 1))
        # ``use_prefilter=False`` scans every text with the full regexes (the tests compare the two)
        self._prefilter, unkeyed = build_prefilter(keyed_terms) if use_prefilter else (None, [])
        self._full_scan = _RegexScan(folded_items, cased_items) if self._prefilter is None else None
        # the terms the prefilter cannot key, scanned for in text that could hold them
        self._unkeyed_scan = (
            _RegexScan(
                [(atoms, entry) for atoms, entry, cased, _ in unkeyed if not cased],
                [(atoms, entry) for atoms, entry, cased, _ in unkeyed if cased],
            )
            if unkeyed and self._prefilter is not None
            else None
        )
        self._unkeyed_in_ascii = any(can_be_ascii for *_, can_be_ascii in unkeyed)
        # per topic, for each requirement, the lists of which one must have a hit (a cheap first test); and the
        # same as bit masks over the term lists, for the test on raw hits
        self._needs = {t.id: tuple(frozenset(req.list_names) for req in t.requirements) for t in self.topics}
        bit = {name: 1 << i for i, name in enumerate(rules.term_lists)}
        self._entry_bits = [sum({bit[name] for name, _ in e.owners}) for e in self._entries]
        self._need_bits = [
            tuple(sum(bit[name] for name in req.list_names) for req in t.requirements)
            for t in self.topics
            if t.requirements
        ]
        self._gate = self._gate_groups()
        self._positive_lists = frozenset(name for t in self.topics for req in t.requirements for name in req.list_names)
        self._all_ignore = tuple(sorted({name for t in self.topics for name in t.ignore}))
        self._scan_override: Callable[[Folded, bool], list[_RawHit]] | None = None
        # When an item needs each term list (docs/benchmark.md, finding 10). Most items that reach the regexes fail
        # the topics' requirements, and the big lists (context evidence, cue words) are read only once a topic
        # could still match: their groups' regexes run then (``_ItemState.hits``). Tier 0: the lists of the
        # requirements (the gate and ``_could_match`` need them). Tier 1: the traps, which the optimistic score
        # (``_reachable``) needs. Tier 2: every other list.
        list_tier = {name: _LAST_TIER for name in rules.term_lists}
        for topic in self.topics:
            for name in topic.ignore:
                list_tier[name] = min(list_tier[name], 1)
        for name in self._positive_lists:
            list_tier[name] = 0
        self._list_tier = list_tier

        def entry_tier(entry: int) -> int:
            return min(list_tier[name] for name, _ in self._entries[entry].owners)

        # a group (or pattern) runs with the first tier that needs one of its terms' lists; the places of the
        # last tier's groups are looked for by an automaton of their own, in the items that get that far
        if self._prefilter is not None:
            self._prefilter = self._prefilter.in_rounds(
                [min(entry_tier(entry) for entry in group.entries) for group in self._prefilter.groups], _LAST_TIER
            )
        self._tier_patterns = [
            [i for i, (*_, entry) in enumerate(self._patterns) if entry_tier(entry) == t] for t in range(_LAST_TIER + 1)
        ]
        # ``_reachable`` scores as if no hit were a passing mention: an upper bound only while no passing span
        # weighs more than 1
        self._bounded = tuple(
            max([topic.passing_weight] + [cue for name in topic.passing_cues
                                          if (cue := rules.term_lists[name].cue_weight) is not None]) <= 1.0
            for topic in self.topics
        )

    # A copy (what a worker process started by "spawn" receives) is compiled again from the rules: regexes and
    # the automaton are rebuilt on the other side, and a compiled class (``native.py``) has no ``__dict__`` to copy.
    def __reduce__(self) -> tuple[Callable[..., TopicSet], tuple[Any, ...]]:
        return _rebuilt_topic_set, (self.rules, self._use_prefilter, self._scan_override)

    def replace_scan(self, scan: Callable[[Folded, bool], list[_RawHit]]) -> None:
        """Find term hits with ``scan(folded, gated)`` instead (the naive baseline's one regex per term, in
        ``naive.py``); the rules and the scoring stay. A hook rather than a subclass: the class may be compiled
        (``native.py``), and Python classes cannot inherit from compiled ones."""
        self._scan_override = scan

    def _could_match(self, raw: list[_RawHit]) -> bool:
        """Whether some topic has a hit in each of its requirements' lists (a necessary condition)."""
        if not raw:
            return False
        hit_lists = 0  # a bit per term list
        list_bits = self._entry_bits
        for hit in raw:
            hit_lists |= list_bits[hit[2]]
        return any(all(hit_lists & needed for needed in needs) for needs in self._need_bits)

    def _gate_groups(self) -> frozenset[int] | None:
        """Prefilter groups of which one must occur for any topic to match: for each topic, the terms of
        its most selective requirement (the one with the fewest terms). None: no such shortcut."""
        if self._prefilter is None:
            return None
        lists = self.rules.term_lists
        gate: set[str] = set()
        for topic in self.topics:
            if not topic.requirements:
                continue  # never matches on its own
            req = min(
                topic.requirements,
                key=lambda r: sum(len(lists[n].terms) + len(lists[n].exact_case_terms) for n in r.list_names),
            )
            gate.update(req.list_names)
        if any(lists[name].patterns for t in self.topics for req in t.requirements for name in req.list_names):
            return None  # a raw pattern is not in the prefilter, and could be what a requirement needs
        return self._prefilter.groups_holding(gate)

    # -- scanning --------------------------------------------------------------------------

    def _scan(self, folded: Folded, gated: bool = False) -> list[_RawHit]:
        """All term hits in ``folded`` (leftmost-longest per regex), unsorted. ``gated``: return
        nothing at once when no term that every match needs can occur."""
        prefilter = self._prefilter
        if prefilter is not None:
            ascii_text = folded.lower_of_cased or (folded.folded.isascii() and folded.cased.isascii())
            unkeyed = self._unkeyed_scan if (self._unkeyed_in_ascii or not ascii_text) else None
            shortcut = gated and self._gate is not None
            # the gate covers the keyed terms only: with unkeyed ones to scan for, it is decided after them
            gate = self._gate if shortcut and unkeyed is None else None
            hits = prefilter.find(folded, gate)
            append = hits.append
            if unkeyed is not None:
                unkeyed.scan(folded, append)
            if shortcut and not self._could_match(hits):
                return []  # no topic has a hit for each of its requirements (and raw patterns cannot add one)
        else:
            hits = []
            append = hits.append
            if self._full_scan is not None:  # always, when there is no prefilter
                self._full_scan.scan(folded, append)
        for index in range(len(self._patterns)):
            hits.extend(self._pattern_hits(index, folded.cased))
        return hits

    def _pattern_hits(self, index: int, text: str) -> list[_RawHit]:
        """The hits of raw pattern number ``index`` in ``text`` (the cased folding)."""
        pattern, literal, lead, entry = self._patterns[index]
        if literal is None:
            matches: Iterable[re.Match[str]] = pattern.finditer(text)
        elif lead is not None:
            matches = _near_literal(pattern, literal, lead, text)  # looks for the literal itself
        elif literal not in text:
            return []
        else:
            matches = pattern.finditer(text)
        return [(m.start(), m.end(), entry) for m in matches if m.end() > m.start()]

    def _first_tier(self, folded: Folded, starts: list[int]) -> _ItemState | None:
        """The item's hits of the tier-0 lists (the requirements'), as ``_scan(folded, gated=True)`` would find
        them; the other tiers' regexes run when the item asks for their lists. None: no topic can match."""
        override = self._scan_override
        prefilter = self._prefilter
        if override is not None or prefilter is None:
            hits = self._hits(folded, starts, gated=True)
            return _ItemState(self, folded, starts, _by_list(hits)) if hits else None
        ascii_text = folded.lower_of_cased or (folded.folded.isascii() and folded.cased.isascii())
        unkeyed = self._unkeyed_scan if (self._unkeyed_in_ascii or not ascii_text) else None
        # as in _scan: the gate covers the keyed terms only, and is decided after the unkeyed ones when there are
        shortcut = self._gate is not None
        scan = prefilter.scan(folded, self._gate if shortcut and unkeyed is None else None, in_rounds=True)
        if scan is not None:
            scan.run(0)
        unkeyed_hits: list[_RawHit] = []
        if unkeyed is not None:
            unkeyed.scan(folded, unkeyed_hits.append)
        # every hit of a requirement's list is in tier 0: _could_match sees what it sees on a whole scan
        if shortcut and not self._could_match((scan.hits() if scan is not None else []) + unkeyed_hits):
            return None
        state = _ItemState(self, folded, starts, {}, -1, scan, unkeyed_hits)
        state.extend(0)
        return state if state.by_list else None

    # -- classification --------------------------------------------------------------------

    def _prepare(self, doc: Document) -> tuple[str, list[int]]:
        """The fields' plain text joined by ``FIELD_SEP`` in ``FIELDS`` order, and where each starts."""
        keys = _boilerplate_keys(doc.boilerplate) if doc.boilerplate else None
        categories = doc.categories
        parts = [
            _field_text(doc.title, None),
            _field_text(doc.summary, keys),
            _field_text(doc.content, keys),
            "\n".join(_field_text(c, None) for c in categories if isinstance(c, str)) if categories else "",
        ]
        starts = []
        pos = 0
        for part in parts:
            starts.append(pos)
            pos += len(part) + _SEP_LEN
        return FIELD_SEP.join(parts), starts

    def _hits(self, folded: Folded, starts: list[int], gated: bool = False) -> list[_Hit]:
        override = self._scan_override
        return self._owned_hits(self._scan(folded, gated) if override is None else override(folded, gated), starts)

    def _owned_hits(self, raw: list[_RawHit], starts: list[int]) -> list[_Hit]:
        """Raw hits as hits of each list owning their term, sorted; within one list, overlapping hits count once."""
        if not raw:
            return []
        entries = self._entries
        out: list[_Hit] = []
        append = out.append
        if len(starts) > 1:
            for start, end, entry in raw:
                field_name = FIELDS[bisect_right(starts, start) - 1]
                for list_name, term in entries[entry].owners:
                    append((start, end, field_name, list_name, term))
        else:
            field_name = FIELDS[0]
            for start, end, entry in raw:
                for list_name, term in entries[entry].owners:
                    append((start, end, field_name, list_name, term))
        if len(out) > 1:
            # within one list, overlapping hits (e.g. "CAR-T cells" as "CAR T cell*" and as
            # "CAR T") count once: keep the leftmost, longest
            out.sort(key=_by_start_then_longest)
            last_end: dict[str, int] = {}
            kept = []
            for h in out:
                if last_end.get(h[_LIST], -1) > h[_START]:
                    continue
                last_end[h[_LIST]] = h[_END]
                kept.append(h)
            out = kept
        return out

    def classify(self, doc: Document) -> list[TopicMatch]:
        """The topics ``doc`` belongs to, in topic order. Never raises on odd text."""
        text, starts = self._prepare(doc)
        folded = fold(text)
        state = self._first_tier(folded, starts)
        if state is None:
            return []
        matched: dict[str, tuple[float, list[_Hit]]] = {}
        bounded = self._bounded
        for index, topic in enumerate(self.topics):
            # a requirement with no hit at all in its lists: the topic cannot match (requirement lists are tier 0:
            # by_list has all their hits)
            if all(not needed.isdisjoint(state.by_list) for needed in self._needs[topic.id]):
                if bounded[index] and not (self._reachable(topic, state, None)
                                           and self._reachable(topic, state, state.view(topic.ignore))):
                    continue
                result = self._match_topic(topic, state)
                if result is not None:
                    matched[topic.id] = result
        # implications, to a fixed point
        changed = True
        while changed:
            changed = False
            for topic in self.topics:
                if topic.id in matched:
                    continue
                for source in topic.implied_by:
                    if source in matched:
                        matched[topic.id] = matched[source]
                        changed = True
                        break
        if not matched:
            return []
        out = []
        # Keyed by value, not id(): a hit tuple names its hit fully, and compiled code (mypyc) keeps such tuples
        # unboxed, so the same hit can be two objects and two hits can share an id() in turn.
        public: dict[_Hit, Hit] = {}  # each shown hit is one object, shared by the topics
        shown: dict[tuple[_Hit, ...], tuple[Hit, ...]] = {}  # topics that counted the same hits show one tuple
        for topic in self.topics:
            if topic.id in matched:
                score, used = matched[topic.id]
                key = tuple(used)
                hits_shown = shown.get(key)
                if hits_shown is None:
                    hits_shown = shown[key] = self._public_hits(used, folded, public)
                out.append(TopicMatch(topic.id, round(score, 3), hits_shown, self._labels))
        return out

    @staticmethod
    def _public_hits(used: list[_Hit], folded: Folded, cache: dict[_Hit, Hit]) -> tuple[Hit, ...]:
        out = []
        plain = folded.plain
        same_offsets = folded.same_offsets
        seen = set()
        for h in sorted(used, key=_START_AND_LIST):
            if h in seen:
                continue
            seen.add(h)
            hit = cache.get(h)
            if hit is None:
                ps, pe = (h[_START], h[_END]) if same_offsets else folded.to_plain(h[_START], h[_END])
                hit = cache[h] = _new_hit(Hit, (h[_FIELD], h[_LIST], h[_TERM], plain[ps:pe]))
            out.append(hit)
        return tuple(out)

    def _live_hits(self, name: str, state: _ItemState, view: _View, depth: int = 0) -> list[_Hit]:
        """Hits of list ``name`` that survive the trap spans of ``view``, the list's ``disabled_by`` and its
        ``requires``. (A list's context is read only when it has such hits: in tier 2, it is scanned for then.)"""
        hits = state.unmasked(view, name)
        if not hits:
            return []
        disabled_by = self._disabled_by[name]
        if disabled_by and depth < 3:
            for other in disabled_by:
                if self._live_hits(other, state, view, depth + 1):
                    return []
        requires = self._requires[name]
        if requires:  # context evidence: one of these lists must count in the item
            if depth >= 3:
                return []
            for other in requires:
                if self._live_hits(other, state, view, depth + 1):
                    return hits
            return []
        return hits

    @staticmethod
    def _reachable(topic: Topic, state: _ItemState, view: _View | None) -> bool:
        """Whether every requirement of ``topic`` can still hold, scored with more than the rules count: every hit
        of its lists (``view``: every hit no trap of it hides) at full weight, none a passing mention (their spans
        weigh at most 1, ``_bounded``), no context needed, against the lower of its two thresholds. With the
        requirement lists (and the traps) alone: an item that fails is done before the other lists' regexes run."""
        weights = topic.field_weights
        for req in topic.requirements:
            score = 0.0
            fields = req.fields
            for ref in req.lists:
                hits = state.hits(ref.name) if view is None else state.unmasked(view, ref.name)
                if not hits:
                    continue
                for h in hits:
                    field_name = h[_FIELD]
                    if field_name in fields:
                        w = weights[field_name] * ref.weight
                        if w > 0:
                            score += w
            needed = min(req.min_score, req.min_score_with_rival_in_title) if req.rivals else req.min_score
            if score < needed or score <= 0:
                return False
        return True

    def _match_topic(self, topic: Topic, state: _ItemState) -> tuple[float, list[_Hit]] | None:
        if not topic.requirements:
            return None
        view = state.view(topic.ignore)
        passing = state.passing(topic)
        weights = topic.field_weights
        total = 0.0
        used: list[_Hit] = []
        for req in topic.requirements:
            score = 0.0
            title_hit = False
            fields = req.fields
            for ref in req.lists:
                hits = state.live(view, ref.name)
                if not hits:
                    continue
                for h in hits:
                    field_name = h[_FIELD]
                    if field_name not in fields:
                        continue
                    w = weights[field_name] * ref.weight
                    if passing:
                        factor = _passing_factor(h, passing)
                        if factor >= 0.0:
                            score += w * factor  # counts a little (or nothing); not shown as a reason
                            continue
                    if w > 0:
                        title_hit = title_hit or field_name == "title"
                        score += w
                        used.append(h)
            needed = req.min_score
            if req.rivals and not title_hit:
                for rival in req.rivals:
                    hits = state.live(view, rival)
                    if hits and any(h[_FIELD] == "title" for h in hits):
                        needed = req.min_score_with_rival_in_title
                        break
            if score < needed or score <= 0:
                return None
            total += score
        for name in topic.none_of:
            hits = state.live(view, name)
            if not hits:
                continue
            veto = 0.0
            for h in hits:
                w = weights[h[_FIELD]]
                if passing:
                    factor = _passing_factor(h, passing)
                    if factor >= 0.0:
                        w *= factor
                veto += w
            if veto >= 1.0:
                return None
        return total, used

    def _passing_spans(self, topic: Topic, state: _ItemState) -> list[tuple[int, int, float]]:
        """(start, end, weight) of the spans whose terms only count ``weight`` times: the scopes of the topic's
        cue lists, and its crowded sentences (many diseases named together). Sorted by start."""
        spans: list[tuple[int, int, float]] = []
        bounds_cache: dict[int, list[int]] = {}
        text = state.folded.folded
        starts = state.starts
        view = state.view(topic.ignore)

        def sentence_of(pos: int) -> tuple[int, int, int, int]:
            """(sentence start, sentence end, field start, field end) around ``pos``."""
            fi = bisect_right(starts, pos) - 1
            f_start = starts[fi]
            f_end = starts[fi + 1] - len(FIELD_SEP) if fi + 1 < len(starts) else len(text)
            if fi not in bounds_cache:
                bounds_cache[fi] = sentence_bounds(text, f_start, f_end)
            bounds = bounds_cache[fi]
            k = bisect_right(bounds, pos) - 1
            s_end = bounds[k + 1] if k + 1 < len(bounds) else f_end
            return bounds[k], s_end, f_start, f_end

        for name in topic.passing_cues:
            tl = self.rules.term_lists[name]
            scope = tl.cue_scope
            weight = topic.passing_weight if tl.cue_weight is None else tl.cue_weight
            for h in state.live(view, name):
                s_start, s_end, f_start, f_end = sentence_of(h[_START])
                if scope == "rest_of_field":
                    s_end = f_end
                elif scope == "line":
                    line_start = text.rfind("\n", f_start, h[_START])
                    line_end = text.find("\n", h[_END], f_end)
                    s_start = f_start if line_start < 0 else line_start + 1
                    s_end = f_end if line_end < 0 else line_end
                spans.append((s_start, max(s_end, h[_END]), weight))
        if topic.crowded_lists and _distinct_terms(state, topic.crowded_lists, topic.crowded_min_terms):
            spans.extend(self._crowded_spans(topic, state, view, sentence_of))
        spans.sort()
        return spans

    def _crowded_spans(
        self,
        topic: Topic,
        state: _ItemState,
        view: _View,
        sentence_of: Callable[[int], tuple[int, int, int, int]],
    ) -> list[tuple[int, int, float]]:
        """Sentences outside the title that name ``crowded_min_terms`` distinct terms of the topic's
        ``crowded`` lists: a list of indications, a pipeline, a differential diagnosis."""
        title_end = self._title_end(sentence_of)
        terms: dict[tuple[int, int], set[str]] = {}
        for name in topic.crowded_lists:
            for h in state.live(view, name):
                if h[_START] < title_end:
                    continue
                s_start, s_end, _, _ = sentence_of(h[_START])
                terms.setdefault((s_start, s_end), set()).add(h[_TERM])
        return [(s, e, topic.passing_weight) for (s, e), found in terms.items()
                if len(found) >= topic.crowded_min_terms]

    @staticmethod
    def _title_end(sentence_of: Callable[[int], tuple[int, int, int, int]]) -> int:
        return sentence_of(0)[3]

    # -- highlighting ----------------------------------------------------------------------

    def highlight_spans(self, text: str) -> list[tuple[int, int]]:
        """Sorted, non-overlapping ``(start, end)`` spans in ``text`` (plain text) of every positive
        term of every topic (trap phrases excluded), for wrapping in ``<mark>``."""
        if not text:
            return []
        folded = fold(text.replace("\x00", " "))
        folded = Folded(text, folded.folded, folded.cased, folded.offsets())
        hits = self._hits(folded, [0])
        if not hits:
            return []
        state = _ItemState(self, folded, [0], _by_list(hits))
        view = state.view(self._all_ignore)
        spans = []
        for name in self._positive_lists:
            for h in self._live_hits(name, state, view):
                spans.append(folded.to_plain(h[_START], h[_END]))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if e <= s:
                continue
            if merged and s < merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        return merged


class _View:
    """An item's hits under one set of trap spans: per list, those no trap hides, and those that count."""

    __slots__ = ("masks", "unmasked", "live")

    def __init__(self, masks: list[tuple[int, int]]) -> None:
        self.masks = masks
        self.unmasked: dict[str, list[_Hit]] = {}
        self.live: dict[str, list[_Hit]] = {}


class _ItemState:
    """What the topics of one item share: its hits by list, and (computed once per combination of ``ignore``
    lists, on first use) the trap masks, the hits that survive them, and the passing-mention spans.

    The hits of a list are read through ``hits``: a list of a tier not scanned yet is scanned for then (its
    groups' regexes, its patterns), and ``by_list`` is made again from every raw hit found so far, in the order
    of a whole scan. A list of a scanned tier has all its groups run, so its hits are those of a whole scan and
    never change; lists of later tiers may have some hits in ``by_list`` already (a group holding terms of two
    lists runs with the earlier one's tier) and are never read from it directly.
    """

    __slots__ = (
        "by_list", "folded", "starts", "_topic_set", "_tier", "_scan", "_unkeyed_hits", "_pattern_hits", "_views",
        "_views_by_masks", "_passing",
    )

    def __init__(
        self,
        topic_set: TopicSet,
        folded: Folded,
        starts: list[int],
        by_list: dict[str, list[_Hit]],
        tier: int = _LAST_TIER,
        scan: ItemScan | None = None,
        unkeyed_hits: list[_RawHit] | None = None,
    ) -> None:
        self.by_list = by_list
        self.folded = folded
        self.starts = starts
        self._topic_set = topic_set
        self._tier = tier  # the last tier scanned (every one, unless the state is built tier by tier)
        self._scan = scan
        self._unkeyed_hits = unkeyed_hits or []
        self._pattern_hits: list[list[_RawHit]] = [_NO_RAW_HITS] * len(topic_set._patterns)
        self._views: dict[tuple[str, ...], _View] = {}
        self._views_by_masks: dict[tuple[tuple[int, int], ...], _View] = {}
        self._passing: dict[
            tuple[tuple[str, ...], tuple[str, ...], float, tuple[str, ...], int], list[tuple[int, int, float]]
        ] = {}

    def extend(self, tier: int) -> None:
        """Scan for the lists of the tiers up to ``tier``, and make ``by_list`` again."""
        topic_set = self._topic_set
        scan = self._scan
        while self._tier < tier:
            self._tier += 1
            if scan is not None:
                scan.run(self._tier)
            for index in topic_set._tier_patterns[self._tier]:
                self._pattern_hits[index] = topic_set._pattern_hits(index, self.folded.cased)
        raw = scan.hits() if scan is not None else []
        raw.extend(self._unkeyed_hits)  # as in _scan: the groups' hits, the unkeyed terms', the patterns'
        for found in self._pattern_hits:
            raw.extend(found)
        self.by_list = _by_list(topic_set._owned_hits(raw, self.starts))

    def hits(self, name: str) -> list[_Hit] | None:
        tier = self._topic_set._list_tier[name]
        if tier > self._tier:
            self.extend(tier)
        return self.by_list.get(name)

    def view(self, ignore: tuple[str, ...]) -> _View:
        """The hits under the trap spans of the lists ``ignore``."""
        found = self._views.get(ignore)
        if found is None:
            masks = sorted((h[_START], h[_END]) for name in ignore for h in self.hits(name) or ())
            # topics with other trap lists but the same trap spans (often none at all) share the answer
            key = tuple(masks)
            found = self._views_by_masks.get(key)
            if found is None:
                found = self._views_by_masks[key] = _View(masks)
            self._views[ignore] = found
        return found

    def unmasked(self, view: _View, name: str) -> list[_Hit]:
        """The hits of list ``name`` that no trap span of ``view`` hides."""
        found = view.unmasked.get(name)
        if found is None:
            hits = self.hits(name)
            masks = view.masks
            found = view.unmasked[name] = (
                [] if not hits else [h for h in hits if not _masked(h, masks)] if masks else hits
            )
        return found

    def live(self, view: _View, name: str) -> list[_Hit]:
        """List ``name``'s hits that survive the traps of ``view`` and its ``disabled_by`` lists and have the
        context evidence of its ``requires`` lists."""
        found = view.live.get(name)
        if found is None:
            found = view.live[name] = self._topic_set._live_hits(name, self, view)
        return found

    def passing(self, topic: Topic) -> list[tuple[int, int, float]]:
        if all(not self.hits(name) for name in topic.passing_cues) and not (
            topic.crowded_lists and _distinct_terms(self, topic.crowded_lists, topic.crowded_min_terms)
        ):
            return []
        key = (topic.passing_cues, topic.ignore, topic.passing_weight, topic.crowded_lists, topic.crowded_min_terms)
        found = self._passing.get(key)
        if found is None:
            found = self._passing[key] = self._topic_set._passing_spans(topic, self)
        return found


def _by_list(hits: list[_Hit]) -> dict[str, list[_Hit]]:
    by_list: dict[str, list[_Hit]] = {}
    for h in hits:
        if h[_LIST] in by_list:
            by_list[h[_LIST]].append(h)
        else:
            by_list[h[_LIST]] = [h]
    return by_list


def _field_text(raw: object, boilerplate: frozenset[str] | None) -> str:
    """One field as plain text, without ``boilerplate`` sentences and without NUL (it is in ``FIELD_SEP``)."""
    if not raw:
        return ""
    text = html_to_text(raw if isinstance(raw, str) else str(raw))  # text without "<" or "&" as it is
    if boilerplate:
        text = remove_boilerplate(text, boilerplate)
    return text.replace("\x00", " ") if "\x00" in text else text


def _near_literal(pattern: re.Pattern[str], literal: str, lead: int, text: str) -> list[re.Match[str]]:
    """What ``pattern.finditer(text)`` yields, for a pattern whose every match holds ``literal`` at most
    ``lead`` characters after its start (``rules.literal_anchor``): the regex is only tried at the ``lead + 1``
    positions up to each occurrence of the literal (no match can start anywhere else), not at every position.

    Each position is tried once, in order, so the first match found is the leftmost one, as ``search`` finds it.
    (``search`` from the first such position instead scans the rest of the text when no match follows: with
    "LC-MS/MS" in most items, that was a quarter of the classifier's instructions; docs/benchmark.md, finding 10.)
    A list, not a generator: most texts have no such literal, and a compiled generator costs an object."""
    found = text.find(literal)
    if found < 0:
        return []
    matches = []
    match = pattern.match
    untried = 0  # every position before this one has been tried, or lies before the last match's end
    while found >= 0:
        m = None
        for start in range(max(untried, found - lead), found + 1):
            m = match(text, start)
            if m is not None:
                break
        if m is None:
            untried = found + 1
            found = text.find(literal, untried)
        else:
            matches.append(m)
            untried = m.end()  # as finditer: the next match starts at or after this one's end
            found = text.find(literal, untried)
    return matches


def _masked(h: _Hit, masks: list[tuple[int, int]]) -> bool:
    """A trap span hides a hit it overlaps, unless the hit is longer and contains it
    ("BMS-986353" is not hidden by the trap "MS-98...")."""
    start, end = h[_START], h[_END]
    for s, e in masks:
        if s >= end:
            return False
        if e > start and not (start <= s and e <= end and e - s < end - start):
            return True
    return False


def _distinct_terms(state: _ItemState, names: tuple[str, ...], least: int) -> bool:
    """Whether the hits of lists ``names`` hold at least ``least`` distinct terms (before traps and scopes: a
    cheap necessary condition for a crowded sentence)."""
    terms: set[str] = set()
    for name in names:
        hits = state.hits(name)
        if hits:
            for h in hits:
                terms.add(h[_TERM])
            if len(terms) >= least:
                return True
    return False


def _passing_factor(h: _Hit, spans: list[tuple[int, int, float]]) -> float:
    """The weight of the passing span(s) ``h`` stands in (the least of them), or -1 when it stands in none."""
    start, end = h[_START], h[_END]
    found = -1.0
    for s, e, weight in spans:
        if s >= end:
            break
        if e > start and (found < 0.0 or weight < found):
            found = weight
    return found


@functools.lru_cache(maxsize=256)
def _boilerplate_keys(sentences: frozenset[str]) -> frozenset[str]:
    keys = set()
    for s in sentences:
        if isinstance(s, str):
            keys.add(normalise_sentence(html_to_text(s)))
    keys.discard("")
    return frozenset(keys)


def _rebuilt_topic_set(
    rules: RuleSet, use_prefilter: bool, scan: Callable[[Folded, bool], list[_RawHit]] | None
) -> TopicSet:
    topic_set = TopicSet(rules, use_prefilter)
    if scan is not None:
        topic_set.replace_scan(scan)
    return topic_set


def load_topics(config: Mapping[str, Any], use_prefilter: bool = True) -> TopicSet:
    """Validate and compile ``{"term_lists": {...}, "topics": [...]}``; raises ``TopicConfigError``."""
    rules = parse_config(config)
    try:
        return TopicSet(rules, use_prefilter)
    except re.error as exc:  # pragma: no cover - terms are escaped; would be a bug in the compiler
        raise TopicConfigError(f"topic rules: could not compile the term lists: {exc}") from exc
