"""The monitor agent's rollout check: for each rolling-out proposal, its metric on the traces the candidate
config served (tagged `config_version`) against the app's other traces since the candidate was created.
Worse by more than settings.rollout_max_degradation (relative): rolled back at once; otherwise, with
enough samples on both sides, one stage further. The monitor runs every 5 minutes, so a stage lasts at
least that long."""

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from metamon.agents.research.metrics import Metric
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


def degradation(metric: Metric, candidate: float, others: float) -> float:
    """How much worse the candidate's value is than the others', relative to theirs (negative: better)."""
    worse = others - candidate if metric.direction == "maximize" else candidate - others
    if others == 0:
        return math.inf if worse > 0 else 0.0
    return worse / others


def check_rollout(
    session: Session, settings: Settings, proposal: ImprovementProposal, now: datetime
) -> RolloutCheck:
    stage = proposal.rollout_percent
    metric, candidate = metric_of(proposal), candidate_of(session, proposal)
    if metric is None or candidate is None:
        return RolloutCheck(proposal.id, stage, "waiting", "no metric or candidate config: move it by hand")
    tagged, others = split_counts(session, metric, candidate, candidate.created_at, now)
    if min(tagged.n, others.n) < settings.rollout_min_samples:
        detail = (
            f"{tagged.n} traces on config v{candidate.version} and {others.n} others scored for "
            f"{metric.label}; {settings.rollout_min_samples} needed on each side"
        )
        return RolloutCheck(proposal.id, stage, "waiting", detail)
    ours, theirs = tagged.value(metric), others.value(metric)
    worse = degradation(metric, ours, theirs)
    figures = (
        f"{metric.label} {ours:.4f} on config v{candidate.version} ({tagged.n} traces) against "
        f"{theirs:.4f} on the others ({others.n} traces) at {stage}%"
    )
    if worse > settings.rollout_max_degradation:
        reason = f"{figures}: {worse:.1%} worse, more than the {settings.rollout_max_degradation:.0%} allowed"
        rollback(session, settings, proposal, ACTOR, reason, now=now)
        return RolloutCheck(proposal.id, stage, "rolled_back", reason)
    advance(session, settings, proposal, ACTOR, now=now)
    return RolloutCheck(
        proposal.id, stage, "advanced", f"{figures}: within {settings.rollout_max_degradation:.0%}"
    )


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
