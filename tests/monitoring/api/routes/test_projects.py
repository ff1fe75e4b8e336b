"""API keys at the door: `GET /api/v1/projects/current` tells a key's project and scopes."""

from datetime import UTC, datetime

from sqlalchemy import select, update

from metamon.monitoring.db.models import ApiKey, Project
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.keys import create_key


def _key(database_url, project="p-auth", scopes=("read",)) -> tuple[ApiKey, str]:
    with session_scope(database_url) as session:
        return create_key(session, project, list(scopes))


def test_a_valid_key_names_its_project_and_scopes(client, database_url, settings):
    _, plaintext = _key(database_url, "p-auth", ("ingest", "read"))
    resp = client.get("/api/v1/projects/current", headers={"Authorization": f"Bearer {plaintext}"})
    assert resp.status_code == 200
    assert resp.json() == {
        "project": "p-auth",
        "scopes": ["ingest", "read"],
        "digest_email_to": settings.notifications.digest_email_to,
        "digest_email_to_is_default": True,
    }


def test_an_admin_sets_who_receives_the_projects_digest(client, database_url, settings):
    _, admin = _key(database_url, "p-digest", ("read", "admin"))
    _, reader = _key(database_url, "p-digest", ("read",))
    path = "/api/v1/projects/current/digest-recipients"
    as_admin = {"Authorization": f"Bearer {admin}"}
    team = ["ml@example.org", "oncall@example.org"]

    resp = client.put(path, json={"email_to": [*team, "ml@example.org"]}, headers=as_admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["digest_email_to"] == team
    assert resp.json()["digest_email_to_is_default"] is False
    with session_scope(database_url) as session:
        assert session.scalar(select(Project.digest_email_to).where(Project.slug == "p-digest")) == team

    # Not an address, one that would smuggle in another recipient, too many: 422, nothing written.
    for bad in (["not-an-address"], ["a@example.org, b@example.org"], ["Eve <eve@example.org>"]):
        resp = client.put(path, json={"email_to": bad}, headers=as_admin)
        assert resp.status_code == 422, bad
    too_many = [f"u{i}@example.org" for i in range(51)]
    assert client.put(path, json={"email_to": too_many}, headers=as_admin).status_code == 422
    assert (
        client.put(
            path, json={"email_to": team[:1]}, headers={"Authorization": f"Bearer {reader}"}
        ).status_code
        == 403
    )
    current = client.get("/api/v1/projects/current", headers=as_admin).json()
    assert current["digest_email_to"] == team

    # null: back to the server's default.
    resp = client.put(path, json={"email_to": None}, headers=as_admin)
    assert resp.json()["digest_email_to"] == settings.notifications.digest_email_to
    assert resp.json()["digest_email_to_is_default"] is True


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
    key, plaintext = _key(database_url, "p-touch")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200
    with session_scope(database_url) as session:
        first = session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id))
    assert first is not None
    assert client.get("/api/v1/projects/current", headers=headers).status_code == 200
    with session_scope(database_url) as session:
        assert session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id)) == first
