"""`metamon evaluate`, run as a user runs it: scores the backlog with progress, writes the runs."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from metamon.monitoring.db.models import EvaluationRun, Project, Trace
from metamon.monitoring.db.session import session_scope
from tests.conftest import run_metamon


def test_evaluate_scores_a_project_backlog_and_writes_its_runs(client, make_key, database_url):
    headers = make_key("cli-eval")
    now = datetime.now(UTC)
    traces = [
        {
            "id": f"ce-{i}",
            "timestamp": (now - timedelta(minutes=i + 1)).isoformat(),
            "app": "support-bot",
            "output": "Refunds take 30 days." if i else "Refunds take 10 days.",
            "reference": {"facts": ["30 days"]},
        }
        for i in range(3)
    ]
    assert client.post("/api/v1/traces", json={"traces": traces}, headers=headers).status_code == 200

    result = run_metamon("evaluate", "--project", "cli-eval", env={"METAMON_DATABASE_URL": database_url})

    assert result.returncode == 0, result.stderr
    assert "scored 3 traces" in result.stdout and "evaluation runs written" in result.stdout
    assert "scoring traces" in result.stderr  # the progress bar
    with session_scope(database_url) as session:
        pid = session.scalar(select(Project.id).where(Project.slug == "cli-eval"))
        assert (
            session.scalar(select(func.count()).where(Trace.project_id == pid, Trace.evaluated_at.is_(None)))
            == 0
        )
        run = session.scalar(
            select(EvaluationRun).where(EvaluationRun.project_id == pid, EvaluationRun.model.is_(None))
        )
        assert run.trace_count == 3 and abs(run.fact_accuracy - 2 / 3) < 1e-9


def test_evaluate_refuses_an_unknown_project(database_url):
    result = run_metamon(
        "evaluate", "--project", "no-such-project", env={"METAMON_DATABASE_URL": database_url}
    )
    assert result.returncode == 2 and "no project 'no-such-project'" in result.stderr
