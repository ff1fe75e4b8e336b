"""API keys at the door: `GET /api/v1/projects/current` tells a key's project and scopes."""

from datetime import UTC, datetime

from sqlalchemy import update

from metamon.monitoring.db.models import ApiKey
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.keys import create_key


def _key(database_url, project="p-auth", scopes=("read",)) -> tuple[ApiKey, str]:
    with session_scope(database_url) as session:
        return create_key(session, project, list(scopes))


def test_a_valid_key_names_its_project_and_scopes(client, database_url):
    _, plaintext = _key(database_url, "p-auth", ("ingest", "read"))
    resp = client.get("/api/v1/projects/current", headers={"Authorization": f"Bearer {plaintext}"})
    assert resp.status_code == 200
    assert resp.json() == {"project": "p-auth", "scopes": ["ingest", "read"]}


def test_missing_malformed_wrong_and_revoked_keys_get_401(client, database_url):
    key, plaintext = _key(database_url)
    wrong_secret = plaintext[:-4] + ("aaaa" if not plaintext.endswith("aaaa") else "bbbb")
    for headers in (
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Bearer {wrong_secret}"},
        {"Authorization": f"Basic {plaintext}"},
    ):
        resp = client.get("/api/v1/projects/current", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["detail"] == "missing or invalid API key"
        assert resp.headers["www-authenticate"] == "Bearer"

    with session_scope(database_url) as session:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=datetime.now(UTC)))
    resp = client.get("/api/v1/projects/current", headers={"Authorization": f"Bearer {plaintext}"})
    assert resp.status_code == 401


def test_openapi_operation_ids_are_unique_and_named_by_resource(client):
    spec = client.get("/api/v1/openapi.json").json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert "health-health" in ids
    assert "projects-current_project" in ids


def test_last_use_is_recorded_outside_the_request_and_at_most_once_a_minute(client, database_url):
    from sqlalchemy import select

    key, plaintext = _key(database_url, "p-touch")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200
    with session_scope(database_url) as session:
        first = session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id))
    assert first is not None
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200
    with session_scope(database_url) as session:
        assert session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id)) == first
