"""supervisord restarts a service that dies, with back-off, before giving up on it; `metamon stack
status` says when it gave up, with the tail of its log. Each test runs a supervisord of its own."""

import shutil
import socket
import sys
import textwrap
import time

import pytest

from metamon.monitoring.settings import Settings
from metamon.monitoring.stack import control
from metamon.monitoring.stack.prepare import make_dirs
from metamon.monitoring.stack.services import Service, stack_services
from metamon.monitoring.stack.supervisor import Supervisor, render_config
from tests.conftest import run_metamon
from tests.live import wait_for
from tests.monitoring.stack.test_stack import TEST_STACKS

pytestmark = pytest.mark.stack  # runs supervisord and the stack's own programs

CRASHES_THEN_RUNS = textwrap.dedent("""\
    import pathlib, sys, time
    counter = pathlib.Path(sys.argv[1])
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    print(f"attempt {attempt}", flush=True)
    if attempt <= int(sys.argv[2]):
        sys.exit(1)
    time.sleep(3600)
""")


@pytest.fixture
def own_stack():
    """A stack directory of its own (short: supervisord's socket path must fit in 108 bytes)."""
    made: list[Supervisor] = []

    def make(name: str, **overrides) -> Settings:
        stack_dir = TEST_STACKS / name
        shutil.rmtree(stack_dir, ignore_errors=True)
        settings = Settings(stack_dir=stack_dir, **overrides)
        make_dirs(settings, None)
        made.append(Supervisor(settings))
        return settings

    yield make
    for supervisor in made:
        if supervisor.running():
            supervisor.shutdown()


def states_reach(supervisor: Supervisor, wanted: dict[str, str], timeout: float = 60) -> dict[str, str]:
    """The processes' states once they are `wanted`, or as they are when the time is up."""

    def states() -> dict[str, str]:
        return {name: info["statename"] for name, info in supervisor.states().items()}

    def reached() -> dict[str, str] | None:
        now = states()
        return now if all(now.get(name) == state for name, state in wanted.items()) else None

    return wait_for(reached, timeout=timeout, interval=0.2) or states()


def test_a_service_dying_at_start_is_restarted_with_back_off_and_given_up_on_only_after_its_retries(
    own_stack,
):
    settings = own_stack("backoff", stack_start_retries=3)
    script = settings.stack.dir / "crashes_then_runs.py"
    script.write_text(CRASHES_THEN_RUNS)
    flaky = Service(
        "flaky", [sys.executable, str(script), str(settings.stack.dir / "flaky.count"), "3"], None, None, None
    )
    doomed = Service(
        "doomed",
        [sys.executable, str(script), str(settings.stack.dir / "doomed.count"), "99"],
        None,
        None,
        None,
    )
    supervisor = Supervisor(settings)
    supervisor.ensure_running(render_config(settings, [flaky, doomed], None))
    started = time.monotonic()
    supervisor.start("flaky")
    supervisor.start("doomed")

    states = states_reach(supervisor, {"flaky": "RUNNING", "doomed": "FATAL"})
    # Three quick crashes (with one retry, the old setting, the second left it FATAL), then it runs.
    assert states == {"flaky": "RUNNING", "doomed": "FATAL"}
    assert (settings.stack.dir / "flaky.count").read_text() == "4"
    assert (settings.stack.dir / "doomed.count").read_text() == "4"  # the first start and 3 retries
    assert time.monotonic() - started >= 1 + 2 + 3  # each wait a second longer than the last

    rows = {row.name: row for row in control.status(settings, [flaky, doomed])}
    assert rows["flaky"].gave_up is None and rows["flaky"].probe.healthy
    assert "supervisor gave up on doomed after 3 restarts" in rows["doomed"].gave_up
    assert "attempt 4" in rows["doomed"].gave_up  # the tail of its log


def test_stack_status_says_when_a_service_gave_up_with_the_tail_of_its_log(own_stack):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {"METAMON_PROMETHEUS_PORT": str(port), "METAMON_STACK_START_RETRIES": "1"}
        settings = own_stack("gave-up", prometheus_port=port, stack_start_retries=1)
        env["METAMON_STACK_DIR"] = str(settings.stack.dir)
        supervisor = Supervisor(settings)
        supervisor.ensure_running(render_config(settings, stack_services(settings), None))
        supervisor.start("prometheus")  # its port is taken: it dies at every start
        assert states_reach(supervisor, {"prometheus": "FATAL"})["prometheus"] == "FATAL"
        result = run_metamon("stack", "status", env=env)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if " prometheus " in line)
    assert "FATAL" in line
    assert "prometheus gave up (FATAL)" in result.stderr
    assert "supervisor gave up on prometheus after 1 restarts" in result.stderr
    assert "address already in use" in result.stderr  # Prometheus's own words, from its log
