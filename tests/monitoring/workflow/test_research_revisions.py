"""Research keeps up with a firing alert: the open proposal is revised in place as traces arrive."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from metamon.monitoring.db.models import AuditLog, ImprovementProposal, MonitoringAlert, Project
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.workflow.proposals import auto_approve
from metamon.monitoring.workflow.worker import research_once
from tests.agents.research.data import add_traces
from tests.monitoring.alerting_payloads import alert, notification


def drain(settings) -> None:
    while research_once(settings, session_factory(settings.database.url)):
        pass


def canary(session, project_id, now, **versions: tuple[int, int]) -> None:
    """(traces, failures) per prompt version over the last 20 minutes."""
    for version, (n, failures) in versions.items():
        add_traces(
            session,
            project_id,
            start=now - timedelta(minutes=20),
            end=now,
            n=n,
            failures=failures,
            prompt_version=version,
        )


def thin_canary(database_url: str, slug: str, now: datetime):
    """A week of v2 failing 5%, then a 30% canary of v3 with 20 traces so far; the project's id."""
    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == slug))
        add_traces(
            session,
            project_id,
            start=now - timedelta(days=7),
            end=now - timedelta(hours=1),
            n=700,
            failures=35,
            prompt_version="v2",
        )
        canary(session, project_id, now, v2=(14, 1), v3=(6, 4))
    return project_id


def test_a_proposal_made_on_thin_data_is_provisional_then_revised_as_evidence_grows(
    client, make_key, settings, database_url
):
    headers = make_key("revise-canary", scopes=("read", "admin"))
    hook = {"Authorization": f"Bearer {settings.webhook_token()}"}
    now = datetime.now(UTC)
    project_id = thin_canary(database_url, "revise-canary", now)
    fired = alert(
        "revise-canary-1", starts=now - timedelta(minutes=5), project="revise-canary", app="support-bot"
    )
    assert client.post("/api/v1/alerts/webhook", json=notification(fired), headers=hook).status_code == 200
    drain(settings)

    (first,) = client.get("/api/v1/proposals", headers=headers).json()["items"]
    assert first["proposal_type"] == "investigate" and first["provisional"] is True
    assert first["confidence_level"] == "low" and first["revision"] == 1 and first["risk"] != "low"
    with session_scope(database_url) as session:
        proposal = session.get(ImprovementProposal, first["id"])
        proposal.status = "validated"
        policy = settings.model_copy(update={"auto_approve_low_risk": True, "high_impact_improvement": 1.0})
        assert auto_approve(session, policy, proposal) is False  # never auto-approvable
        proposal.status = "pending"

    # An hour later the canary has served 100 traces and the evidence is clear.
    with session_scope(database_url) as session:
        canary(session, project_id, now, v2=(200, 10), v3=(100, 60))
        session.execute(
            update(ImprovementProposal)
            .where(ImprovementProposal.id == first["id"])
            .values(researched_at=now - timedelta(minutes=1))
        )
    quick = settings.model_copy(update={"research_revise_seconds": 30})
    drain(quick)

    revised = client.get(f"/api/v1/proposals/{first['id']}", headers=headers).json()
    assert revised["revision"] == 2 and revised["provisional"] is False
    assert revised["root_cause_key"] == "fact_accuracy|app=support-bot|prompt_version=v3"
    assert revised["proposal_type"] == "rollback_prompt_version"
    assert revised["confidence"] > first["confidence"]
    assert revised["evidence"]["revision"] == {
        "number": 2,
        "root_cause_changed": True,
        "previous_root_cause_key": "fact_accuracy|app=support-bot|unexplained",
    }
    assert revised["root_cause"]["changed_from"] == "fact_accuracy|app=support-bot|unexplained"
    assert revised["evidence"]["totals"]["window_traces"] == 320
    assert len(client.get("/api/v1/proposals", headers=headers).json()["items"]) == 1
    with session_scope(database_url) as session:
        audit = session.scalars(
            select(AuditLog).where(AuditLog.entity_id == first["id"]).order_by(AuditLog.id)
        ).all()
    assert [a.action for a in audit] == ["proposal.created", "proposal.revised"]
    assert audit[1].after["root_cause_changed"] is True and audit[1].before["revision"] == 1

    # Rate limited: right after a revision nothing is due, whatever arrives.
    assert research_once(quick, session_factory(database_url)) == 0


def test_an_alert_that_re_fires_revises_the_abstention_left_by_its_first_firing(
    client, make_key, settings, database_url
):
    """The first firing abstains on thin data and resolves (a gap in the scrapes); the alert fires again as
    a new alert once the canary has served enough: its research answers the open abstention, in place."""
    headers = make_key("refire-canary", scopes=("read", "admin"))
    hook = {"Authorization": f"Bearer {settings.webhook_token()}"}
    now = datetime.now(UTC)
    project_id = thin_canary(database_url, "refire-canary", now)
    labels = {"project": "refire-canary", "app": "support-bot"}
    first_firing = now - timedelta(minutes=5)
    fired = alert("refire-1", starts=first_firing, **labels)
    assert client.post("/api/v1/alerts/webhook", json=notification(fired), headers=hook).status_code == 200
    drain(settings)
    (first,) = client.get("/api/v1/proposals", headers=headers).json()["items"]
    assert first["proposal_type"] == "investigate"
    resolved = alert("refire-1", status="resolved", starts=first_firing, **labels)
    assert client.post("/api/v1/alerts/webhook", json=notification(resolved), headers=hook).status_code == 200

    with session_scope(database_url) as session:
        canary(session, project_id, now, v2=(200, 10), v3=(100, 60))
    again = alert("refire-1", starts=now - timedelta(minutes=1), **labels)
    assert client.post("/api/v1/alerts/webhook", json=notification(again), headers=hook).status_code == 200
    drain(settings)

    (revised,) = client.get("/api/v1/proposals", headers=headers).json()["items"]
    assert revised["id"] == first["id"] and revised["revision"] == 2
    assert revised["root_cause_key"] == "fact_accuracy|app=support-bot|prompt_version=v3"
    assert revised["root_cause"]["changed_from"] == "fact_accuracy|app=support-bot|unexplained"
    with session_scope(database_url) as session:
        proposal = session.get(ImprovementProposal, first["id"])
        alert_now = session.get(MonitoringAlert, proposal.alert_id)
        assert alert_now.status == "firing" and alert_now.starts_at > first_firing
