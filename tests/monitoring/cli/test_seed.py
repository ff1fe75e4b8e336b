"""`metamon seed` as a user runs it: a project that already has traces is refused before anything is sent."""

from sqlalchemy import func, select

from metamon.monitoring.db.models import ApiKey, Project
from metamon.monitoring.db.session import session_scope
from tests.conftest import run_metamon
from tests.populated import PROJECT


def test_a_project_with_traces_is_refused(database_url, populated):
    def keys() -> int:
        with session_scope(database_url) as session:
            return session.scalar(
                select(func.count()).select_from(ApiKey).join(Project).where(Project.slug == PROJECT)
            )

    before = keys()
    result = run_metamon("seed", "--project", PROJECT, env={"METAMON_DATABASE_URL": database_url})
    assert result.returncode == 1
    assert f"error: project '{PROJECT}' already has 8 traces; seed another --project" in result.stderr
    assert keys() == before  # no key was made for it


def test_the_period_is_bounded(database_url):
    result = run_metamon("seed", "--days", "31", env={"METAMON_DATABASE_URL": database_url})
    assert result.returncode == 2
    assert "Invalid value for '--days': Input should be less than or equal to 30" in result.stderr
