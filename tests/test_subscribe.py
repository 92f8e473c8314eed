"""Subscribing and leaving, through the Flask app with CSRF on, a real SMTP server on 127.0.0.1, on SQLite and
PostgreSQL: the form, the confirmation email and link, the digest, and unsubscribing by link and by the RFC 8058
one-click POST; no account enumeration, rate limit, expired and forged links, managing topics, the week preview."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aggregator.cli.mail import make_sender
from aggregator.db import get_database
from tests.conftest import make_app
from tests.mail_support import WEEK, Clock, add_item, add_subscribers, parts, subscriber
from tests.smtp_server import SMTPServer, smtp_server_fixture  # noqa: F401 - the smtp_server fixture

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def site(any_db_url: str, feeds_file: Path, smtp_server: SMTPServer) -> Iterator[Flask]:
    application = make_app(
        any_db_url, feeds_file, **smtp_server.settings(), subscribe_rate_limit=5, confirm_max_age=3600
    )
    application.extensions["aggregator.clock"] = Clock()
    yield application
    get_database(application).dispose()


def csrf(client: FlaskClient, path: str = "/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def subscribe(client: FlaskClient, email: str, topics: tuple[str, ...] = ("car-t-ms",), token: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        "/subscribe",
        data={"email": email, "topics": list(topics), "csrf_token": token if token is not None else csrf(client)},
    )


def link_in(text: str, path: str) -> str:
    match = re.search(r"https?://\S+" + re.escape(path) + r"\S+", text)
    assert match, f"no {path} link in:\n{text}"
    return urlsplit(match.group(0)).path


def test_subscribe_confirm_digest_and_unsubscribe_by_one_click_post(site: Flask, smtp_server: SMTPServer) -> None:
    client = site.test_client()
    home = client.get("/").get_data(as_text=True)
    assert re.search(r'<label for="subscribe-email">Email address</label>', home)
    assert re.search(
        r'<input type="checkbox" id="subscribe-topic-car-t-ms" name="topics" value="car-t-ms" checked>', home
    )
    assert 'id="subscribe-topic-ms-research" name="topics" value="ms-research">' in home  # not pre-checked
    assert "<legend>Topics</legend>" in home

    answer = subscribe(client, "Reader@Example.org", ("car-t-ms", "ms-research"))
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/subscribe/sent")
    assert "Check your inbox" in client.get("/subscribe/sent").get_data(as_text=True)
    assert subscriber(get_database(site), "reader@example.org").status == "pending"

    [confirmation] = smtp_server.to("reader@example.org")
    assert "confirm" in confirmation["Subject"].lower() and confirmation["List-Unsubscribe"] is None
    text, html = parts(confirmation)
    confirm_path = link_in(text, "/subscribe/confirm/")
    assert confirm_path in html

    # A link scanner opening the link confirms nothing; the button does.
    page = client.get(confirm_path)
    assert page.status_code == 200 and "Confirm my subscription" in page.get_data(as_text=True)
    assert subscriber(get_database(site), "reader@example.org").status == "pending"
    confirmed = client.post(confirm_path, data={"csrf_token": csrf(client, confirm_path)})
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.get_data(as_text=True)
    row = subscriber(get_database(site), "reader@example.org")
    assert row.status == "confirmed" and row.topics == ["car-t-ms", "ms-research"]

    add_item(get_database(site), "KYV-101 CAR T in MS", ["car-t-ms"])
    assert make_sender(site).send_week(WEEK).sent == 1
    digest = smtp_server.to("reader@example.org")[-1]
    assert "KYV-101 CAR T in MS" in parts(digest)[0]
    one_click = urlsplit(digest["List-Unsubscribe"].strip("<>")).path
    assert one_click in parts(digest)[0] and one_click in parts(digest)[1]

    # RFC 8058: the mail client POSTs with no cookie, no CSRF token, no login.
    stranger = site.test_client()
    done = stranger.post(one_click, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and done.get_data(as_text=True) == "Unsubscribed.\n"
    assert subscriber(get_database(site), "reader@example.org").status == "unsubscribed"
    assert stranger.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # a retry is harmless
    assert make_sender(site).send_week("2026-W47").recipients == 0


def test_unsubscribe_by_the_footer_link_shows_a_button_that_works_without_a_session(
    site: Flask, smtp_server: SMTPServer
) -> None:
    database = get_database(site)
    add_item(database, "CAR T item", ["car-t-ms"])
    [reader] = add_subscribers(database, 1)
    make_sender(site).send_week(WEEK)
    footer_link = link_in(parts(smtp_server.to(reader)[0])[0], "/unsubscribe/")

    client = site.test_client()
    page = client.get(footer_link)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and f'<form method="post" action="{footer_link}">' in body
    assert subscriber(database, reader).status == "confirmed"  # GET never unsubscribes
    done = client.post(footer_link)
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    assert subscriber(database, reader).status == "unsubscribed"
    assert "already unsubscribed" in client.get(footer_link).get_data(as_text=True)


def test_every_form_but_one_click_unsubscribe_needs_the_csrf_token(site: Flask, smtp_server: SMTPServer) -> None:
    client = site.test_client()
    client.get("/")
    refused = client.post("/subscribe", data={"email": "a@example.org", "topics": ["car-t-ms"]})
    assert refused.status_code == 400 and "This form has expired" in refused.get_data(as_text=True)
    forged = subscribe(client, "a@example.org", token="not-the-token")
    assert forged.status_code == 400
    assert smtp_server.messages == []
    [reader] = add_subscribers(get_database(site), 1)
    with site.app_context():
        from aggregator.web.subscribe import tokens

        sub = subscriber(get_database(site), reader)
        manage = "/subscribe/manage/" + tokens().list_token(sub.id, sub.email)
    assert client.post(manage, data={"topics": ["ms-research"], "action": "save"}).status_code == 400
    assert subscriber(get_database(site), reader).topics == ["car-t-ms"]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Please enter your email address."),
        ("not-an-address", "not valid"),
        ("a@b", "not valid"),
        ("<script>alert(1)</script>@example.org", "not valid"),
        ("x" * 300 + "@example.org", "too long"),
    ],
)
def test_a_bad_address_gets_a_clear_message_and_no_email(
    site: Flask, smtp_server: SMTPServer, typed: str, message: str
) -> None:
    client = site.test_client()
    answer = subscribe(client, typed)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 400 and message in body
    assert 'aria-invalid="true"' in body and 'aria-describedby="page-email-error"' in body
    assert "<script>alert(1)</script>" not in body
    assert smtp_server.messages == []


def test_unknown_topics_or_none_are_refused(site: Flask, smtp_server: SMTPServer) -> None:
    client = site.test_client()
    assert subscribe(client, "a@example.org", ("not-a-topic",)).status_code == 400
    none = subscribe(client, "a@example.org", ())
    assert none.status_code == 400 and "Choose at least one topic" in none.get_data(as_text=True)
    assert smtp_server.messages == []


def test_the_answer_is_the_same_whatever_the_state_of_the_address(site: Flask, smtp_server: SMTPServer) -> None:
    database = get_database(site)
    [confirmed] = add_subscribers(database, 1, topics=("car-t-ms", "ms-research"), prefix="confirmed")
    [unsubscribed] = add_subscribers(database, 1, status="unsubscribed", prefix="left")
    client = site.test_client()
    subscribe(client, "pending@example.org")
    answers = []
    for address in ("new@example.org", "pending@example.org", confirmed, unsubscribed):
        answer = subscribe(client, address, ("ms-research",))
        answers.append((answer.status_code, answer.headers.get("Location"), answer.get_data()))
    assert len(set(answers)) == 1
    # The owner of the confirmed address is told, and nothing about their subscription changed.
    [note] = smtp_server.to(confirmed)
    note_text = parts(note)[0]
    assert "already subscribed" in note_text and "/subscribe/confirm/" not in note_text
    assert "/subscribe/manage/" in note_text
    row = subscriber(database, confirmed)
    assert row.status == "confirmed" and row.topics == ["car-t-ms", "ms-research"]
    # The others get a fresh confirmation; the unsubscribed address waits for it before getting digests again.
    assert "/subscribe/confirm/" in parts(smtp_server.to(unsubscribed)[0])[0]
    assert subscriber(database, unsubscribed).status == "pending"
    assert len(smtp_server.to("pending@example.org")) == 2


def test_subscription_requests_are_rate_limited_per_client(site: Flask, smtp_server: SMTPServer) -> None:
    client = site.test_client()
    for n in range(5):
        assert subscribe(client, f"r{n}@example.org").status_code == 303
    limited = subscribe(client, "r5@example.org")
    assert limited.status_code == 429 and "Too many" in limited.get_data(as_text=True)
    other = site.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.9"
    assert subscribe(other, "r6@example.org").status_code == 303
    assert len(smtp_server.messages) == 6


def test_expired_forged_and_orphaned_links_are_refused_with_a_way_out(site: Flask, smtp_server: SMTPServer) -> None:
    client = site.test_client()
    subscribe(client, "late@example.org")
    confirm_path = link_in(parts(smtp_server.to("late@example.org")[0])[0], "/subscribe/confirm/")
    clock: Clock = site.extensions["aggregator.clock"]
    clock.advance(seconds=3601)
    expired = client.get(confirm_path)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    assert 'href="/subscribe"' in expired.get_data(as_text=True)
    assert client.post(confirm_path, data={"csrf_token": csrf(client, "/subscribe")}).status_code == 400
    assert subscriber(get_database(site), "late@example.org").status == "pending"

    for forged in (
        "/subscribe/confirm/AAAA.BBBB.CCCC",
        "/unsubscribe/WzEsImFAYi5jIl0.forged",
        "/subscribe/manage/%3Cscript%3E",
    ):
        answer = client.get(forged)
        assert answer.status_code == 400 and "not valid" in answer.get_data(as_text=True), forged
    assert (
        client.post(
            "/unsubscribe/WzEsImFAYi5jIl0.forged",
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        ).status_code
        == 400
    )

    [reader] = add_subscribers(get_database(site), 1)
    make_sender(site).send_week(WEEK)  # nothing new: no digest, so build the link as the digest would
    with site.app_context():
        from aggregator.web.subscribe import tokens

        sub = subscriber(get_database(site), reader)
        link = "/unsubscribe/" + tokens().list_token(sub.id, sub.email)
    assert site.test_cli_runner().invoke(args=["subscribers", "remove", reader]).exit_code == 0
    gone = client.get(link)
    assert gone.status_code == 400 and "no longer on our list" in gone.get_data(as_text=True)


def test_manage_topics_unsubscribe_and_come_back(site: Flask, smtp_server: SMTPServer) -> None:
    database = get_database(site)
    [reader] = add_subscribers(database, 1)
    with site.app_context():
        from aggregator.web.subscribe import tokens

        sub = subscriber(database, reader)
        token = tokens().list_token(sub.id, sub.email)
    manage = "/subscribe/manage/" + token
    client = site.test_client()
    page = client.get(manage).get_data(as_text=True)
    assert 'id="manage-topic-car-t-ms" name="topics" value="car-t-ms" checked' in page
    saved = client.post(
        manage,
        data={"csrf_token": csrf(client, manage), "action": "save", "topics": ["ms-research", "car-t-autoimmune"]},
    )
    assert saved.status_code == 303 and "saved=1" in saved.headers["Location"]
    assert subscriber(database, reader).topics == ["car-t-autoimmune", "ms-research"]  # catalog order
    assert "Saved." in client.get(saved.headers["Location"]).get_data(as_text=True)
    empty = client.post(manage, data={"csrf_token": csrf(client, manage), "action": "save"})
    assert empty.status_code == 400 and "Choose at least one topic" in empty.get_data(as_text=True)

    client.post("/unsubscribe/" + token)
    assert subscriber(database, reader).status == "unsubscribed"
    back = client.post(manage, data={"csrf_token": csrf(client, manage), "action": "resubscribe"})
    assert back.status_code == 303 and subscriber(database, reader).status == "confirmed"


def test_a_mail_server_failure_is_reported_without_revealing_anything(site: Flask, smtp_server: SMTPServer) -> None:
    smtp_server.refuse("a@example.org", "451 4.3.0 Try again later")
    answer = subscribe(site.test_client(), "a@example.org")
    assert answer.status_code == 503 and "try again in a few minutes" in answer.get_data(as_text=True)


def test_week_preview_page(site: Flask) -> None:
    database = get_database(site)
    add_item(database, "KYV-101 <b>CAR T</b> in MS", ["car-t-ms"], summary="Six patients.")
    add_item(database, "MS item", ["ms-research"])
    client = site.test_client()
    page = client.get("/digest/" + WEEK)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "KYV-101 &lt;b&gt;CAR T&lt;/b&gt; in MS" in body and "MS item" in body and "Six patients." in body
    assert "week 46, 2026" in body.lower()
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert "xx-unsubscribe-url-xx" not in body
    assert client.get("/digest/2026-W99").status_code == 400
    assert client.get("/digest/latest").status_code == 400
    latest = client.get("/digest")
    assert latest.status_code == 302 and latest.headers["Location"].endswith("/digest/" + WEEK)


def test_confirmation_link_lifetime_uses_the_injected_clock(site: Flask, smtp_server: SMTPServer) -> None:
    client = site.test_client()
    subscribe(client, "ontime@example.org")
    confirm_path = link_in(parts(smtp_server.to("ontime@example.org")[0])[0], "/subscribe/confirm/")
    clock: Clock = site.extensions["aggregator.clock"]
    clock.advance(seconds=3500)
    assert client.get(confirm_path).status_code == 200
    clock.advance(seconds=200)
    assert client.get(confirm_path).status_code == 400
