"""Each monitor run checks every rolling-out proposal: the counts come from the app's traces, the verdict
from the monitor agent, and the move (next stage or rollback) from the rollout state machine. The monitor
runs every 5 minutes, so a stage lasts at least that long."""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from metamon.agents.monitor.rollout import Side, judge_rollout
from metamon.monitoring.db.models import ImprovementProposal
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.impact import metric_of, split_counts
from metamon.monitoring.workflow.rollout import advance, candidate_of, rollback

log = logging.getLogger(__name__)
ACTOR = "monitor-agent"


@dataclass(frozen=True)
class RolloutCheck:
    proposal_id: uuid.UUID
    stage: int  # the rollout percent the check found
    action: Literal["advanced", "rolled_back", "waiting"]
    detail: str


def check_rollout(
    session: Session, settings: Settings, proposal: ImprovementProposal, now: datetime
) -> RolloutCheck:
    stage = proposal.rollout_percent
    metric, candidate = metric_of(proposal), candidate_of(session, proposal)
    if metric is None or candidate is None:
        return RolloutCheck(proposal.id, stage, "waiting", "no metric or candidate config: move it by hand")
    tagged, others = split_counts(session, metric, candidate, candidate.created_at, now)
    verdict = judge_rollout(
        metric,
        candidate.version,
        stage,
        Side(tagged.n, tagged.value(metric)),
        Side(others.n, others.value(metric)),
        min_samples=settings.rollout.min_samples,
        max_degradation=settings.rollout.max_degradation,
    )
    if verdict.action == "roll_back":
        rollback(session, settings, proposal, ACTOR, verdict.detail, now=now)
        return RolloutCheck(proposal.id, stage, "rolled_back", verdict.detail)
    if verdict.action == "advance":
        advance(session, settings, proposal, ACTOR, now=now)
        return RolloutCheck(proposal.id, stage, "advanced", verdict.detail)
    return RolloutCheck(proposal.id, stage, "waiting", verdict.detail)


def check_rollouts(
    session: Session, settings: Settings, *, now: datetime | None = None
) -> list[RolloutCheck]:
    """Check every rolling-out proposal once, in the caller's transaction. A proposal someone is moving
    by hand right now (its row locked) is left for the next run."""
    now = now or datetime.now(UTC)
    proposals = session.scalars(
        select(ImprovementProposal)
        .where(ImprovementProposal.status == "rolling_out")
        .order_by(ImprovementProposal.created_at)
        .with_for_update(skip_locked=True)
    ).all()
    checks = [check_rollout(session, settings, proposal, now) for proposal in proposals]
    for check in checks:
        level = logging.WARNING if check.action == "rolled_back" else logging.INFO
        log.log(
            level,
            "rollout %s",
            check.action,
            extra={"proposal_id": str(check.proposal_id), "detail": check.detail},
        )
    return checks
