"""The kinds of error issue #13 names, one or more items each, written for this test from the issue's
descriptions (not taken from any held-out set): "MS" that is not multiple sclerosis, MS or CAR T named but not
the subject, and wording the rules did not know (misspellings, other languages, CAAR-T, a cell therapy named by
its target, neuroimmune diseases beyond the list). Labels follow the topic definitions of issue #3.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aggregator.topics import Document, TopicSet, load_topics
from aggregator.topics.rules import TopicConfigError, misspellings

ROOT = Path(__file__).resolve().parent.parent
MS, AUTO, RES = "car-t-ms", "car-t-autoimmune", "ms-research"

# (why, title, summary, topics expected)
CASES: list[tuple[str, str, str, set[str]]] = [
    # --- "MS" that is not multiple sclerosis --------------------------------------------------------------
    ("degree page", "MS in Data Science | Online Master's Program",
     "Earn your MS in Data Science online. Our 30-credit program prepares graduates for careers in analytics. "
     "Apply by March 1.", set()),
    ("degree page, nursing", "MS in Nursing Leadership: admissions open for fall 2026",
     "The MS program offers evening classes, clinical placements and a capstone project. Tuition is $950 per "
     "credit hour.", set()),
    ("Microsoft product", "How to build a self-grading quiz in MS Forms",
     "MS Forms lets teachers collect answers and export them to a spreadsheet; this guide covers branching.",
     set()),
    ("Microsoft product", "What is new in MS Dynamics 365 Business Central",
     "The release wave adds Copilot features for finance teams and a new inventory module.", set()),
    ("plant medium", "Optimising MS medium for callus induction in tomato explants",
     "Leaf explants were cultured on MS medium supplemented with 2,4-D and BAP; half-strength salts improved "
     "rooting of regenerated plantlets.", set()),
    ("plant medium", "Regeneration of banana plantlets on MS basal medium",
     "Shoot tips were placed on MS basal medium with sucrose and agar under a 16 h photoperiod.", set()),
    ("mitral stenosis", "Pregnancy outcomes in women with MS: a cohort study",
     "Women with rheumatic MS had more heart failure and preterm birth; a valve area below 1.5 cm2 and "
     "pulmonary hypertension on echocardiography predicted cardiac events.", set()),
    ("Mississippi dateline", "MERIDIAN, MS - Hospital opens new emergency wing",
     "The Mississippi hospital said the wing adds 40 beds and a trauma bay.", set()),
    ("mass spectrometry", "High-resolution MS analysis of serum lipids in athletes",
     "Lipid species were quantified by mass spectrometry on an Orbitrap instrument after extraction.", set()),
    # --- "MS" that is: the abbreviation with evidence from its context -------------------------------------
    ("MS with neurology context", "New MS guidelines recommend early high-efficacy therapy",
     "Neurologists should offer disease-modifying therapy soon after diagnosis, the panel said.", {RES}),
    ("MS with a scale", "MS: EDSS progression slowed in trial of tolebrutinib",
     "Confirmed disability progression was delayed by 31% compared with teriflunomide.", {RES}),
    ("MS with CAR T", "CAR T for MS: first patient treated in Germany",
     "A patient with treatment-refractory MS received CD19 CAR T cells in Erlangen; neurologists reported no "
     "relapse at six months.", {MS, AUTO, RES}),
    # --- MS named but not the subject ----------------------------------------------------------------------
    ("related-topics navigation line", "Lupus nephritis: CAR T cells induce drug-free remission",
     "Twelve patients with refractory lupus nephritis reached drug-free remission after CD19 CAR T cells.\n"
     "Related topics: Multiple sclerosis | Myasthenia gravis | Oncology", {AUTO}),
    ("NMOSD review naming MS as history and differential",
     "Neuromyelitis optica spectrum disorder: a review of diagnosis and treatment",
     "NMOSD was long considered a variant of multiple sclerosis. Aquaporin-4 antibodies distinguish NMOSD from "
     "multiple sclerosis. Inebilizumab, satralizumab and eculizumab are approved.", set()),
    ("MOGAD review, MS as differential", "MOG antibody-associated disease in adults: clinical features",
     "MOGAD differs from multiple sclerosis in its lesion pattern and its course. Unlike MS, attacks respond "
     "well to steroids. Optic neuritis is the commonest first attack.", set()),
    ("SPS item, company plans MS", "Stiff person syndrome patient treated with KYV-101 walks unaided",
     "Kyverna said the patient walked unaided six months after infusion. The company intends to start trials "
     "in myasthenia gravis and multiple sclerosis next year.", {AUTO}),
    ("leukaemia item, platform also in lupus and MS", "CAR T cell therapy for B-ALL: five-year survival data",
     "Five-year overall survival was 58% in adults with relapsed B-ALL. The developer also plans trials in "
     "lupus and MS.", set()),
    ("hoped-for future use", "Obe-cel approved for adult B-ALL in Europe",
     "Autolus hopes obe-cel could one day help people with autoimmune diseases such as lupus and multiple "
     "sclerosis.", set()),
    ("earnings report listing indications", "Cabaletta Bio reports third quarter 2026 financial results",
     "Cabaletta Bio reported a net loss of $45 million. Rese-cel is in clinical development for myositis, "
     "lupus, systemic sclerosis, myasthenia gravis and multiple sclerosis. Cash runway extends into 2028.",
     {AUTO}),
    # --- wording the rules did not know --------------------------------------------------------------------
    ("misspelt disease name", "Mutliple sclerosis: CAR T cells cross into the CNS",
     "CD19 CAR T cells were found in the cerebrospinal fluid of treated patients.", {MS, AUTO, RES}),
    ("misspelt disease name, summary", "CAR T cells in the central nervous system",
     "Two patients with progressive multiple sclerosys received CD19 CAR T cells.", {MS, AUTO, RES}),
    ("Spanish: células T CAR", "Terapia con células T CAR en esclerosis múltiple progresiva: primer paciente",
     "El hospital trató al primer paciente del ensayo.", {MS, AUTO, RES}),
    ("Spanish abbreviation EM", "Células CAR-T en la EM: resultados del primer ensayo",
     "Neurólogos del Hospital Clínic trataron a pacientes con EM progresiva resistente a los tratamientos.",
     {MS, AUTO, RES}),
    ("Portuguese abbreviation EM", "Terapia CAR-T na EM: estudo brasileiro começa a recrutar",
     "Pacientes com EM remitente-recorrente e surtos frequentes podem participar, dizem os neurologistas.",
     {MS, AUTO, RES}),
    ("Spanish EM that is electron microscopy", "EM de transmisión: nuevo microscopio en la facultad",
     "La microscopía electrónica permite ver virus y proteínas.", set()),
    ("French abbreviation SEP", "Cellules CAR-T dans la SEP : un premier patient traité à Paris",
     "Les neurologues de la Pitié-Salpêtrière ont traité un patient atteint de SEP progressive.",
     {MS, AUTO, RES}),
    ("Italian abbreviation SEP", "Cellule CAR-T nella SEP: al via lo studio",
     "Lo studio arruola pazienti con SEP recidivante-remittente che non rispondono alle terapie.",
     {MS, AUTO, RES}),
    ("SEP that is September", "Conference dates: 14 SEP 2026, Berlin",
     "Registration for the cardiology meeting opens in June.", set()),
    ("Polish, inflected", "Terapia CAR-T w stwardnieniu rozsianym: pierwszy pacjent w Polsce",
     "Lekarze podali komórki CAR-T pacjentowi z postępującą postacią choroby.", {MS, AUTO, RES}),
    ("German compound", "CAR-T-Zelltherapie bei Multipler Sklerose: erste Daten aus Erlangen",
     "Drei Patienten wurden behandelt.", {MS, AUTO, RES}),
    ("Dutch", "CAR-T-celtherapie bij multiple sclerose: eerste patiënt behandeld",
     "Het Amsterdam UMC behandelde de eerste patiënt.", {MS, AUTO, RES}),
    ("Chinese", "CAR-T细胞疗法治疗多发性硬化症取得进展", "研究人员报告了首批患者的数据。", {MS, AUTO, RES}),
    ("CAAR-T without CAR-T", "DSG3-CAART cells in pemphigus vulgaris: phase 1 results",
     "Autologous DSG3-CAART was well tolerated and persisted in blood.", {AUTO}),
    ("CAAR-T for myasthenia", "MuSK-CAART for MuSK myasthenia gravis: first patient dosed",
     "The chimeric autoantibody receptor T cells target MuSK-specific B cells.", {AUTO}),
    ("cell therapy named by its target", "CD19-directed cell therapy in pwMS: a phase 1 study",
     "Autologous CD19-directed cell therapy was given to six pwMS with progressive disease.", {MS, AUTO, RES}),
    ("neuroimmune disease beyond the list", "CAR T cells for GAD65-antibody ataxia: a case report",
     "A patient with refractory anti-GAD65 cerebellar ataxia received CD19 CAR T cells and regained gait.",
     {AUTO}),
    # --- CAR T named but not the subject -------------------------------------------------------------------
    ("bispecific compared with CAR T", "Blinatumomab in systemic sclerosis: a bispecific alternative to CAR T",
     "Unlike CAR T-cell therapy, the bispecific antibody needs no cell manufacturing. Four patients with "
     "systemic sclerosis improved.", set()),
    ("bispecific compared with CAR T, summary", "Teclistamab induces remission in refractory lupus",
     "The bispecific antibody achieved responses comparable to CAR T cells without lymphodepletion in six "
     "patients with systemic lupus erythematosus.", set()),
    ("in-vivo CAR T, autoimmune only in the background", "Lentiviral vector generates CAR T cells in vivo in mice",
     "CAR T-cell therapy has shown remarkable success in B-cell malignancies and, more recently, in autoimmune "
     "diseases. Here we engineered a CD8-targeted lentiviral vector that generates CD19 CAR T cells in vivo, "
     "depleting B cells in humanized mice.", set()),
    # --- added with heldout-3 (dev errors of their kind; these sentences are written for the test) ----------
    ("RMS with MS context", "Real-world persistence on a new oral DMT in RMS",
     "Adults with RMS starting treatment were followed for two years; relapses and EDSS were recorded.", {RES}),
    ("RMS = rhabdomyosarcoma", "Relapsed RMS in children: a phase 2 trial of a new regimen",
     "Children with relapsed rhabdomyosarcoma received vincristine and irinotecan.", set()),
    ("RMS = root mean square", "RMS error of MRI-based brain volume estimates",
     "The root mean square error against manual segmentation was 2.1% across scanners.", set()),
    ("lawsuit page naming a CAR T product", "BioCo Therapeutics, Inc.",
     "United States District Court for the District of Delaware. Class period: March 2024 to June 2025. "
     "BioCo's lead candidate, a CD19 CAR T cell therapy, is in trials for lupus nephritis and multiple "
     "sclerosis.", set()),
    ("Portuguese autoimmune", "Terapia CAR-T em doenças autoimunes: primeiros resultados no Brasil",
     "Pacientes com doença refratária receberam células CAR-T.", {AUTO}),
    ("traditional Chinese autoimmune", "CAR-T療法用於自體免疫疾病", "首批患者已完成治療。", {AUTO}),
    # --- added with heldout-4 (a dev error of its kind; sentences written for the test) ---------------------
    ("CAR T product named without CAR", "Biotech moves its myeloma cell therapy into autoimmune disease",
     "The company received FDA clearance to test anito-cel in generalized myasthenia gravis.", {AUTO}),
    ("in vivo CAR T product named without CAR", "First lupus patient dosed in a phase 1 trial",
     "CPTX2309 was given as an outpatient infusion to a woman with refractory systemic lupus erythematosus.",
     {AUTO}),
]


@pytest.fixture(scope="module")
def topics() -> TopicSet:
    return load_topics(yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize(("why", "title", "summary", "expected"), CASES, ids=[c[0] for c in CASES])
def test_error_kind(topics: TopicSet, why: str, title: str, summary: str, expected: set[str]) -> None:
    matches = topics.classify(Document(title, summary))
    got = {m.topic_id for m in matches}
    assert got == expected, f"{why}: {[m.explain() for m in matches]}"
    for match in matches:  # every decision explains itself
        assert match.hits and match.explain().startswith(match.topic_id)


# --- the rule-language features behind them, on a small rule set ----------------------------------------

def _small(**extra_lists: dict) -> dict:  # type: ignore[type-arg]
    return {
        "term_lists": {
            "car": {"terms": ["CAR T"]},
            "disease": {"terms": ["multiple sclerosis", "lupus"], "misspellings": True},
            "abbrev": {"exact_case_terms": ["MS"], "requires": ["disease", "context"], "disabled_by": ["other"]},
            "context": {"terms": ["relaps*"]},
            "other": {"terms": ["Microsoft"]},
            "nav": {"cue_scope": "line", "cue_weight": 0, "patterns": ["(?m:^Related:)"]},
            "cue": {"terms": ["also plans"]},
            "illness": {"terms": ["lupus", "myositis", "asthma", "gout", "multiple sclerosis"]},
            **extra_lists,
        },
        "topics": [{"id": "t", "all_of": ["car", {"any_of": ["disease", "abbrev"]}],
                    "passing_cues": ["nav", "cue"], "crowded": {"lists": ["illness"], "min_terms": 4}}],
    }


def _ids(ts: TopicSet, title: str, summary: str = "") -> set[str]:
    return {m.topic_id for m in ts.classify(Document(title, summary))}


def test_an_abbreviation_needs_context_and_another_meaning_defeats_it() -> None:
    ts = load_topics(_small())
    assert _ids(ts, "CAR T in MS") == set()  # no context evidence
    assert _ids(ts, "CAR T in MS", "Relapses stopped.") == {"t"}
    assert _ids(ts, "CAR T in MS", "Relapses stopped in Microsoft Teams users.") == set()
    assert _ids(ts, "CAR T in multiple sclerosis", "A Microsoft grant.") == {"t"}  # the full name still counts


def test_misspellings_are_one_edit_on_long_words_only() -> None:
    ts = load_topics(_small())
    for misspelt in ("mutliple sclerosis", "multiple sclerosys", "multiple sclerossis", "multple sclerosis"):
        (match,) = ts.classify(Document(f"CAR T in {misspelt}"))
        hit = next(h for h in match.hits if h.term_list == "disease")
        assert (hit.term, hit.text) == ("multiple sclerosis", misspelt)  # named by the term it misspells
    assert _ids(ts, "CAR T in mutliple sclerossis") == set()  # two edits
    assert _ids(ts, "CAR T in lupsu") == set()  # "lupus" is too short to be varied
    no_variants = load_topics(_small(disease={"terms": ["multiple sclerosis", "lupus"]}))
    assert _ids(no_variants, "CAR T in mutliple sclerosis") == set()


def test_misspellings_generator() -> None:
    variants = misspellings("multiple sclerosis")
    assert "mutliple sclerosis" in variants and "multiple sclerosys" in variants and "multple sclerosis" in variants
    assert "multiple sclerosis" not in variants and "nultiple sclerosis" not in variants  # first letter kept
    assert misspellings("MS") == [] and misspellings("lupus nephritis") == [
        v for v in misspellings("lupus nephritis") if v.startswith("lupus ")]
    assert misspellings("multiple* Sklerose")[0].startswith("multiple* ")  # a wildcard word is never varied


def test_navigation_lines_weigh_nothing_and_passing_sentences_little() -> None:
    ts = load_topics(_small())
    assert _ids(ts, "CAR T cells", "Related: lupus") == set()
    assert _ids(ts, "CAR T cells", "Five patients with lupus.\nRelated: asthma") == {"t"}
    assert _ids(ts, "CAR T cells", "The company also plans trials in lupus.") == set()  # 0.25 < 1


def test_a_crowded_sentence_is_a_passing_mention() -> None:
    ts = load_topics(_small())
    assert _ids(ts, "CAR T cells", "It is developed for lupus, myositis, asthma and gout.") == set()
    assert _ids(ts, "CAR T cells", "It is developed for lupus, myositis and asthma.") == {"t"}
    assert _ids(ts, "CAR T cells in lupus, myositis, asthma and gout") == {"t"}  # the title is never crowded


@pytest.mark.parametrize(("change", "message"), [
    ({"requires": ["nope"]}, r"term list 'abbrev': requires names unknown term list 'nope'"),
    ({"misspellings": "yes"}, r"misspellings must be true or false"),
    ({"cue_weight": -1}, r"cue_weight"),
    ({"cue_scope": "paragraph"}, r"cue_scope must be one of sentence, line, rest_of_field"),
])
def test_new_list_keys_are_checked(change: dict, message: str) -> None:  # type: ignore[type-arg]
    config = _small()
    config["term_lists"]["abbrev"].update(change)
    with pytest.raises(TopicConfigError, match=message):
        load_topics(config)


@pytest.mark.parametrize(("crowded", "message"), [
    ({"lists": ["nope"]}, r"crowded references unknown term list 'nope'"),
    ({"lists": ["illness"], "min_terms": 1}, r"crowded.min_terms must be a whole number of at least 2"),
    ({"lists": ["illness"], "most": 3}, r"`crowded` must be a mapping"),
])
def test_crowded_is_checked(crowded: dict, message: str) -> None:  # type: ignore[type-arg]
    config = _small()
    config["topics"][0]["crowded"] = crowded
    with pytest.raises(TopicConfigError, match=message):
        load_topics(config)
