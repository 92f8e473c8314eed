"""Table-driven tests of the topic rules (feeds.yaml) and the matcher (aggregator/topics).

Each table row is (text, expected topics, reason). Topic codes: "ms" = car-t-ms,
"auto" = car-t-autoimmune, "res" = ms-research.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.topics import Document, Hit, TopicConfigError, TopicMatch, TopicSet, find_boilerplate, load_topics
from aggregator.topics.naive import load_naive_topics

ROOT = Path(__file__).resolve().parent.parent
CODES = {"ms": "car-t-ms", "auto": "car-t-autoimmune", "res": "ms-research"}


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def topics(config: dict) -> TopicSet:
    return load_topics(config)


def ids(topics: TopicSet, doc: Document) -> set[str]:
    return {m.topic_id for m in topics.classify(doc)}


def expect(codes: str) -> set[str]:
    return {CODES[c] for c in codes.split()}


ALL = "ms auto res"

# (title, summary, expected, reason)
TITLE_TABLE = [
    # spelling variants of CAR T
    ("CAR-T cells in progressive MS", "", ALL, "CAR-T with hyphen, MS capitalised"),
    ("CAR T cells in progressive MS", "", ALL, "CAR T with space"),
    ("CAR\u2011T cells in progressive MS", "", ALL, "non-breaking hyphen U+2011"),
    ("CAR\u2013T therapy for multiple sclerosis", "", ALL, "en dash"),
    ("CAR\u00a0T therapy for multiple sclerosis", "", ALL, "no-break space"),
    ("CART cells for multiple sclerosis", "", ALL, "CART cells"),
    ("CAR-T-cell therapy in multiple sclerosis", "", ALL, "CAR-T-cell"),
    ("CAR T-cells in MS", "", ALL, "CAR T-cells"),
    ("Car-T cell therapy for multiple sclerosis", "", ALL, "title case Car-T cell"),
    ("Chimeric antigen receptor T cells in multiple sclerosis", "", ALL, "spelled out"),
    ("CD19 CAR for multiple sclerosis", "", ALL, "CD19 CAR"),
    ("CAR-NK cells in relapsing MS", "", ALL, "CAR-NK"),
    ("CAAR-T and CAR-Tregs for multiple sclerosis", "", ALL, "CAAR-T / CAR-Treg"),
    # named products without the word CAR
    ("KYV-101 in progressive multiple sclerosis", "", ALL, "KYV-101"),
    ("KYV101 in progressive multiple sclerosis", "", ALL, "KYV101 without hyphen"),
    ("Miv-cel in SPMS", "", ALL, "miv-cel and SPMS"),
    ("Mivocabtagene autoleucel in PPMS", "", ALL, "INN and PPMS"),
    ("Obe-cel enters MS trial", "", ALL, "obe-cel"),
    ("Rese-cel (CABA-201) in relapsing MS", "", ALL, "rese-cel / CABA-201"),
    ("BMS-986353 in relapsing multiple sclerosis", "", ALL, "BMS code"),
    ("CC-97540 in multiple sclerosis", "", ALL, "CC-97540"),
    ("Descartes-08 in multiple sclerosis", "", ALL, "Descartes-08"),
    ("Azer-cel for progressive MS", "", ALL, "azer-cel"),
    # multilingual
    ("CAR-T-Zelltherapie bei Multipler Sklerose", "", ALL, "German"),
    ("Cellules CAR-T dans la sclérose en plaques", "", ALL, "French"),
    ("Células CAR-T en esclerosis múltiple", "", ALL, "Spanish"),
    ("Células CAR-T en esclerosis multiple", "", ALL, "Spanish without accent"),
    ("Cellule CAR-T nella sclerosi multipla", "", ALL, "Italian"),
    ("多发性硬化的CAR-T细胞治疗", "", ALL, "Chinese, CAR-T between CJK characters"),
    ("嵌合抗原受体T细胞治疗多发性硬化症", "", ALL, "Chinese spelled out"),
    # MS abbreviation and its traps
    ("Ocrelizumab in relapsing MS", "", "res", "MS drug news"),
    ("Tolebrutinib in nrSPMS", "", "res", "nrSPMS"),
    ("LC-MS/MS quantification of tacrolimus", "", "", "LC-MS/MS"),
    ("MS/MS fragmentation of peptides", "", "", "MS/MS"),
    ("nanoLC-MS/MS proteomics of plasma", "", "", "hyphenated MS method"),
    ("UHPLC-MS/MS method for vitamin D", "", "", "UHPLC-MS/MS"),
    ("Native MS of membrane proteins", "", "", "native MS"),
    ("Microsoft adds AI to MS Office", "", "", "MS Office"),
    ("MS Teams outage hits hospitals", "", "", "MS Teams"),
    ("Ms. Smith bought a car", "", "", "Ms. as a title, car"),
    ("Reaction time fell by 50 ms", "", "", "ms = milliseconds"),
    ("Clinic opens in Jackson, MS 39216", "", "", "Mississippi"),
    ("Morgan Stanley (NYSE: MS) upgrades biotech", "", "", "ticker"),
    ("MS-275 in breast cancer", "", "", "compound code"),
    ("New MS degree in biostatistics", "", "", "Master of Science"),
    # diseases that are not MS
    ("Amyotrophic lateral sclerosis: tofersen data", "", "", "ALS"),
    ("Tuberous sclerosis complex and epilepsy", "", "", "tuberous sclerosis"),
    ("CAR T cells for systemic sclerosis", "", "auto", "SSc is autoimmune but not MS"),
    ("CD19 CAR T in refractory lupus", "", "auto", "lupus"),
    ("CAR T in myasthenia gravis", "", "auto", "MG"),
    ("KYV-101 in stiff person syndrome", "", "auto", "SPS"),
    ("Eque-cel in NMOSD", "", "auto", "NMOSD is not MS"),
    ("BCMA CAR T in multiple myeloma", "", "", "myeloma is not MS and not autoimmune"),
    ("Cilta-cel improves survival in myeloma", "", "", "product in oncology"),
    ("CAR T for lymphoma", "", "", "lymphoma"),
    ("多发性骨髓瘤CAR-T获批", "", "", "Chinese multiple myeloma"),
    # cars and the Central African Republic
    ("Car T-boned at intersection", "", "", "automotive car-T"),
    ("Electric car sales surge", "", "", "cars"),
    ("CAR: peacekeepers deployed in Bangui", "", "", "Central African Republic"),
    ("Constitutive androstane receptor (CAR) activation", "", "", "CAR receptor"),
    ("CART analysis predicts readmission", "", "", "classification and regression tree"),
    # T-cell engagers and antibodies are not CAR T
    ("Blinatumomab in rheumatoid arthritis", "", "", "T-cell engager"),
    ("Inebilizumab, a CD19 antibody, in NMOSD", "", "", "CD19 antibody"),
]


@pytest.mark.parametrize(("title", "summary", "expected", "reason"), TITLE_TABLE, ids=[r[3] for r in TITLE_TABLE])
def test_titles(topics: TopicSet, title: str, summary: str, expected: str, reason: str) -> None:
    assert ids(topics, Document(title, summary)) == expect(expected), reason


# Subject versus passing mention: (title, summary, content, expected, reason)
SUBJECT_TABLE = [
    (
        "Kyverna announces FDA RMAT designation for KYV-101",
        "The designation is for refractory progressive multiple sclerosis.",
        "",
        ALL,
        "neutral title, MS is the subject of the summary",
    ),
    (
        "KYV-101 receives RMAT designation for stiff person syndrome",
        "KYV-101 is also being evaluated in myasthenia gravis and multiple sclerosis.",
        "",
        "auto",
        "MS only in a pipeline sentence while the title is about SPS",
    ),
    (
        "A Phase 1/2 Study of KYV-101 in Lupus Nephritis",
        "Patients with multiple sclerosis were excluded.",
        "",
        "auto",
        "MS in an exclusion criterion",
    ),
    (
        "BCMA CAR-T in newly diagnosed multiple myeloma",
        "Exclusion criteria: history of CNS disease such as multiple sclerosis; active autoimmune disease.",
        "",
        "",
        "myeloma listing naming MS and autoimmune disease only as exclusions",
    ),
    (
        "Ocrelizumab 10-year data in progressive MS",
        "Several groups are now exploring CAR T cells in progressive disease.",
        "",
        "res",
        "CAR T in passing under a title about another therapy",
    ),
    (
        "Kyverna reports positive data in stiff person syndrome",
        "KYV-101 met the primary endpoint.",
        "KYV-101 met the primary endpoint.\nAbout Kyverna\nKyverna develops KYV-101 for stiff person "
        "syndrome, myasthenia gravis and multiple sclerosis.",
        "auto",
        "MS only in the About section",
    ),
    (
        "Stroke prevention guideline published",
        "New guidance on atrial fibrillation screening.",
        "New guidance.\nAbout the Society: we support research in stroke, epilepsy and multiple sclerosis.",
        "",
        "society footer naming MS",
    ),
    (
        "Trial update",
        "A phase 1 trial of CD19 CAR-T cells in relapsing multiple sclerosis completed its first cohort.",
        "",
        ALL,
        "minimal title, subject in summary",
    ),
    (
        "Untargeted LC-MS/MS metabolomics of CSF in multiple sclerosis",
        "We used LC-MS/MS to profile CSF from 80 patients with MS.",
        "",
        "res",
        "mass spectrometry in MS patients is MS research, but not because of LC-MS",
    ),
    (
        "Native mass spectrometry of antibodies",
        "Native mass spectrometry (MS) keeps complexes intact. MS data were acquired on an Orbitrap.",
        "",
        "",
        "MS defined as mass spectrometry: bare MS does not count",
    ),
]


@pytest.mark.parametrize(
    ("title", "summary", "content", "expected", "reason"), SUBJECT_TABLE, ids=[r[4] for r in SUBJECT_TABLE]
)
def test_subject_rules(topics: TopicSet, title: str, summary: str, content: str, expected: str, reason: str) -> None:
    assert ids(topics, Document(title, summary, content)) == expect(expected), reason


HTML_TABLE = [
    ("<p>CAR&nbsp;T cells in <b>progressive MS</b></p>", ALL, "tags and &nbsp;"),
    ("CAR&#8209;T in multiple sclerosis", ALL, "numeric entity for U+2011"),
    ("<script>CAR T multiple sclerosis</script>Weather report", "", "script content is dropped"),
    ("&lt;b&gt;CAR T&lt;/b&gt; in MS", ALL, "escaped tags stay text"),
    ("<i>CAR</i>-T in MS", ALL, "inline tag inside a term"),
]


@pytest.mark.parametrize(("html", "expected", "reason"), HTML_TABLE, ids=[r[2] for r in HTML_TABLE])
def test_html(topics: TopicSet, html: str, expected: str, reason: str) -> None:
    assert ids(topics, Document(html)) == expect(expected), reason


def test_categories_count(topics: TopicSet) -> None:
    doc = Document("Study shows fatigue improves with cooling vests", categories=("Multiple Sclerosis",))
    assert ids(topics, doc) == {"ms-research"}


def test_car_t_ms_implies_the_others(topics: TopicSet) -> None:
    for title, summary, *_ in TITLE_TABLE + [r[:2] for r in SUBJECT_TABLE]:
        got = ids(topics, Document(title, summary))
        if "car-t-ms" in got:
            assert {"car-t-autoimmune", "ms-research"} <= got, title


def test_match_objects_and_explain(topics: TopicSet) -> None:
    doc = Document("KYV-101 CAR‑T cells in progressive MS", "Patients with multiple sclerosis were treated.")
    matches = topics.classify(doc)
    assert [m.topic_id for m in matches] == ["car-t-ms", "car-t-autoimmune", "ms-research"]
    first = matches[0]
    assert isinstance(first, TopicMatch) and first.score > 0
    assert Hit("title", "car_t", "CAR T cell*", "CAR‑T cells") in first.hits
    assert Hit("title", "ms_abbrev", "MS", "MS") in first.hits
    assert Hit("summary", "ms", "multiple sclerosis", "multiple sclerosis") in first.hits
    text = first.explain()
    assert text.startswith("car-t-ms (score ")
    assert "CAR T (title: 'CAR‑T cells')" in text and "multiple sclerosis (summary: 'multiple sclerosis')" in text
    data = first.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["hits"][0].keys() == {"field", "term_list", "term", "text"}


def test_topics_metadata(topics: TopicSet) -> None:
    assert [t.id for t in topics.topics] == ["car-t-ms", "car-t-autoimmune", "ms-research"]
    assert all(t.name and t.description for t in topics.topics)


def test_hit_text_maps_back_through_unicode(topics: TopicSet) -> None:
    doc = Document("ﬁrst Ｃ Ａ Ｒ‑Ｔ", "Straße: Multiple Sklerose und CAR‑T‑Zellen bei Patienten mit MS")
    matches = {m.topic_id: m for m in topics.classify(doc)}
    texts = {h.text for h in matches["car-t-ms"].hits}
    assert "Multiple Sklerose" in texts and "CAR‑T‑Zellen" in texts


HIGHLIGHT_TABLE = [
    ("KYV-101 CAR T-cell therapy in progressive multiple sclerosis", ["KYV-101", "CAR T-cell", "multiple sclerosis"]),
    ("LC-MS/MS in MS patients", ["MS"]),
    ("Ms. Smith bought a car", []),
    ("Straße ﬁ CAR‑T in MS", ["CAR‑T", "MS"]),
]


@pytest.mark.parametrize(("text", "marked"), HIGHLIGHT_TABLE)
def test_highlight_spans(topics: TopicSet, text: str, marked: list[str]) -> None:
    spans = topics.highlight_spans(text)
    assert [text[s:e] for s, e in spans] == marked


# --- boilerplate ---------------------------------------------------------------------------

FOOTER = "The Neurology Foundation funds research into multiple sclerosis, stroke and epilepsy."


def test_find_boilerplate_finds_repeated_sentences() -> None:
    texts = [f"<p>Item {i} about stroke care number {i}.</p><p>{FOOTER}</p>" for i in range(6)]
    texts.append("A different item without the footer.")
    assert find_boilerplate(texts) == {FOOTER}


def test_find_boilerplate_needs_several_items() -> None:
    assert find_boilerplate([FOOTER, FOOTER]) == set()
    assert find_boilerplate([]) == set()


def test_boilerplate_is_ignored(topics: TopicSet) -> None:
    summary = f"Patients with multiple sclerosis and CAR T were discussed. {FOOTER}"
    doc = Document("Neurology update", f"Thrombectomy trial results. {FOOTER}")
    assert ids(topics, doc) == {"ms-research"}  # without boilerplate knowledge the footer counts
    assert (
        ids(
            topics,
            Document("Neurology update", f"Thrombectomy trial results. {FOOTER}", boilerplate=frozenset({FOOTER})),
        )
        == set()
    )
    # text that is not boilerplate still counts
    assert "ms-research" in ids(topics, Document("Neurology update", summary, boilerplate=frozenset({FOOTER})))


# --- the naive baseline agrees --------------------------------------------------------------


def test_naive_baseline_agrees_on_eval_set(config: dict, topics: TopicSet) -> None:
    naive = load_naive_topics(config)
    rows = [
        json.loads(line)
        for name in ("dev", "test")
        for line in (ROOT / f"tests/data/topics/{name}.jsonl").read_text("utf-8").splitlines()
    ]
    for row in rows:
        doc = Document(row["title"], row.get("summary", ""), row.get("content", ""), tuple(row.get("categories", ())))
        assert ids(topics, doc) == ids(naive, doc), row["title"]


# --- config errors --------------------------------------------------------------------------


def _minimal() -> dict:
    return {
        "term_lists": {"a": {"terms": ["alpha"]}, "b": ["beta"]},
        "topics": [{"id": "t", "all_of": ["a", "b"]}],
    }


def test_minimal_config_works() -> None:
    ts = load_topics(_minimal())
    assert ids(ts, Document("alpha and beta")) == {"t"}
    assert ids(ts, Document("alpha only")) == set()


def _broken(mutate) -> dict:  # type: ignore[no-untyped-def]
    cfg = copy.deepcopy(_minimal())
    mutate(cfg)
    return cfg


CONFIG_ERRORS = [
    (lambda c: c["topics"][0].update(all_of=["a", "missing"]), r"topic 't'.*unknown term list 'missing'"),
    (lambda c: c["topics"][0].pop("all_of"), r"topic 't': is empty"),
    (
        lambda c: c["topics"][0].update(all_of=[{"any_of": ["a"], "fields": ["titel"]}]),
        r"topic 't'.*unknown field.*'titel'",
    ),
    (lambda c: c["topics"][0].update(field_weights={"body": 1}), r"topic 't'.*unknown field 'body'"),
    (lambda c: c["term_lists"].update(c={"terms": []}), r"term list 'c': is empty"),
    (lambda c: c["term_lists"].update(c={"patterns": ["("]}), r"term list 'c': bad pattern"),
    (lambda c: c["term_lists"].update(c={"terms": ["*x"]}), r"term list 'c': bad term"),
    (lambda c: c["term_lists"].update(c={"terms": ["x"], "colour": 1}), r"term list 'c': unknown key"),
    (lambda c: c["term_lists"]["a"].update(disabled_by=["zzz"]), r"term list 'a': disabled_by.*'zzz'"),
    (lambda c: c["topics"].append({"id": "t", "any_of": ["a"]}), r"topic 't': duplicate id"),
    (lambda c: c["topics"][0].update(implied_by=["nope"]), r"topic 't': implied_by.*'nope'"),
    (lambda c: c["topics"][0].update(ignore=["nope"]), r"topic 't': ignore references unknown term list 'nope'"),
    (lambda c: c["topics"][0].update(passing_weight="x"), r"topic 't', passing_weight"),
    (lambda c: c.pop("topics"), r"`topics:` must be a non-empty list"),
    (lambda c: c.update(term_lists=[]), r"`term_lists:` must be"),
]


@pytest.mark.parametrize(("mutate", "message"), CONFIG_ERRORS)
def test_config_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TopicConfigError, match=message):
        load_topics(_broken(mutate))


def test_config_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        load_topics({"term_lists": {}, "topics": []})
    with pytest.raises(TopicConfigError):
        load_topics("not a mapping")  # type: ignore[arg-type]


def test_other_top_level_keys_are_ignored(config: dict) -> None:
    load_topics({"sources": [{"id": "x"}], **config})


# --- properties -----------------------------------------------------------------------------

# Characters drawn one by one and joined: st.text would leave out lone surrogates, which JSON can carry.
text_st = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(list("CARTMS -‑–<>&;/.\n多发性硬化\ud83d\udfff")),
    max_size=300,
).map("".join)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPS
@given(title=text_st, summary=text_st, content=text_st, cats=st.lists(text_st, max_size=3))
def test_classify_never_raises(topics: TopicSet, title: str, summary: str, content: str, cats: list[str]) -> None:
    for match in topics.classify(Document(title, summary, content, tuple(cats), frozenset({summary[:40]}))):
        json.dumps(match.to_dict())
        match.explain()


@PROPS
@given(text=text_st)
def test_highlight_spans_in_bounds_and_disjoint(topics: TopicSet, text: str) -> None:
    spans = topics.highlight_spans(text)
    previous_end = 0
    for start, end in spans:
        assert 0 <= previous_end <= start < end <= len(text)
        previous_end = end


UNRELATED = st.sampled_from(
    [
        "The weather was sunny.",
        "Stocks rose 2% on Tuesday.",
        "Ms. Smith bought a new car.",
        "Samples were analysed by LC-MS/MS.",
        "Microsoft released MS Office updates.",
        "Reaction time was 40 ms.",
        "The Central African Republic (CAR) held elections.",
        "Patients with multiple sclerosis were excluded.",
    ]
)
NON_MATCHING = [r[0] for r in TITLE_TABLE if "ms" not in r[2].split()]


@PROPS
@given(title=st.sampled_from(NON_MATCHING), extra=st.lists(UNRELATED, min_size=1, max_size=4))
def test_unrelated_text_never_makes_car_t_ms(topics: TopicSet, title: str, extra: list[str]) -> None:
    assert "car-t-ms" not in ids(topics, Document(title, " ".join(extra)))
