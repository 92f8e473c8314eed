"""Which terms could occur in a text: one Aho-Corasick pass (compiled code), before any regex runs.

Most items of most feeds are about something else, so the classifier's cost is mostly the cost of
finding out that nothing matches. Every term is indexed under the beginning of the first word it starts
with (up to 7 letters: ``multipl`` for "multiple sclerosis", ``car`` for "CAR T"); the terms sharing
one such key form a *group*, compiled to one small regex that starts with their common literal text.
For an item, the text is lower-cased with every character that is not an ASCII letter or digit turned
into a space, and one pass of an Aho-Corasick automaton (ahocorasick-rs, a DFA in Rust) finds every place
where a key stands, as a whole word (``" car "``) or a word start (``" multipl"``). Only there does a
group's regex run, anchored (``Pattern.match`` at that offset), with the real rules (case, separators,
plurals, boundaries). An item with no key of the terms some requirement of every topic needs (the
*gate*, see ``match.py``) is done after that one pass.

The prefilter may let through a group that does not match (``cars`` for the terms of ``car``, or the
lower-cased ``ms`` for the exact-case ``MS``): the group's regex decides. It must never drop a group
that could match; ``tests/test_topics_prefilter.py`` checks it against the full-regex scan on the
evaluation set and on generated text.

It covers every term whose first word can be written in ASCII (after folding, which drops accents), in
any text: a character outside ASCII counts as a boundary there (more candidates, never fewer). The other terms
(Chinese ones, say) are scanned for with regexes over the whole text, and only in text that could hold
them (``match.py``).
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ahocorasick_rs

from .rules import WORD_CHAR, is_cjk, starts_with_word_char
from .text import Folded, fold_term

__all__ = ["Group", "ItemScan", "Prefilter", "Unkeyed", "build_prefilter", "insert_term", "emit_trie"]

_TERMINAL = ""  # trie key for "a term ends here"
_ASCII_WORD_CHAR = "[0-9A-Za-z_]"  # WORD_CHAR on ASCII text (where the CJK it leaves out cannot occur)

# Every ASCII character that is not a letter or digit becomes a space, and A-Z become a-z: the text's words
# are then exactly the runs between spaces, and " car " finds "car" as a whole word, in folded and in cased
# text alike. (A bytes table: bytes.translate is several times faster than str.translate with a mapping.)
_SPACED_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if c < 128 and chr(c).isalnum() else 32 for c in range(256)
)
_TERM_SPLIT = str.maketrans({c: " " for c in string.punctuation if c != "*"})


def insert_term(trie: dict[str, Any], atoms: Sequence[str], entry: int) -> None:
    node = trie
    for atom in atoms:
        node = node.setdefault(atom, {})
    node.setdefault(_TERMINAL, entry)  # identical atoms: the first entry (the caller merges owners)


def _depth(node: dict[str, Any]) -> int:
    return max((1 + _depth(child) for key, child in node.items() if key != _TERMINAL), default=0)


def emit_trie(node: dict[str, Any], group_entries: list[int]) -> str:
    """Regex for a trie node; longer continuations are tried before a term ends here.

    Every term ends in an empty capture group, numbered in emission order, so ``m.lastindex`` names
    the term that matched (``group_entries[m.lastindex - 1]``).
    """
    children = sorted(((k, v) for k, v in node.items() if k != _TERMINAL), key=lambda kv: -_depth(kv[1]))
    alts = [atom + emit_trie(child, group_entries) for atom, child in children]
    if _TERMINAL in node:
        group_entries.append(node[_TERMINAL])
        alts.append("()")
    if len(alts) == 1:
        return alts[0]
    return "(?:" + "|".join(alts) + ")"


def _is_literal_atom(atom: str) -> bool:
    return len(atom) == 1 or (len(atom) == 2 and atom[0] == "\\")


class Group:
    """The terms sharing one group key (the beginning of their first word), compiled to one regex (a trie)
    that starts with their common literal prefix; it is run anchored where the automaton found the key."""

    __slots__ = ("pattern", "_rx", "_rx_any_case", "entries", "cased", "lists", "word_start")

    def __init__(self, items: list[tuple[tuple[str, ...], int]], cased: bool, lists: frozenset[str]) -> None:
        self.cased = cased
        self.lists = lists  # the term lists holding the group's terms
        prefix: list[str] = []
        for column in zip(*(atoms for atoms, _ in items), strict=False):
            atom = column[0]
            if any(a != atom for a in column) or not _is_literal_atom(atom):
                break
            prefix.append(atom)
        # keep at least one atom to continue with, so that terms equal to the prefix still end with
        # their boundary check
        while prefix and any(len(atoms) <= len(prefix) for atoms, _ in items):
            prefix.pop()
        literal = "".join(prefix)
        trie: dict[str, Any] = {}
        for atoms, entry in items:
            insert_term(trie, atoms[len(prefix) :], entry)
        self.entries: list[int] = []
        body = emit_trie(trie, self.entries)
        word_starts = {starts_with_word_char(atoms) for atoms, _ in items}
        self.word_start = word_starts == {True}
        if self.word_start:
            # the literal first (a fast search), then "not preceded by a word character"
            pattern = f"{literal}(?<!{WORD_CHAR}{literal})" + body if literal else f"(?<!{WORD_CHAR})" + body
        elif word_starts == {False}:
            pattern = literal + body
        else:  # terms with and without a leading word character: each keeps its own boundary check
            longest_first = sorted(items, key=lambda item: -len(item[0]))
            pattern = "(?:" + "|".join(
                (f"(?<!{WORD_CHAR})" if starts_with_word_char(atoms) else "") + "".join(atoms) + "()"
                for atoms, _ in longest_first
            ) + ")"
            self.entries = [entry for _, entry in longest_first]
        # Compiled when first needed (``rx``, ``rx_any_case``): a text of one language reaches few of the
        # hundreds of groups, and compiling them all took most of the start-up of every `flask` command
        # (docs/benchmark.md, finding 8).
        self.pattern = pattern
        self._rx: re.Pattern[str] | None = None
        self._rx_any_case: re.Pattern[str] | None = None

    @property
    def rx(self) -> re.Pattern[str]:
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(self.pattern)
        return rx

    @property
    def rx_any_case(self) -> re.Pattern[str]:
        """The same terms, case ignored, for ASCII text matched as it is (``Folded.lower_of_cased``): for ASCII,
        ignoring case is the same as lower-casing the text first.

        Its word-boundary class is the ASCII one: on ASCII text, a non-CJK word character is a letter, a digit or
        "_", and nothing else; Python's compiler visits every code point of the full class's CJK ranges (and
        case-folds each when ignoring case), 5-15 ms per class, several classes per group."""
        if self.cased:
            return self.rx
        rx = self._rx_any_case
        if rx is None:
            rx = self._rx_any_case = re.compile(self.pattern.replace(WORD_CHAR, _ASCII_WORD_CHAR), re.IGNORECASE)
        return rx


_K = 7  # a group's key: the first word of its terms, cut to this many letters


def _term_keys(term: str, match_case: bool) -> list[tuple[str, str]] | None:
    """Where a term sits: ``(group key, automaton key)`` pairs; None: it cannot be keyed.

    A group key is a way the term's first word can be written (folded, as the prefilter splits text),
    cut to ``_K`` letters, or to 4 for a short wildcard word ("tumo" for ``tumor*``): the terms that
    can start with one text word share a group, where the longest of them wins. Its automaton key
    finds exactly that word: whole (``" car "``, and the plurals ``" cars "`` of a one-word term), a
    wildcard word's stem as a word start (``" lymphom"``), or the first word joined to the next
    when one ends in a letter and the other starts with a digit or the other way round ("KYV-101" is
    also written ``" kyv101"``).
    """
    folded = fold_term(term.strip(), casefold=not match_case)
    if not folded.isascii():
        return None
    words = folded.translate(_TERM_SPLIT).split()
    if not words:
        return None
    first = words[0]
    wild = first.endswith("*")
    first = first.rstrip("*")
    if not first or "*" in first:
        return None
    if wild:
        if len(first) < 4:
            return None
        return [(first[:4] if len(first) < _K else first[:_K], " " + first.lower())]
    pairs = [(first[:_K], " " + first.lower() + " ")]
    if len(words) == 1:
        pairs += [((first + ending)[:_K], " " + (first + ending).lower() + " ") for ending in ("s", "es")]  # plurals
    elif first[-1].isdigit() != words[1][0].isdigit():
        joined = first + words[1].split("*")[0]  # "KYV-101" also as "KYV101"
        pairs.append((joined[:_K], " " + joined.lower()))
    return pairs


def _spaced(text: str) -> bytes:
    """``text`` as the automaton reads it: lower-case ASCII bytes, every character outside ASCII "?" and then,
    as every other one that is not a letter or digit, a space (a boundary even where it is a letter of another
    script, which only adds candidates: the groups' regexes still see the real text); a space at each end."""
    return b" " + text.encode("ascii", "replace").translate(_SPACED_TABLE) + b" "


_GROUP_ID = operator.itemgetter(1)


class Prefilter:
    """Term groups, and the automaton that finds in one pass where each group's terms could start.

    With ``rounds`` (``rounds[gid]``: the round of an ``ItemScan`` in which a group's regex runs), the groups of
    rounds ``late`` and after are looked for by a second automaton, and only in a text whose scan gets to one of
    those rounds: the classifier's context and cue lists hold the commonest words ("in", "was", "patients"), whose
    places were most of the automaton's work (docs/benchmark.md, finding 10).
    """

    def __init__(
        self, groups: list[Group], keys: Mapping[str, set[int]], rounds: list[int] | None = None, late: int = 1
    ) -> None:
        self.groups = groups
        self.keys = sorted(keys)
        self._groups_of_key = [tuple(sorted(keys[key])) for key in self.keys]
        self._automaton = self._build_automaton(self.keys)
        # groups whose terms start with punctuation: found by a search over the text, not at word starts
        self._unanchored = frozenset(i for i, group in enumerate(groups) if not group.word_start)
        entries_seen: set[int] = set()
        self._shared_terms = False  # some term sits in two groups: its hits must be de-duplicated
        for group in groups:
            self._shared_terms = self._shared_terms or not entries_seen.isdisjoint(group.entries)
            entries_seen.update(group.entries)
        # what the hot loop needs of each group, unpacked once: the bound ``match`` of its regex, filled in
        # by ``_matcher`` the first time the group is a candidate (None until then)
        self._matchers: list[tuple[Any, bool, list[int]] | None] = [
            (None, group.cased, group.entries) if group.word_start else None for group in groups
        ]
        # the same for ASCII text matched as it is, case-insensitive groups ignoring case
        self._matchers_any_case: list[tuple[Any, bool, list[int]] | None] = [
            (None, group.cased, group.entries) if group.word_start else None for group in groups
        ]
        self._rounds = rounds
        self._late = late
        self._early_automaton: Any = None
        self._late_automaton: Any = None
        self._early_groups_of_key: list[tuple[int, ...]] = []
        self._late_groups_of_key: list[tuple[int, ...]] = []
        if rounds is not None:
            # Unanchored groups stay with the early automaton: a scan then knows them all from the start, in the
            # order of a whole scan (``ItemScan``).
            is_late = [r >= late and i not in self._unanchored for i, r in enumerate(rounds)]
            for want_late in (False, True):
                part = {}
                for key, gids in zip(self.keys, self._groups_of_key, strict=True):
                    mine = tuple(gid for gid in gids if is_late[gid] == want_late)
                    if mine:
                        part[key] = mine
                automaton = self._build_automaton(list(part)) if part else None
                if want_late:
                    self._late_automaton, self._late_groups_of_key = automaton, list(part.values())
                else:
                    self._early_automaton, self._early_groups_of_key = automaton, list(part.values())

    def _matcher(self, gid: int, any_case: bool) -> tuple[Any, bool, list[int]]:
        """The group's regex, compiled now that it is needed, put in place for the next texts."""
        group = self.groups[gid]
        rx = group.rx_any_case if any_case else group.rx
        matcher = (rx.match, group.cased, group.entries)
        # A list item is replaced atomically: two threads compiling the same group at once both store the same.
        (self._matchers_any_case if any_case else self._matchers)[gid] = matcher
        return matcher

    @staticmethod
    def _build_automaton(keys: list[str]) -> Any:
        # A DFA: the fastest of the crate's automata to run, and small enough with a few hundred keys. Every key
        # starts with a space, so the crate would use its start-byte prefilter: a memchr for the next space, which
        # in prose is a few bytes away, and the DFA from there. Four keys that cannot occur (the automaton's text
        # has no upper-case letters: ``_spaced``) turn that prefilter off; the same matches, a third faster.
        # They come after the real keys, so a match's key index is still an index into ``keys``.
        return ahocorasick_rs.BytesAhoCorasick(
            [key.encode("ascii") for key in keys] + [b"A", b"B", b"C", b"D"],
            implementation=ahocorasick_rs.Implementation.DFA,
        )

    # The automaton cannot be pickled: a copy (a worker process started by "spawn", say) is built again from
    # the groups and keys, automaton included.
    def __reduce__(
        self,
    ) -> tuple[type[Prefilter], tuple[list[Group], dict[str, set[int]], list[int] | None, int]]:
        keys = {key: set(ids) for key, ids in zip(self.keys, self._groups_of_key, strict=True)}
        return Prefilter, (self.groups, keys, self._rounds, self._late)

    def candidates(self, folded: str, cased_text: str | None = None) -> list[tuple[int, int]]:
        """``(word start, group id)`` for every place in ``folded`` (lower-cased) where a term of the
        group could start; the group's regex decides whether one does. With ``cased_text`` (whose word
        boundaries can differ from those of ``folded`` where a character folds to several: "ß" is "ss"
        in one and "ß" plus padding in the other), the places found in either."""
        spaced = [_spaced(folded)] if cased_text is None else [_spaced(folded), _spaced(cased_text)]
        return _places(self._automaton, self._groups_of_key, spaced)

    def _candidates(self, spaced: bytes) -> list[tuple[int, int]]:
        return _places(self._automaton, self._groups_of_key, [spaced])

    def find(self, text: Folded, gate: frozenset[int] | None = None) -> list[tuple[int, int, int]]:
        """Every hit ``(start, end, entry)`` of a keyed term in ``text``, leftmost-longest per group.

        With ``gate``, nothing is returned (and no regex runs) unless one of those groups could match.
        """
        scan = self.scan(text, gate)
        if scan is None:
            return []
        scan.run(None)
        return scan.hits()

    def scan(self, text: Folded, gate: frozenset[int] | None = None, in_rounds: bool = False) -> ItemScan | None:
        """The places in ``text`` where a group's terms could start, their regexes not run yet (``ItemScan.run``);
        None when there is none, or, with ``gate``, none of a group of ``gate``. ``in_rounds`` (with ``rounds``):
        the late groups' places are looked for when a round needs them; ``gate`` must then hold early groups
        only."""
        cased_text = text.cased
        any_case = text.lower_of_cased  # ASCII: every group runs on the cased text (no lower-cased copy)
        if any_case:
            spaced = [_spaced(cased_text)]
        elif text.same_offsets:
            spaced = [_spaced(text.folded)]
        else:  # some character folded to several: word boundaries can differ between the two foldings
            spaced = [_spaced(text.folded), _spaced(cased_text)]
        in_rounds = in_rounds and self._rounds is not None
        if in_rounds:
            candidates = (
                _places(self._early_automaton, self._early_groups_of_key, spaced)
                if self._early_automaton is not None
                else []
            )
        else:
            candidates = _places(self._automaton, self._groups_of_key, spaced)
        if not candidates and (not in_rounds or gate is not None):
            return None  # (without a gate, the late groups may still have places)
        if gate is not None and gate.isdisjoint(map(_GROUP_ID, candidates)):
            return None
        return ItemScan(self, text, any_case, candidates, spaced if in_rounds else None)

    def in_rounds(self, rounds: list[int], late: int) -> Prefilter:
        """The same groups and keys, with ``rounds`` and ``late`` (see the class)."""
        keys = {key: set(ids) for key, ids in zip(self.keys, self._groups_of_key, strict=True)}
        return Prefilter(self.groups, keys, rounds, late)

    def groups_holding(self, lists: Iterable[str]) -> frozenset[int]:
        """Ids of the groups with a term of one of ``lists``."""
        wanted = frozenset(lists)
        return frozenset(i for i, group in enumerate(self.groups) if group.lists & wanted)


def _places(automaton: Any, groups_of_key: list[tuple[int, ...]], spaced: list[bytes]) -> list[tuple[int, int]]:
    """``(start, group id)`` of every key of ``automaton`` in the spaced texts, sorted (and de-duplicated when
    there are two texts)."""
    # the key " car " starts at `start` in the spaced text, whose extra leading space makes `start` the
    # word's offset in the text itself
    found = [
        (start, gid)
        for key, start, _end in automaton.find_matches_as_indexes(spaced[0], overlapping=True)
        for gid in groups_of_key[key]
    ]
    if len(spaced) > 1:
        other = [
            (start, gid)
            for key, start, _end in automaton.find_matches_as_indexes(spaced[1], overlapping=True)
            for gid in groups_of_key[key]
        ]
        found = list(set(found).union(other))
    found.sort()
    return found


class ItemScan:
    """One text's candidates (``Prefilter.scan``), whose groups' regexes run in rounds: the classifier first runs
    the groups its requirements need, and the others only if the item gets that far (``match.py``).

    ``hits()`` gives what ``Prefilter.find`` gives, restricted to the groups run so far, in the same order: the
    candidates' hits in candidate order, then the unanchored groups' in the order the whole scan takes them.
    A group's hits never depend on another group's, so a term list whose groups have all run has exactly the hits
    a whole scan gives it. The places of the late groups (``Prefilter``) are looked for with the first round that
    runs one of them, and merged into the candidates in order.
    """

    __slots__ = (
        "_prefilter", "_text", "_any_case", "_candidates", "_found", "_unanchored", "_unanchored_hits", "_spaced",
        "_rounds_run",
    )

    def __init__(
        self,
        prefilter: Prefilter,
        text: Folded,
        any_case: bool,
        candidates: list[tuple[int, int]],
        spaced: list[bytes] | None,
    ) -> None:
        self._prefilter = prefilter
        self._text = text
        self._any_case = any_case
        self._candidates = candidates
        self._found: list[tuple[int, int, int] | None] = [None] * len(candidates)
        # the groups searched over the whole text, in the order a whole scan takes them (the same set expression
        # over the same sequence of their ids: the late automaton holds none of them)
        self._unanchored: list[int] = (
            list(prefilter._unanchored.intersection(gid for _, gid in candidates)) if prefilter._unanchored else []
        )
        self._unanchored_hits: dict[int, list[tuple[int, int, int]]] = {}
        self._spaced = spaced  # the automaton's texts, until the late groups' places are looked for
        self._rounds_run = 0  # a bit per round already run (``run``)

    def _add_late_places(self) -> None:
        spaced = self._spaced
        self._spaced = None
        prefilter = self._prefilter
        if spaced is None or prefilter._late_automaton is None:
            return
        late = _places(prefilter._late_automaton, prefilter._late_groups_of_key, spaced)
        if not late:
            return
        # (start, group id) order, as one sort of all of them gives (the two automata's groups differ, so no place
        # is in both): a merge of the two sorted lists
        early = self._candidates
        early_found = self._found
        candidates: list[tuple[int, int]] = []
        found: list[tuple[int, int, int] | None] = []
        i = 0
        count = len(early)
        for place in late:
            while i < count and early[i] < place:
                candidates.append(early[i])
                found.append(early_found[i])
                i += 1
            candidates.append(place)
            found.append(None)
        candidates.extend(early[i:])
        found.extend(early_found[i:])
        self._candidates = candidates
        self._found = found

    def run(self, round_: int | None) -> None:
        """Run the regexes of the candidates of the groups of round ``round_`` (None: of every group). Each round
        runs once: asked again (the classifier's first tier, then ``_ItemState.extend`` up to it), it is not run
        again; its hits are those found the first time."""
        if round_ is not None:
            bit = 1 << round_
            if self._rounds_run & bit:
                return
            self._rounds_run |= bit
        prefilter = self._prefilter
        rounds = prefilter._rounds
        if self._spaced is not None and (round_ is None or round_ >= prefilter._late):
            self._add_late_places()
        text = self._text
        cased_text = text.cased
        any_case = self._any_case
        # ASCII: every group's regex runs on the cased text itself, case-insensitive ones ignoring case
        matchers, folded = (
            (prefilter._matchers_any_case, cased_text) if any_case else (prefilter._matchers, text.folded)
        )
        found = self._found
        last_end: dict[int, int] = {}
        index = -1
        every = round_ is None or rounds is None
        for start, gid in self._candidates:
            index += 1
            if not every and rounds[gid] != round_:  # type: ignore[index]
                continue
            if last_end.get(gid, -1) > start:
                continue  # inside this group's previous hit: as finditer, no overlapping hits per group
            matcher = matchers[gid]
            if matcher is None:
                continue  # unanchored: searched below
            match, cased, entries = matcher
            if match is None:
                match, cased, entries = prefilter._matcher(gid, any_case)
            m = match(cased_text if cased else folded, start)
            if m is not None:
                end = last_end[gid] = m.end()
                found[index] = (start, end, entries[m.lastindex - 1])
        for gid in self._unanchored:
            if not every and rounds[gid] != round_:  # type: ignore[index]
                continue
            group = prefilter.groups[gid]
            self._unanchored_hits[gid] = [
                (m.start(), m.end(), group.entries[m.lastindex - 1])  # type: ignore[operator]
                for m in group.rx.finditer(cased_text if group.cased else text.folded)
            ]

    def hits(self) -> list[tuple[int, int, int]]:
        """Every hit ``(start, end, entry)`` of the groups run so far (see the class)."""
        hits = [hit for hit in self._found if hit is not None]
        for gid in self._unanchored:
            found = self._unanchored_hits.get(gid)
            if found:
                hits.extend(found)
        if self._prefilter._shared_terms and len(hits) > 1:
            hits = list(dict.fromkeys(hits))  # a term in two groups (KYV-101 under kyv and kyv101) counts once
        return hits


Unkeyed = tuple[tuple[str, ...], int, bool, bool]  # atoms, entry, match case, whether it can match ASCII text


def build_prefilter(
    terms: Iterable[tuple[str, str, bool, tuple[str, ...], int]],
) -> tuple[Prefilter | None, list[Unkeyed]]:
    """Group ``(list name, term, match_case, atoms, entry)`` by the beginning of their first word.

    Also returns the terms that cannot be keyed (Chinese terms, a wildcard word of fewer than four
    letters, a word in another script): the classifier scans for those with regexes over the whole text.
    The prefilter is None when no term can be keyed.
    """
    members: dict[tuple[bool, str], list[tuple[tuple[str, ...], int]]] = {}
    lists: dict[tuple[bool, str], set[str]] = {}
    automaton_keys: dict[tuple[bool, str], set[str]] = {}
    unkeyed: dict[tuple[tuple[str, ...], bool], Unkeyed] = {}
    for list_name, term, match_case, atoms, entry in terms:
        found = None if any(is_cjk(c) for c in term) else _term_keys(term, match_case)
        if found is None:
            can_be_ascii = fold_term(term, casefold=not match_case).isascii()
            unkeyed.setdefault((atoms, match_case), (atoms, entry, match_case, can_be_ascii))
            continue
        for group_key, automaton_key in found:
            ident = (match_case, group_key)
            items = members.setdefault(ident, [])
            if (atoms, entry) not in items:
                items.append((atoms, entry))
            lists.setdefault(ident, set()).add(list_name)
            automaton_keys.setdefault(ident, set()).add(automaton_key)
    if not members:
        return None, list(unkeyed.values())
    groups: list[Group] = []
    keys_to_groups: dict[str, set[int]] = {}
    for ident, items in members.items():
        groups.append(Group(items, cased=ident[0], lists=frozenset(lists[ident])))
        for key in automaton_keys[ident]:
            keys_to_groups.setdefault(key, set()).add(len(groups) - 1)
    return Prefilter(groups, keys_to_groups), list(unkeyed.values())
