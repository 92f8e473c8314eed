"""The finder's rules (pure): CTIS ↔ NCT twins shown as one trial, the filters, and the order that puts
recruiting near the reader's country first; the country names registries write, matched by ISO code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.trials.countries import country_key, display_name, same_country
from aggregator.trials.eligibility import Age
from aggregator.trials.finder import (
    FinderQuery,
    RecordRow,
    country_centre,
    facet_countries,
    facet_products,
    find,
    group_twins,
    matches,
    nearest_km,
    rank,
)
from aggregator.trials.record import Eligibility, Site, TrialSnapshot, sites_by_country

T0 = datetime(2026, 11, 16, 8, tzinfo=UTC)
ERLANGEN = Site("Universitätsklinikum Erlangen", "Erlangen", None, "Germany", "RECRUITING", 49.59, 11.01)
MUNICH = Site("LMU Klinikum", "Munich", None, "Germany", "NOT_YET_RECRUITING", 48.14, 11.58)
VIENNA = Site("AKH Wien", "Vienna", None, "Austria", "RECRUITING", 48.21, 16.37)
MADRID = Site("Hospital La Paz", "Madrid", None, "Spain", "RECRUITING", 40.42, -3.70)
STANFORD = Site("Stanford University", "Stanford", "California", "United States", "RECRUITING", 37.42, -122.17)


def record(item_id: int, registry_id: str, *, registry: str = "ctgov", status: str = "RECRUITING",
           sites: tuple[Site, ...] = (), forms: tuple[str, ...] = (), phases: tuple[str, ...] = ("PHASE1",),
           targets: tuple[str, ...] = ("CD19",), products: tuple[str, ...] = (), eu: tuple[str, ...] = (),
           ncts: tuple[str, ...] = (), changed: int = 0, title: str = "") -> RecordRow:
    snapshot = TrialSnapshot(registry=registry, registry_id=registry_id, title=title or registry_id, status=status,
                             phases=phases, targets=targets, products=products, sites=sites,
                             eligibility=Eligibility(Age(18, "year"), None, "ALL", False, forms),
                             eu_ct_numbers=eu, nct_ids=ncts)
    moment = T0 + timedelta(days=changed)
    return RecordRow(item_id, snapshot, T0, moment, moment)


def test_twins_are_one_trial_by_secondary_id_or_by_a_named_nct_id() -> None:
    rows = [
        record(1, "NCT06384976", sites=(ERLANGEN,), eu=("2025-521999-11-00",), products=("KYV-101",)),
        record(2, "2025-521999-11-00", registry="ctis",
               sites=(Site(None, None, None, "Germany", "RECRUITING"), Site(None, None, None, "Italy",
                                                                             "NOT_YET_RECRUITING")),
               products=("KYV-101",), changed=3),
        record(3, "NCT05938582", status="ACTIVE_NOT_RECRUITING"),
        record(4, "2025-000001-22-00", registry="ctis", ncts=("NCT05938582",)),  # names its twin in its text
        record(5, "2025-523726-40-00", registry="ctis", targets=("other",)),  # no twin
    ]
    views = {view.key: view for view in group_twins(rows)}
    assert set(views) == {"NCT06384976", "NCT05938582", "2025-523726-40-00"}
    kysa = views["NCT06384976"]
    assert (kysa.nct_id, kysa.eu_ct_number, kysa.item_ids) == ("NCT06384976", "2025-521999-11-00", (1, 2))
    assert kysa.changed_at == T0 + timedelta(days=3)  # the twin changed later
    # The CTIS record adds the EU country the ClinicalTrials.gov record lacks (Italy), not Germany again.
    assert [(s.country, s.facility) for s in kysa.sites] == [("Germany", "Universitätsklinikum Erlangen"),
                                                              ("Italy", None)]
    assert kysa.products == ("KYV-101",)
    assert views["NCT05938582"].eu_ct_number == "2025-000001-22-00"
    assert find(list(views.values()), "2025-521999-11-00") is kysa
    assert find(list(views.values()), "nct06384976") is kysa
    assert find(list(views.values()), "NCT00000000") is None


def test_the_latest_item_of_a_record_speaks_for_it() -> None:
    """Two sources polling one study: the item updated last gives the facts; both items belong to the trial."""
    older = record(1, "NCT06384976", status="NOT_YET_RECRUITING")
    newer = record(7, "NCT06384976", status="RECRUITING", changed=1)
    [view] = group_twins([newer, older])
    assert view.status == "RECRUITING" and view.item_ids == (1, 7)


def _views() -> list:  # type: ignore[type-arg]
    return group_twins([
        record(1, "NCT00000001", sites=(MUNICH,), status="NOT_YET_RECRUITING", forms=("PPMS",), changed=9),
        record(2, "NCT00000002", sites=(VIENNA,), forms=("RRMS",), phases=("PHASE1", "PHASE2"), changed=1),
        record(3, "NCT00000003", sites=(STANFORD,), forms=("SPMS",), targets=("BCMA",), changed=5),
        record(4, "NCT00000004", sites=(ERLANGEN, MUNICH), forms=("PMS",), products=("KYV-101",), changed=2),
        record(5, "NCT00000005", sites=(MADRID,), status="COMPLETED", changed=8),
        record(6, "NCT00000006", sites=(), status="RECRUITING", changed=7),  # no site listed yet
        record(7, "NCT00000007", sites=(), status="NOT_YET_RECRUITING", changed=6),
    ])


def keys(views) -> list[str]:  # type: ignore[no-untyped-def]
    return [view.key for view in views]


def test_without_a_country_recruiting_comes_first_then_the_newest_change() -> None:
    assert keys(rank(_views(), FinderQuery())) == [
        "NCT00000006", "NCT00000003", "NCT00000004", "NCT00000002",  # recruiting, newest change first
        "NCT00000001", "NCT00000007",  # not yet recruiting
        "NCT00000005"]  # completed


def test_with_a_country_recruiting_there_then_nearest_recruiting_then_not_yet_there() -> None:
    views = _views()
    assert keys(rank(views, FinderQuery(country="Germany"))) == [
        "NCT00000004",  # recruiting in Germany (Erlangen)
        "NCT00000002", "NCT00000003", "NCT00000006",  # recruiting elsewhere: Vienna, Stanford, no site known
        "NCT00000001",  # not yet recruiting in Germany (Munich)
        "NCT00000007",  # not yet recruiting, no site known
        "NCT00000005"]  # completed
    # "near": from the mean of the German sites (Erlangen, Munich twice): Vienna, then Stanford.
    centre = country_centre(views, "Germany")
    assert centre is not None and 48.5 < centre[0] < 49.0
    vienna, stanford = (next(v for v in views if v.key == k) for k in ("NCT00000002", "NCT00000003"))
    vienna_km, stanford_km = nearest_km(vienna, centre), nearest_km(stanford, centre)
    assert vienna_km is not None and stanford_km is not None and 300 < vienna_km < 450 and 9000 < stanford_km
    assert keys(rank(views, FinderQuery(country="Germany", only_country=True))) == ["NCT00000004", "NCT00000001"]
    # A country with no site anywhere: no "near", so the order is the one without a country.
    assert keys(rank(views, FinderQuery(country="Japan"))) == [
        "NCT00000006", "NCT00000003", "NCT00000004", "NCT00000002", "NCT00000001", "NCT00000007", "NCT00000005"]


@pytest.mark.parametrize(("query", "expected"), [
    (FinderQuery(status="recruiting"), {"NCT00000002", "NCT00000003", "NCT00000004", "NCT00000006"}),
    (FinderQuery(status="completed"), {"NCT00000005"}),
    (FinderQuery(form="progressive"), {"NCT00000001", "NCT00000003", "NCT00000004"}),
    (FinderQuery(form="rrms"), {"NCT00000002"}),
    (FinderQuery(form="ppms"), {"NCT00000001"}),
    (FinderQuery(phase="2"), {"NCT00000002"}),  # a phase 1/2 trial is a phase 2 trial too
    (FinderQuery(phase="1"), {f"NCT0000000{n}" for n in range(1, 8)}),
    (FinderQuery(target="BCMA"), {"NCT00000003"}),
    (FinderQuery(target="other"), set()),
    (FinderQuery(product="kyv101"), {"NCT00000004"}),  # written any way
    (FinderQuery(country="Österreich", only_country=True), set()),  # an unknown spelling matches nothing
    (FinderQuery(country="Austria", only_country=True, status="recruiting"), {"NCT00000002"}),
    (FinderQuery(country="Austria", status="completed"), {"NCT00000005"}),  # the country orders, not filters
])
def test_filters(query: FinderQuery, expected: set[str]) -> None:
    assert {view.key for view in _views() if matches(view, query)} == expected


def test_facets_and_sites_by_country() -> None:
    views = _views()
    assert facet_countries(views) == ["Austria", "Germany", "Spain", "United States"]
    assert facet_products(views) == ["KYV-101"]
    view = next(v for v in views if v.key == "NCT00000004")
    groups = sites_by_country([STANFORD, MUNICH, VIENNA, ERLANGEN, MADRID], view.site_status, first="spain")
    assert [country for country, _ in groups] == ["Spain", "Austria", "Germany", "United States"]
    germany = dict(groups)["Germany"]
    assert [s.facility for s in germany] == ["Universitätsklinikum Erlangen", "LMU Klinikum"]  # recruiting first


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Korea, Republic of", "South Korea", True),
    ("Turkey", "Türkiye", True),
    ("United States", "USA", True),
    ("Germany", "germany", True),
    ("Germany", "Austria", False),
    ("Atlantis", "atlantis", True),  # unknown names still match themselves
    ("", "", False),
])
def test_country_names_meet_by_iso_code(a: str, b: str, same: bool) -> None:
    assert same_country(a, b) is same


def test_country_display_names() -> None:
    assert display_name("Korea, Republic of") == "South Korea" and display_name("Atlantis") == "Atlantis"
    assert country_key("Iran, Islamic Republic of") == "IR"
