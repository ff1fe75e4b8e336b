"""From Alertmanager's notifications to one proposal per root cause, then validation and decision."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from metamon.monitoring.db.models import AuditLog, ImprovementProposal, MonitoringAlert
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.workflow.worker import research_once, validate_once
from tests.conftest import _client
from tests.live import api_server
from tests.monitoring.alerting_payloads import alert, notification
from tests.monitoring.workflow.observing_target import watched
from tests.monitoring.workflow.seed import prompt_regression_now


def drain(settings) -> None:
    while research_once(settings, session_factory(settings.database.url)):
        pass


def validate(client, settings, pid: str, headers: dict, **body) -> httpx.Response:
    """Ask for a validation (202), let the worker run it, and read the proposal where the 202 said."""
    queued = client.post(
        "/api/v1/control/validate-proposal", json={"proposal_id": pid, **body}, headers=headers
    )
    if queued.status_code != 202:
        return queued
    assert queued.json()["status"] == "validating"
    assert queued.json()["location"] == queued.headers["Location"] == f"/api/v1/proposals/{pid}"
    assert client.get(queued.json()["location"], headers=headers).json()["status"] == "validating"
    while validate_once(settings, session_factory(settings.database.url)):
        pass
    return client.get(queued.json()["location"], headers=headers)


def test_a_storm_of_replayed_notifications_leaves_one_alert_each_and_one_proposal(
    settings, make_key, tmp_path
):
    make_key("loop-storm")
    project_id = prompt_regression_now(settings.database.url, "loop-storm")
    hook = {"Authorization": f"Bearer {settings.webhook_token()}"}
    bodies = [
        notification(alert(f"storm-{i:04d}", project="loop-storm", app="support-bot", model=f"m{i % 7}"))
        for i in range(1000)
    ]

    with (
        api_server(settings.database.url, tmp_path) as url,
        httpx.Client(base_url=url, headers=hook, timeout=30) as http,
    ):

        def send(body) -> int:
            return http.post("/api/v1/alerts/webhook", json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, [b for b in bodies for _ in range(10)]))
    assert set(codes) == {200}
    drain(settings)

    with session_scope(settings.database.url) as session:
        counts = session.execute(
            select(
                func.count(),
                func.min(MonitoringAlert.notification_count),
                func.max(MonitoringAlert.notification_count),
            ).where(MonitoringAlert.fingerprint.like("storm-%"))
        ).one()
        proposals = session.scalars(
            select(ImprovementProposal).where(ImprovementProposal.project_id == project_id)
        ).all()
    assert tuple(counts) == (1000, 10, 10)
    assert len(proposals) == 1
    (proposal,) = proposals
    assert proposal.root_cause_key == "fact_accuracy|app=support-bot|prompt_version=v3"
    assert proposal.recommended_change["to_version"] == "v2" and proposal.alert_id is not None


def test_generate_validate_and_decide(client, make_key, settings, database_url):
    headers = make_key("loop-decide", scopes=("read", "review", "admin"))
    prompt_regression_now(database_url, "loop-decide")
    made = client.post(
        "/api/v1/control/generate-proposal",
        json={"metric": "fact_accuracy", "app": "support-bot"},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    proposal = made.json()["proposal"]
    assert made.json()["created"] and proposal["status"] == "pending" and proposal["alert_id"] is None
    again = client.post(
        "/api/v1/control/generate-proposal",
        json={"metric": "fact_accuracy", "app": "support-bot"},
        headers=headers,
    ).json()
    assert (again["created"], again["proposal"]["id"]) == (False, proposal["id"])
    pid = proposal["id"]

    # Not validated yet: approving is a conflict.
    assert client.post(f"/api/v1/proposals/{pid}/approve", json={}, headers=headers).status_code == 409
    validated = validate(client, settings, pid, headers)
    assert validated.status_code == 200, validated.text
    body = validated.json()
    assert body["status"] == "validated" and body["validation"]["passed"] is True
    assert body["validation"]["case_count"] >= 100 and body["validation"]["mcnemar_p_value"] < 0.05
    assert (
        client.post(
            "/api/v1/control/validate-proposal", json={"proposal_id": pid}, headers=headers
        ).status_code
        == 409
    )

    # High impact (expected gain >= 5 points): a reviewer and a comment are required.
    assert client.post(f"/api/v1/proposals/{pid}/approve", json={}, headers=headers).status_code == 422
    approved = client.post(
        f"/api/v1/proposals/{pid}/approve",
        json={"reviewer": "ml-lead", "comment": "v2 was fine"},
        headers=headers,
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert (
        client.post(f"/api/v1/proposals/{pid}/reject", json={"reviewer": "x"}, headers=headers).status_code
        == 409
    )

    detail = client.get(f"/api/v1/proposals/{pid}", headers=headers).json()
    assert detail["validation"]["passed"] and detail["evidence"]["trace_ids"]
    listing = client.get(
        "/api/v1/proposals?status=approved&type=rollback_prompt_version", headers=headers
    ).json()
    assert [p["id"] for p in listing["items"]] == [pid] and listing["total"] == 1
    stats = client.get("/api/v1/proposals/stats", headers=headers).json()
    assert stats["by_status"]["approved"] == 1 and stats["by_type"] == {"rollback_prompt_version": 1}
    with session_scope(database_url) as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.entity_id == pid).order_by(AuditLog.id)
        ).all()
    # The second generate-proposal refreshed the open proposal's evidence: a revision.
    assert actions == [
        "proposal.created",
        "proposal.revised",
        "proposal.validating",
        "proposal.validated",
        "proposal.approved",
    ]
    other = make_key("loop-other", scopes=("read",))
    assert client.get(f"/api/v1/proposals/{pid}", headers=other).status_code == 404


def new_proposal(client, headers) -> dict:
    """A proposal for the seeded prompt regression, made through the API."""
    made = client.post(
        "/api/v1/control/generate-proposal",
        json={"metric": "fact_accuracy", "app": "support-bot"},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    return made.json()["proposal"]


def test_a_proposal_is_validating_for_everyone_while_the_replay_runs(make_key, settings, database_url):
    headers = make_key("loop-validating", scopes=("read", "admin"))
    prompt_regression_now(database_url, "loop-validating")
    observed = settings.model_copy(
        update={"validation_targets": {"observer": "tests.monitoring.workflow.observing_target:observe"}}
    )
    for client in _client(observed):
        pid = new_proposal(client, headers)["id"]
        watched.update(database_url=database_url, proposal_id=pid, seen=set())
        validated = validate(client, observed, pid, headers, target="observer")

    assert validated.status_code == 200, validated.text
    assert watched["seen"] == {"validating"} and validated.json()["status"] == "validated"


def test_a_bad_target_is_refused_and_a_replay_that_cannot_run_fails_with_its_reason(
    client, make_key, settings, database_url
):
    headers = make_key("loop-broken", scopes=("read", "admin"))
    prompt_regression_now(database_url, "loop-broken")
    pid = new_proposal(client, headers)["id"]

    def status() -> str:
        return client.get(f"/api/v1/proposals/{pid}", headers=headers).json()["status"]

    no_cases = validate(client, settings, pid, headers, tags=["no-such-tag"])
    assert no_cases.status_code == 409 and "no golden cases" in no_cases.json()["detail"]
    assert status() == "pending"

    # The registered target changed between the request and the replay, to one that cannot load.
    moved = settings.model_copy(update={"validation_targets": {"default": "tests.no_such_module:answer"}})
    failed = validate(client, moved, pid, headers)
    assert failed.json()["status"] == "failed_validation"
    with session_scope(database_url) as session:
        last = session.scalars(
            select(AuditLog).where(AuditLog.entity_id == pid).order_by(AuditLog.id.desc())
        ).first()
    assert last.action == "proposal.failed_validation" and "tests.no_such_module" in last.after["error"]
    # Failed is not final: validated again, it passes.
    assert validate(client, settings, pid, headers).json()["status"] == "validated"


@pytest.mark.parametrize(("high_impact_from", "expected"), [(0.05, "validated"), (0.9, "approved")])
def test_the_auto_approve_policy_approves_low_risk_low_impact_proposals_only(
    make_key, settings, database_url, high_impact_from, expected
):
    slug = f"loop-auto-{int(high_impact_from * 100)}"
    headers = make_key(slug, scopes=("read", "admin"))
    prompt_regression_now(database_url, slug)
    policy = settings.model_copy(
        update={"auto_approve_low_risk": True, "high_impact_improvement": high_impact_from}
    )
    for client in _client(policy):
        made = new_proposal(client, headers)
        assert made["risk"] == "low" and 0.05 <= made["expected_improvement"] < 0.9
        validated = validate(client, policy, made["id"], headers)
        assert validated.json()["status"] == expected
        if expected == "approved":
            assert validated.json()["reviewer"] == "policy"
