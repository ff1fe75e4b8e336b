"""`GET /api/v1/configs/{app}` follows a rollout driven through `POST /api/v1/proposals/{id}/rollout` and
`/rollback` (and the scheduler's monitor job): what a target app would serve at each step, the refused
moves (409), the impact on the proposal, and the audit log."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from metamon.monitoring.db.models import AppConfig, AuditLog, Project
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.scheduler.jobs import monitor_apps
from tests.monitoring.workflow.rollout_data import active_v1, add_traffic, approved_proposal

V7 = {"prompt_version": "v7", "top_k": 4}
V6 = {"prompt_version": "v6", "top_k": 4}


def project(settings, make_key, scopes=("read", "review", "admin")) -> tuple[uuid.UUID, dict]:
    slug = f"configs-{uuid.uuid4().hex[:8]}"
    headers = make_key(slug, scopes=scopes)
    with session_scope(settings.database.url) as session:
        return session.scalar(select(Project.id).where(Project.slug == slug)), headers


def seed(settings, project_id, *, v1: bool = True, **proposal_fields) -> str:
    with session_scope(settings.database.url) as session:
        if v1:
            active_v1(session, project_id)
        return str(approved_proposal(session, project_id, **proposal_fields).id)


def actions(settings, entity_id) -> list[tuple[str, str]]:
    with session_scope(settings.database.url) as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.entity_id == str(entity_id)).order_by(AuditLog.id)
        )
        return [(row.action, row.actor) for row in rows]


def test_an_app_without_configs_reads_nulls(client, settings, make_key):
    _, headers = project(settings, make_key, scopes=("read",))
    response = client.get("/api/v1/configs/support-bot", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"app": "support-bot", "active": None, "candidate": None}
    assert client.get("/api/v1/configs/support-bot").status_code == 401


def test_a_rollout_serves_each_stage_then_becomes_the_active_config(client, settings, make_key):
    project_id, headers = project(settings, make_key)
    proposal_id = seed(settings, project_id)

    def served() -> dict:
        response = client.get("/api/v1/configs/support-bot", headers=headers)
        assert response.status_code == 200
        return response.json()

    def step() -> dict:
        response = client.post(
            f"/api/v1/proposals/{proposal_id}/rollout", json={"by": "alice"}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert served() == {"app": "support-bot", "active": {"version": 1, "config": V7}, "candidate": None}
    body = step()
    assert (body["status"], body["rollout_percent"]) == ("rolling_out", 10)
    candidate = {"version": 2, "config": V6, "rollout_percent": 10, "proposal_id": proposal_id}
    assert served()["candidate"] == candidate

    # An hour of traffic since the candidate went out: it answers right 95% of the time, v1 80%.
    now = datetime.now(UTC)
    with session_scope(settings.database.url) as session:
        session.execute(
            update(AppConfig)
            .where(AppConfig.project_id == project_id, AppConfig.version == 2)
            .values(created_at=now - timedelta(hours=1))
        )
        add_traffic(
            session,
            project_id,
            start=now - timedelta(hours=2),
            end=now - timedelta(hours=1),
            n=1000,
            failures=200,
            version=1,
        )
        add_traffic(
            session, project_id, start=now - timedelta(hours=1), end=now, n=800, failures=160, version=1
        )
        add_traffic(
            session, project_id, start=now - timedelta(hours=1), end=now, n=200, failures=10, version=2
        )
    monitor_apps(settings)  # the scheduler's 5-minute job moves it one stage
    assert served()["candidate"] == candidate | {"rollout_percent": 50}

    assert step()["rollout_percent"] == 100
    assert served()["candidate"] == candidate | {"rollout_percent": 100}
    body = step()
    assert (body["status"], body["rollout_percent"]) == ("implemented", 100)
    assert served() == {"app": "support-bot", "active": {"version": 2, "config": V6}, "candidate": None}

    impact = client.get(f"/api/v1/proposals/{proposal_id}", headers=headers).json()["impact"]
    assert [i["rollout_percent"] for i in impact] == [10, 50, 100]
    final = impact[-1]
    assert (final["metric"], final["before"], final["after"], final["significant"]) == (
        "fact_accuracy",
        pytest.approx(0.8),
        pytest.approx(0.95),
        True,
    )
    expected_roi = 15.0 * settings.rollout.impact_value_per_point_usd * (2000 * 30 / 7) / 1000
    assert final["roi_usd"] == pytest.approx(expected_roi)
    assert actions(settings, proposal_id) == [
        ("proposal.rolling_out", "alice"),
        ("proposal.rollout_stage", "monitor-agent"),
        ("proposal.rollout_stage", "alice"),
        ("proposal.implemented", "alice"),
    ]


def test_a_rollback_by_hand_takes_the_candidate_off_all_traffic(client, settings, make_key):
    project_id, headers = project(settings, make_key)
    proposal_id = seed(settings, project_id, v1=False)
    assert (
        client.post(
            f"/api/v1/proposals/{proposal_id}/rollout", json={"by": "alice"}, headers=headers
        ).status_code
        == 200
    )
    # No stored config before: version 1 is the empty one the app ran with.
    assert client.get("/api/v1/configs/support-bot", headers=headers).json() == {
        "app": "support-bot",
        "active": {"version": 1, "config": {}},
        "candidate": {
            "version": 2,
            "config": {"prompt_version": "v6"},
            "rollout_percent": 10,
            "proposal_id": proposal_id,
        },
    }
    url = f"/api/v1/proposals/{proposal_id}/rollback"
    assert client.post(url, json={"by": "bob"}, headers=headers).status_code == 422
    response = client.post(url, json={"by": "bob", "reason": "users complain"}, headers=headers)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["rollout_percent"]) == ("rolled_back", 0)
    assert client.get("/api/v1/configs/support-bot", headers=headers).json()["candidate"] is None
    assert actions(settings, proposal_id)[-1] == ("proposal.rolled_back", "bob")


def test_moves_the_state_does_not_allow_answer_409(client, settings, make_key):
    project_id, headers = project(settings, make_key)
    pending = seed(settings, project_id, status="pending")
    rejected = seed(settings, project_id, v1=False, status="rejected")
    implemented = seed(settings, project_id, v1=False, status="implemented", rollout_percent=100)
    approved = seed(settings, project_id, v1=False)
    no_config = seed(
        settings,
        project_id,
        v1=False,
        proposal_type="investigate_segment",
        recommended_change={"type": "investigate_segment"},
    )
    by = {"by": "alice"}
    refused = [
        (f"{pending}/rollout", by, "the proposal is pending: only an approved one starts rolling out"),
        (
            f"{rejected}/approve",
            {"reviewer": "alice", "comment": "ok"},
            "a rejected proposal cannot become approved",
        ),
        (f"{implemented}/rollback", by | {"reason": "x"}, "the proposal is implemented, not rolling out"),
        (
            f"{implemented}/rollout",
            by,
            "the proposal is implemented: only an approved one starts rolling out",
        ),
        (f"{approved}/rollback", by | {"reason": "x"}, "the proposal is approved, not rolling out"),
        (f"{no_config}/rollout", by, "investigate_segment changes no config: nothing to roll out"),
    ]
    for path, body, detail in refused:
        response = client.post(f"/api/v1/proposals/{path}", json=body, headers=headers)
        assert (response.status_code, response.json()["detail"]) == (409, detail), path

    assert client.post(f"/api/v1/proposals/{approved}/rollout", json=by, headers=headers).status_code == 200
    second = seed(settings, project_id, v1=False)
    response = client.post(f"/api/v1/proposals/{second}/rollout", json=by, headers=headers)
    assert (response.status_code, response.json()["detail"]) == (
        409,
        "support-bot is already rolling out config version 2",
    )
    # Refusals changed nothing: the first rollout is still the one served.
    candidate = client.get("/api/v1/configs/support-bot", headers=headers).json()["candidate"]
    assert (candidate["proposal_id"], candidate["rollout_percent"]) == (approved, 10)
    assert [a for a, _ in actions(settings, pending)] == []
    assert (
        client.post(
            f"/api/v1/proposals/{approved}/rollback", json=by | {"reason": "done"}, headers=headers
        ).status_code
        == 200
    )


def test_scopes_and_projects_are_enforced(client, settings, make_key):
    project_id, headers = project(settings, make_key)
    proposal_id = seed(settings, project_id)
    _, reader = project(settings, make_key, scopes=("read",))
    url = f"/api/v1/proposals/{proposal_id}/rollout"
    assert client.post(url, json={"by": "eve"}, headers=reader).status_code == 403
    _, stranger = project(settings, make_key, scopes=("read", "review"))
    assert client.post(url, json={"by": "eve"}, headers=stranger).status_code == 404
    # Another project's configs are not the stranger's: it reads nothing for the same app name.
    assert client.get("/api/v1/configs/support-bot", headers=stranger).json()["active"] is None
    assert client.post(url, json={"by": ""}, headers=headers).status_code == 422
    assert client.get("/api/v1/configs/" + "x" * 201, headers=headers).status_code == 422


def test_an_app_release_publishes_the_active_config_unless_a_rollout_is_running(settings, make_key, client):
    project_id, headers = project(settings, make_key)
    first = client.put("/api/v1/configs/support-bot", json={"config": V7, "by": "ci"}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["active"] == {"version": 1, "config": V7} and first.json()["candidate"] is None
    second = client.put(
        "/api/v1/configs/support-bot", json={"config": V6, "by": "ci"}, headers=headers
    ).json()
    assert second["active"] == {"version": 2, "config": V6}
    proposal_id = seed(settings, project_id, v1=False)
    assert (
        client.post(
            f"/api/v1/proposals/{proposal_id}/rollout", json={"by": "ann"}, headers=headers
        ).status_code
        == 200
    )
    busy = client.put("/api/v1/configs/support-bot", json={"config": V7, "by": "ci"}, headers=headers)
    assert busy.status_code == 409 and "rolling out" in busy.json()["detail"]
    reader = make_key(f"configs-reader-{uuid.uuid4().hex[:6]}", scopes=("read",))
    assert (
        client.put("/api/v1/configs/support-bot", json={"config": V7, "by": "x"}, headers=reader).status_code
        == 403
    )
