"""Classify an item into topics: compiled term lists, hits, scores, explanations.

Rule order (applied to every item, for every topic, in this order)
-------------------------------------------------------------------
1. **Prepare.** Each field (title, summary, content, categories) is turned into plain text: HTML
   tags are stripped (block tags become line breaks), entities decoded. Sentences of summary and
   content that are the source's boilerplate (``Document.boilerplate``, see ``find_boilerplate``)
   are blanked. The text is folded (NFKC, accents dropped, dashes unified; casefolded for ordinary
   terms, case kept for ``exact_case_terms``).
2. **Scan.** All term lists are compiled at load time into two big regular expressions (a trie of
   every term: one for case-insensitive terms, one for exact-case terms) plus one for raw
   ``patterns``. Each scan finds leftmost, longest, non-overlapping hits; each hit is attributed to
   every term list that holds that term.
3. **Ignore traps.** Hits of the topic's ``ignore`` lists (``LC-MS/MS``, ``MS Office``,
   ``multiple myeloma``...) are spans of trap text: a hit of any other list that overlaps one of
   them does not count. A trap inside a longer term is simply never seen, since the longest term
   wins at any position.
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
import string
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .rules import (
    FIELDS,
    WORD_CHAR,
    WORD_CLASS_BODY,
    RuleSet,
    Topic,
    TopicConfigError,
    is_cjk,
    parse_config,
    required_literal,
    starts_with_word_char,
    term_atoms,
)
from .text import Folded, fold, fold_term, html_to_text, normalise_sentence, remove_boilerplate, sentence_bounds

__all__ = ["Document", "Hit", "TopicMatch", "TopicSet", "load_topics"]

FIELD_SEP = "\n\x00\n"  # between fields: no separator or word pattern can cross it


@dataclass(frozen=True)
class Document:
    """An item to classify. Fields may contain HTML; ``boilerplate`` holds sentences to ignore."""

    title: str
    summary: str = ""
    content: str = ""
    categories: tuple[str, ...] = ()
    boilerplate: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Hit:
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

_TERMINAL = ""  # trie key for "a term ends here"


@dataclass(frozen=True)
class _Entry:
    """One distinct compiled term, and every (list, term) that holds it."""

    owners: tuple[tuple[str, str], ...]


def _insert(trie: dict[str, Any], atoms: Sequence[str], entry_id: int) -> None:
    node = trie
    for atom in atoms:
        node = node.setdefault(atom, {})
    node.setdefault(_TERMINAL, entry_id)  # identical atoms → the first entry (owners are merged)


def _depth(node: dict[str, Any]) -> int:
    return max((1 + _depth(child) for key, child in node.items() if key != _TERMINAL), default=0)


def _emit(node: dict[str, Any], group_entries: list[int]) -> str:
    """Regex for a trie node; longer continuations are tried before a term ends here."""
    children = sorted(((k, v) for k, v in node.items() if k != _TERMINAL), key=lambda kv: -_depth(kv[1]))
    alts = [atom + _emit(child, group_entries) for atom, child in children]
    if _TERMINAL in node:
        group_entries.append(node[_TERMINAL])
        alts.append("()")
    if len(alts) == 1:
        return alts[0]
    return "(?:" + "|".join(alts) + ")"


def _compile_trie(
    items: list[tuple[tuple[str, ...], int]],
) -> tuple[re.Pattern[str] | None, list[int], re.Pattern[str] | None, list[int]]:
    """Compile many terms into two regexes, each a trie of the terms.

    The main one, for terms starting with a (non-CJK) word character, is
    ``[\\W<CJK>](?:trie)``: it consumes the character *before* the term. Starting with a
    character class lets the regex engine skip quickly to the next non-word character, instead of
    trying every term at every position (several times faster on ordinary text). The text is
    given a leading newline so that a term at the very start is found. The other regex holds
    terms starting with a CJK or punctuation character and is only run on text that has them.

    Every term ends in an empty capture group, numbered in emission order, so ``m.lastindex``
    names the term that matched (``group_entries[lastindex - 1]``).
    """
    word_trie: dict[str, Any] = {}
    other_trie: dict[str, Any] = {}
    for atoms, entry_id in items:
        _insert(word_trie if starts_with_word_char(atoms) else other_trie, atoms, entry_id)
    word_groups: list[int] = []
    other_groups: list[int] = []
    word_rx = re.compile(f"[{WORD_CLASS_BODY}]" + _emit(word_trie, word_groups)) if word_trie else None
    other_rx = re.compile(_emit(other_trie, other_groups)) if other_trie else None
    return word_rx, word_groups, other_rx, other_groups


@dataclass
class _RawHit:
    start: int
    end: int
    entry: int


@dataclass
class _Hit:
    start: int  # in the folded concatenated text
    end: int
    field: str
    term_list: str
    term: str


class TopicSet:
    """Compiled topic rules. Build with ``load_topics(config)``; thread-safe and reusable."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.topics: tuple[Topic, ...] = rules.topics
        self._labels = tuple((name, tl.label) for name, tl in rules.term_lists.items())
        entries: list[_Entry] = []
        by_key: dict[tuple[bool, tuple[str, ...]], int] = {}
        folded_items: list[tuple[tuple[str, ...], int]] = []
        cased_items: list[tuple[tuple[str, ...], int]] = []
        owners: dict[int, list[tuple[str, str]]] = {}
        for tl in rules.term_lists.values():
            for match_case, terms in ((False, tl.terms), (True, tl.exact_case_terms)):
                for term in terms:
                    atoms = term_atoms(term, match_case)
                    key = (match_case, atoms)
                    if key not in by_key:
                        by_key[key] = len(entries)
                        entries.append(_Entry(()))
                        (cased_items if match_case else folded_items).append((atoms, by_key[key]))
                    owners.setdefault(by_key[key], [])
                    if (tl.name, term) not in owners[by_key[key]]:
                        owners[by_key[key]].append((tl.name, term))
        self._entries = [_Entry(tuple(owners[i])) for i in range(len(entries))]
        self._term_items = {"folded": folded_items, "cased": cased_items}
        self._rx_folded, self._groups_folded, self._rx_folded_other, self._groups_folded_other = _compile_trie(
            folded_items
        )
        self._rx_cased, self._groups_cased, self._rx_cased_other, self._groups_cased_other = _compile_trie(cased_items)
        self._keyed = _keyed(rules, self._term_items)
        other_first = {atoms[0] for atoms, _ in folded_items + cased_items if not starts_with_word_char(atoms)}
        # a cheap test for "this text may hold a term that starts with CJK or punctuation"
        self._other_first = re.compile("|".join(sorted(other_first))) if other_first else None
        # raw patterns: one combined regex to find candidates, then the pattern that matched
        # raw patterns, each with a literal it requires (a cheap `in` test before the regex runs)
        self._patterns: list[tuple[re.Pattern[str], str | None, int]] = []
        for tl in rules.term_lists.values():
            for pattern in tl.patterns:
                self._entries.append(_Entry(((tl.name, pattern),)))
                self._patterns.append((re.compile(pattern), required_literal(pattern), len(self._entries) - 1))
        self._positive_lists = frozenset(name for t in self.topics for req in t.requirements for name in req.list_names)
        self._all_ignore = tuple(sorted({name for t in self.topics for name in t.ignore}))

    # -- scanning --------------------------------------------------------------------------

    def _scan(self, folded: Folded) -> list[_RawHit]:
        """All term hits in ``folded`` (leftmost-longest per regex), unsorted."""
        hits: list[_RawHit] = []
        append = hits.append
        if self._keyed is not None and folded.plain.isascii():
            # Prefilter (in C): the words of the text against the first words of the terms; only
            # the small regexes of the terms whose first word occurs are run.
            seen: set[tuple[int, int, int]] = set()
            for group in self._keyed.groups(folded.plain):
                entries = group.entries
                for m in group.rx.finditer(folded.cased if group.cased else folded.folded):
                    key = (m.start(), m.end(), entries[m.lastindex - 1])  # type: ignore[operator]
                    if key not in seen:  # a term can sit in two groups (KYV-101 under kyv and kyv101)
                        seen.add(key)
                        append(_RawHit(*key))
        else:
            for rx, text, groups in (
                (self._rx_folded, folded.folded, self._groups_folded),
                (self._rx_cased, folded.cased, self._groups_cased),
            ):
                if rx is not None:
                    # the leading "\n" is consumed as the character before a term: offsets shift by -1
                    for m in rx.finditer("\n" + text):
                        append(_RawHit(m.start(), m.end() - 1, groups[m.lastindex - 1]))  # type: ignore[operator]
        if self._other_first is not None and not folded.plain.isascii() and self._other_first.search(folded.folded):
            for rx, text, groups in (
                (self._rx_folded_other, folded.folded, self._groups_folded_other),
                (self._rx_cased_other, folded.cased, self._groups_cased_other),
            ):
                if rx is not None:
                    for m in rx.finditer(text):
                        append(_RawHit(m.start(), m.end(), groups[m.lastindex - 1]))  # type: ignore[operator]
        if self._patterns:
            text = folded.cased
            for pattern, literal, entry in self._patterns:
                if literal is not None and literal not in text:
                    continue
                for m in pattern.finditer(text):
                    if m.end() > m.start():
                        append(_RawHit(m.start(), m.end(), entry))
        return hits

    # -- classification --------------------------------------------------------------------

    def _prepare(self, doc: Document) -> tuple[str, list[int]]:
        keys = _boilerplate_keys(doc.boilerplate) if doc.boilerplate else frozenset()
        parts = []
        for name in FIELDS:
            if name == "categories":
                value = "\n".join(html_to_text(c) for c in doc.categories if isinstance(c, str))
            else:
                raw = getattr(doc, name) or ""
                value = html_to_text(raw if isinstance(raw, str) else str(raw))
                if keys and name != "title":
                    value = remove_boilerplate(value, keys)
            parts.append(value.replace("\x00", " "))
        starts = []
        pos = 0
        for part in parts:
            starts.append(pos)
            pos += len(part) + len(FIELD_SEP)
        return FIELD_SEP.join(parts), starts

    def _hits(self, folded: Folded, starts: list[int]) -> list[_Hit]:
        raw = self._scan(folded)
        out: list[_Hit] = []
        for r in raw:
            field_name = FIELDS[bisect_right(starts, r.start) - 1]
            for list_name, term in self._entries[r.entry].owners:
                out.append(_Hit(r.start, r.end, field_name, list_name, term))
        if len(out) > 1:
            # within one list, overlapping hits (e.g. "CAR-T cells" as "CAR T cell*" and as
            # "CAR T") count once: keep the leftmost, longest
            out.sort(key=lambda h: (h.start, -h.end))
            last_end: dict[str, int] = {}
            kept = []
            for h in out:
                if last_end.get(h.term_list, -1) > h.start:
                    continue
                last_end[h.term_list] = h.end
                kept.append(h)
            out = kept
        return out

    def classify(self, doc: Document) -> list[TopicMatch]:
        """The topics ``doc`` belongs to, in topic order. Never raises on odd text."""
        text, starts = self._prepare(doc)
        folded = fold(text)
        hits = self._hits(folded, starts)
        if not hits:
            return []
        by_list: dict[str, list[_Hit]] = {}
        for h in hits:
            by_list.setdefault(h.term_list, []).append(h)
        matched: dict[str, tuple[float, list[_Hit]]] = {}
        for topic in self.topics:
            result = self._match_topic(topic, by_list, folded, starts)
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
        out = []
        cache: dict[int, Hit] = {}
        for topic in self.topics:
            if topic.id in matched:
                score, used = matched[topic.id]
                out.append(TopicMatch(topic.id, round(score, 3), self._public_hits(used, folded, cache), self._labels))
        return out

    def _public_hits(self, used: Iterable[_Hit], folded: Folded, cache: dict[int, Hit]) -> tuple[Hit, ...]:
        seen = set()
        out = []
        for h in sorted(used, key=lambda h: (h.start, h.term_list)):
            key = id(h)
            if key in seen:
                continue
            seen.add(key)
            hit = cache.get(key)
            if hit is None:
                ps, pe = folded.to_plain(h.start, h.end)
                hit = cache[key] = Hit(h.field, h.term_list, h.term, folded.plain[ps:pe])
            out.append(hit)
        return tuple(out)

    def _live_hits(
        self, name: str, by_list: Mapping[str, list[_Hit]], masks: list[tuple[int, int]], depth: int = 0
    ) -> list[_Hit]:
        """Hits of list ``name`` that survive the masks and the list's ``disabled_by``."""
        hits = by_list.get(name)
        if not hits:
            return []
        if masks:
            hits = [h for h in hits if not _masked(h, masks)]
        tl = self.rules.term_lists[name]
        if hits and tl.disabled_by and depth < 3:
            for other in tl.disabled_by:
                if self._live_hits(other, by_list, masks, depth + 1):
                    return []
        return hits

    def _match_topic(
        self, topic: Topic, by_list: Mapping[str, list[_Hit]], folded: Folded, starts: list[int]
    ) -> tuple[float, list[_Hit]] | None:
        if not topic.requirements:
            return None
        masks = sorted((h.start, h.end) for name in topic.ignore for h in by_list.get(name, ()))
        passing = self._passing_spans(topic, by_list, masks, folded, starts)
        weights = topic.field_weights
        total = 0.0
        used: list[_Hit] = []
        for req in topic.requirements:
            score = 0.0
            title_hit = False
            req_hits: list[_Hit] = []
            for ref in req.lists:
                for h in self._live_hits(ref.name, by_list, masks):
                    if h.field not in req.fields:
                        continue
                    w = weights[h.field] * ref.weight
                    if passing and _overlaps(h, passing):
                        score += w * topic.passing_weight  # counts a little; not shown as a reason
                        continue
                    if w > 0:
                        title_hit = title_hit or h.field == "title"
                        score += w
                        req_hits.append(h)
            needed = req.min_score
            if req.rivals and not title_hit:
                for rival in req.rivals:
                    if any(h.field == "title" for h in self._live_hits(rival, by_list, masks)):
                        needed = req.min_score_with_rival_in_title
                        break
            if score < needed or score <= 0:
                return None
            total += score
            used += req_hits
        for name in topic.none_of:
            veto = 0.0
            for h in self._live_hits(name, by_list, masks):
                w = weights[h.field]
                if passing and _overlaps(h, passing):
                    w *= topic.passing_weight
                veto += w
            if veto >= 1.0:
                return None
        return total, used

    def _passing_spans(
        self,
        topic: Topic,
        by_list: Mapping[str, list[_Hit]],
        masks: list[tuple[int, int]],
        folded: Folded,
        starts: list[int],
    ) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        bounds_cache: dict[int, list[int]] = {}
        for name in topic.passing_cues:
            scope = self.rules.term_lists[name].cue_scope
            for h in self._live_hits(name, by_list, masks):
                fi = bisect_right(starts, h.start) - 1
                f_start = starts[fi]
                f_end = starts[fi + 1] - len(FIELD_SEP) if fi + 1 < len(starts) else len(folded.folded)
                if fi not in bounds_cache:
                    bounds_cache[fi] = sentence_bounds(folded.folded, f_start, f_end)
                bounds = bounds_cache[fi]
                k = bisect_right(bounds, h.start) - 1
                s_start = bounds[k]
                if scope == "rest_of_field":
                    s_end = f_end
                else:
                    s_end = bounds[k + 1] if k + 1 < len(bounds) else f_end
                spans.append((s_start, max(s_end, h.end)))
        spans.sort()
        return spans

    # -- highlighting ----------------------------------------------------------------------

    def highlight_spans(self, text: str) -> list[tuple[int, int]]:
        """Sorted, non-overlapping ``(start, end)`` spans in ``text`` (plain text) of every positive
        term of every topic (trap phrases excluded), for wrapping in ``<mark>``."""
        if not text:
            return []
        folded = fold(text.replace("\x00", " "))
        folded = Folded(text, folded.folded, folded.cased, folded._map)
        hits = self._hits(folded, [0])
        if not hits:
            return []
        by_list: dict[str, list[_Hit]] = {}
        for h in hits:
            by_list.setdefault(h.term_list, []).append(h)
        masks = sorted((h.start, h.end) for name in self._all_ignore for h in by_list.get(name, ()))
        spans = []
        for name in self._positive_lists:
            for h in self._live_hits(name, by_list, masks):
                spans.append(folded.to_plain(h.start, h.end))
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


_FIRST4 = operator.itemgetter(slice(0, 4))
_FIRSTK = operator.itemgetter(slice(0, 7))
_PUNCT_TO_SPACE = bytes.maketrans(
    bytes(range(0, 33)) + string.punctuation.encode("ascii") + b"\x7f",
    b" " * (33 + len(string.punctuation) + 1),
)


def _anchor_tokens(term: str) -> list[str]:
    """The words of a folded term as the prefilter sees text: split at spaces and punctuation."""
    return term.translate({ord(c): " " for c in string.punctuation if c != "*"}).split()


_K = 7  # prefix length of the prefilter's keys


def _anchor_keys(term: str, match_case: bool) -> tuple[int, set[str]] | None:
    """The prefilter keys of a term: its first word (as the prefilter splits text) cut to ``_K``
    letters, or to 4 for short wildcard words ("tumor*"). None: no key can be guaranteed."""
    folded = fold_term(term.strip(), casefold=not match_case)
    if not folded.isascii():
        return None
    words = _anchor_tokens(folded)
    if not words:
        return None
    first = words[0]
    wild = first.endswith("*")
    first = first.rstrip("*")
    if not first:
        return None
    if wild and len(first) < _K:
        return (4, {first[:4]}) if len(first) >= 4 else None
    variants = {first}
    if len(words) == 1:
        variants |= {first + "s", first + "es"}  # plurals
    elif first[-1].isdigit() != words[1][0].isdigit():
        variants.add(first + words[1].rstrip("*"))  # "KYV-101" also as "KYV101"
    return _K, {v[:_K] for v in variants}


class _Group:
    """The terms sharing one prefilter key, compiled to one small regex that starts with their
    common literal prefix (so the regex engine can jump straight to it)."""

    __slots__ = ("rx", "entries", "cased")

    def __init__(self, items: list[tuple[tuple[str, ...], int]], cased: bool) -> None:
        self.cased = cased
        prefix: list[str] = []
        for column in zip(*(atoms for atoms, _ in items), strict=False):
            atom = column[0]
            if any(a != atom for a in column) or not _is_literal_atom(atom):
                break
            prefix.append(atom)
        # keep at least one atom to continue with, so that terms equal to the prefix still end
        # with their boundary check
        while prefix and any(len(atoms) <= len(prefix) for atoms, _ in items):
            prefix.pop()
        lit = "".join(prefix)
        trie: dict[str, Any] = {}
        for atoms, entry in items:
            _insert(trie, atoms[len(prefix) :], entry)
        self.entries: list[int] = []
        body = _emit(trie, self.entries)
        word_start = starts_with_word_char(items[0][0])
        if lit and word_start:
            # literal first (fast search), then "not preceded by a word character"
            pattern = f"{lit}(?<!{WORD_CHAR}{lit})" + body
        elif word_start:
            pattern = f"(?<!{WORD_CHAR})" + body
        else:
            pattern = lit + body
        self.rx = re.compile(pattern)


def _is_literal_atom(atom: str) -> bool:
    return len(atom) == 1 or (len(atom) == 2 and atom[0] == "\\")


class _Keyed:
    """Prefilter keys → term groups, for ASCII text (all of it in C up to the few keys found)."""

    def __init__(self, key_items: Mapping[tuple[bool, int, str], list[tuple[tuple[str, ...], int]]]) -> None:
        cache: dict[tuple[bool, frozenset[int]], _Group] = {}
        self.keys: dict[tuple[bool, int], dict[bytes, _Group]] = {(c, k): {} for c in (False, True) for k in (4, _K)}
        for (cased, k, key), items in key_items.items():
            ident = (cased, frozenset(e for _, e in items))
            if ident not in cache:
                cache[ident] = _Group(items, cased)
            self.keys[(cased, k)][key.encode("ascii")] = cache[ident]
        self.sets = {ck: frozenset(d) for ck, d in self.keys.items()}
        self.has_short = bool(self.sets[(False, 4)] or self.sets[(True, 4)])

    def groups(self, plain: str) -> set[_Group]:
        words = plain.encode("ascii").translate(_PUNCT_TO_SPACE).split()
        out: set[_Group] = set()
        long = set(map(_FIRSTK, words))
        for cased, prefixes in ((True, long), (False, set(map(bytes.lower, long)))):
            table = self.keys[(cased, _K)]
            for key in self.sets[(cased, _K)].intersection(prefixes):
                out.add(table[key])
        if self.has_short:
            short = set(map(_FIRST4, words))
            for cased, prefixes in ((True, short), (False, set(map(bytes.lower, short)))):
                table = self.keys[(cased, 4)]
                for key in self.sets[(cased, 4)].intersection(prefixes):
                    out.add(table[key])
        return out


def _keyed(rules: RuleSet, items: Mapping[str, list[tuple[tuple[str, ...], int]]]) -> _Keyed | None:
    """Group the terms by prefilter key; None if some term cannot be keyed (then the big regexes run)."""
    entry_of = {(mode == "cased", atoms): entry for mode, lst in items.items() for atoms, entry in lst}
    key_items: dict[tuple[bool, int, str], list[tuple[tuple[str, ...], int]]] = {}
    for tl in rules.term_lists.values():
        for match_case, terms in ((False, tl.terms), (True, tl.exact_case_terms)):
            for term in terms:
                if any(is_cjk(c) for c in term):
                    continue  # never matches ASCII text, which is where this runs
                found = _anchor_keys(term, match_case)
                if found is None:
                    return None
                k, variants = found
                atoms = term_atoms(term, match_case)
                item = (atoms, entry_of[(match_case, atoms)])
                for v in variants:
                    lst = key_items.setdefault((match_case, k, v), [])
                    if item not in lst:
                        lst.append(item)
    return _Keyed(key_items)


def _masked(h: _Hit, masks: list[tuple[int, int]]) -> bool:
    """A trap span hides a hit it overlaps, unless the hit is longer and contains it
    ("BMS-986353" is not hidden by the trap "MS-98...")."""
    for s, e in masks:
        if s >= h.end:
            return False
        if e > h.start and not (h.start <= s and e <= h.end and e - s < h.end - h.start):
            return True
    return False


def _overlaps(h: _Hit, spans: list[tuple[int, int]]) -> bool:
    for s, e in spans:
        if s >= h.end:
            return False
        if e > h.start:
            return True
    return False


@functools.lru_cache(maxsize=256)
def _boilerplate_keys(sentences: frozenset[str]) -> frozenset[str]:
    keys = set()
    for s in sentences:
        if isinstance(s, str):
            keys.add(normalise_sentence(html_to_text(s)))
    keys.discard("")
    return frozenset(keys)


def load_topics(config: Mapping[str, Any]) -> TopicSet:
    """Validate and compile ``{"term_lists": {...}, "topics": [...]}``; raises ``TopicConfigError``."""
    rules = parse_config(config)
    try:
        return TopicSet(rules)
    except re.error as exc:  # pragma: no cover - terms are escaped; would be a bug in the compiler
        raise TopicConfigError(f"topic rules: could not compile the term lists: {exc}") from exc
