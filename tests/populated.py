"""A project with traces, scores, a monitor run, a proposal and an alert: what the exporter and the
dashboards read. One per test session (the root conftest imports the fixture)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.monitor.agent import monitor
from metamon.monitoring.db.models import ImprovementProposal, MonitoringAlert, Project
from metamon.monitoring.db.session import session_factory, session_scope
from tests.conftest import _client, _key_maker

PROJECT = "exporter-1"


def traces(start: datetime) -> list[dict]:
    base = {
        "app": "support-bot",
        "model": "gpt-4o",
        "domain": "billing",
        "prompt_version": "v1",
        "input": "How long do refunds take?",
        "output": "Refunds take 30 days.",
        "reference": {"facts": ["30 days"]},
        "latency_seconds": 0.4,
        "cost_usd": 0.002,
        "input_tokens": 100,
        "output_tokens": 20,
    }
    rows = [
        {**base, "id": f"x-{i}", "timestamp": (start + timedelta(seconds=i)).isoformat()} for i in range(8)
    ]
    rows[1] |= {"output": "Refunds take 10 days."}
    rows[2] |= {"status": "error", "error_type": "Timeout", "latency_seconds": 3.0}
    rows[3] |= {"app": "search", "model": "gpt-4o-mini", "domain": "docs", "prompt_version": "v2"}
    return rows


@pytest.fixture(scope="session")
def populated(settings) -> dict:
    headers = _key_maker(settings.database.url)(PROJECT)
    body = {"traces": traces(datetime.now(UTC) - timedelta(minutes=10))}
    for client in _client(settings):
        response = client.post("/api/v1/traces", json=body, headers=headers)
        assert response.status_code == 200, response.text
    with session_scope(settings.database.url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == PROJECT))
    report = evaluate(settings, session_factory(settings.database.url), project_id=project_id)
    with session_scope(settings.database.url) as session:
        monitor(session, settings)
        alert = MonitoringAlert(
            project_id=project_id,
            fingerprint="exporter-1-fp",
            alertname="MetamonFactAccuracyLow",
            severity="critical",
            starts_at=datetime.now(UTC),
            labels={"project": PROJECT},
        )
        session.add(alert)
        session.flush()
        session.add(
            ImprovementProposal(
                project_id=project_id,
                alert_id=alert.id,
                proposal_type="rollback_prompt_version",
                title="Roll back",
                root_cause_key="exporter-1|fact_accuracy",
            )
        )
    app_run = next(r for r in report.runs if r.app == "support-bot" and r.model is None)
    return {"project_id": project_id, "app_run": app_run}
