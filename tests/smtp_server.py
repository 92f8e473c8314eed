"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd in a thread) that records every accepted message.

It can be told to refuse given recipients with any reply (``fail["x@example.org"] = "550 5.1.1 No such user"``,
or a 4xx for a temporary failure, optionally only for the first N tries), and to be slow: ``delay`` seconds
spent in the MAIL FROM stage of every transaction, before anything of that message is recorded, and ``hold_after``:
after that many messages, transactions wait in MAIL FROM (``in_mail`` set) until ``release`` is set, so a test can
kill a sender at a known point.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        parsed: EmailMessage = email.message_from_bytes(self.data, policy=default)  # type: ignore[assignment]
        return parsed


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.fail: dict[str, str] = {}
        self.fail_times: dict[str, int] = {}  # recipient → how many more times to fail (absent: always)
        self.delay = 0.0
        self.in_mail = threading.Event()
        # Once this many messages were accepted, every new transaction waits in MAIL FROM until `release` is set.
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.connections = 0
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold_after is not None and len(self.messages) >= self.hold_after:
            self.in_mail.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        with self.lock:
            reply = self.fail.get(address)
            if reply is not None and address in self.fail_times:
                if self.fail_times[address] <= 0:
                    reply = None
                else:
                    self.fail_times[address] -= 1
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SMTPServer:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m.message() for m in self.messages if address in m.rcpt_tos]

    def refuse(self, address: str, reply: str, times: int | None = None) -> None:
        with self.handler.lock:
            self.handler.fail[address] = reply
            if times is not None:
                self.handler.fail_times[address] = times

    def settings(self) -> dict[str, Any]:
        """Overrides for ``make_app`` that point the app at this server."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none"}


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SMTPServer]:
    """Import ``smtp_server_fixture`` into a test module to use the ``smtp_server`` fixture there."""
    server = SMTPServer().start()
    yield server
    server.stop()
