from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.conftest import rolled_back_session
from tests.monitoring.notifications.inbox import Inbox, smtp_inbox


@pytest.fixture
def db(private_database_url: str) -> Iterator[Session]:
    """The digest reads every project's alerts, proposals and runs: it gets a database of its own."""
    yield from rolled_back_session(private_database_url)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_inbox() as running:
        yield running
