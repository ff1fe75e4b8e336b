"""`metamon keys create`, run as a user runs it."""

from sqlalchemy import select

from metamon.monitoring.db.models import ApiKey, Project
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.security import hash_key, parse_prefix
from tests.conftest import run_metamon


def test_keys_create_prints_the_key_alone_on_its_last_line_and_stores_only_its_hash(database_url):
    result = run_metamon(
        "keys",
        "create",
        "--project",
        "cli-proj",
        "--scopes",
        "ingest,read,review,admin",
        env={"METAMON_DATABASE_URL": database_url},
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("mm_") and " " not in key

    with session_scope(database_url) as session:
        project = session.scalar(select(Project).where(Project.slug == "cli-proj"))
        stored = session.scalars(select(ApiKey).where(ApiKey.project_id == project.id)).one()
        assert stored.secret_hash == hash_key(key)
        assert sorted(stored.scopes) == ["admin", "ingest", "read", "review"]
        # The plaintext is nowhere in the row.
        assert key not in repr([getattr(stored, c.key) for c in ApiKey.__table__.columns])


def test_keys_create_refuses_unknown_scopes_without_writing(database_url):
    result = run_metamon(
        "keys",
        "create",
        "--project",
        "cli-bad",
        "--scopes",
        "read,superuser",
        env={"METAMON_DATABASE_URL": database_url},
    )
    assert result.returncode == 2
    assert "scopes must be a comma-separated subset of ingest, read, review, admin" in result.stderr
    with session_scope(database_url) as session:
        assert session.scalar(select(Project).where(Project.slug == "cli-bad")) is None


def test_keys_list_shows_each_key_without_its_secret_and_hides_revoked_ones(database_url, make_key):
    key = make_key("cli-list", ("ingest",))["Authorization"].removeprefix("Bearer ")
    env = {"METAMON_DATABASE_URL": database_url}
    result = run_metamon("keys", "list", "--project", "cli-list", env=env)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.strip().splitlines()
    assert header.split()[:4] == ["PREFIX", "PROJECT", "SCOPES", "NAME"]
    assert row.split()[:4] == [parse_prefix(key), "cli-list", "ingest", "-"]
    assert key not in result.stdout
    assert run_metamon("keys", "revoke", parse_prefix(key), env=env).returncode == 0
    [only_header] = run_metamon("keys", "list", "--project", "cli-list", env=env).stdout.strip().splitlines()
    assert only_header.split() == header.split()
    with_revoked = run_metamon("keys", "list", "--project", "cli-list", "--revoked", env=env).stdout
    assert parse_prefix(key) in with_revoked


def test_a_revoked_key_is_refused_by_the_api_from_the_next_request_on(database_url, make_key, client):
    headers = make_key("cli-revoke", ("read",))
    key = headers["Authorization"].removeprefix("Bearer ")
    env = {"METAMON_DATABASE_URL": database_url}

    def revoked_at():
        with session_scope(database_url) as session:
            return session.scalar(select(ApiKey.revoked_at).where(ApiKey.prefix == parse_prefix(key)))

    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    result = run_metamon("keys", "revoke", key, env=env)  # the whole key works as well as its prefix
    assert result.returncode == 0, result.stderr
    assert "revoked key" in result.stdout and "cli-revoke" in result.stdout
    assert client.get("/api/v1/alerts", headers=headers).status_code == 401
    first = revoked_at()
    assert run_metamon("keys", "revoke", key, env=env).returncode == 0
    assert revoked_at() == first  # revoking again keeps the first revocation time


def test_revoking_an_unknown_key_is_a_one_line_error(database_url):
    result = run_metamon("keys", "revoke", "0123456789ab", env={"METAMON_DATABASE_URL": database_url})
    assert (result.returncode, result.stderr.strip()) == (1, "error: no API key with prefix '0123456789ab'")
