"""The review queue, most informative first: (1) unlabelled traces whose evaluator scores fail or sit
near the decision boundary, (2) traces whose reviewers disagree, (3) a random sample of the rest.
A reviewer is never shown a trace they already labelled."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Float, and_, case, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import ReviewLabel, Trace, TraceEvaluation

TIER_REASONS = {1: "failing or borderline evaluator scores", 2: "reviewers disagree", 3: "random sample"}


def review_queue(
    session: Session, project_id: uuid.UUID, reviewer: str, limit: int, days: int, margin: float
) -> list[dict]:
    since = datetime.now(UTC) - timedelta(days=days)
    evals = (
        select(
            TraceEvaluation.trace_id,
            func.bool_or(TraceEvaluation.passed.is_(False)).label("failing"),
            func.min(func.abs(TraceEvaluation.score - 0.5)).label("distance"),
        )
        .where(TraceEvaluation.project_id == project_id)
        .group_by(TraceEvaluation.trace_id)
        .subquery()
    )
    labels = (
        select(
            ReviewLabel.trace_id,
            func.count().label("n"),
            func.count(distinct(ReviewLabel.label)).label("kinds"),
            func.bool_or(ReviewLabel.reviewer == reviewer).label("mine"),
        )
        .where(ReviewLabel.project_id == project_id)
        .group_by(ReviewLabel.trace_id)
        .subquery()
    )
    unlabelled = labels.c.n.is_(None)
    tier = case(
        (and_(unlabelled, or_(evals.c.failing.is_(True), evals.c.distance <= margin)), 1),
        (and_(labels.c.kinds > 1, labels.c.mine.is_not(True)), 2),
        (unlabelled, 3),
        else_=None,
    ).label("tier")
    # Within tier 1 the most uncertain come first; tier 3 is a fresh random sample on each call.
    priority = case(
        (tier == 1, cast(func.coalesce(evals.c.distance, 0.5), Float)),
        (tier == 2, -cast(labels.c.n, Float)),
        else_=func.random(),
    )
    rows = session.execute(
        select(Trace, tier)
        .outerjoin(evals, evals.c.trace_id == Trace.id)
        .outerjoin(labels, labels.c.trace_id == Trace.id)
        .where(Trace.project_id == project_id, Trace.timestamp >= since, tier.is_not(None))
        .order_by(tier, priority)
        .limit(limit)
    ).all()
    return [{"trace": trace, "tier": tier_, "reason": TIER_REASONS[tier_]} for trace, tier_ in rows]
