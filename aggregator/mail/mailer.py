"""Email messages and their transport: building a multipart message with the right headers, and handing it to an
SMTP server (one connection reused for many messages) or, without ``SMTP_HOST``, writing it to ``instance/outbox/``.

Failures are raised as :class:`~aggregator.errors.DeliveryError` with ``permanent`` set from the SMTP reply code:
5xx is permanent (the address does not exist, the mailbox is disabled), 4xx and lost connections are temporary.
This module does not choose items or recipients (see digest.py and delivery.py).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from types import TracebackType
from typing import Self

from ..config import Settings
from ..errors import DeliveryError

log = logging.getLogger(__name__)

# Bodies are encoded with the standard 78-column policy (quoted-printable lines must stay within 76 characters);
# headers are written with the 998-column limit of RFC 5322 so that a long List-Unsubscribe URL is never folded
# into an encoded word that mail clients would not recognise.
BUILD_POLICY = policy.SMTP.clone(max_line_length=76)
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Outgoing:
    """Everything one email needs; ``unsubscribe_url`` makes it a list message (RFC 2369 and RFC 8058 headers)."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str
    date: datetime
    unsubscribe_url: str | None = None


def sender_address(mail_from: str) -> str:
    """The bare address of ``MAIL_FROM`` (``Digest <digest@example.org>`` → ``digest@example.org``)."""
    _name, address = parseaddr(mail_from)
    if "@" not in address:
        raise DeliveryError(f"MAIL_FROM={mail_from!r} holds no email address; "
                            "set it like 'Digest <digest@example.org>'", permanent=True)
    return address


def make_message_id(mail_from: str, unique: str | None = None) -> str:
    """``<unique@sender-domain>``; a stable ``unique`` gives a stable id (a resent digest keeps its Message-ID)."""
    domain = sender_address(mail_from).rpartition("@")[2] or "localhost"
    token = re.sub(r"[^A-Za-z0-9.\-_]", "-", unique) if unique else uuid.uuid4().hex
    return f"<{token}@{domain}>"


def build_message(mail_from: str, outgoing: Outgoing) -> EmailMessage:
    """A multipart/alternative message: the plain text part first, the HTML part last (the preferred one)."""
    message = EmailMessage(policy=BUILD_POLICY)
    message["From"] = mail_from
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(outgoing.date)
    message["Message-ID"] = outgoing.message_id
    if outgoing.unsubscribe_url:
        # RFC 8058: a mail client may POST "List-Unsubscribe=One-Click" to this URL; no login, no form needed.
        message["List-Unsubscribe"] = f"<{outgoing.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        message["Precedence"] = "bulk"
    message.set_content(outgoing.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(outgoing.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in message.iter_parts():
        del part["MIME-Version"]  # set_content put it on what became the first part; it belongs on the root only
    return message


class SMTPUnavailable(DeliveryError):
    """The mail server cannot be reached at all: every message would fail the same way, so stop and retry later."""


def _recipients(message: EmailMessage) -> list[str]:
    header = message["To"]
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    return [address.addr_spec for address in addresses] or [parseaddr(str(header))[1]]


def _error_from_reply(code: int, reply: bytes | str, what: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    permanent = 500 <= code < 600
    hint = "the address will be suspended after repeated failures" if permanent else "it will be retried"
    return DeliveryError(f"{what}: the mail server answered {code} {text.strip()} ({hint})", permanent=permanent)


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass


class SMTPTransport:
    """One SMTP connection, opened on first use and reused for every message (reconnects after a drop)."""

    def __init__(self, host: str, port: int, *, security: str = "none", username: str = "", password: str = "",
                 timeout: float = 30.0, mail_from: str = "") -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.envelope_from = sender_address(mail_from) if mail_from else ""
        self._smtp: smtplib.SMTP | None = None
        self.sent = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SMTPTransport:
        return cls(settings.smtp_host, settings.smtp_port, security=settings.smtp_security,
                   username=settings.smtp_username, password=settings.smtp_password, timeout=settings.smtp_timeout,
                   mail_from=settings.mail_from)

    def _connect(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    smtp.ehlo()
                    smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(smtp)
            raise SMTPUnavailable(f"the mail server {where} refused SMTP_USERNAME/SMTP_PASSWORD") from exc
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(smtp)
            raise SMTPUnavailable(f"cannot reach the mail server {where} (SMTP_HOST, SMTP_PORT, SMTP_SECURITY); "
                                "it will be retried") from exc
        return smtp

    def send(self, message: EmailMessage) -> None:
        if not self.envelope_from:
            self.envelope_from = sender_address(str(message["From"]))
        for recipient in _recipients(message):
            self.send_raw(recipient, message.as_bytes(policy=SMTP_POLICY))

    def send_raw(self, recipient: str, data: bytes, ident: str = "") -> None:
        """Send ``data`` (a whole message, CRLF line ends) to one recipient on the open connection."""
        envelope_from = self.envelope_from
        recipients = [recipient]
        what = f"sending to {recipient}"
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.sendmail(envelope_from, recipients, data)
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                raise _error_from_reply(code, reply, what) from exc
            except smtplib.SMTPSenderRefused as exc:
                # Not the reader's fault: never counts against their address.
                raise DeliveryError(f"{what}: the mail server refused the sender {exc.sender!r} "
                                    f"({exc.smtp_code} {exc.smtp_error!r}); check MAIL_FROM") from exc
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if attempt == 2:
                    raise SMTPUnavailable(f"{what}: the mail server closed the connection; it will be retried") from exc
                continue  # a server that closes idle connections: reconnect once and try again
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421:  # the server is shutting the channel
                    self._drop()
                raise _error_from_reply(exc.smtp_code, exc.smtp_error, what) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise SMTPUnavailable(f"{what}: {exc.__class__.__name__}: {exc}; it will be retried") from exc
            self.sent += 1
            return

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class OutboxTransport:
    """Writes each message as an ``.eml`` file (what ``make run`` does without ``SMTP_HOST``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sent = 0
        self.paths: list[Path] = []

    def send(self, message: EmailMessage) -> None:
        self.send_raw(str(message["To"]), message.as_bytes(policy=SMTP_POLICY), str(message["Message-ID"] or ""))

    def send_raw(self, recipient: str, data: bytes, ident: str = "") -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
            ident = re.sub(r"[^A-Za-z0-9.@_-]", "", ident or uuid.uuid4().hex)[:80]
            path = self.directory / f"{stamp}-{ident}.eml"
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)  # a reader never sees half a file
        except OSError as exc:
            raise DeliveryError(f"cannot write to the outbox {self.directory} (OUTBOX_DIR): {exc}") from exc
        self.paths.append(path)
        self.sent += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BulkMessage:
    """One email pre-encoded for many readers who differ only in To, Date, Message-ID and their own links.

    Building and flattening an ``EmailMessage`` costs milliseconds per message; for ten thousand readers of the
    same digest that dominates the run. Quoted-printable encodes each line on its own, so the lines without a
    reader-specific placeholder are encoded once here, and :meth:`render` encodes only the few lines that carry
    a reader's links. The output parses to the same message as :func:`build_message` (tested).
    """

    def __init__(self, mail_from: str, subject: str, text: str, html: str, placeholders: tuple[str, ...]) -> None:
        head = EmailMessage(policy=BUILD_POLICY)
        head["From"] = mail_from
        head["Subject"] = subject
        self._static = head.as_bytes(policy=SMTP_POLICY).split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self.boundary = "=_digest_" + uuid.uuid4().hex
        self.placeholders = placeholders
        self._text = self._prepare(text)
        self._html = self._prepare(html)

    def _prepare(self, body: str) -> list[str | tuple[str]]:
        """Encoded chunks, with the lines holding a placeholder kept raw (as 1-tuples) for :meth:`render`."""
        chunks: list[str | tuple[str]] = []
        for line in _LINE_BREAK.split(body.removesuffix("\n")):
            if any(placeholder in line for placeholder in self.placeholders):
                chunks.append((line,))
            else:
                chunks.append(_qp_line(line))
        return chunks

    @staticmethod
    def _fill(chunks: list[str | tuple[str]], values: dict[str, str]) -> str:
        out: list[str] = []
        for chunk in chunks:
            if isinstance(chunk, tuple):
                line = chunk[0]
                for placeholder, value in values.items():
                    line = line.replace(placeholder, value)
                out.append(_qp_line(line))
            else:
                out.append(chunk)
        return "".join(out).replace("\n", "\r\n")

    def render(self, *, to: str, message_id: str, date: datetime, unsubscribe_url: str | None,
               values: dict[str, str]) -> bytes:
        if not to.isascii() or any(c in to for c in "\r\n<>,;\"") or "@" not in to:
            raise DeliveryError(f"{to!r} cannot be written into an email header; remove the address", permanent=True)
        lines = [f"To: {to}", f"Date: {format_datetime(date)}", f"Message-ID: {message_id}"]
        if unsubscribe_url:
            lines += [f"List-Unsubscribe: <{unsubscribe_url}>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                      "Auto-Submitted: auto-generated", "Precedence: bulk"]
        b = self.boundary
        lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{b}"', "",
                  f"--{b}", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable",
                  "", ""]
        head = "\r\n".join(lines)
        middle = (f"\r\n--{b}\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
                  "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        return b"".join((self._static, head.encode("ascii"), self._fill(self._text, values).encode("ascii"),
                         middle.encode("ascii"), self._fill(self._html, values).encode("ascii"),
                         f"\r\n--{b}--\r\n".encode("ascii")))


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _qp_line(line: str) -> str:
    return quoprimime.body_encode(line.encode("utf-8").decode("latin-1") + "\n", 76)


def open_transport(settings: Settings) -> SMTPTransport | OutboxTransport:
    """SMTP when ``SMTP_HOST`` is set, else the outbox directory. Use as a context manager."""
    if settings.smtp_host:
        return SMTPTransport.from_settings(settings)
    return OutboxTransport(settings.outbox_path)


def send_one(settings: Settings, outgoing: Outgoing) -> EmailMessage:
    """Build and send a single message on a fresh connection (confirmation emails)."""
    message = build_message(settings.mail_from, outgoing)
    with open_transport(settings) as transport:
        transport.send(message)
    return message


def show_eml(path: Path) -> str:
    """A readable account of an ``.eml`` file: the main headers and the plain text part; the HTML part is written
    beside it as ``<name>.html`` to open in a browser. ``python -m aggregator.mail.mailer instance/outbox/<file>.eml``.
    """
    import email as email_package

    message = email_package.message_from_bytes(path.read_bytes(), policy=policy.default)
    lines = [f"{name}: {message[name]}" for name in ("From", "To", "Subject", "Date", "Message-ID",
                                                     "List-Unsubscribe", "List-Unsubscribe-Post") if message[name]]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        html_path = path.with_suffix(".html")
        html_path.write_text(str(html.get_content()), encoding="utf-8")
        lines.append(f"HTML part written to {html_path}")
    lines.append("")
    lines.append(str(text.get_content()) if text is not None else "(no plain text part)")
    return "\n".join(lines).replace("\r\n", "\n")


if __name__ == "__main__":  # pragma: no cover - exercised through show_eml
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m aggregator.mail.mailer instance/outbox/<file>.eml")
    print(show_eml(Path(sys.argv[1])))
