"""A real SMTP server (aiosmtpd) on a free local port that keeps every message it receives."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    port: int = 0
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.original_content, policy=policy.default),
            )
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_inbox(**server_options: Any) -> Iterator[Inbox]:
    """Serve SMTP on 127.0.0.1 until the block ends; `server_options` go to aiosmtpd's SMTP."""
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **server_options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
