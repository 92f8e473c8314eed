"""CTIS RSS items (the `eu-ctis-ms` source, kind `ctis`) read into trial snapshots: the labelled lines of a real
item description (gregory-ai's capture of 2025-523726-40-00, 2026-07-18), countries with statuses that contain
commas, day-first dates; items without an EU CT number stay plain items; hostile markup stays text."""

from __future__ import annotations

import pytest

from aggregator.domain import Fetched, SourceSpec
from aggregator.poll.parse import parse
from aggregator.poll.parse.ctis import country_statuses, ctis_phases, labelled_lines
from aggregator.trials.record import TrialSnapshot
from tests.kinds_helpers import fixture, rss, rss_item

SPEC = SourceSpec(id="eu-ctis-ms", name="CTIS", url="https://euclinicaltrials.eu/ctis-public-api/rss/updates.rss",
                  kind="ctis", evidence_type="trial-registry")


def parsed(body: bytes) -> list:  # type: ignore[type-arg]
    return parse(SPEC, Fetched(url=SPEC.url, final_url=SPEC.url, status=200, body=body,
                               content_type="application/rss+xml"))


def test_real_item_description_becomes_a_snapshot() -> None:
    first, kysa = parsed(fixture("ctis_ms_updates.rss"))
    snapshot = TrialSnapshot.from_extra(dict(first.extra))
    # Values read off the description in tests/data/apis/ctis_ms_updates.rss.
    assert (snapshot.registry, snapshot.registry_id) == ("ctis", "2025-523726-40-00")
    assert (snapshot.status, snapshot.status_text) == ("RECRUITING", "Ongoing, recruiting")
    assert snapshot.phases == ("PHASE3",) and snapshot.enrollment == 54
    assert snapshot.sponsor == "F. Hoffmann-La Roche AG" and snapshot.products == ("Ocrevus", "Ocrelizumab")
    assert [(s.country, s.status, s.status_text) for s in snapshot.sites or ()] == [
        ("Spain", "RECRUITING", "Ongoing, recruiting"),
        ("France", "NOT_YET_RECRUITING", "Authorised, recruitment pending"),
        ("Poland", "RECRUITING", "Authorised, recruiting"),
        ("Italy", "RECRUITING", "Ongoing, recruiting")]
    assert snapshot.last_update == "2026-07-09"  # 09/07/2026 is day first
    eligibility = snapshot.eligibility
    assert eligibility is not None and eligibility.sex == "ALL" and eligibility.max_age is not None
    assert eligibility.max_age.value == 64 and first.evidence_type == "trial-registry"
    assert TrialSnapshot.from_extra(dict(kysa.extra)).eligibility.ms_forms == ("SPMS", "PPMS")  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "pairs"), [
    ("Spain:Ongoing, recruiting, France:Authorised, recruitment pending",
     [("Spain", "Ongoing, recruiting"), ("France", "Authorised, recruitment pending")]),
    ("Germany:Ended", [("Germany", "Ended")]),
    ("", []),
    ("no colon here", []),
])
def test_country_statuses(text: str, pairs: list[tuple[str, str]]) -> None:
    assert country_statuses(text) == pairs


@pytest.mark.parametrize(("text", "phases"), [
    ("Therapeutic confirmatory  (Phase III)", ("PHASE3",)),
    ("Human pharmacology (Phase I) and Therapeutic exploratory (Phase II)", ("PHASE1", "PHASE2")),
    ("Phase IV", ("PHASE4",)),
    ("Therapeutic use", ()),
])
def test_ctis_phases(text: str, phases: tuple[str, ...]) -> None:
    assert ctis_phases(text) == phases


def test_an_item_without_an_eu_ct_number_is_a_plain_item_and_markup_stays_text() -> None:
    body = rss(rss_item("CTIS maintenance notice", "https://euclinicaltrials.eu/news", "Scheduled downtime.",
                        guid="n1"),
               rss_item("Hostile", "https://euclinicaltrials.eu/search-for-clinical-trials/?EUCT=2026-500000-01-00",
                        "&lt;b&gt;Sponsor&lt;/b&gt;: &lt;script&gt;alert(1)&lt;/script&gt;Evil&lt;br /&gt;", guid="n2"))
    plain, hostile = parsed(body.encode())
    assert plain.extra == () and plain.evidence_type is None
    snapshot = TrialSnapshot.from_extra(dict(hostile.extra))
    assert snapshot.registry_id == "2026-500000-01-00" and snapshot.sponsor == "alert(1) Evil"  # tags gone
    assert labelled_lines("<b>Trial number</b>: 1<br /><b>Sponsor</b>: A &amp; B") == {"trial number": "1",
                                                                                       "sponsor": "A & B"}


def test_a_ctis_item_on_the_page_links_to_its_trial(tmp_path, feed_server, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_app, write_feeds_file
    from tests.kinds_helpers import NOW, Clock, poller

    feed_server.add("/ctis.rss", fixture("ctis_ms_updates.rss"), content_type="application/rss+xml")
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctis", "name": "EU CTIS", "kind": "ctis", "url": feed_server.url("/ctis.rss"),
         "evidence_type": "trial-registry"}]))
    assert poller(app, Clock(NOW)).poll_many(["ctis"])[0].outcome == "ok"
    page = app.test_client().get("/?topic=all").get_data(as_text=True)
    assert 'href="/trials/2025-521999-11-00"' in page  # the KYV-101 record matches the CAR T topic
    assert '<span class="badge trial-status">Recruiting</span>' in page
