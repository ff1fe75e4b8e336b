import os

import pytest

from metamon.monitoring.settings import Settings


@pytest.fixture
def make_settings(monkeypatch):
    """Settings from the defaults plus the given overrides only: no METAMON_* variable, no .env file."""
    for name in list(os.environ):
        if name.startswith("METAMON_"):
            monkeypatch.delenv(name)
    return lambda **overrides: Settings(_env_file=None, **overrides)
