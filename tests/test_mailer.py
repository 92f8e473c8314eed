"""Messages and transports: headers and parts parsed back with the stdlib ``email`` package, a real aiosmtpd
server on 127.0.0.1 (reused connection, 4xx/5xx replies), and the .eml outbox."""

from __future__ import annotations

import email
import socket
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from aggregator.config import Settings
from aggregator.errors import DeliveryError
from aggregator.mail import mailer
from aggregator.mail.mailer import BulkMessage, Outgoing, build_message
from tests.mail_support import parts
from tests.smtp_server import SMTPServer, smtp_server_fixture  # noqa: F401 - the smtp_server fixture

FROM = "CAR T & MS Research Digest <digest@cartms.example>"
DATE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
UNSUB = "https://cartms.example/unsubscribe/" + "WzEsInJlYWRlcjBAZXhhbXBsZS5vcmciXQ.bEF58GlnqUIzVdH8b6OlLx0CIck" * 2
TEXT = (
    "Week 47 — 2 new items\n\n* Ocrelizumab vs CAR T: “a first” in 2026 é\n  Read it: https://example.org/a\n"
    + ("A long line of text that goes on and on " * 10)
    + "\ntrailing spaces   \n"
)
HTML = (
    '<!DOCTYPE html><html lang="en"><body><p style="color:#333">Ünïcode — ok</p>' + "<p>x</p>" * 50 + "</body></html>"
)


def outgoing(to: str = "reader@example.org", **kw: object) -> Outgoing:
    values: dict[str, object] = {
        "to": to,
        "subject": "CAR T & MS research — week 47, 2026: 2 new items",
        "text": TEXT,
        "html": HTML,
        "message_id": "<digest.1@cartms.example>",
        "date": DATE,
        "unsubscribe_url": UNSUB,
    }
    values.update(kw)
    return Outgoing(**values)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    message: EmailMessage = email.message_from_bytes(data, policy=default)  # type: ignore[assignment]
    return message


def test_message_headers_and_both_parts_parse_back() -> None:
    data = build_message(FROM, outgoing()).as_bytes(policy=mailer.SMTP_POLICY)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    message = parse(data)
    assert message["From"].addresses[0].addr_spec == "digest@cartms.example"
    assert message["To"] == "reader@example.org"
    assert message["Subject"] == "CAR T & MS research — week 47, 2026: 2 new items"
    assert message["Message-ID"] == "<digest.1@cartms.example>"
    assert parsedate_to_datetime(message["Date"]) == DATE
    assert message["List-Unsubscribe"] == f"<{UNSUB}>"  # one line, never an encoded word
    assert f"List-Unsubscribe: <{UNSUB}>".encode() in data
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["MIME-Version"] is None for p in message.iter_parts())
    text, html = parts(message)
    assert text == TEXT and html.rstrip("\n") == HTML
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        body = part.as_bytes().split(b"\n\n", 1)[1]
        assert max(len(line) for line in body.splitlines()) <= 76


def test_a_message_without_unsubscribe_url_has_no_list_headers() -> None:
    message = build_message(FROM, outgoing(unsubscribe_url=None))
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


def test_bulk_message_parses_to_the_same_message_as_build_message() -> None:
    placeholders = ("xx-u-xx", "xx-m-xx")
    text = TEXT + "Unsubscribe: xx-u-xx\nManage xx-m-xx and xx-u-xx again " + "é" * 80 + "\n"
    html = HTML.replace("</body>", '<a href="xx-u-xx">Unsubscribe</a> <a href="xx-m-xx">m</a></body>')
    bulk = BulkMessage(FROM, "CAR T & MS research — week 47, 2026: 2 new items", text, html, placeholders)
    values = {"xx-u-xx": UNSUB, "xx-m-xx": "https://cartms.example/subscribe/manage/T"}
    fast = parse(
        bulk.render(
            to="reader@example.org",
            message_id="<digest.1@cartms.example>",
            date=DATE,
            unsubscribe_url=UNSUB,
            values=values,
        )
    )
    filled_text, filled_html = text, html
    for key, value in values.items():
        filled_text, filled_html = filled_text.replace(key, value), filled_html.replace(key, value)
    slow = parse(build_message(FROM, outgoing(text=filled_text, html=filled_html)).as_bytes(policy=mailer.SMTP_POLICY))
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Content-Type",
    ):
        assert (header, str(fast[header]).split(";")[0]) == (header, str(slow[header]).split(";")[0])
    assert parts(fast) == parts(slow)
    assert UNSUB in parts(fast)[0] and "xx-u-xx" not in parts(fast)[1]


@pytest.mark.parametrize("to", ["a@b.org\r\nBcc: victim@example.org", "ünï@example.org", "x@y.org, z@w.org"])
def test_bulk_message_refuses_addresses_that_would_break_the_header(to: str) -> None:
    bulk = BulkMessage(FROM, "s", "t\n", "<p>h</p>\n", ())
    with pytest.raises(DeliveryError) as raised:
        bulk.render(to=to, message_id="<1@x>", date=DATE, unsubscribe_url=None, values={})
    assert raised.value.permanent


def _transport(server: SMTPServer) -> mailer.SMTPTransport:
    return mailer.SMTPTransport("127.0.0.1", server.port, mail_from=FROM, timeout=5)


def test_smtp_transport_delivers_many_messages_over_one_connection(smtp_server: SMTPServer) -> None:
    with _transport(smtp_server) as transport:
        for n in range(5):
            transport.send(build_message(FROM, outgoing(to=f"r{n}@example.org", message_id=f"<{n}@x.example>")))
    assert smtp_server.handler.connections == 1
    received = smtp_server.messages
    assert [m.rcpt_tos for m in received] == [(f"r{n}@example.org",) for n in range(5)]
    assert {m.mail_from for m in received} == {"digest@cartms.example"}
    assert parts(received[0].message())[0] == TEXT


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        ("550 5.1.1 No such user here", True),
        ("553 5.1.3 Bad destination mailbox address syntax", True),
        ("450 4.2.0 Mailbox busy, try later", False),
        ("451 4.7.1 Greylisted, come back in 5 minutes", False),
    ],
)
def test_smtp_replies_map_to_permanent_or_temporary_errors(
    smtp_server: SMTPServer,
    reply: str,
    permanent: bool,
) -> None:
    smtp_server.refuse("bounce@example.org", reply)
    with _transport(smtp_server) as transport:
        with pytest.raises(DeliveryError) as raised:
            transport.send(build_message(FROM, outgoing(to="bounce@example.org")))
        assert raised.value.permanent is permanent
        assert reply.split()[0] in str(raised.value)
        # The same connection still works for the next reader.
        transport.send(build_message(FROM, outgoing(to="fine@example.org")))
    assert [m.rcpt_tos for m in smtp_server.messages] == [("fine@example.org",)]


def test_an_unreachable_server_is_a_temporary_failure_that_names_the_settings() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket is closed
    transport = mailer.SMTPTransport("127.0.0.1", port, mail_from=FROM, timeout=2)
    with pytest.raises(mailer.SMTPUnavailable) as raised:
        transport.send(build_message(FROM, outgoing()))
    assert not raised.value.permanent and "SMTP_HOST" in str(raised.value)


def test_transport_reconnects_after_the_server_dropped_the_connection(smtp_server: SMTPServer) -> None:
    with _transport(smtp_server) as transport:
        transport.send(build_message(FROM, outgoing(to="a@example.org")))
        assert transport._smtp is not None
        transport._smtp.sock.close()  # type: ignore[union-attr]  # as if the server had timed us out
        transport.send(build_message(FROM, outgoing(to="b@example.org")))
    assert [m.rcpt_tos for m in smtp_server.messages] == [("a@example.org",), ("b@example.org",)]


def test_outbox_writes_eml_files_that_parse_back(tmp_path: Path) -> None:
    settings = Settings.from_env({}, outbox_dir=str(tmp_path / "outbox"), mail_from=FROM)
    transport = mailer.open_transport(settings)
    assert isinstance(transport, mailer.OutboxTransport)
    with transport:
        transport.send(build_message(FROM, outgoing()))
        transport.send(build_message(FROM, outgoing(message_id="<../../evil@x>")))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "outbox").glob("*.tmp"))
    assert all(f.parent == tmp_path / "outbox" for f in files)
    message = parse(files[0].read_bytes())
    assert message["List-Unsubscribe"] == f"<{UNSUB}>"
    assert parts(message)[0] == TEXT


def test_send_one_uses_smtp_when_smtp_host_is_set(smtp_server: SMTPServer, tmp_path: Path) -> None:
    settings = Settings.from_env({}, mail_from=FROM, outbox_dir=str(tmp_path), **smtp_server.settings())
    mailer.send_one(settings, outgoing(unsubscribe_url=None))
    assert len(smtp_server.messages) == 1 and not list(tmp_path.iterdir())


def test_a_mail_from_without_an_address_is_reported() -> None:
    with pytest.raises(DeliveryError, match="MAIL_FROM"):
        mailer.sender_address("Just a name")


def test_show_eml_prints_headers_and_text_and_writes_the_html_beside(tmp_path: Path) -> None:
    settings = Settings.from_env({}, outbox_dir=str(tmp_path), mail_from=FROM)
    with mailer.open_transport(settings) as transport:
        transport.send(build_message(FROM, outgoing()))
    [eml] = tmp_path.glob("*.eml")
    shown = mailer.show_eml(eml)
    assert "Subject: CAR T & MS research — week 47, 2026: 2 new items" in shown
    assert f"List-Unsubscribe: <{UNSUB}>" in shown and TEXT in shown
    assert eml.with_suffix(".html").read_text(encoding="utf-8").rstrip("\n") == HTML
