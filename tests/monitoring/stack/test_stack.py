"""`metamon stack`: status of the running stack, and failures that name their cause."""

import json
import socket
import textwrap

import pytest

from tests.conftest import free_port, run_metamon
from tests.paths import CHECKOUT

# Every test here starts, probes or stops stack processes.
pytestmark = pytest.mark.stack

TEST_STACKS = CHECKOUT / ".stack" / "test-stacks"


def test_status_shows_every_service_running_and_healthy():
    result = run_metamon("stack", "status")
    assert result.returncode == 0, result.stdout
    for name in (
        "postgres",
        "elasticsearch",
        "prometheus",
        "alertmanager",
        "api",
        "exporter",
        "indexer",
        "scheduler",
    ):
        line = next(line for line in result.stdout.splitlines() if f" {name} " in line)
        assert "RUNNING" in line and " up " in line, line


def test_prometheus_discovers_the_stack_targets_from_the_files_stack_up_wrote(base_settings):
    import httpx

    targets = httpx.get(f"{base_settings.alerting.prometheus_url}/api/v1/targets", timeout=5).json()["data"]
    jobs = {t["labels"]["job"] for t in targets["activeTargets"]}
    assert {"prometheus", "alertmanager", "metamon-api"} <= jobs
    written = json.loads((CHECKOUT / "prometheus" / "targets" / "metamon-api.json").read_text())
    assert written[0]["targets"] == [f"127.0.0.1:{base_settings.api.port}"]


def test_a_taken_port_is_named_before_anything_starts(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_metamon(
            "stack",
            "up",
            "alertmanager",
            env={"METAMON_STACK_DIR": str(TEST_STACKS / "ports"), "METAMON_ALERTMANAGER_PORT": str(port)},
        )
    assert result.returncode == 1
    assert f"port {port} for alertmanager is already taken" in result.stderr
    assert "METAMON_ALERTMANAGER_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_java_is_named():
    result = run_metamon("stack", "up", env={"METAMON_JAVA_HOME": "/nonexistent/jdk"})
    assert result.returncode == 1
    assert "Java not found at /nonexistent/jdk/bin/java" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_maven_is_named(tmp_path):
    # A Maven settings.xml whose only mirror is a closed local port, and an empty local repository:
    # exactly what a machine that cannot reach the registry sees.
    settings_xml = tmp_path / "settings.xml"
    settings_xml.write_text(
        textwrap.dedent(f"""\
        <settings>
          <localRepository>{tmp_path / "m2"}</localRepository>
          <mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:{free_port()}/</url></mirror></mirrors>
        </settings>""")
    )
    result = run_metamon(
        "stack",
        "up",
        "elasticsearch",
        env={
            "METAMON_STACK_DIR": str(TEST_STACKS / "maven"),
            "METAMON_MAVEN_SETTINGS": str(settings_xml),
            "METAMON_ELASTICSEARCH_PORT": str(free_port()),
        },
    )
    assert result.returncode == 1
    assert "could not fetch org.elasticsearch.distribution.integ-test-zip:elasticsearch" in result.stderr
    assert "Maven Central" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.disruptive
def test_a_service_that_dies_at_start_is_named_with_the_tail_of_its_log():
    stack_dir = TEST_STACKS / "broken-es"
    env = {
        "METAMON_STACK_DIR": str(stack_dir),
        "METAMON_ELASTICSEARCH_PORT": str(free_port()),
        "METAMON_ELASTICSEARCH_HEAP": "bogus",  # the JVM refuses to start
        "METAMON_STACK_START_RETRIES": "1",  # it would fail the same way each time
    }
    try:
        result = run_metamon("stack", "up", "elasticsearch", env=env)
        assert result.returncode == 1
        assert "elasticsearch failed" in result.stderr
        assert "last lines of" in result.stderr and "elasticsearch.log" in result.stderr
        assert "Invalid initial heap size" in result.stderr or "Invalid maximum heap size" in result.stderr
    finally:
        run_metamon("stack", "down", env=env)
