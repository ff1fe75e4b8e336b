"""`/api/v1/expert-review/*`: the review queue, labels, labelled traces, statistics, golden promotion."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import any_, func, literal, select

from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.db.models import ReviewLabel, Trace, TraceEvaluation
from metamon.monitoring.review.golden import NotPromotable, promote
from metamon.monitoring.review.labels import TraceNotFound, label_stats, record_label
from metamon.monitoring.review.queue import review_queue

router = APIRouter(prefix="/expert-review", tags=["expert-review"])
Reviewer = Annotated[Principal, Depends(require_scope("review"))]
ReviewerName = Annotated[str, Field(min_length=1, max_length=200)]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_id: uuid.UUID
    reviewer: ReviewerName
    label: Literal["pass", "fail", "needs_review"]
    confidence: Annotated[float, Field(ge=0, le=1)] = 1.0
    notes: Annotated[str, Field(max_length=10_000)] = ""
    issue_categories: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=20)
    ] = []


class LabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    trace_id: uuid.UUID
    reviewer: str
    label: str
    confidence: float
    notes: str
    issue_categories: list[str]
    created_at: datetime
    updated_at: datetime


class GoldenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_id: uuid.UUID
    actor: ReviewerName
    expected_answer: str | None = None
    facts: list[str] = []
    tags: list[Annotated[str, Field(max_length=100)]] = []


def _trace_summary(trace: Trace) -> dict:
    return {
        "trace_id": str(trace.id),
        "external_id": trace.external_id,
        "timestamp": trace.timestamp,
        "app": trace.app,
        "model": trace.model,
        "prompt_version": trace.prompt_version,
        "domain": trace.domain,
        "status": trace.status,
        "input": trace.input,
        "output": trace.output,
        "retrieved_context": trace.retrieved_context,
        "reference": trace.reference,
    }


@router.get("/queue")
def get_queue(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reviewer,
    reviewer: Annotated[str, Query(min_length=1, max_length=200, description="Who is reviewing.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    days: Annotated[int, Query(ge=1, le=365, description="Only traces from the last N days.")] = 30,
) -> dict:
    """Traces for `reviewer` to label, most informative first, never one they already labelled."""
    entries = review_queue(
        session, principal.project_id, reviewer, limit, days, settings.review_borderline_margin
    )
    ids = [e["trace"].id for e in entries]
    evaluations: dict[uuid.UUID, list[dict]] = {i: [] for i in ids}
    for ev in session.scalars(select(TraceEvaluation).where(TraceEvaluation.trace_id.in_(ids))):
        evaluations[ev.trace_id].append(
            {"evaluator": ev.evaluator, "score": ev.score, "passed": ev.passed, "reason": ev.reason}
        )
    return {
        "items": [
            {
                **_trace_summary(e["trace"]),
                "priority": e["tier"],
                "why": e["reason"],
                "evaluations": evaluations[e["trace"].id],
            }
            for e in entries
        ]
    }


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


@router.get("/labeled")
def get_labeled(
    session: SessionDep,
    principal: Reviewer,
    reviewer: str | None = None,
    label: Literal["pass", "fail", "needs_review"] | None = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
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
    return {
        "total": total,
        "items": [
            {**LabelOut.model_validate(lbl).model_dump(), "trace": _trace_summary(t)} for lbl, t in rows
        ],
    }


@router.get("/stats")
def get_stats(session: SessionDep, principal: Reviewer) -> dict:
    """Counts per label, reviewer and category; Cohen's kappa for each pair of reviewers who share traces."""
    return label_stats(session, principal.project_id)


@router.post("/golden")
def post_golden(body: GoldenIn, session: SessionDep, principal: Reviewer) -> dict:
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
    return {
        "id": str(case.id),
        "case_key": case.case_key,
        "reference": case.reference,
        "tags": case.tags,
        "source": case.source,
    }
