"""The server as a user installs it: its wheel in a fresh virtual environment outside the checkout,
running against the real stack (see tests/wheel.py for how the environment is made)."""

import os
import subprocess
import uuid
import zipfile
from contextlib import ExitStack

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory

from metamon.monitoring.db import migrate
from metamon.monitoring.db.connect import connect
from metamon.monitoring.outbox import ALERT_RESEARCH
from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indices import delete_trace_indices
from tests.conftest import create_database, drop_database, free_port
from tests.live import running, wait_for
from tests.monitoring.alerting_payloads import alert, notification
from tests.paths import CHECKOUT

GENERIC = ("agents", "monitoring", "exporter")


def test_the_wheel_holds_only_the_metamon_namespace_and_its_package_data(installed_wheel):
    names = zipfile.ZipFile(installed_wheel.wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "metamon",
        installed_wheel.wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "metamon/__init__.py" not in names  # a PEP 420 namespace, shared with the SDK
    # Every file of the three folders ships (migrations, prompts, templates... are not all packages).
    tracked = subprocess.run(
        ["git", "ls-files", *GENERIC], cwd=CHECKOUT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(tracked) > 100
    assert [f for f in tracked if f"metamon/{f}" not in names] == []
    assert not any(n.startswith("metamon/sdk/") for n in names)  # the SDK is its own distribution
    for generic in GENERIC:
        assert not (installed_wheel.site_packages / generic).exists()


def test_everything_imports_from_the_wheel_not_the_checkout(installed_wheel):
    code = (
        "import metamon.agents, metamon.exporter, metamon.monitoring, importlib.util, sys;"
        "print(*[m.__file__ for m in (metamon.agents, metamon.exporter, metamon.monitoring)], sep='\\n');"
        f"print(*[importlib.util.find_spec(n) for n in {GENERIC!r}], sep='\\n')"
    )
    result = subprocess.run(
        [installed_wheel.bin / "python", "-c", code],
        capture_output=True,
        text=True,
        cwd=installed_wheel.workdir,
        check=True,
    )
    *files, agents, monitoring, exporter = result.stdout.splitlines()
    assert all(f.startswith(str(installed_wheel.site_packages)) for f in files), files
    assert (agents, monitoring, exporter) == ("None", "None", "None")


@pytest.fixture
def wheel_database(base_settings):
    name = f"metamon_test_wheel_{uuid.uuid4().hex[:8]}"
    yield create_database(base_settings, name)
    drop_database(base_settings, name)


def test_the_installed_services_run_against_the_real_stack(
    installed_wheel, base_settings, wheel_database, tmp_path
):
    alias = f"metamon-wheel{os.getpid()}-traces"
    api_port, exporter_port = free_port(), free_port()
    env = installed_wheel.env(
        base_settings,
        wheel_database,
        METAMON_TRACES_INDEX_ALIAS=alias,
        METAMON_API_PORT=str(api_port),
        METAMON_EXPORTER_PORT=str(exporter_port),
        METAMON_INDEXER_POLL_SECONDS="0.2",
    )
    es = get_es(base_settings.search.url)
    version = installed_wheel.run("--version", env=env)
    assert version.stdout.startswith("metamon ") and version.returncode == 0

    upgraded = installed_wheel.run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    head = ScriptDirectory.from_config(migrate.alembic_config(base_settings.database.url)).get_current_head()
    assert upgraded.stdout.strip().endswith(head)
    created = installed_wheel.run("keys", "create", "--project", "wheel", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]

    api = f"http://127.0.0.1:{api_port}"
    metamon = str(installed_wheel.bin / "metamon")
    try:
        with ExitStack() as services:
            for name, ready in [
                ("serve", f"{api}/api/v1/health"),
                ("exporter", f"http://127.0.0.1:{exporter_port}/metrics"),
                ("indexer", None),
                ("worker", None),
                ("scheduler", None),
            ]:
                services.enter_context(
                    running(
                        [metamon, name], ready, tmp_path / f"{name}.log", env, cwd=installed_wheel.workdir
                    )
                )
            headers = {"Authorization": f"Bearer {key}"}
            trace = {"id": "wheel-1", "app": "wheel-app", "input": "from the wheel", "output": "indexed"}
            assert (
                httpx.post(f"{api}/api/v1/traces", json={"traces": [trace]}, headers=headers).status_code
                < 300
            )

            # The indexer creates the index from its packaged template and indexes the trace.
            def indexed():
                if not es.indices.exists_alias(name=alias):
                    return 0
                es.indices.refresh(index=alias)
                return es.count(index=alias, query={"match": {"input": "wheel"}})["count"]

            assert wait_for(indexed, timeout=60) == 1, (tmp_path / "indexer.log").read_text()[-2000:]
            assert "metamon_" in httpx.get(f"http://127.0.0.1:{exporter_port}/metrics").text

            # The worker researches a firing alert (the research agent; no failures here, so no proposal).
            hook = {"Authorization": f"Bearer {base_settings.webhook_token()}"}
            body = notification(alert("wheel-alert", project="wheel", app="wheel-app"))
            assert httpx.post(f"{api}/api/v1/alerts/webhook", json=body, headers=hook).status_code == 200

            def researched():
                with connect(wheel_database) as conn:
                    return conn.execute(
                        "SELECT count(*) FROM outbox"
                        " WHERE topic = %s AND processed_at IS NOT NULL AND attempts = 0",
                        [ALERT_RESEARCH],
                    ).fetchone()[0]

            assert wait_for(researched, timeout=60), (tmp_path / "worker.log").read_text()[-2000:]

            # The scheduler registers its jobs in its PostgreSQL job store.
            def jobs():
                with connect(wheel_database) as conn:
                    try:
                        return conn.execute("SELECT count(*) FROM scheduler.apscheduler_jobs").fetchone()[0]
                    except psycopg.errors.UndefinedTable:
                        return 0

            assert wait_for(jobs, timeout=60), (tmp_path / "scheduler.log").read_text()[-2000:]
        for name in ("serve", "exporter", "indexer", "worker", "scheduler"):
            assert "Traceback" not in (tmp_path / f"{name}.log").read_text(), name
    finally:
        delete_trace_indices(es, base_settings.model_copy(update={"traces_index_alias": alias}))
        es.options(ignore_status=404).indices.delete_index_template(name=alias)


def test_the_installed_cli_renders_alertmanager_and_checks_the_checkouts_rules(
    installed_wheel, base_settings, tmp_path
):
    env = installed_wheel.env(base_settings, base_settings.database.url)
    rendered = installed_wheel.run("alerting", "render", "--out", str(tmp_path / "am"), env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert "/api/v1/alerts/webhook" in (tmp_path / "am" / "alertmanager.yml").read_text()
    checked = installed_wheel.run(
        "rules",
        "check",
        f"--rules-dir={CHECKOUT / 'prometheus' / 'rules'}",
        f"--tests-dir={CHECKOUT / 'prometheus' / 'tests'}",
        env=env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
