"""PostgreSQL stopped or hung: every route answers 503 with a JSON body and Retry-After within a bounded
time, including while authenticating; once it is back, requests succeed again."""

import os
import re
import signal
import time
import uuid

import pytest
from psycopg import sql

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.db.connect import connect, timeout_options
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
