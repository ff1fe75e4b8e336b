"""PostgreSQL stopped or hung: every route answers 503 with a JSON body and Retry-After within a bounded
time, including while authenticating; once it is back, requests succeed again."""

import os
import re
import signal
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg import sql

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.db import session as db_session
from metamon.monitoring.db.connect import answer_within, connect, timeout_options
from metamon.monitoring.stack.supervisor import Supervisor
from tests.conftest import run_metamon
from tests.monitoring.alerting_payloads import alert, notification


def every_operation(client) -> list[tuple[str, str]]:
    """(method, path) of each operation of the OpenAPI, path parameters filled in."""
    spec = client.get("/api/v1/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path))
        for path, item in spec["paths"].items()
        for method in item
        if path != "/api/v1/health/live"  # the one route that needs nothing
    ]


def assert_unavailable(response, within: str) -> None:
    assert response.status_code == 503, (within, response.status_code, response.text)
    assert response.headers["Retry-After"].isdigit(), within
    # Health says its status; OTLP answers a google.rpc.Status (`message`); the rest a FastAPI `detail`.
    key = "status" if "health" in within else "message" if within.startswith("/v1/") else "detail"
    assert response.json()[key], within


def call(client, method: str, path: str, headers: dict, token: str):
    body = {"json": {}} if method in ("POST", "PUT") else {}
    if path.endswith("/alerts/webhook"):
        headers = {"Authorization": f"Bearer {token}"}
        body = {"json": notification(alert("f-1", project="pg-stopped"))}
    return client.request(method, path, headers=headers, **body)


@pytest.mark.disruptive
def test_postgres_stopped_every_route_answers_503_json_with_retry_after(client, make_key, settings):
    headers = make_key("pg-stopped", scopes=("ingest", "read", "review", "admin"))
    operations = every_operation(client)
    assert len(operations) > 30
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200

    assert run_metamon("stack", "down", "postgres").returncode == 0
    try:
        for method, path in operations:
            assert_unavailable(call(client, method, path, headers, settings.webhook_token()), path)
        otlp = client.post(
            "/v1/traces",
            content=b'{"resourceSpans": []}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert_unavailable(otlp, "/v1/traces")
        # Health keeps answering for itself, status only (no key can be checked without the database).
        assert client.get("/api/v1/health", headers=headers).json() == {"status": "unavailable"}
        assert client.get("/api/v1/health/live").status_code == 200
    finally:
        started = run_metamon("stack", "up", "postgres")
        assert started.returncode == 0, started.stdout + started.stderr
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200


@pytest.fixture
def paused_postgres(base_settings):
    """The postmaster stopped with SIGSTOP: it accepts no new connection and never says no."""
    pid = Supervisor(base_settings).states()["postgres"]["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.disruptive
def test_postgres_hung_a_request_waits_the_connect_timeout_then_503(
    client, make_key, settings, paused_postgres
):
    # A URL of its own, so the engine has no pooled connection: each request must connect.
    fresh = settings.model_copy(update={"database_url": settings.database.url + "?application_name=hung"})
    client.app.dependency_overrides[current_settings] = lambda: fresh
    headers = {"Authorization": "Bearer mm_abcdefgh_" + "x" * 40}
    bound = timeout_options(fresh.database.url, fresh)["connect_timeout"]
    for path in ("/api/v1/projects/current", "/api/v1/search/traces"):
        started = time.monotonic()
        response = client.get(path, headers=headers)
        assert_unavailable(response, path)
        assert time.monotonic() - started < bound + 2, path


@contextmanager
def frozen_postgres(base_settings):
    """Every PostgreSQL process stopped with SIGSTOP, the backends of open connections included: no
    statement_timeout can fire, and the kernel still acknowledges what clients send."""
    postmaster = Supervisor(base_settings).states()["postgres"]["pid"]
    children = [
        int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _ppid(stat) == postmaster
    ]
    pids = [postmaster, *children]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _ppid(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):  # the process ended meanwhile
        return None


@pytest.mark.disruptive
def test_postgres_frozen_a_pooled_connection_is_given_up_within_the_client_bound_then_503(
    client, make_key, settings, base_settings, monkeypatch
):
    headers = make_key("pg-frozen", scopes=("read",))
    bounded = settings.model_copy(
        update={
            "database_url": settings.database.url + "?application_name=frozen",
            "database_statement_timeout_seconds": 1.0,
            "database_connect_timeout_seconds": 2,
        }
    )
    # A fresh engine of that URL, whose connections take their limits from these settings.
    monkeypatch.setattr(db_session, "get_settings", lambda: bounded)
    client.app.dependency_overrides[current_settings] = lambda: bounded
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200  # one pooled
    limit = answer_within(bounded) + bounded.database.connect_timeout_seconds
    with frozen_postgres(base_settings):
        for path in ("/api/v1/projects/current", "/api/v1/alerts"):
            started = time.monotonic()
            response = client.get(path, headers=headers)
            assert_unavailable(response, path)
            assert time.monotonic() - started < limit + 2, path
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200


def test_a_statement_stuck_behind_a_lock_is_cut_by_the_statement_timeout_then_503(client, make_key, settings):
    headers = make_key("pg-locked", scopes=("read",))
    cut = settings.model_copy(
        update={"database_url": settings.database.url + "?options=-c%20statement_timeout%3D1000"}
    )
    client.app.dependency_overrides[current_settings] = lambda: cut
    with connect(settings.database.url) as locker:
        locker.execute(sql.SQL("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        response = client.get("/api/v1/projects/current", headers=headers)
        elapsed = time.monotonic() - started
    assert_unavailable(response, "locked")
    assert "did not answer in time" in response.json()["detail"]
    assert 1 <= elapsed < 5
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200


def test_every_connection_gets_bounded_timeouts_from_the_settings(settings):
    bounded = settings.model_copy(
        update={"database_connect_timeout_seconds": 4, "database_statement_timeout_seconds": 2.5}
    )
    assert timeout_options(settings.database.url, bounded) == {
        "connect_timeout": 4,
        "options": "-c statement_timeout=2500",
    }
    with connect(settings.database.url) as conn:
        assert (
            conn.execute("SHOW statement_timeout").fetchone()[0]
            == f"{int(settings.database.statement_timeout_seconds)}s"
        )
    # The URL's own say wins.
    assert timeout_options(settings.database.url + "?connect_timeout=9", bounded) == {
        "options": "-c statement_timeout=2500"
    }
