"""The HA stack (`metamon stack up --ha`, fast alerting profile), started once for every HA test and
stopped at the end, unless it was already running. It runs beside the standard stack, on its own ports
and state dir."""

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from metamon.monitoring.db.session import session_scope
from metamon.monitoring.keys import create_key
from metamon.monitoring.settings import Settings, get_settings
from metamon.monitoring.stack import StackError, control
from metamon.monitoring.stack.supervisor import Supervisor

# Three Elasticsearch nodes starting at once on a loaded 2-core machine take minutes.
START_TIMEOUT = 900.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "ha_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
            item.add_marker(pytest.mark.ha)


@pytest.fixture(scope="session")
def ha_base() -> Settings:
    """The settings the HA stack is derived from (fast alerting: rules fire in seconds)."""
    return get_settings().model_copy(
        update={"alerting_profile": "fast", "stack_start_timeout": START_TIMEOUT}
    )


@pytest.fixture(scope="session")
def ha_stack(ha_base: Settings) -> Iterator[Settings]:
    """The running HA stack's settings (what its programs read)."""
    settings, _ = control.profile(ha_base, ha=True)
    already = Supervisor(settings).running()
    started = time.monotonic()
    try:
        control.up(ha_base, ha=True, say=lambda line: print(line, flush=True))
    except StackError as exc:
        pytest.fail(f"the HA stack did not start: {exc}")
    print(f"HA stack up in {time.monotonic() - started:.0f}s", flush=True)
    yield settings
    if not already:
        control.down(ha_base, ha=True)


@pytest.fixture(scope="session")
def balancer(ha_stack: Settings) -> str:
    return ha_stack.api.public_base_url


def key_for(settings: Settings, project: str) -> str:
    with session_scope(settings.database.url) as session:
        _, plaintext = create_key(session, project, ["ingest", "read", "review"])
    return plaintext


def kill(settings: Settings, service: str) -> int:
    """SIGKILL the service's whole process group (Elasticsearch's launcher and its JVM), as a crash
    would; supervisor restarts it. Returns the pid killed."""
    pid = Supervisor(settings).states()[service]["pid"]
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    return pid


def wait_running_again(settings: Settings, service: str, old_pid: int, probe_url: str, timeout: float = 600):
    """Until supervisor restarted `service` and `probe_url` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = Supervisor(settings).states()[service]
        if info["statename"] == "RUNNING" and info["pid"] != old_pid:
            try:
                if httpx.get(probe_url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(1)
    raise TimeoutError(f"{service} did not come back within {timeout:.0f}s")
