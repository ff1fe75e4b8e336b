"""Who receives a project's digest: the project's own addresses, else the server's METAMON_DIGEST_EMAIL_TO."""

import re

from metamon.monitoring.db.models import Project
from metamon.monitoring.settings import Settings

MAX_RECIPIENTS = 50
# One bare address: no display name, no list, no whitespace or angle brackets that would add recipients.
ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


def checked_address(address: str) -> str:
    if not ADDRESS.fullmatch(address):
        raise ValueError(f"{address!r} is not an email address (user@domain)")
    return address


def digest_recipients(project: Project, settings: Settings) -> list[str]:
    return list(project.digest_email_to or settings.notifications.digest_email_to)
