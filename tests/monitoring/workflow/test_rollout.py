"""Rollout of an approved proposal, stage by stage, driven by the monitor agent's comparison of the
candidate config's traces with the others, on the real database: advance, automatic rollback, waiting
for samples, refused moves, and the impact stored at each stage."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from metamon.agents.monitor.rollout import degradation
from metamon.agents.research.metrics import METRICS
from metamon.monitoring.db.models import AppConfig, AuditLog, ImprovementImpact, Project
from metamon.monitoring.settings import Settings
from metamon.monitoring.statistics.failures import Counts
from metamon.monitoring.statistics.significance import two_proportion_p_value
from metamon.monitoring.workflow.configs import active_config
from metamon.monitoring.workflow.proposals import InvalidTransition
from metamon.monitoring.workflow.rollout import advance, rollback, serving_candidate, start_rollout
from metamon.monitoring.workflow.rollout_monitor import check_rollouts
from tests.monitoring.workflow.rollout_data import active_v1, add_traffic, approved_proposal

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


def make_project(db) -> uuid.UUID:
    project = Project(slug=f"rollout-{uuid.uuid4().hex[:8]}", name="rollout tests")
    db.add(project)
    db.flush()
    return project.id


def rolling(db, settings, **proposal_fields):
    """support-bot on config v1 (prompt v7); an approved proposal to go back to v6, rolled out to 10% an
    hour ago as config v2."""
    project_id = make_project(db)
    active_v1(db, project_id)
    proposal = approved_proposal(db, project_id, **proposal_fields)
    candidate = start_rollout(db, settings, proposal, "alice")
    candidate.created_at = NOW - HOUR
    db.flush()
    return project_id, proposal, candidate


def check(db, settings, proposal):
    (found,) = [c for c in check_rollouts(db, settings, now=NOW) if c.proposal_id == proposal.id]
    return found


def history(db, entity_id) -> list[tuple[str, str]]:
    rows = db.scalars(select(AuditLog).where(AuditLog.entity_id == str(entity_id)).order_by(AuditLog.id))
    return [(row.action, row.actor) for row in rows]


def test_a_better_candidate_goes_through_every_stage_and_its_impact_is_recorded(db, settings):
    project_id, proposal, candidate = rolling(db, settings)
    assert (candidate.version, candidate.config, candidate.rollout_percent) == (
        2,
        {"prompt_version": "v6", "top_k": 4},
        10,
    )
    assert (proposal.status, proposal.rollout_percent) == ("rolling_out", 10)
    # The hour before the rollout: 80% fact accuracy. During it: v1 still at 80%, the candidate at 95%.
    add_traffic(db, project_id, start=NOW - 2 * HOUR, end=NOW - HOUR, n=1000, failures=200, version=1)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=800, failures=160, version=1)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=200, failures=10, version=2)

    for stage, expected in ((10, 50), (50, 100)):
        result = check(db, settings, proposal)
        assert (result.action, result.stage) == ("advanced", stage), result.detail
        assert "fact accuracy 0.9500 on config v2 (200 traces) against 0.8000 on the others" in result.detail
        assert proposal.rollout_percent == expected
        assert serving_candidate(db, project_id, "support-bot").rollout_percent == expected
        assert active_config(db, project_id, "support-bot").version == 1

    assert check(db, settings, proposal).action == "advanced"
    assert (proposal.status, proposal.rollout_percent) == ("implemented", 100)
    active = active_config(db, project_id, "support-bot")
    assert (active.id, active.config) == (candidate.id, {"prompt_version": "v6", "top_k": 4})
    assert serving_candidate(db, project_id, "support-bot") is None
    versions = db.scalars(select(AppConfig).where(AppConfig.project_id == project_id)).all()
    assert sorted((c.version, c.is_active) for c in versions) == [(1, False), (2, True)]
    assert proposal.id not in {c.proposal_id for c in check_rollouts(db, settings, now=NOW)}

    impacts = db.scalars(
        select(ImprovementImpact)
        .where(ImprovementImpact.proposal_id == proposal.id)
        .order_by(ImprovementImpact.rollout_percent)
    ).all()
    assert [i.rollout_percent for i in impacts] == [10, 50, 100]
    final = impacts[-1]
    assert final.metric == "fact_accuracy"
    assert (final.before_value, final.after_value) == (pytest.approx(0.8), pytest.approx(0.95))
    # Against the control group: the 800 traces v1 served while the candidate served its 200.
    assert final.p_value == pytest.approx(two_proportion_p_value(Counts(800, 160), Counts(200, 10)))
    assert final.significant
    # 15 points fewer failures x $ per point per 1,000 requests x (2,000 requests this week x 30/7) / 1000
    requests = 2000 * 30 / 7
    assert final.details["delta_points"] == pytest.approx(15.0)
    assert final.details["requests_per_30_days"] == pytest.approx(requests)
    assert final.roi_usd == pytest.approx(
        15.0 * settings.rollout.impact_value_per_point_usd * requests / 1000
    )
    assert final.details["before"]["traces"] == 800 and final.details["after"]["traces"] == 200

    assert history(db, proposal.id) == [
        ("proposal.rolling_out", "alice"),
        ("proposal.rollout_stage", "monitor-agent"),
        ("proposal.rollout_stage", "monitor-agent"),
        ("proposal.implemented", "monitor-agent"),
    ]
    assert history(db, candidate.id) == [("config.created", "alice"), ("config.activated", "monitor-agent")]


def test_a_candidate_10_percent_worse_is_rolled_back_by_the_monitor(db, settings):
    project_id, proposal, candidate = rolling(db, settings)
    add_traffic(db, project_id, start=NOW - 2 * HOUR, end=NOW - HOUR, n=1000, failures=100, version=1)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=900, failures=90, version=1)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=200, failures=38, version=2)  # 0.81 vs 0.90

    result = check(db, settings, proposal)
    assert result.action == "rolled_back"
    assert (proposal.status, proposal.rollout_percent, candidate.rollout_percent) == ("rolled_back", 0, 0)
    assert serving_candidate(db, project_id, "support-bot") is None
    assert active_config(db, project_id, "support-bot").version == 1
    entry = db.scalar(
        select(AuditLog).where(
            AuditLog.entity_id == str(proposal.id), AuditLog.action == "proposal.rolled_back"
        )
    )
    assert entry.actor == "monitor-agent" and entry.after["at_rollout_percent"] == 10
    assert entry.after["reason"] == (
        "fact accuracy 0.8100 on config v2 (200 traces) against 0.9000 on the others (900 traces) at 10%: "
        "10.0% worse, more than the 5% allowed"
    )
    (impact,) = db.scalars(select(ImprovementImpact).where(ImprovementImpact.proposal_id == proposal.id))
    assert (impact.rollout_percent, impact.before_value, impact.after_value) == (
        10,
        pytest.approx(0.9),
        pytest.approx(0.81),
    )
    assert impact.roi_usd < 0 and impact.details["delta_points"] == pytest.approx(-9.0)


def test_a_dip_within_the_tolerance_advances(db, settings):
    project_id, proposal, _ = rolling(db, settings)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=900, failures=90, version=1)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=200, failures=26, version=2)  # 0.87: 3.3% worse
    assert check(db, settings, proposal).action == "advanced"
    assert proposal.rollout_percent == 50


def test_nothing_moves_until_both_sides_have_enough_samples(db, settings):
    project_id, proposal, candidate = rolling(db, settings)
    needed = settings.rollout.min_samples
    # Much worse, but too few to tell: not rolled back either. Traces before the rollout do not count.
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=needed - 1, failures=needed // 2, version=2)
    add_traffic(db, project_id, start=NOW - 2 * HOUR, end=NOW - HOUR, n=500, failures=0, version=2)
    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=5 * needed, failures=0, version=1)
    result = check(db, settings, proposal)
    assert result.action == "waiting"
    assert result.detail == (
        f"{needed - 1} traces on config v2 and {5 * needed} others scored for fact accuracy; "
        f"{needed} needed on each side"
    )
    assert (proposal.status, proposal.rollout_percent, candidate.rollout_percent) == ("rolling_out", 10, 10)
    assert history(db, proposal.id) == [("proposal.rolling_out", "alice")]
    assert db.scalar(select(ImprovementImpact).where(ImprovementImpact.proposal_id == proposal.id)) is None

    add_traffic(db, project_id, start=NOW - HOUR, end=NOW, n=1, failures=1, version=2)
    assert check(db, settings, proposal).action == "rolled_back"


def test_an_app_without_a_config_starts_from_an_empty_version_1(db, settings):
    project_id = make_project(db)
    proposal = approved_proposal(db, project_id)
    candidate = start_rollout(db, settings, proposal, "alice")
    active = active_config(db, project_id, "support-bot")
    assert (active.version, active.config, active.is_active) == (1, {}, True)
    assert (candidate.version, candidate.config, candidate.is_active) == (2, {"prompt_version": "v6"}, False)
    assert history(db, active.id) == [("config.created", "alice")]


def test_custom_stages_and_a_proposal_without_metric_moved_by_hand(db, settings):
    two_stages = settings.model_copy(update={"rollout_stages": [25, 100]})
    project_id = make_project(db)
    proposal = approved_proposal(db, project_id, root_cause={}, scope={})
    assert start_rollout(db, two_stages, proposal, "alice").rollout_percent == 25
    assert check(db, two_stages, proposal).action == "waiting"  # nothing to compare: a person decides
    assert advance(db, two_stages, proposal, "bob") is None
    assert proposal.rollout_percent == 100
    advance(db, two_stages, proposal, "bob")
    assert proposal.status == "implemented"
    assert db.scalar(select(ImprovementImpact).where(ImprovementImpact.proposal_id == proposal.id)) is None


def test_moves_the_state_does_not_allow_are_refused_and_write_nothing(db, settings):
    project_id, proposal, _ = rolling(db, settings)
    configs = len(db.scalars(select(AppConfig).where(AppConfig.project_id == project_id)).all())

    second = approved_proposal(db, project_id)
    with pytest.raises(InvalidTransition, match="support-bot is already rolling out config version 2"):
        start_rollout(db, settings, second, "alice")
    pending = approved_proposal(db, project_id, status="pending")
    with pytest.raises(InvalidTransition, match="the proposal is pending: only an approved one"):
        start_rollout(db, settings, pending, "alice")
    for move in (advance, lambda *a: rollback(*a, "no")):
        with pytest.raises(InvalidTransition, match="the proposal is approved, not rolling out"):
            move(db, settings, second, "alice")
    investigate = approved_proposal(
        db,
        project_id,
        proposal_type="investigate_segment",
        recommended_change={"type": "investigate_segment"},
    )
    with pytest.raises(InvalidTransition, match="changes no config: nothing to roll out"):
        start_rollout(db, settings, investigate, "alice")
    assert len(db.scalars(select(AppConfig).where(AppConfig.project_id == project_id)).all()) == configs

    for _ in range(3):
        advance(db, settings, proposal, "alice")
    assert proposal.status == "implemented"
    with pytest.raises(InvalidTransition, match="the proposal is implemented, not rolling out"):
        rollback(db, settings, proposal, "alice", "too late")
    with pytest.raises(InvalidTransition):
        start_rollout(db, settings, proposal, "alice")
    # Once the first is implemented, the next proposal for the app starts from its config.
    assert start_rollout(db, settings, second, "alice").version == 3


def test_degradation_is_relative_and_oriented_by_the_metric():
    accuracy, errors = METRICS["fact_accuracy"], METRICS["error_ratio"]
    assert degradation(accuracy, 0.81, 0.90) == pytest.approx(0.1)
    assert degradation(accuracy, 0.95, 0.80) < 0
    assert degradation(errors, 0.03, 0.02) == pytest.approx(0.5)
    assert degradation(errors, 0.01, 0.0) == float("inf")
    assert degradation(errors, 0.0, 0.0) == 0.0


def test_rollout_stages_must_rise_to_100():
    assert Settings(rollout_stages=[25, 100]).rollout.stages == [25, 100]
    for bad in ([10, 50], [50, 10, 100], [0, 100], []):
        with pytest.raises(ValidationError, match="rollout stages must rise"):
            Settings(rollout_stages=bad)
