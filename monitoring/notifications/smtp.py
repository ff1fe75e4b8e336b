"""Send an email through the configured SMTP server."""

import smtplib
import ssl
from email.message import EmailMessage

from metamon.monitoring.settings import Settings


class EmailDeliveryError(RuntimeError):
    """The SMTP server could not be reached or did not accept the message."""


def send_email(message: EmailMessage, settings: Settings, *, timeout: float = 30.0) -> None:
    """Deliver `message` to the recipients in its To/Cc headers, or raise EmailDeliveryError."""
    server = f"{settings.notifications.smtp_host}:{settings.notifications.smtp_port}"
    try:
        with smtplib.SMTP(
            settings.notifications.smtp_host, settings.notifications.smtp_port, timeout=timeout
        ) as smtp:
            smtp.ehlo()
            if settings.notifications.smtp_username:
                # Credentials never travel in clear when the server can encrypt; a local relay may not.
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                smtp.login(settings.notifications.smtp_username, settings.notifications.smtp_password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise EmailDeliveryError(f"could not send email via SMTP server {server}: {exc}") from exc
    if refused:
        raise EmailDeliveryError(f"SMTP server {server} refused recipients: {', '.join(sorted(refused))}")
