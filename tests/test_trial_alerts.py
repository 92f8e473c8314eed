"""Trials in the weekly email, on SQLite and PostgreSQL with a real SMTP server: the manage page's opt-in (trials
to follow, a country), /subscribe?trial=, and the digest telling what changed in the trials followed and which
began recruiting in the reader's country."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from aggregator.cli.mail import make_sender
from aggregator.db import get_database
from aggregator.mail import digest
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import Clock, CtGov, fixture, poller
from tests.mail_support import WEEK, add_subscribers, parts, subscriber
from tests.mail_support import Clock as MailClock
from tests.smtp_server import SMTPServer, smtp_server_fixture  # noqa: F401 - the smtp_server fixture
from tests.test_kinds_clinicaltrials import QUERY, TOKEN
from tests.test_subscribe import csrf

KYSA = "NCT06384976"
BEFORE_WEEK = datetime(2026, 11, 5, 10, tzinfo=UTC)  # week 45
IN_WEEK = datetime(2026, 11, 12, 10, tzinfo=UTC)  # week 46, the week sent


@pytest.fixture
def alerts_app(tmp_path: Path, feed_server: FeedServer, any_db_url: str, smtp_server: SMTPServer) -> Iterator[Flask]:
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    feed_server.add("/ctis.rss", fixture("ctis_ms_updates.rss"), content_type="application/rss+xml")
    feeds = write_feeds_file(tmp_path / "f.yaml", [
        {"id": "ctgov", "name": "ClinicalTrials.gov", "kind": "clinicaltrials", "url": feed_server.url(QUERY),
         "evidence_type": "trial-registry"},
        {"id": "ctis", "name": "EU CTIS", "kind": "ctis", "url": feed_server.url("/ctis.rss"),
         "evidence_type": "trial-registry"},
    ])
    app = make_app(any_db_url, feeds, **smtp_server.settings())
    app.extensions["aggregator.clock"] = MailClock()
    poller(app, Clock(BEFORE_WEEK)).poll_many(["ctgov", "ctis"])
    feed_server.add("/api/v2/studies", handler=CtGov(fixture("ctgov_car_t_ms_page1_status_changed.json"),
                                                      {TOKEN: fixture("ctgov_car_t_ms_page2.json")}))
    poller(app, Clock(IN_WEEK)).poll_many(["ctgov"])
    yield app
    get_database(app).dispose()


def manage_path(app: Flask, address: str) -> str:
    with app.app_context():
        from aggregator.web.subscribe import tokens

        row = subscriber(get_database(app), address)
        return "/subscribe/manage/" + tokens().list_token(row.id, row.email)


def test_manage_page_opts_in_to_trials_and_a_country(alerts_app: Flask) -> None:
    database = get_database(alerts_app)
    [reader] = add_subscribers(database, 1)
    manage = manage_path(alerts_app, reader)
    client = alerts_app.test_client()
    page = client.get(manage).get_data(as_text=True)
    assert '<label for="manage-country">Tell me when a trial begins recruiting in</label>' in page
    assert '<option value="Germany">Germany</option>' in page and "None yet." in page

    bad = client.post(manage, data={"csrf_token": csrf(client, manage), "action": "trials", "add_trial": "KYSA-7"})
    assert bad.status_code == 400 and "is not a trial number" in bad.get_data(as_text=True)
    assert subscriber(database, reader).trials == []

    saved = client.post(manage, data={"csrf_token": csrf(client, manage), "action": "trials",
                                      "add_trial": " nct06384976 ", "country": "Germany"})
    assert saved.status_code == 303
    row = subscriber(database, reader)
    assert (row.trials, row.country, row.topics) == ([KYSA], "Germany", ["car-t-ms"])  # topics untouched
    page = client.get(manage).get_data(as_text=True)
    assert f'name="trials" value="{KYSA}" checked' in page and "KYV-101, a Fully Human Anti-CD19" in page
    assert '<option value="Germany" selected>' in page

    # Unticking a trial and choosing no country turns both off; a forged trial value is dropped.
    client.post(manage, data={"csrf_token": csrf(client, manage), "action": "trials", "country": "",
                              "trials": ["<script>"]})
    row = subscriber(database, reader)
    assert (row.trials, row.country) == ([], None)
    missing_token = client.post(manage, data={"action": "trials", "add_trial": KYSA})
    assert missing_token.status_code == 400 and subscriber(database, reader).trials == []


def test_subscribe_from_a_trial_page_follows_it(alerts_app: Flask, smtp_server: SMTPServer) -> None:
    client = alerts_app.test_client()
    form = client.get(f"/subscribe?trial={KYSA}&trial=bogus").get_data(as_text=True)
    assert f'<input type="hidden" name="trial" value="{KYSA}">' in form and "bogus" not in form
    answer = client.post("/subscribe", data={"email": "new@example.org", "topics": ["car-t-ms"], "trial": KYSA,
                                             "csrf_token": csrf(client, "/subscribe")})
    assert answer.status_code == 303
    assert subscriber(get_database(alerts_app), "new@example.org").trials == [KYSA]


def test_the_week_s_trial_news_per_reader(alerts_app: Flask, smtp_server: SMTPServer) -> None:
    database = get_database(alerts_app)
    follower, german, italian = add_subscribers(database, 3)
    with database.session_scope() as session:
        from aggregator.models import Subscriber

        rows = {s.email: s for s in session.query(Subscriber)}
        rows[follower].trials = [KYSA]
        rows[german].country = "Germany"
        rows[italian].country = "Italy"
    report = make_sender(alerts_app).send_week(WEEK)
    assert report.sent == 2 and report.skipped == 1  # the Italian reader had nothing: quiet weeks are skipped

    [mail] = smtp_server.to(follower)
    text, html = parts(mail)
    assert mail["Subject"] == "CAR T & MS research — week 46, 2026: 1 trial update"
    assert "Trials you follow:" in text and f"({KYSA})" in text
    assert "Status changed from Not yet recruiting to Recruiting; Phase changed from Phase 2 to Phase 1/2;" in \
        " ".join(text.split())
    assert f"/trials/{KYSA}" in text and f"/trials/{KYSA}" in html
    assert "Whether you can take part in a trial is decided by its team." in text
    assert "not medical advice" in text

    [mail] = smtp_server.to(german)
    text, html = parts(mail)
    assert "1 trial began recruiting in Germany this week:" in text
    assert "1 trial began recruiting in Germany this week" in html
    assert "Trials you follow" not in text
    assert smtp_server.to(italian) == []


def test_trial_updates_of_a_week(alerts_app: Flask) -> None:
    from aggregator.store import mail as store_mail

    start, end = digest.parse_week(WEEK).bounds()
    with get_database(alerts_app).session_scope() as session:
        updates = {u.key: u for u in store_mail.trial_updates_between(session, start, end)}
        earlier = store_mail.trial_updates_between(session, *digest.parse_week("2026-W45").bounds())
    assert set(updates) == {KYSA}  # the only record that changed in week 46
    kysa = updates[KYSA]
    assert kysa.ids == (KYSA, "2025-521999-11-00") and kysa.path == f"/trials/{KYSA}" and not kysa.new
    assert kysa.began_recruiting_in == ("Germany", "United States")
    assert kysa.moment == IN_WEEK
    # Week 45 saw every record for the first time: new trials, with the countries they recruit in.
    first = {u.key: u for u in earlier}
    assert set(first) == {KYSA, "NCT06220201", "NCT05938582", "2025-523726-40-00"}
    assert first["2025-523726-40-00"].new and first["2025-523726-40-00"].began_recruiting_in == (
        "Spain", "Poland", "Italy")
    assert first[KYSA].summaries == ("New in the registry we follow",)
    section = digest.trial_section(earlier, ["2025-521999-11-00"], "italy")
    assert section is not None and [u.key for u in section.followed] == [KYSA]  # followed by its EU number
    assert [u.key for u in section.in_country] == ["2025-523726-40-00"]
    assert section.headline == "1 trial began recruiting in Italy this week"
