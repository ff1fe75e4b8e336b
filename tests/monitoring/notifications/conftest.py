from collections.abc import Iterator

import pytest

from tests.monitoring.notifications.inbox import Inbox, smtp_inbox


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_inbox() as running:
        yield running
