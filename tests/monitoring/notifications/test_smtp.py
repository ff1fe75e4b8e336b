"""SMTP delivery against a real local aiosmtpd server: plain, with login, with STARTTLS, and failures."""

import ssl
import subprocess
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from metamon.monitoring.notifications.smtp import EmailDeliveryError, send_email
from tests.conftest import free_port
from tests.monitoring.notifications.inbox import smtp_inbox


def _message() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "hello"
    message["From"] = "metamon@example.org"
    message["To"] = "sre@example.org, ml@example.org"
    message.set_content("body")
    return message


class Authenticator:
    """Accepts one login and records every attempt, with whether the connection was encrypted."""

    def __init__(self, login: str, password: str) -> None:
        self.expected = (login.encode(), password.encode())
        self.attempts: list[tuple[bytes, bytes, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.attempts.append((auth_data.login, auth_data.password, session.ssl is not None))
        accepted = (auth_data.login, auth_data.password) == self.expected
        # handled=False on failure: aiosmtpd then answers 535 itself.
        return AuthResult(success=accepted, handled=accepted)


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (the name smtplib checks)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def _tls_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_send_delivers_to_every_recipient_without_login(settings, inbox):
    send_email(_message(), settings.model_copy(update={"smtp_port": inbox.port}))

    [received] = inbox.received
    assert received.mail_from == "metamon@example.org"
    assert received.rcpt_tos == ["sre@example.org", "ml@example.org"]
    assert received.message["Subject"] == "hello"
    assert received.message.get_content().strip() == "body"


def _login(settings, port: int, password: str = "s3cret"):
    return settings.model_copy(
        update={"smtp_port": port, "smtp_username": "digest", "smtp_password": password}
    )


def test_login_without_tls_when_the_server_offers_none(settings):
    authenticator = Authenticator("digest", "s3cret")
    with smtp_inbox(authenticator=authenticator, auth_require_tls=False) as inbox:
        send_email(_message(), _login(settings, inbox.port))
    assert authenticator.attempts == [(b"digest", b"s3cret", False)]
    assert len(inbox.received) == 1


def test_starttls_before_login_when_the_server_offers_it(settings, certificate, monkeypatch):
    # The client trusts exactly this self-signed certificate, through OpenSSL's standard variable.
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    authenticator = Authenticator("digest", "s3cret")
    tls = _tls_context(certificate)
    with smtp_inbox(authenticator=authenticator, tls_context=tls, require_starttls=True) as inbox:
        send_email(_message(), _login(settings, inbox.port))
    assert authenticator.attempts == [(b"digest", b"s3cret", True)]
    assert len(inbox.received) == 1


def test_an_untrusted_certificate_stops_before_credentials_are_sent(settings, certificate):
    authenticator = Authenticator("digest", "s3cret")
    with (
        smtp_inbox(authenticator=authenticator, tls_context=_tls_context(certificate)) as inbox,
        pytest.raises(EmailDeliveryError, match="certificate verify failed"),
    ):
        send_email(_message(), _login(settings, inbox.port))
    assert authenticator.attempts == []
    assert inbox.received == []


def test_wrong_credentials_are_a_delivery_error(settings):
    authenticator = Authenticator("digest", "s3cret")
    with (
        smtp_inbox(authenticator=authenticator, auth_require_tls=False) as inbox,
        pytest.raises(EmailDeliveryError) as error,
    ):
        send_email(_message(), _login(settings, inbox.port, password="wrong"))
    assert f"SMTP server 127.0.0.1:{inbox.port}" in str(error.value)
    assert "535" in str(error.value)
    assert inbox.received == []


def test_no_server_is_a_clear_delivery_error(settings):
    port = free_port()
    with pytest.raises(
        EmailDeliveryError, match=rf"could not send email via SMTP server 127\.0\.0\.1:{port}"
    ):
        send_email(_message(), settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port}))
