"""SMTP_SECURITY starttls and ssl, and SMTP login, against a real aiosmtpd server on 127.0.0.1 with a throwaway
certificate made by the openssl command. The client verifies certificates: the test trusts its own through
SSL_CERT_FILE, which OpenSSL's default verify paths read."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from aggregator.errors import DeliveryError
from aggregator.mail import mailer
from aggregator.mail.mailer import Outgoing, build_message
from tests.smtp_server import RecordingHandler, _free_port

FROM = "Digest <digest@cartms.example>"


@dataclass
class TLSFiles:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    files = TLSFiles(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(files.key),
            "-out",
            str(files.cert),
        ],
        check=True,
        capture_output=True,
    )
    return files


def _server_context(files: TLSFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"digest", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def starttls_server(tls_files: TLSFiles) -> Iterator[tuple[Controller, RecordingHandler]]:
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=_server_context(tls_files),
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield controller, handler
    controller.stop()


def _message(to: str = "reader@example.org") -> Any:
    return build_message(
        FROM,
        Outgoing(
            to=to,
            subject="s",
            text="t\n",
            html="<p>h</p>\n",
            message_id="<1@x>",
            date=datetime(2026, 11, 23, tzinfo=UTC),
        ),
    )


def test_starttls_with_login_delivers(
    starttls_server: tuple[Controller, RecordingHandler], tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, handler = starttls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    with mailer.SMTPTransport(
        "127.0.0.1",
        controller.port,
        security="starttls",
        username="digest",
        password="s3cret",
        mail_from=FROM,
        timeout=10,
    ) as transport:
        transport.send(_message())
    assert [m.rcpt_tos for m in handler.messages] == [("reader@example.org",)]


def test_a_wrong_password_is_reported_by_name(
    starttls_server: tuple[Controller, RecordingHandler], tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, handler = starttls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    transport = mailer.SMTPTransport(
        "127.0.0.1",
        controller.port,
        security="starttls",
        username="digest",
        password="wrong",
        mail_from=FROM,
        timeout=10,
    )
    with pytest.raises(mailer.SMTPUnavailable, match="SMTP_USERNAME/SMTP_PASSWORD"):
        transport.send(_message())
    assert handler.messages == []


def test_plain_smtp_to_a_server_that_requires_starttls_fails_and_says_so(
    starttls_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = starttls_server
    with mailer.SMTPTransport("127.0.0.1", controller.port, security="none", mail_from=FROM, timeout=10) as transport:
        with pytest.raises(DeliveryError) as raised:
            transport.send(_message())
    assert "530" in str(raised.value) and not raised.value.permanent  # our configuration, not the reader's fault
    assert handler.messages == []


def test_an_untrusted_certificate_is_refused(
    starttls_server: tuple[Controller, RecordingHandler], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, handler = starttls_server
    empty = tmp_path / "no-ca.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    transport = mailer.SMTPTransport("127.0.0.1", controller.port, security="starttls", mail_from=FROM, timeout=10)
    with pytest.raises(mailer.SMTPUnavailable, match="SMTP_SECURITY"):
        transport.send(_message())
    assert handler.messages == []


def test_implicit_tls_delivers(tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), ssl_context=_server_context(tls_files))
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
        with mailer.SMTPTransport(
            "127.0.0.1", controller.port, security="ssl", mail_from=FROM, timeout=10
        ) as transport:
            transport.send(_message("a@example.org"))
            transport.send(_message("b@example.org"))
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in handler.messages] == [("a@example.org",), ("b@example.org",)]
