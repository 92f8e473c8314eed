"""The Aho-Corasick prefilter (aggregator/topics/prefilter.py) only makes classification faster: it must
never change a result. Each test compares it with the full-regex scan that runs without it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.topics import Document, TopicSet, load_topics
from aggregator.topics.match import _near_literal
from aggregator.topics.rules import literal_anchor
from aggregator.topics.text import Folded, _fold_per_char, fold, offset_map

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fast(config: dict) -> TopicSet:
    topic_set = load_topics(config)
    assert topic_set._prefilter is not None, "every default term can be keyed: the prefilter is on"
    return topic_set


@pytest.fixture(scope="module")
def full(config: dict) -> TopicSet:
    return load_topics(config, use_prefilter=False)


def outcome(topic_set: TopicSet, doc: Document) -> list[tuple[str, float, list[tuple[str, ...]]]]:
    return [(m.topic_id, m.score, [tuple(h) for h in m.hits]) for m in topic_set.classify(doc)]


def eval_docs() -> list[Document]:
    rows = [
        json.loads(line)
        for name in ("dev", "test")
        for line in (ROOT / f"tests/data/topics/{name}.jsonl").read_text("utf-8").splitlines()
    ]
    return [
        Document(r["title"], r.get("summary", ""), r.get("content", ""), tuple(r.get("categories", ()))) for r in rows
    ]


def test_same_topics_scores_and_hits_on_the_evaluation_set(fast: TopicSet, full: TopicSet) -> None:
    docs = eval_docs()
    matched = 0
    for doc in docs:
        expected = outcome(full, doc)
        assert outcome(fast, doc) == expected, doc.title
        matched += bool(expected)
    assert matched > 100  # the comparison covers matching items, not only empty answers


def test_items_without_a_needed_term_stop_at_the_gate(fast: TopicSet) -> None:
    # an item about mass spectrometry and cars has keys (ms, car) but no CAR T and MS terms together;
    # one with no key of a gate list at all is answered before any regular expression runs
    assert fast._gate is not None
    off_topic = fold("Hospital system reports record quarter as outpatient visits rise")
    assert fast._scan(off_topic, gated=True) == []
    on_topic = fold("KYV-101 CAR T cells in progressive MS")
    assert fast._scan(on_topic, gated=True)


# Text built from the words the rules are made of, in every case and with every separator, so that the
# generated items are dense with near-misses: "car" in "cart" and "scar", "MS" beside "ms", KYV101...
def _rule_words(config: dict) -> list[str]:
    words: set[str] = set()
    for spec in config["term_lists"].values():
        if isinstance(spec, list):
            spec = {"terms": spec}
        for term in list(spec.get("terms", ())) + list(spec.get("exact_case_terms", ())):
            if term.isascii():
                words.update(w for w in re.split(r"[\s\-*]+", term) if w)
    return sorted(words)


_CONFIG = yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))
_WORDS = _rule_words(_CONFIG)
_word = st.sampled_from(_WORDS).flatmap(
    lambda w: st.sampled_from([w, w.lower(), w.upper(), w.capitalize(), w + "s", w + "es", "s" + w, w + "x", w[:-1]])
)
_glue = st.sampled_from([" ", " ", " ", "-", "\u2011", "", ". ", ", ", "(", ")", "/", "_", "\n", "'s "])
_ascii_text = st.lists(st.tuples(_word, _glue), max_size=40).map(lambda parts: "".join(w + g for w, g in parts))
# PREFILTER_EXAMPLES=5000 for a longer search than the suite's
_PROPS = settings(
    max_examples=int(os.environ.get("PREFILTER_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_PROPS
@given(text=_ascii_text)
def test_no_term_occurrence_is_lost(fast: TopicSet, text: str) -> None:
    """Running only the groups the automaton names, only where it names them, still covers every place
    where any group's regex matches anywhere in the text (by that match or a longer one)."""
    prefilter = fast._prefilter
    assert prefilter is not None
    folded = fold(text)
    assert folded.lower_of_cased  # ASCII: matched on the cased text, case ignored
    found = prefilter.find(folded)
    # the same hits as with the lower-cased copy, matched as text beyond ASCII is
    assert found == prefilter.find(Folded(text, text.lower(), text, None))
    for group in prefilter.groups:
        for m in group.rx.finditer(folded.cased if group.cased else folded.folded):
            assert any(start <= m.start() and m.end() <= end for start, end, _ in found), (text, m.group())


def test_terms_without_a_key_are_still_found() -> None:
    # a wildcard word of fewer than four letters, and a Chinese term, have no key: they are scanned for
    # with a regex over the text, and only the Chinese one is skipped for ASCII text
    rules = {"term_lists": {"a": ["ab*", "多发性硬化"], "b": ["beta"]}, "topics": [{"id": "t", "all_of": ["a", "b"]}]}
    topic_set = load_topics(rules)
    assert topic_set._prefilter is not None and topic_set._unkeyed_scan is not None
    assert [m.topic_id for m in topic_set.classify(Document("abacus beta"))] == ["t"]
    assert [m.topic_id for m in topic_set.classify(Document("多发性硬化 beta"))] == ["t"]
    assert topic_set.classify(Document("abs")) == []


# Text with what real feeds hold besides ASCII: curly quotes, dashes, an ellipsis (one character that folds
# to three), accents, Greek letters, a ligature, a zero-width space, Chinese.
_unicode_glue = st.sampled_from(["\u2019", "\u201c", "\u2014", "\u2011", "\u2026", "\u00e9", "\u00c9", "\u00df",
                                 "\u1e9e", "\u03a3", "\u03c3", "\u03b2", "\ufb01", "\u200b", "\u00a0", "\u0130",
                                 "\uf900", "\uff0c", "多发性硬化", "CAR-T细胞", "\u2605", " "])
_unicode_text = st.lists(st.one_of(_word, _unicode_glue, _glue), max_size=40).map("".join)


@_PROPS
@given(title=st.one_of(_ascii_text, _unicode_text), summary=st.one_of(_ascii_text, _unicode_text))
def test_same_outcome_as_the_full_scan_on_generated_items(
    fast: TopicSet, full: TopicSet, title: str, summary: str
) -> None:
    """ASCII items take the fast paths (bytes, no offset map); the others every path of folding."""
    doc = Document(title, summary)
    assert outcome(fast, doc) == outcome(full, doc)
    assert fast.highlight_spans(summary) == full.highlight_spans(summary)


@_PROPS
@given(text=_unicode_text)
def test_folding_matches_the_character_by_character_reference(text: str) -> None:
    folded = fold(text)
    reference_folded, reference_cased, reference_offsets = _fold_per_char(text)
    assert (folded.folded, folded.cased) == (reference_folded, reference_cased)
    offsets = folded.offsets()
    assert (offsets if offsets is not None else list(range(len(text) + 1))) == reference_offsets
    assert offset_map(text) == reference_offsets  # the map built from the positions of the odd characters
    if folded.others is not None:  # what the scan of Chinese terms relies on
        assert set(folded.others) == {ch for ch in reference_folded if not ch.isascii()}


# --- raw patterns: run only near their literal ------------------------------------------------

_PATTERNS = [p for spec in _CONFIG["term_lists"].values() if isinstance(spec, dict) for p in spec.get("patterns", ())]
_SYNTHETIC = [r"x{2,5}yz", r"(?<!\w)ab\d{1,3}", r"(?m:^Ab[a-z]{0,4})", r"(?:q|rs){1,3}-MS"]
_pattern_text = st.lists(
    st.sampled_from(["MS", "-MS", "/MS", "LC", "nano", "APCI", "RR", "MS-275", "MS 39201", "About ", "About the study",
                     "\n", " ", "-", "x", "xx", "yz", "ab12", "Ab", "qrs", "Kyverna", "A", "Z"]),
    max_size=30,
).map("".join)


def test_the_default_patterns_have_an_anchor() -> None:
    # a pattern without one is tried at every position of every item (about 50 us on a long item)
    assert _PATTERNS and all(literal_anchor(pattern) is not None for pattern in _PATTERNS)
    assert literal_anchor(r"(?:[A-Z]{2,}|nano[A-Z]+)-MS") is None  # unbounded before the literal: no shortcut
    assert literal_anchor(r"x{2,5}yz") == ("yz", 5)


@_PROPS
@given(text=_pattern_text)
def test_searching_near_the_literal_finds_what_finditer_finds(text: str) -> None:
    for source in _PATTERNS + _SYNTHETIC:
        anchor = literal_anchor(source)
        if anchor is None:
            continue
        pattern = re.compile(source)
        expected = [m.span() for m in pattern.finditer(text)]
        assert [m.span() for m in _near_literal(pattern, anchor[0], anchor[1], text)] == expected, source


def test_a_topic_set_survives_pickling(fast: TopicSet) -> None:
    # what a worker process started with "spawn" receives: the automaton is rebuilt on the other side
    import pickle

    copy = pickle.loads(pickle.dumps(fast))
    for doc in eval_docs()[:80]:
        assert outcome(copy, doc) == outcome(fast, doc)


# --- the any-case regexes of ASCII text -------------------------------------------------------

_ascii_only_text = st.lists(
    st.tuples(_word, st.sampled_from([" ", "-", "", ". ", "(", "/", "_", "\n", "'s ", "9", "x"])), max_size=12
).map(lambda parts: "".join(w + g for w, g in parts)).filter(str.isascii)


@_PROPS
@given(text=_ascii_only_text)
def test_any_case_regexes_on_ascii_text_match_the_folded_regexes_on_its_lower_case(fast: TopicSet, text: str) -> None:
    """``Group.rx_any_case`` (case ignored, an ASCII word-boundary class) runs on ASCII text as it is; it must
    find exactly what ``Group.rx`` (the full boundary class) finds in the lower-cased text, at every offset."""
    assert fast._prefilter is not None
    lower = text.lower()
    for group in fast._prefilter.groups:
        if group.cased:
            assert group.rx_any_case is group.rx
            continue
        # where the prefilter runs them: word starts ("_" and digits are word characters: "_car" is no "car")
        for start in (i for i in range(len(text)) if i == 0 or not text[i - 1].isalpha()):
            a, b = group.rx_any_case.match(text, start), group.rx.match(lower, start)
            assert (a and (a.span(), a.lastindex)) == (b and (b.span(), b.lastindex)), (group.pattern, text, start)
