"""The subscription flow in a real browser (Debian's Chromium through Playwright), on SQLite and PostgreSQL, with a
real SMTP server: the form on the digest page → the confirmation email → its link → the digest → unsubscribing.
Every page on the way passes axe-core (WCAG 2.1 AA); the pages and the email HTML pass the Nu HTML Checker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from aggregator.cli.mail import make_sender
from aggregator.db import get_database
from tests import browser_support
from tests.conftest import make_app
from tests.mail_support import WEEK, Clock, add_item, add_subscribers, parts, subscriber
from tests.smtp_server import SMTPServer, smtp_server_fixture  # noqa: F401 - the smtp_server fixture

pytestmark = pytest.mark.browser




@pytest.fixture
def site(any_db_url: str, feeds_file: Path, smtp_server: SMTPServer) -> Iterator[Flask]:
    application = make_app(any_db_url, feeds_file, **smtp_server.settings())
    application.extensions["aggregator.clock"] = Clock()
    yield application
    get_database(application).dispose()


def path_of(text: str, marker: str) -> str:
    match = re.search(r"https?://\S+" + re.escape(marker) + r"\S+", text)
    assert match, f"no {marker} link in:\n{text}"
    return urlsplit(match.group(0)).path


def assert_accessible(page: Any, what: str) -> None:
    violations = browser_support.run_axe(page)
    assert violations == [], f"{what}: " + browser_support.format_violations(violations)


def test_subscribe_confirm_manage_and_unsubscribe_in_chromium(
    site: Flask, smtp_server: SMTPServer, browser: Any
) -> None:
    database = get_database(site)
    add_item(database, "KYV-101 CAR T in progressive MS", ["car-t-ms"], summary="Six patients treated.")
    with browser_support.serve_wsgi(site) as base, browser_support.new_page(browser) as page:
        csp_errors: list[str] = []
        page.on("console", lambda m: csp_errors.append(m.text) if m.type == "error" else None)

        page.goto(base + "/")
        form = page.locator("#subscribe")
        assert form.get_by_label("CAR T for multiple sclerosis").is_checked()
        assert not form.get_by_label("MS research").is_checked()
        form.get_by_label("Email address").fill("not an address")
        form.get_by_role("button", name="Subscribe").click()
        page.wait_for_url("**/subscribe")
        assert "not valid" in page.get_by_role("alert").inner_text() + page.locator(".error").inner_text()
        assert_accessible(page, "the form with an error")

        page.get_by_label("Email address").fill("nurse@example.org")
        page.get_by_label("MS research").check()
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_url("**/subscribe/sent")
        assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
        assert_accessible(page, "check your inbox")

        [confirmation] = smtp_server.to("nurse@example.org")
        confirm_path = path_of(parts(confirmation)[0], "/subscribe/confirm/")
        page.goto(base + confirm_path)
        assert_accessible(page, "the confirm page")
        page.get_by_role("button", name="Confirm my subscription").click()
        assert page.get_by_role("heading", level=1).inner_text() == "You are subscribed"
        assert_accessible(page, "subscribed")
        row = subscriber(database, "nurse@example.org")
        assert row.status == "confirmed" and row.topics == ["car-t-ms", "ms-research"]

        page.get_by_role("link", name="Change your topics or unsubscribe").click()
        assert_accessible(page, "the manage page")
        page.get_by_label("CAR T in autoimmune disease").check()
        page.get_by_role("button", name="Save topics").click()
        assert page.get_by_role("status").inner_text().strip() == "Saved."
        assert subscriber(database, "nurse@example.org").topics == ["car-t-ms", "car-t-autoimmune", "ms-research"]

        assert make_sender(site).send_week(WEEK).sent == 1
        digest = smtp_server.to("nurse@example.org")[-1]
        assert "KYV-101 CAR T in progressive MS" in parts(digest)[0]
        page.goto(base + "/digest/" + WEEK)
        assert page.get_by_role("link", name="KYV-101 CAR T in progressive MS").is_visible()
        assert_accessible(page, "the week preview")

        page.goto(base + path_of(parts(digest)[0], "/unsubscribe/"))
        assert_accessible(page, "the unsubscribe page")
        page.get_by_role("button", name="Unsubscribe").click()
        assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
        assert_accessible(page, "unsubscribed")
        assert subscriber(database, "nurse@example.org").status == "unsubscribed"
        assert not [e for e in csp_errors if "Content Security Policy" in e or "Refused" in e], csp_errors


def test_subscribing_works_without_javascript(
    sqlite_url: str, feeds_file: Path, smtp_server: SMTPServer, browser: Any
) -> None:
    app = make_app(sqlite_url, feeds_file, **smtp_server.settings())
    try:
        with (
            browser_support.serve_wsgi(app) as base,
            browser_support.new_page(browser, java_script_enabled=False) as page,
        ):
            page.goto(base + "/")
            page.locator("#subscribe").get_by_label("Email address").fill("nojs@example.org")
            page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
            page.wait_for_url("**/subscribe/sent")
        assert len(smtp_server.to("nojs@example.org")) == 1
    finally:
        get_database(app).dispose()


def test_subscription_pages_and_emails_are_valid_html(
    sqlite_url: str, feeds_file: Path, smtp_server: SMTPServer
) -> None:
    app = make_app(sqlite_url, feeds_file, **smtp_server.settings())
    try:
        database = get_database(app)
        add_item(database, "A <b>CAR T</b> item & more", ["car-t-ms"], summary="Summary with “quotes”.")
        [reader] = add_subscribers(database, 1)
        client = app.test_client()
        documents: dict[str, str] = {"form": client.get("/subscribe").get_data(as_text=True)}
        token = re.search(r'name="csrf_token" value="([^"]+)"', documents["form"])
        assert token
        documents["form-with-errors"] = client.post(
            "/subscribe", data={"email": "bad", "csrf_token": token.group(1)}
        ).get_data(as_text=True)
        client.post(
            "/subscribe", data={"email": "new@example.org", "topics": ["car-t-ms"], "csrf_token": token.group(1)}
        )
        documents["sent"] = client.get("/subscribe/sent").get_data(as_text=True)
        confirmation = smtp_server.to("new@example.org")[0]
        confirm_path = path_of(parts(confirmation)[0], "/subscribe/confirm/")
        documents["confirm"] = client.get(confirm_path).get_data(as_text=True)
        documents["confirmed"] = client.post(confirm_path, data={"csrf_token": token.group(1)}).get_data(as_text=True)
        documents["email-confirmation"] = parts(confirmation)[1]
        make_sender(app, clock=Clock()).send_week(WEEK)
        digest = smtp_server.to(reader)[0]
        documents["email-digest"] = parts(digest)[1]
        unsubscribe = path_of(parts(digest)[0], "/unsubscribe/")
        manage = path_of(parts(digest)[0], "/subscribe/manage/")
        documents["manage"] = client.get(manage).get_data(as_text=True)
        documents["unsubscribe"] = client.get(unsubscribe).get_data(as_text=True)
        documents["unsubscribed"] = client.post(unsubscribe).get_data(as_text=True)
        documents["manage-after"] = client.get(manage).get_data(as_text=True)
        documents["bad-link"] = client.get("/unsubscribe/forged").get_data(as_text=True)
        documents["preview"] = client.get("/digest/" + WEEK).get_data(as_text=True)
        documents["preview-quiet"] = client.get("/digest/2026-W40").get_data(as_text=True)
        problems = browser_support.validate_html(documents)
        assert problems == {name: [] for name in documents}, problems
    finally:
        get_database(app).dispose()
