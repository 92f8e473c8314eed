"""Eligibility essentials read from registry text (table-tested): ages, sex, MS forms (named for inclusion, not
exclusion), EDSS limits with the sentence they came from; and the real API v2 documents read into snapshots."""

from __future__ import annotations

import pytest

from aggregator.poll.parse.clinicaltrials import parse_studies
from aggregator.trials.eligibility import (
    Age,
    age_words,
    ctis_age_range,
    ctis_sex,
    edss_limits,
    ms_forms,
    parse_age,
    sentences,
    sex_words,
    split_criteria,
)
from aggregator.trials.record import TrialSnapshot, car_targets, ctis_status, products, status_group
from tests.kinds_helpers import fixture


@pytest.mark.parametrize(("text", "expected"), [
    ("18 Years", Age(18, "year")),
    ("3 Months", Age(3, "month")),
    ("1 Year", Age(1, "year")),
    ("6 Weeks", Age(6, "week")),
    ("65", Age(65, "year")),  # a bare number is years, as registries mean it
    ("N/A", None),
    ("", None),
    (None, None),
    ("eighteen", None),
])
def test_registry_ages(text: str | None, expected: Age | None) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize(("minimum", "maximum", "words"), [
    ("18 Years", "65 Years", "18 to 65 years"),
    ("3 Months", "99 Years", "3 months to 99 years"),
    ("18 Years", None, "18 years and older"),
    (None, "17 Years", "up to 17 years"),
    ("1 Year", None, "1 year and older"),
    (None, None, "any age (the registry states no limit)"),
])
def test_age_words(minimum: str | None, maximum: str | None, words: str) -> None:
    assert age_words(parse_age(minimum), parse_age(maximum)) == words


@pytest.mark.parametrize(("text", "expected"), [
    ("18-64 years", (Age(18, "year"), Age(64, "year"))),
    ("18-64 years, 65+ years", (Age(18, "year"), None)),
    ("Under 18 years, 18-64 years", (None, Age(64, "year"))),
    ("", (None, None)),
])
def test_ctis_age_groups(text: str, expected: tuple[Age | None, Age | None]) -> None:
    assert ctis_age_range(text) == expected


def test_sex_words_and_ctis_gender() -> None:
    assert sex_words("ALL") == "female and male participants" and sex_words("female") == "female participants only"
    assert sex_words(None) == "not stated"
    assert (ctis_sex("Female, Male"), ctis_sex("Female"), ctis_sex("Male"), ctis_sex("")) == ("ALL", "FEMALE", "MALE",
                                                                                                None)


@pytest.mark.parametrize(("conditions", "title", "criteria", "forms", "why"), [
    (["Multiple Sclerosis, Primary Progressive", "Multiple Sclerosis, Secondary Progressive"],
     "KYV-101 in Progressive Multiple Sclerosis (KYSA-7)", "", ("SPMS", "PPMS"),
     "MeSH-style condition names; 'progressive MS' of the title adds nothing once forms are named"),
    (["Multiple Sclerosis, Relapsing-Remitting"], "", "", ("RRMS",), "relapsing-remitting"),
    (["Multiple Sclerosis"], "", "Inclusion Criteria:\n* Diagnosis of RRMS\n\nExclusion Criteria:\n* PPMS", ("RRMS",),
     "a form named only among the exclusion criteria is not taken"),
    (["Multiple Sclerosis, Chronic Progressive"], "", "", ("PMS",), "progressive, form not named"),
    ([], "CAR T cells in progressive multiple sclerosis [PMS]", "", ("PMS",), "the title's abbreviation"),
    (["Relapsing Multiple Sclerosis"], "", "", ("RRMS",), "relapsing MS"),
    (["Multiple Sclerosis"], "we report rms and pms values", "", (), "lower-case rms/pms are not MS forms"),
    (["Multiple Sclerosis"], "", "Inclusion Criteria:\n* active secondary progressive MS (aSPMS) or RMS",
     ("RRMS", "SPMS"),
     "aSPMS and RMS"),
    (["Myasthenia Gravis"], "CD19 CAR T", "", (), "no form at all"),
])
def test_ms_forms(conditions: list[str], title: str, criteria: str, forms: tuple[str, ...], why: str) -> None:
    assert ms_forms(conditions, title, criteria) == forms, why


@pytest.mark.parametrize(("criteria", "words", "sentences_"), [
    ("Inclusion Criteria:\n\n* Expanded Disability Status Scale (EDSS) score of 3.0 to 6.5 inclusive at screening.",
     "EDSS 3.0 to 6.5", ["Expanded Disability Status Scale (EDSS) score of 3.0 to 6.5 inclusive at screening."]),
    ("1. EDSS ≤ 6.5 at screening and age < 55 years", "EDSS at most 6.5",
     ["EDSS ≤ 6.5 at screening and age < 55 years"]),  # the age limit is another criterion of the sentence
    ("* EDSS score between 2.0 and 6.5", "EDSS 2.0 to 6.5", ["EDSS score between 2.0 and 6.5"]),
    ("- EDSS of 6.5 or less", "EDSS at most 6.5", ["EDSS of 6.5 or less"]),
    ("EDSS ≥ 2.0 and ≤ 6.5", "EDSS 2.0 to 6.5", ["EDSS ≥ 2.0 and ≤ 6.5"]),
    ("EDSS score >= 3", "EDSS at least 3.0", ["EDSS score >= 3"]),
    ("EDSS < 7.0", "EDSS below 7.0", ["EDSS < 7.0"]),
    ("EDSS 2,5 - 6,5", "EDSS 2.5 to 6.5", ["EDSS 2,5 - 6,5"]),  # decimal commas
    ("Inclusion Criteria:\n* Age 18-65\n\nExclusion Criteria:\n1. EDSS score > 6.5 at screening",
     "EDSS at most 6.5", ["EDSS score > 6.5 at screening"]),  # an exclusion is a limit the other way round
    ("Exclusion Criteria:\n* EDSS score of 7.0 or higher", "EDSS below 7.0", ["EDSS score of 7.0 or higher"]),
    ("Inclusion Criteria:\n* EDSS score ≤6.0 for RRMS.\n* EDSS ≤ 7.0 for progressive MS",
     "EDSS at most 7.0 (the criteria state more than one EDSS limit: read the sentences)",
     ["EDSS score ≤6.0 for RRMS.", "EDSS ≤ 7.0 for progressive MS"]),
])
def test_edss_limits_keep_their_sentence(criteria: str, words: str, sentences_: list[str]) -> None:
    edss = edss_limits(criteria)
    assert edss is not None and edss.words() == words
    assert list(edss.sentences) == sentences_


@pytest.mark.parametrize("criteria", [
    "Inclusion Criteria:\n* Age 18 to 65 years",
    "EDSS assessed at every visit",  # named, no limit
    "EDSS score of 12",  # not an EDSS value
    "EDSS ≤ 5 years after diagnosis",  # a number with another unit
    "Exclusion Criteria:\n* EDSS 0-1.5",  # an excluded range is not one limit: left to the reader
    "",
])
def test_no_edss_limit_is_invented(criteria: str) -> None:
    assert edss_limits(criteria) is None


def test_sentences_and_criteria_split() -> None:
    text = ("Inclusion Criteria:\n\n1. Age 18 \\[inclusive\\]. Written consent.\n   * EDSS 3.0-6.5\n"
            "Exclusion Criteria:\n* X")
    inclusion, exclusion = split_criteria(text)
    assert "EDSS 3.0-6.5" in inclusion and exclusion.startswith("Exclusion Criteria")
    assert list(sentences(inclusion)) == ["Inclusion Criteria:", "Age 18 [inclusive].", "Written consent.",
                                          "EDSS 3.0-6.5"]


def test_real_single_study_becomes_a_full_snapshot() -> None:
    """NCT02576665 as ClinicalTrials.gov serves it (shared/fixtures/real): values read off the document."""
    [item] = parse_studies(fixture("ctgov_api_v2_single_study_with_locations.json"))
    snapshot = TrialSnapshot.from_extra(dict(item.extra), item.nct_id, "Toca 6")
    assert snapshot.status == "TERMINATED" and snapshot.phases == ("PHASE1",)
    assert snapshot.enrollment == 21 and snapshot.enrollment_type is None  # "enrollmentInfo": {"count": 21}
    eligibility = snapshot.eligibility
    assert eligibility is not None
    assert (eligibility.min_age, eligibility.max_age, eligibility.sex) == (Age(18, "year"), Age(75, "year"), "ALL")
    assert eligibility.ms_forms == () and eligibility.edss is None  # an oncology study
    assert [(s.facility, s.city, s.state, s.country) for s in snapshot.sites or ()] == [
        ("Sarah Cannon Research Institute", "Denver", "Colorado", "United States"),
        ("University of Miami", "Miami", "Florida", "United States"),
        ("MD Anderson Cancer Center", "Houston", "Texas", "United States")]
    first = (snapshot.sites or ())[0]
    assert (first.latitude, first.longitude, first.status) == (39.73915, -104.9847, None)
    assert snapshot.start is not None and snapshot.start.date == "2016-07"  # a partial date, kept as written
    assert snapshot.contacts == ()  # the study has a locations module and no central contact


def test_real_search_page_ages_and_partial_answers() -> None:
    items = parse_studies(fixture("ctgov_api_v2_studies_page1_countTotal_nextPageToken.json"))
    snapshots = {i.nct_id: TrialSnapshot.from_extra(dict(i.extra), i.nct_id) for i in items}
    assert snapshots["NCT02710084"].eligibility is not None
    assert age_words(snapshots["NCT02710084"].eligibility.min_age, snapshots["NCT02710084"].eligibility.max_age) == \
        "5 to 17 years"
    assert snapshots["NCT07119606"].eligibility is not None
    assert snapshots["NCT07119606"].eligibility.min_age == Age(3, "month")
    # These pages were fetched with a `fields=` projection: no locations module, so sites are unknown, not none.
    assert all(s.sites is None and s.contacts is None for s in snapshots.values())
    page2 = parse_studies(fixture("ctgov_api_v2_studies_page2_via_pageToken.json"))
    no_minimum = next(i for i in page2 if i.nct_id == "NCT03836300")
    eligibility = TrialSnapshot.from_extra(dict(no_minimum.extra)).eligibility
    assert eligibility is not None and eligibility.min_age is None and eligibility.max_age == Age(99, "year")


@pytest.mark.parametrize(("texts", "targets"), [
    (["KYV-101, a Fully Human Anti-CD19 CAR T-cell Therapy"], ("CD19",)),
    (["Anti-BCMA CAR T Cells (CT103A)"], ("BCMA",)),
    (["CD19/BCMA dual-targeting CAR-T"], ("CD19", "BCMA")),
    (["B-cell maturation antigen CAR"], ("BCMA",)),
    (["CD20 CAR T"], ("other",)),
])
def test_car_targets(texts: list[str], targets: tuple[str, ...]) -> None:
    assert car_targets(texts) == targets


def test_products_leave_out_conditioning_and_placebo() -> None:
    assert products(["KYV-101", "Fludarabine", "Cyclophosphamide", "Placebo", "KYV-101"]) == ("KYV-101",)


@pytest.mark.parametrize(("label", "code", "group"), [
    ("Ongoing, recruiting", "RECRUITING", "recruiting"),
    ("Authorised, recruiting", "RECRUITING", "recruiting"),
    ("Authorised, recruitment pending", "NOT_YET_RECRUITING", "not-yet-recruiting"),
    ("Ongoing, recruitment ended", "ACTIVE_NOT_RECRUITING", "active"),
    ("Ended", "COMPLETED", "completed"),
    ("Temporarily halted", "SUSPENDED", "withdrawn"),
    ("Something new", None, "other"),
])
def test_ctis_statuses(label: str, code: str | None, group: str) -> None:
    assert ctis_status(label) == code and status_group(code) == group
