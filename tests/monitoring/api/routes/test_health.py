"""`GET /api/v1/health` (and `/live`, `/ready`) against the real dependencies."""

import socket

import pytest

from metamon.monitoring.api.deps import current_settings

DEPENDENCIES = {"database", "elasticsearch", "prometheus", "alertmanager"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free once the socket closes: nothing listens there


@pytest.fixture
def key(make_key) -> dict[str, str]:
    return make_key("health", scopes=("read",))


def test_health_reports_every_dependency_up_with_latency_to_a_key_holder(client, key):
    resp = client.get("/api/v1/health", headers=key)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert set(body["dependencies"]) == DEPENDENCIES
    for name, dep in body["dependencies"].items():
        assert dep["status"] == "up", (name, dep)
        assert dep["latency_ms"] > 0
    assert body["dependencies"]["database"]["detail"].startswith("PostgreSQL 15")
    assert body["dependencies"]["elasticsearch"]["detail"] in ("cluster green", "cluster yellow")


@pytest.mark.parametrize(
    "dependency,setting", [("prometheus", "prometheus_url"), ("alertmanager", "alertmanager_url")]
)
def test_health_is_degraded_when_a_monitoring_dependency_is_unreachable(
    client, settings, key, dependency, setting
):
    app_settings = settings.model_copy(update={setting: f"http://127.0.0.1:{_closed_port()}"})
    client.app.dependency_overrides[current_settings] = lambda: app_settings
    assert client.get("/api/v1/health").json() == {"status": "degraded"}
    resp = client.get("/api/v1/health", headers=key)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["dependencies"][dependency]["status"] == "down"
    assert "ConnectError" in body["dependencies"][dependency]["detail"]
    assert body["dependencies"]["database"]["status"] == "up"


def test_health_is_unavailable_503_when_the_database_is_unreachable(client, settings):
    bad = settings.model_copy(
        update={"database_url": f"postgresql+psycopg://metamon:metamon@127.0.0.1:{_closed_port()}/metamon"}
    )
    client.app.dependency_overrides[current_settings] = lambda: bad
    for path in ("/api/v1/health", "/api/v1/health/ready"):
        resp = client.get(path)
        assert resp.status_code == 503
        # No key can be checked without the database, so no details either.
        assert resp.json() == {"status": "unavailable"} and resp.headers["Retry-After"].isdigit()
    assert client.get("/api/v1/health/live").json() == {"status": "ok"}


def test_health_is_unavailable_503_on_a_database_without_the_schema(client, settings, empty_database):
    client.app.dependency_overrides[current_settings] = lambda: settings.model_copy(
        update={"database_url": empty_database}
    )
    resp = client.get("/api/v1/health")
    assert resp.status_code == 503 and resp.json() == {"status": "unavailable"}
    assert client.get("/api/v1/health/ready").status_code == 503


def test_without_a_valid_key_health_tells_the_status_only(client, key):
    for headers in ({}, {"Authorization": "Bearer mm_nosuchkey_0000"}):
        resp = client.get("/api/v1/health", headers=headers)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    assert client.get("/api/v1/health/ready").json() == {"status": "ok"}
    assert client.get("/api/v1/health/live").json() == {"status": "ok"}
    assert set(client.get("/api/v1/health", headers=key).json()) == {
        "status",
        "version",
        "dependencies",
        "index_backlog",
    }
