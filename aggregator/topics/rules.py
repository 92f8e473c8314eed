"""Topic rules as data: term lists and topics, loaded from an already-parsed YAML mapping.

Schema (the same keys sit at the top level of ``feeds.yaml`` beside ``sources:``)::

    term_lists:
      <list name>:
        label: CAR T                 # shown to readers in explanations (default: the name)
        description: free text       # optional, for the people editing the file
        terms: [chimeric antigen receptor, CAR T cell*]   # any case
        exact_case_terms: [CAR T, MS]                      # case matters (MS is not ms, milliseconds)
        patterns: ['MS-\\d+']        # advanced: raw regular expressions, case-sensitive unless (?i)
        disabled_by: [other list]    # this list counts for nothing in an item where that list matches
        requires: [context lists]    # this list counts only in an item where one of those lists matches
        misspellings: true           # also match its long words (8+ letters) misspelt by one letter
        cue_scope: sentence          # for cue lists only: the scope they downweight
                                     #   (sentence | line | rest_of_field)
        cue_weight: 0                # for cue lists only: what a term in their scope weighs (default:
                                     #   the topic's passing_weight)
    topics:
      - id: car-t-ms
        name: CAR T for multiple sclerosis
        description: ...
        all_of:                      # every requirement must hold; a bare name = any_of: [name]
          - any_of: [car_t, car_t_products]
            rivals: [other_therapies]   # optional, see "scoring" in match.py
          - ms
        any_of: [...]                # shorthand for a single requirement
        none_of: [automotive]        # the topic is rejected if one of these lists is a subject
        ignore: [ms_traps]           # trap phrases: terms inside their spans do not count
        passing_cues: [passing_mention]   # sentences that only mention terms in passing
        implied_by: [car-t-ms]       # this topic also matches whenever that one does
        field_weights: {title: 3, categories: 1.5, summary: 1, content: 0.5}
        passing_weight: 0.25
        crowded:                     # a sentence naming this many distinct terms of these lists (a list of
          lists: [ms, oncology]      #   diseases, a pipeline) is a passing mention of each of them
          min_terms: 4
        min_score: 1                 # per requirement; see match.py

Term syntax (for ``terms`` and ``exact_case_terms``):

- Words separated by a space or a hyphen match any run of spaces and hyphen-like dashes
  (``CAR T`` = ``CAR-T`` = ``CAR‑T`` = ``CAR – T``); between a letter and a digit the separator is
  optional (``KYV-101`` = ``KYV101``).
- Terms match whole words only; a final ``s``/``es`` (plural) is allowed. ``*`` at the end of a
  word matches any word ending (``sclérose*``, ``Autoimmun*``).
- Accents are ignored (``multiple`` = ``múltiple``); text is NFKC-normalised, HTML is stripped.
- Terms in CJK scripts (Chinese, Japanese, Korean) match as substrings: those scripts have no spaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .text import fold_term

__all__ = [
    "FIELDS",
    "DEFAULT_FIELD_WEIGHTS",
    "TopicConfigError",
    "TermList",
    "ListRef",
    "Requirement",
    "Topic",
    "RuleSet",
    "parse_config",
    "term_atoms",
    "is_cjk",
    "literal_anchor",
    "misspellings",
]

FIELDS = ("title", "summary", "content", "categories")
DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {"title": 3.0, "categories": 1.5, "summary": 1.0, "content": 0.5}
CUE_SCOPES = ("sentence", "line", "rest_of_field")
MISSPELT_MIN_LETTERS = 8  # shorter words (and abbreviations) are never matched misspelt
_VOWELS = "aeiouy"


class TopicConfigError(ValueError):
    """The topic rules are invalid; the message names the topic or term list and the problem."""


@dataclass(frozen=True)
class TermList:
    name: str
    label: str
    description: str
    terms: tuple[str, ...]
    exact_case_terms: tuple[str, ...]
    patterns: tuple[str, ...]
    disabled_by: tuple[str, ...] = ()
    cue_scope: str = "sentence"
    requires: tuple[str, ...] = ()
    misspellings: bool = False
    cue_weight: float | None = None


@dataclass(frozen=True)
class ListRef:
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class Requirement:
    """One requirement of a topic: the summed weight of hits of ``lists`` must reach ``min_score``."""

    lists: tuple[ListRef, ...]
    fields: tuple[str, ...] = FIELDS
    min_score: float = 1.0
    rivals: tuple[str, ...] = ()
    min_score_with_rival_in_title: float = 2.0

    @property
    def list_names(self) -> tuple[str, ...]:
        return tuple(ref.name for ref in self.lists)


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    description: str
    requirements: tuple[Requirement, ...]
    none_of: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    passing_cues: tuple[str, ...] = ()
    implied_by: tuple[str, ...] = ()
    field_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    passing_weight: float = 0.25
    crowded_lists: tuple[str, ...] = ()
    crowded_min_terms: int = 4


@dataclass(frozen=True)
class RuleSet:
    term_lists: Mapping[str, TermList]
    topics: tuple[Topic, ...]


# --- term syntax --------------------------------------------------------------------------

_CJK_RANGES = (
    (0x2E80, 0x9FFF),  # CJK radicals, kana, CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana
    (0x20000, 0x2FA1F),
)
CJK_CLASS = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
# A "word character" for boundaries: a letter, digit or underscore that is not CJK.
WORD_CLASS_BODY = rf"\W{CJK_CLASS}"  # negated: [^...] is a non-CJK word character
WORD_CHAR = rf"[^{WORD_CLASS_BODY}]"
SEP = r"[\s\-]{1,3}"
OPT_SEP = r"[\s\-]{0,3}"
WILD = r"\w*"
PLURAL = r"(?:e?s)?"
END = rf"(?!{WORD_CHAR})"


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _CJK_RANGES)


def _is_wordish(ch: str) -> bool:
    return (ch.isalnum() or ch == "_") and not is_cjk(ch)


def term_atoms(term: str, match_case: bool) -> tuple[str, ...]:
    """Compile one term to a tuple of regex atoms (a literal char, a separator, a wildcard...).

    Atoms are the alphabet of the trie built in match.py; the regex of a term is ``"".join(atoms)``
    preceded by a word-boundary look-behind when it starts with a word character.
    """
    folded = fold_term(term.strip(), casefold=not match_case)
    folded = re.sub(r"[\s\-]+", " ", folded).strip(" ")
    if not folded:
        raise ValueError("empty term")
    if folded[0] == "*":
        raise ValueError("a term cannot start with '*'")
    atoms: list[str] = []
    i = 0
    n = len(folded)
    while i < n:
        ch = folded[i]
        if ch == " ":
            prev = folded[i - 1]
            nxt = folded[i + 1] if i + 1 < n else ""
            optional = (prev.isdigit() and nxt.isalpha()) or (prev.isalpha() and nxt.isdigit())
            atoms.append(OPT_SEP if optional else SEP)
        elif ch == "*":
            atoms.append(WILD)
        else:
            atoms.append(re.escape(ch))
        i += 1
    last = folded[-1]
    if last == "*":
        atoms.append(END)
    elif _is_wordish(last):
        if last.isalpha():
            atoms.append(PLURAL)
        atoms.append(END)
    return tuple(atoms)


def misspellings(term: str) -> list[str]:
    """The term with one of its long words (``MISSPELT_MIN_LETTERS`` letters or more, no ``*``) misspelt by one
    edit of the kinds people make: a letter left out, two neighbours swapped, a letter doubled, one vowel for
    another ("mutliple sclerosis", "multiple sclerosys", "multiple scleroris" is not one). Folded like the
    term; the term itself is not in the list. Abbreviations and short words are never varied."""
    words = re.sub(r"[\s\-]+", " ", fold_term(term.strip(), casefold=True)).split(" ")
    out: dict[str, None] = {}
    for k, word in enumerate(words):
        if len(word) < MISSPELT_MIN_LETTERS or not (word.isascii() and word.isalpha()):
            continue
        variants: set[str] = set()
        for i in range(1, len(word)):  # the first letter is kept: it is rarely the one mistyped
            variants.add(word[:i] + word[i + 1:])
            variants.add(word[:i] + word[i] + word[i:])
            if i + 1 < len(word):
                variants.add(word[:i] + word[i + 1] + word[i] + word[i + 2:])
            if word[i] in _VOWELS:
                variants.update(word[:i] + v + word[i + 1:] for v in _VOWELS)
        variants.discard(word)
        for variant in sorted(variants):
            out[" ".join([*words[:k], variant, *words[k + 1:]])] = None
    return list(out)


def required_literal(pattern: str) -> str | None:
    """The longest literal text every match of ``pattern`` contains (None if unknown).

    Used to skip a raw pattern cheaply when its literal is absent. Relies on the stdlib's regex
    parser; any surprise there just disables the shortcut.
    """
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
    except Exception:  # pragma: no cover - patterns are validated earlier
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    best = ""

    def walk(items: Any) -> None:
        nonlocal best
        current = ""
        for op, av in items:
            if op is _constants.LITERAL:
                current += chr(av)
                continue
            best = max(best, current, key=len)
            current = ""
            if op is _constants.SUBPATTERN and not (av[1] & re.IGNORECASE):
                walk(av[3].data)
        best = max(best, current, key=len)

    try:
        walk(parsed.data)
    except Exception:  # pragma: no cover
        return None
    return best or None


def literal_anchor(pattern: str) -> tuple[str, int] | None:
    """A literal every match of ``pattern`` contains, and the most characters a match can have before it
    (``("-MS", 25)`` for ``(?:[A-Z]{2,20}|micro[A-Z]{1,20})-MS``); None if there is no such bound.

    Lets the scan find the literal with ``str.find`` and run the regex only from that far before each
    occurrence, instead of trying the regex at every position of the text. Only the pattern's top-level
    sequence is read (and a leading group such as ``(?m:...)``); any surprise just disables the shortcut.
    """
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
        if parsed.state.flags & re.IGNORECASE:
            return None
        items = list(parsed.data)
        while len(items) == 1 and items[0][0] is _constants.SUBPATTERN and not (items[0][1][1] & re.IGNORECASE):
            items = list(items[0][1][3].data)  # (?m:...) around the whole pattern
        best: tuple[str, int] | None = None
        lead = 0
        run = ""
        run_lead = 0
        for op, av in items + [(None, None)]:
            if op is _constants.LITERAL:
                if not run:
                    run_lead = lead
                run += chr(av)
                lead += 1
                continue
            if run and (best is None or len(run) > len(best[0])):
                best = (run, run_lead)
            run = ""
            if op is None:
                break
            width = _parser.SubPattern(parsed.state, [(op, av)]).getwidth()[1]
            if width >= _constants.MAXREPEAT:
                break  # unbounded: a literal after this is no anchor
            lead += width
        return best
    except Exception:  # pragma: no cover - patterns are validated earlier
        return None


def starts_with_word_char(atoms: tuple[str, ...]) -> bool:
    first = atoms[0]
    ch = first[-1] if first.startswith("\\") else first
    return len(ch) == 1 and _is_wordish(ch)


# --- loading --------------------------------------------------------------------------------

_LIST_KEYS = {"label", "description", "terms", "exact_case_terms", "patterns", "disabled_by", "cue_scope", "requires",
              "misspellings", "cue_weight"}
_TOPIC_KEYS = {
    "id",
    "name",
    "description",
    "all_of",
    "any_of",
    "none_of",
    "ignore",
    "passing_cues",
    "implied_by",
    "field_weights",
    "passing_weight",
    "crowded",
    "min_score",
}
_REQ_KEYS = {"any_of", "fields", "min_score", "rivals", "min_score_with_rival_in_title"}
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TopicConfigError(f"{where}: expected a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _number(value: Any, where: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise TopicConfigError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)


def _unknown_keys(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise TopicConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _parse_list(name: Any, raw: Any) -> TermList:
    if not isinstance(name, str) or not _ID_RE.match(name):
        raise TopicConfigError(f"term list {name!r}: names use lower-case letters, digits, '-' and '_'")
    where = f"term list {name!r}"
    if isinstance(raw, list):  # shorthand: a bare list of terms
        raw = {"terms": raw}
    if not isinstance(raw, dict):
        raise TopicConfigError(f"{where}: expected a mapping with `terms:` or a list of terms")
    _unknown_keys(raw, _LIST_KEYS, where)
    terms = _str_list(raw.get("terms"), f"{where}, terms")
    exact = _str_list(raw.get("exact_case_terms"), f"{where}, exact_case_terms")
    patterns = _str_list(raw.get("patterns"), f"{where}, patterns")
    if not (terms or exact or patterns):
        raise TopicConfigError(f"{where}: is empty (give `terms`, `exact_case_terms` or `patterns`)")
    for term in terms + exact:
        try:
            term_atoms(term, match_case=term in exact)
        except ValueError as exc:
            raise TopicConfigError(f"{where}: bad term {term!r}: {exc}") from None
    for pattern in patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise TopicConfigError(f"{where}: bad pattern {pattern!r}: {exc}") from None
        if compiled.match(""):
            raise TopicConfigError(f"{where}: pattern {pattern!r} matches the empty string")
    cue_scope = raw.get("cue_scope", "sentence")
    if cue_scope not in CUE_SCOPES:
        raise TopicConfigError(f"{where}: cue_scope must be one of {', '.join(CUE_SCOPES)}, got {cue_scope!r}")
    label = raw.get("label", name)
    description = raw.get("description", "")
    if not isinstance(label, str) or not isinstance(description, str):
        raise TopicConfigError(f"{where}: label and description must be text")
    misspellings = raw.get("misspellings", False)
    if not isinstance(misspellings, bool):
        raise TopicConfigError(f"{where}: misspellings must be true or false, got {misspellings!r}")
    cue_weight = raw.get("cue_weight")
    return TermList(
        name=name,
        label=label,
        description=description.strip(),
        terms=terms,
        exact_case_terms=exact,
        patterns=patterns,
        disabled_by=_str_list(raw.get("disabled_by"), f"{where}, disabled_by"),
        cue_scope=cue_scope,
        requires=_str_list(raw.get("requires"), f"{where}, requires"),
        misspellings=misspellings,
        cue_weight=None if cue_weight is None else _number(cue_weight, f"{where}, cue_weight", 0.0),
    )


def _parse_ref(raw: Any, where: str) -> ListRef:
    if isinstance(raw, str) and raw.strip():
        return ListRef(raw.strip())
    if isinstance(raw, dict) and set(raw) <= {"list", "weight"} and isinstance(raw.get("list"), str):
        return ListRef(raw["list"], _number(raw.get("weight"), f"{where}, weight of {raw['list']!r}", 1.0))
    raise TopicConfigError(f"{where}: expected a term list name or {{list: NAME, weight: N}}, got {raw!r}")


def _parse_requirement(raw: Any, where: str, min_score: float) -> Requirement:
    if isinstance(raw, str):
        raw = {"any_of": [raw]}
    elif isinstance(raw, list):
        raw = {"any_of": raw}
    if not isinstance(raw, dict):
        raise TopicConfigError(f"{where}: expected a list name or a mapping with `any_of:`, got {raw!r}")
    _unknown_keys(raw, _REQ_KEYS, where)
    any_of = raw.get("any_of")
    if isinstance(any_of, str):
        any_of = [any_of]
    if not isinstance(any_of, list) or not any_of:
        raise TopicConfigError(f"{where}: `any_of` must be a non-empty list of term lists")
    fields = _str_list(raw.get("fields"), f"{where}, fields") or FIELDS
    bad = [f for f in fields if f not in FIELDS]
    if bad:
        raise TopicConfigError(
            f"{where}: unknown field(s) {', '.join(map(repr, bad))} (fields are {', '.join(FIELDS)})"
        )
    return Requirement(
        lists=tuple(_parse_ref(r, where) for r in any_of),
        fields=tuple(fields),
        min_score=_number(raw.get("min_score"), f"{where}, min_score", min_score),
        rivals=_str_list(raw.get("rivals"), f"{where}, rivals"),
        min_score_with_rival_in_title=_number(
            raw.get("min_score_with_rival_in_title"), f"{where}, min_score_with_rival_in_title", max(2.0, min_score)
        ),
    )


def _parse_topic(raw: Any, index: int) -> Topic:
    if not isinstance(raw, dict):
        raise TopicConfigError(f"topic #{index + 1}: expected a mapping with `id:`, got {raw!r}")
    topic_id = raw.get("id")
    if not isinstance(topic_id, str) or not _ID_RE.match(topic_id):
        raise TopicConfigError(
            f"topic #{index + 1}: `id` must be lower-case letters, digits, '-' or '_', got {topic_id!r}"
        )
    where = f"topic {topic_id!r}"
    _unknown_keys(raw, _TOPIC_KEYS, where)
    min_score = _number(raw.get("min_score"), f"{where}, min_score", 1.0)
    requirements: list[Requirement] = []
    all_of = raw.get("all_of")
    if all_of is not None:
        if not isinstance(all_of, list):
            raise TopicConfigError(f"{where}: `all_of` must be a list")
        requirements += [_parse_requirement(r, f"{where}, all_of #{i + 1}", min_score) for i, r in enumerate(all_of)]
    if raw.get("any_of") is not None:
        requirements.append(_parse_requirement({"any_of": raw["any_of"]}, f"{where}, any_of", min_score))
    implied_by = _str_list(raw.get("implied_by"), f"{where}, implied_by")
    if not requirements and not implied_by:
        raise TopicConfigError(f"{where}: is empty: give `all_of:` or `any_of:` with at least one term list")
    weights = dict(DEFAULT_FIELD_WEIGHTS)
    raw_weights = raw.get("field_weights") or {}
    if not isinstance(raw_weights, dict):
        raise TopicConfigError(f"{where}: `field_weights` must be a mapping of field → number")
    for key, value in raw_weights.items():
        if key not in FIELDS:
            raise TopicConfigError(f"{where}: field_weights: unknown field {key!r} (fields are {', '.join(FIELDS)})")
        weights[key] = _number(value, f"{where}, field_weights.{key}", 1.0)
    name = raw.get("name", topic_id)
    description = raw.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise TopicConfigError(f"{where}: name and description must be text")
    crowded = raw.get("crowded") or {}
    if not isinstance(crowded, dict) or not set(crowded) <= {"lists", "min_terms"}:
        raise TopicConfigError(f"{where}: `crowded` must be a mapping with `lists:` and optionally `min_terms:`")
    min_terms = _number(crowded.get("min_terms"), f"{where}, crowded.min_terms", 4.0)
    if min_terms < 2 or min_terms != int(min_terms):
        raise TopicConfigError(f"{where}: crowded.min_terms must be a whole number of at least 2")
    return Topic(
        id=topic_id,
        name=name,
        description=" ".join(description.split()),
        requirements=tuple(requirements),
        none_of=_str_list(raw.get("none_of"), f"{where}, none_of"),
        ignore=_str_list(raw.get("ignore"), f"{where}, ignore"),
        passing_cues=_str_list(raw.get("passing_cues"), f"{where}, passing_cues"),
        implied_by=implied_by,
        field_weights=weights,
        passing_weight=_number(raw.get("passing_weight"), f"{where}, passing_weight", 0.25),
        crowded_lists=_str_list(crowded.get("lists"), f"{where}, crowded.lists"),
        crowded_min_terms=int(min_terms),
    )


def parse_config(config: Any) -> RuleSet:
    """Validate ``{"term_lists": {...}, "topics": [...]}`` (other top-level keys are ignored)."""
    if not isinstance(config, Mapping):
        raise TopicConfigError(
            f"topic rules: expected a mapping with `term_lists:` and `topics:`, got {type(config).__name__}"
        )
    raw_lists = config.get("term_lists")
    if not isinstance(raw_lists, Mapping) or not raw_lists:
        raise TopicConfigError("topic rules: `term_lists:` must be a non-empty mapping of name → terms")
    raw_topics = config.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise TopicConfigError("topic rules: `topics:` must be a non-empty list")
    lists = {name: _parse_list(name, raw) for name, raw in raw_lists.items()}
    topics = [_parse_topic(raw, i) for i, raw in enumerate(raw_topics)]

    for tl in lists.values():
        for key, others in (("disabled_by", tl.disabled_by), ("requires", tl.requires)):
            for other in others:
                if other not in lists:
                    raise TopicConfigError(f"term list {tl.name!r}: {key} names unknown term list {other!r}")
    seen: set[str] = set()
    ids = {t.id for t in topics}
    for topic in topics:
        if topic.id in seen:
            raise TopicConfigError(f"topic {topic.id!r}: duplicate id")
        seen.add(topic.id)
        where = f"topic {topic.id!r}"
        refs: list[tuple[str, str]] = []
        for req in topic.requirements:
            refs += [("requirement", name) for name in req.list_names]
            refs += [("rivals", name) for name in req.rivals]
        refs += [("none_of", n) for n in topic.none_of]
        refs += [("ignore", n) for n in topic.ignore]
        refs += [("passing_cues", n) for n in topic.passing_cues]
        refs += [("crowded", n) for n in topic.crowded_lists]
        for key, name in refs:
            if name not in lists:
                known = ", ".join(sorted(lists))
                raise TopicConfigError(f"{where}: {key} references unknown term list {name!r} (known: {known})")
        for other in topic.implied_by:
            if other not in ids or other == topic.id:
                raise TopicConfigError(f"{where}: implied_by references unknown topic {other!r}")
    return RuleSet(term_lists=lists, topics=tuple(topics))
