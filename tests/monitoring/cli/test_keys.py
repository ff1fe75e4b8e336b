"""`metamon keys create`, run as a user runs it."""

from sqlalchemy import select

from metamon.monitoring.db.models import ApiKey, Project
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.security import hash_key
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
