"""Trials end to end on SQLite and PostgreSQL: ClinicalTrials.gov and CTIS sources polled from a loopback server
twice, the details stored and their changes recorded, the finder, a trial's page, its feeds, CTIS ↔ NCT twins."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from flask import Flask

from aggregator.db import get_database
from aggregator.models import Item
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, CtGov, events, fixture, poller, rss, rss_item
from tests.test_kinds_clinicaltrials import QUERY, TOKEN

KYSA = "NCT06384976"
KYSA_EU = "2025-521999-11-00"  # its CTIS twin: listed among the NCT record's secondary ids
OCRELIZUMAB_EU = "2025-523726-40-00"  # a real CTIS record (gregory-ai capture), no NCT twin


def ctis_feed(spain: str = "Authorised, recruitment pending") -> bytes:
    return fixture("ctis_ms_updates.rss").replace(b"Spain:Authorised, recruitment pending",
                                                  f"Spain:{spain}".encode())


@pytest.fixture
def trial_app(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> Flask:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    feed_server.add("/ctis.rss", ctis_feed(), content_type="application/rss+xml")
    feed_server.add("/news.xml", rss(
        rss_item("KYSA-7 opens its first German site for KYV-101 in multiple sclerosis", "https://news.example/kysa",
                 "Progressive MS patients can now be screened for the CAR T study NCT06384976.", guid="n1")))
    feeds = write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctgov", "name": "ClinicalTrials.gov", "kind": "clinicaltrials", "url": feed_server.url(QUERY),
         "evidence_type": "trial-registry"},
        {"id": "ctis", "name": "EU CTIS", "kind": "ctis", "url": feed_server.url("/ctis.rss"),
         "evidence_type": "trial-registry"},
        {"id": "news", "name": "MS News", "url": feed_server.url("/news.xml")},
    ])
    app = make_app(any_db_url, feeds)
    clock = Clock(NOW)
    reports = poller(app, clock).poll_many(["ctgov", "ctis", "news"])
    assert all(r.outcome == "ok" for r in reports), reports
    # A day later KYSA-7 recruits in Germany and the United States, plans 60 people and takes them up to 70.
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1_status_changed.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    clock.now += timedelta(days=1)
    poller(app, clock).poll_many(["ctgov"])
    return app


def cards(page: str) -> list[str]:
    return re.findall(r'<h2 class="trial-title"><a href="/trials/([^"?]+)', page)


def test_details_are_stored_with_the_record(trial_app: Flask) -> None:
    with get_database(trial_app).session_scope() as session:
        kysa = session.query(Item).filter_by(nct_id=KYSA).one()
        extra = kysa.extra
    assert extra["registry"] == "ctgov" and extra["eu_ct_numbers"] == [KYSA_EU]
    assert [(s["country"], s["status"]) for s in extra["sites"]] == [
        ("Germany", "RECRUITING"), ("United States", "RECRUITING"), ("Spain", "NOT_YET_RECRUITING"),
        ("France", "NOT_YET_RECRUITING")]
    assert extra["sites"][0]["latitude"] == 49.59099
    assert extra["eligibility"]["max_age"] == [70.0, "year"] and extra["eligibility"]["ms_forms"] == ["SPMS", "PPMS"]
    assert extra["eligibility"]["edss"]["sentences"] == [
        "Expanded Disability Status Scale (EDSS) score of 3.0 to 6.5 inclusive at screening."]
    assert extra["enrollment"] == {"count": 60, "type": "ESTIMATED"}
    assert extra["contacts"] == [{"name": "Kyverna Clinical Trials", "role": "CONTACT", "phone": "+1 510 925 2492",
                                  "email": "clinicaltrials@kyvernatx.example"}]
    assert extra["collaborators"] == ["University Hospital Erlangen"]
    assert extra["first_posted"] == "2025-05-02" and extra["primary_completion"] == {"date": "2028-06",
                                                                                      "type": "ESTIMATED"}


def test_finder_shows_twins_as_one_trial_recruiting_first(trial_app: Flask) -> None:
    client = trial_app.test_client()
    page = client.get("/trials").get_data(as_text=True)
    # Four trials: KYSA-7 with its CTIS twin as one, two more studies, one CTIS-only trial.
    assert sorted(cards(page)) == sorted([KYSA, "NCT06220201", "NCT05938582", OCRELIZUMAB_EU])
    assert f"EU CT {KYSA_EU}" in page and page.count(f"/trials/{KYSA_EU}") == 0
    assert cards(page)[-1] == "NCT05938582"  # active, not recruiting: after every recruiting trial
    assert "Whether you can take part is decided by each trial" in page


def test_finder_with_a_country_puts_recruiting_there_then_the_nearest(trial_app: Flask) -> None:
    client = trial_app.test_client()
    page = client.get("/trials?country=Germany").get_data(as_text=True)
    # Germany: KYSA-7 recruits in Erlangen. Nearest recruiting elsewhere: the CTIS trial in Spain, Italy and
    # Poland (a country-level record, placed at the centre of the Spanish sites we know: Barcelona, ~1,400 km),
    # then Tongji Hospital in Wuhan (~7,700 km). Then the active study.
    assert cards(page) == [KYSA, OCRELIZUMAB_EU, "NCT06220201", "NCT05938582"]
    assert "Recruiting in Germany" in page and re.search(r"nearest about 1,[0-9]{3} km from Germany", page)
    only = client.get("/trials?country=Germany&only=1").get_data(as_text=True)
    assert cards(only) == [KYSA]


@pytest.mark.parametrize(("query", "expected"), [
    ("status=recruiting", {KYSA, "NCT06220201", OCRELIZUMAB_EU}),
    ("status=active", {"NCT05938582"}),
    ("form=progressive", {KYSA}),
    ("form=rrms", {"NCT06220201"}),
    ("target=BCMA", {"NCT06220201"}),
    ("target=CD19", {KYSA, "NCT05938582"}),
    ("phase=2", {KYSA, "NCT05938582"}),
    ("product=KYV-101", {KYSA}),
    ("country=Spain&only=1&status=recruiting", {OCRELIZUMAB_EU, KYSA}),  # KYSA-7: a Spanish site, not yet open
    ("country=Poland&only=1", {OCRELIZUMAB_EU}),
])
def test_finder_filters(trial_app: Flask, query: str, expected: set[str]) -> None:
    page = trial_app.test_client().get(f"/trials?{query}").get_data(as_text=True)
    assert set(cards(page)) == expected, query


def test_unknown_filter_values_are_ignored_and_said(trial_app: Flask) -> None:
    response = trial_app.test_client().get("/trials?status=open&country=Atlantis")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "We ignored a filter we do not know (status, country)" in page
    assert len(cards(page)) == 4
    hostile = trial_app.test_client().get("/trials?product=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)" not in hostile and "We ignored a filter we do not know (product)" in hostile


def test_trial_page(trial_app: Flask) -> None:
    client = trial_app.test_client()
    page = client.get(f"/trials/{KYSA}?country=Spain").get_data(as_text=True)
    assert "<strong>Eligibility is decided by the trial team.</strong>" in page
    assert "Research news, not medical advice" in page  # the footer
    assert "Age: 18 to 70 years." in page and "Sex: female and male participants." in page
    assert "MS forms named: secondary progressive MS, primary progressive MS." in page
    assert "EDSS 3.0 to 6.5. From the criteria:" in page
    assert "<q>Expanded Disability Status Scale (EDSS) score of 3.0 to 6.5 inclusive at screening.</q>" in page
    assert f'href="https://clinicaltrials.gov/study/{KYSA}#participation-criteria"' in page
    assert f'href="https://euclinicaltrials.eu/ctis-public/view/{KYSA_EU}"' in page
    assert '<a href="tel:+15109252492">+1 510 925 2492</a>' in page
    assert "60 participants planned" in page and "University Hospital Erlangen" in page
    # Sites by country: the reader's first, then countries recruiting, then the rest; Italy comes from CTIS.
    sites = page[page.index('id="sites-title"'):page.index('id="follow-title"')]
    assert re.findall(r"<h3>([^<]+)</h3>", sites) == ["Spain", "Germany", "United States", "France", "Italy"]
    assert "Where it runs (5 countries)" in sites
    assert "Authorised, recruitment pending</span> Country-level status in the EU register" in sites
    changes = page[page.index('id="changes-title"'):page.index('id="papers-title"')]
    assert "Now recruiting in Germany: Universitätsklinikum Erlangen." in changes
    assert "Maximum age 65 → 70." in changes and "Enrollment 24 → 60." in changes
    news = page[page.index('id="news-title"'):]
    assert "KYSA-7 opens its first German site" in news
    assert f'href="/trials/{KYSA}/feed.xml"' in page and f"/subscribe?trial={KYSA}" in page


def test_a_ctis_number_is_the_same_trial(trial_app: Flask) -> None:
    client = trial_app.test_client()
    twin = client.get(f"/trials/{KYSA_EU}")
    assert twin.status_code == 301 and twin.headers["Location"].endswith(f"/trials/{KYSA}")
    page = client.get(f"/trials/{OCRELIZUMAB_EU}").get_data(as_text=True)
    assert "Ongoing, recruiting" in page and "F. Hoffmann-La Roche AG" in page
    assert "Read the full criteria on EU Clinical Trials (CTIS)" in page
    assert "54 participants planned" in page and "Age: 18 to 64 years." in page
    assert client.get("/trials/2025-52372-40-00").status_code == 404
    assert client.get("/trials/nct06384976").status_code == 301


@pytest.mark.parametrize("kind", ["xml", "atom"])
def test_trial_feed(trial_app: Flask, kind: str) -> None:
    client = trial_app.test_client()
    response = client.get(f"/trials/{KYSA}/feed.{kind}")
    assert response.status_code == 200
    assert response.mimetype == ("application/rss+xml" if kind == "xml" else "application/atom+xml")
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.bozo_exception
    first, second = feed.entries
    assert first.title.startswith("KYV-101, a Fully Human Anti-CD19 CAR T-cell Therapy, in Progressive Multiple "
                                  "Sclerosis…: Status changed from Not yet recruiting to Recruiting; Phase changed")
    assert "Now recruiting in Germany: Universitätsklinikum Erlangen" in first.summary
    assert first.link.endswith(f"/trials/{KYSA}") and second.title.startswith("Following ")
    assert client.get(f"/trials/{KYSA}/feed.{kind}").data == response.data  # stable guids and content
    etag = response.headers["ETag"]
    assert client.get(f"/trials/{KYSA}/feed.{kind}", headers={"If-None-Match": etag}).status_code == 304
    assert client.get(f"/trials/NCT09999999/feed.{kind}").status_code == 404
    assert client.get(f"/trials/{KYSA_EU}/feed.{kind}").status_code == 301


def test_ctis_country_changes_become_updates(trial_app: Flask, feed_server: FeedServer) -> None:
    feed_server.add("/ctis.rss", ctis_feed("Authorised, recruiting"), content_type="application/rss+xml")
    poller(trial_app, Clock(NOW + timedelta(days=3))).poll_many(["ctis"])
    recorded = [e.summary for e in events(trial_app)]
    assert "Now recruiting in Spain" in recorded
    page = trial_app.test_client().get(f"/trials/{KYSA}").get_data(as_text=True)
    assert "Now recruiting in Spain." in page  # the twin's change is the trial's
