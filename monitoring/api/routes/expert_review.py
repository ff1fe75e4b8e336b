"""`/api/v1/expert-review/*`: the review queue, labels, labelled traces, statistics, golden promotion."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import any_, func, literal, select

from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.expert_review import (
    GoldenCase,
    GoldenIn,
    LabelIn,
    LabelledPage,
    LabelledTrace,
    LabelOut,
    LabelStats,
    LabelValue,
    Queue,
    QueueItem,
    ScoredBy,
    TraceSummary,
)
from metamon.monitoring.db.models import ReviewLabel, Trace, TraceEvaluation
from metamon.monitoring.review.golden import NotPromotable, promote
from metamon.monitoring.review.labels import TraceNotFound, label_stats, record_label
from metamon.monitoring.review.queue import review_queue

router = APIRouter(prefix="/expert-review", tags=["expert-review"])
Reviewer = Annotated[Principal, Depends(require_scope("review"))]


@router.get("/queue", response_model=Queue)
def get_queue(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reviewer,
    reviewer: Annotated[str, Query(min_length=1, max_length=200, description="Who is reviewing.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    days: Annotated[int, Query(ge=1, le=365, description="Only traces from the last N days.")] = 30,
) -> Queue:
    """Traces for `reviewer` to label, most informative first, never one they already labelled."""
    entries = review_queue(
        session, principal.project_id, reviewer, limit, days, settings.review.borderline_margin
    )
    ids = [e["trace"].id for e in entries]
    evaluations: dict[uuid.UUID, list[ScoredBy]] = {i: [] for i in ids}
    for ev in session.scalars(select(TraceEvaluation).where(TraceEvaluation.trace_id.in_(ids))):
        evaluations[ev.trace_id].append(
            ScoredBy(evaluator=ev.evaluator, score=ev.score, passed=ev.passed, reason=ev.reason)
        )
    return Queue(
        items=[
            QueueItem.of(
                e["trace"], priority=e["tier"], why=e["reason"], evaluations=evaluations[e["trace"].id]
            )
            for e in entries
        ]
    )


@router.post("/label", response_model=LabelOut)
def post_label(body: LabelIn, session: SessionDep, principal: Reviewer) -> ReviewLabel:
    """Label a trace (pass / fail / needs_review). Labelling again replaces the reviewer's label."""
    try:
        return record_label(
            session,
            principal.project_id,
            body.trace_id,
            body.reviewer,
            body.label,
            body.confidence,
            body.notes,
            body.issue_categories,
        )
    except TraceNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"trace {body.trace_id} not found") from None


@router.get("/labeled", response_model=LabelledPage)
def get_labeled(
    session: SessionDep,
    principal: Reviewer,
    reviewer: str | None = None,
    label: LabelValue | None = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LabelledPage:
    """Labels with their traces, newest first."""
    query = (
        select(ReviewLabel, Trace)
        .join(Trace, Trace.id == ReviewLabel.trace_id)
        .where(ReviewLabel.project_id == principal.project_id)
    )
    if reviewer:
        query = query.where(ReviewLabel.reviewer == reviewer)
    if label:
        query = query.where(ReviewLabel.label == label)
    if category:
        query = query.where(literal(category) == any_(ReviewLabel.issue_categories))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(
        query.order_by(ReviewLabel.updated_at.desc(), ReviewLabel.id.desc()).limit(limit).offset(offset)
    ).all()
    return LabelledPage(
        total=total,
        items=[
            LabelledTrace(**LabelOut.model_validate(lbl).model_dump(), trace=TraceSummary.of(t))
            for lbl, t in rows
        ],
    )


@router.get("/stats", response_model=LabelStats)
def get_stats(session: SessionDep, principal: Reviewer) -> LabelStats:
    """Counts per label, reviewer and category; Cohen's kappa for each pair of reviewers who share traces."""
    return LabelStats(**label_stats(session, principal.project_id))


@router.post("/golden", response_model=GoldenCase)
def post_golden(body: GoldenIn, session: SessionDep, principal: Reviewer) -> GoldenCase:
    """Promote a labelled trace into the golden dataset."""
    reference = (
        {"expected_answer": body.expected_answer, "facts": body.facts}
        if body.expected_answer is not None or body.facts
        else None
    )
    try:
        case = promote(session, principal.project_id, body.trace_id, body.actor, reference, body.tags)
    except TraceNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"trace {body.trace_id} not found") from None
    except NotPromotable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return GoldenCase.model_validate(case)
