"""Two snapshots of a trial record → the sentences of its "Update" (table-tested; no storage)."""

from __future__ import annotations

from typing import Any

import pytest

from aggregator.trials.diff import NAMES_SHOWN, trial_changes
from aggregator.trials.eligibility import Age, Edss
from aggregator.trials.record import Contact, Dated, Eligibility, Site, TrialSnapshot

ERLANGEN = Site("Universitätsklinikum Erlangen", "Erlangen", "Bavaria", "Germany", "NOT_YET_RECRUITING")
STANFORD = Site("Stanford University", "Stanford", "California", "United States", "RECRUITING")


def snapshot(**changes: Any) -> dict[str, Any]:
    base = TrialSnapshot(
        registry="ctgov", registry_id="NCT06384976", title="KYSA-7", status="NOT_YET_RECRUITING",
        phases=("PHASE2",), sponsor="Kyverna Therapeutics", collaborators=("University Hospital Erlangen",),
        contacts=(Contact("Kyverna Clinical Trials", "CONTACT", "+1 510 925 2492", "trials@kyverna.example"),),
        sites=(ERLANGEN, STANFORD), enrollment=24, enrollment_type="ESTIMATED",
        eligibility=Eligibility(Age(18, "year"), Age(65, "year"), "ALL", False, ("PPMS", "SPMS"),
                                Edss(3.0, True, 6.5, True, ("EDSS score of 3.0 to 6.5 inclusive",))),
        last_update="2026-10-14", start=Dated("2026-03", "ESTIMATED"), primary_completion=Dated("2028-06", "ESTIMATED"))
    fields = {**base.__dict__, **changes}
    fields.pop("extra_keys")
    return TrialSnapshot(**fields).to_extra()


def site(name: str, country: str, status: str | None, city: str | None = None) -> Site:
    return Site(name, city, None, country, status)


@pytest.mark.parametrize(("after", "sentences"), [
    ({"last_update": "2026-11-18"}, []),
    ({"status": "RECRUITING"}, ["Status changed from Not yet recruiting to Recruiting",
                                # Erlangen has its own status (unchanged); Stanford recruits already
                                ]),
    ({"sites": (ERLANGEN.__class__(**{**ERLANGEN.__dict__, "status": "RECRUITING"}), STANFORD)},
     ["Now recruiting in Germany: Universitätsklinikum Erlangen"]),
    ({"sites": (ERLANGEN, STANFORD, site("Hôpital Pitié-Salpêtrière", "France", "NOT_YET_RECRUITING"))},
     ["New site in France, not yet recruiting: Hôpital Pitié-Salpêtrière"]),
    ({"sites": (ERLANGEN, STANFORD, site("Charité", "Germany", "RECRUITING"))}, ["Now recruiting in Germany: Charité"]),
    ({"sites": (ERLANGEN, site("Stanford University", "United States", "COMPLETED", "Stanford"))},
     ["No longer recruiting in United States: Stanford University (now Completed)"]),
    ({"sites": (ERLANGEN,)}, ["Site no longer listed in United States: Stanford University"]),
    ({"sites": (ERLANGEN, STANFORD, site("Hospital Clínic", "Spain", "ACTIVE_NOT_RECRUITING"))},
     ["New site in Spain: Hospital Clínic (Active, not recruiting)"]),
    ({"enrollment": 60}, ["Enrollment 24 → 60"]),
    ({"enrollment": 58, "enrollment_type": "ACTUAL"}, ["Enrollment 24 planned → 58 actual"]),
    ({"eligibility": Eligibility(Age(18, "year"), Age(70, "year"), "ALL", False, ("PPMS", "SPMS"),
                                 Edss(3.0, True, 6.5, True, ("s",)))}, ["Maximum age 65 → 70"]),
    ({"eligibility": Eligibility(Age(16, "year"), None, "ALL", False, ("PPMS", "SPMS"),
                                 Edss(3.0, True, 6.5, True, ("s",)))},
     ["Minimum age 18 → 16", "Maximum age 65 → no limit"]),
    ({"eligibility": Eligibility(Age(6, "month"), Age(65, "year"), "ALL", False, ("PPMS", "SPMS"),
                                 Edss(3.0, True, 6.5, True, ("s",)))}, ["Minimum age 18 years → 6 months"]),
    ({"eligibility": Eligibility(Age(18, "year"), Age(65, "year"), "FEMALE", True, ("PPMS", "RRMS", "SPMS"),
                                 Edss(2.0, True, 6.5, True, ("s",)))},
     ["Sex: female and male participants → female participants only", "Healthy volunteers now accepted",
      "MS forms PPMS, SPMS → PPMS, RRMS, SPMS", "EDSS limits 3.0 to 6.5 → 2.0 to 6.5"]),
    ({"eligibility": Eligibility(Age(18, "year"), Age(65, "year"), "ALL", False, ("PPMS", "SPMS"), None)},
     ["EDSS limits 3.0 to 6.5 → not stated"]),
    ({"sponsor": "Kyverna Therapeutics, Inc.", "collaborators": ("Charité",)},
     ["Sponsor Kyverna Therapeutics → Kyverna Therapeutics, Inc.", "New collaborator: Charité",
      "Collaborator no longer listed: University Hospital Erlangen"]),
    ({"contacts": (Contact("Kyverna Clinical Trials", "CONTACT", "+1 510 000 0000", "trials@kyverna.example"),
                   Contact("Dr. A. Mustermann"))},
     ["New central contact: Dr. A. Mustermann", "Contact details of Kyverna Clinical Trials changed"]),
    ({"primary_completion": Dated("2028-12", "ESTIMATED")}, ["Primary completion 2028-06 → 2028-12"]),
    ({"start": Dated("2026-03", "ACTUAL")}, ["Start date 2026-03 confirmed (actual)"]),
    ({"phases": ("PHASE2", "PHASE1")}, ["Phase changed from Phase 2 to Phase 1/2"]),
])
def test_changes_become_sentences(after: dict[str, Any], sentences: list[str]) -> None:
    assert [c.summary for c in trial_changes(snapshot(), snapshot(**after))] == sentences


def test_overall_status_moves_sites_without_their_own_status() -> None:
    """A site with no status of its own has the trial's: the trial recruiting means the site recruits."""
    quiet = (site("Klinikum A", "Germany", None), site("Klinikum B", "Germany", None),
             site("Vall d'Hebron", "Spain", None))
    before = snapshot(sites=quiet)
    changes = trial_changes(before, snapshot(sites=quiet, status="RECRUITING"))
    assert [c.summary for c in changes] == ["Status changed from Not yet recruiting to Recruiting",
                                            "Now recruiting in Germany: Klinikum A, Klinikum B",
                                            "Now recruiting in Spain: Vall d'Hebron"]
    germany = changes[1]
    assert (germany.country, germany.began_recruiting) == ("Germany", True)
    assert germany.event_data() == {"fact": "site", "before": "recruiting", "after": ["Klinikum A", "Klinikum B"],
                                    "country": "Germany", "began_recruiting": True}
    assert changes[0].event_data() == {"fact": "status", "before": "NOT_YET_RECRUITING", "after": "RECRUITING"}


def test_many_sites_in_one_country_make_one_sentence() -> None:
    many = tuple(site(f"Centre {n}", "Germany", "RECRUITING") for n in range(1, 8))
    [change] = trial_changes(snapshot(sites=()), snapshot(sites=many))
    assert change.summary == "Now recruiting in Germany: Centre 1, Centre 2, Centre 3, Centre 4 and 3 more"
    assert NAMES_SHOWN == 4


def test_a_country_level_record_names_no_site() -> None:
    before = snapshot(sites=(Site(None, None, None, "Spain", "NOT_YET_RECRUITING"),))
    after = snapshot(sites=(Site(None, None, None, "Spain", "RECRUITING"),))
    assert [c.summary for c in trial_changes(before, after)] == ["Now recruiting in Spain"]


def test_facts_an_older_snapshot_did_not_keep_invent_no_news() -> None:
    old_item = {"status": "NOT_YET_RECRUITING", "phase": ["PHASE2"], "conditions": [], "interventions": [],
                "other_names": [], "sponsor": "Kyverna Therapeutics", "start_date": "2026-03",
                "last_update": "2026-10-14"}  # what the first trial items kept
    assert trial_changes(old_item, snapshot()) == []
    assert [c.summary for c in trial_changes(old_item, snapshot(status="RECRUITING"))] == [
        "Status changed from Not yet recruiting to Recruiting"]
    # An answer without the locations module (a `fields=` projection) says nothing about sites.
    assert trial_changes(snapshot(), snapshot(sites=None)) == []
    assert trial_changes(snapshot(), snapshot(eligibility=None, contacts=None, collaborators=None)) == []


def test_case_and_order_are_not_changes() -> None:
    assert trial_changes(snapshot(status="RECRUITING"), snapshot(status="recruiting")) == []
    assert trial_changes(snapshot(phases=("PHASE1", "PHASE2")), snapshot(phases=("PHASE2", "PHASE1"))) == []
    assert trial_changes(snapshot(sponsor="KYVERNA THERAPEUTICS"), snapshot()) == []
    assert trial_changes(None, snapshot()) == [] and trial_changes(snapshot(), {}) == []
