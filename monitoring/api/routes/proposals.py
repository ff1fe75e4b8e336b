"""Improvement proposals: list, stats, one with its validation and impact, approve and reject, roll out
stage by stage and roll back."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import func, select

from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.proposals import (
    Decision,
    Impact,
    Proposal,
    ProposalDetail,
    ProposalPage,
    ProposalStats,
    ProposalSummary,
    Rollback,
    RolloutStep,
    Validation,
)
from metamon.monitoring.db.models import ImprovementImpact, ImprovementProposal, ValidationResult
from metamon.monitoring.db.models.proposals import PROPOSAL_STATUSES
from metamon.monitoring.workflow.proposals import DecisionRefused, InvalidTransition, decide
from metamon.monitoring.workflow.rollout import advance, rollback, start_rollout

router = APIRouter(prefix="/proposals", tags=["proposals"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Reviewer = Annotated[Principal, Depends(require_scope("review"))]


def _own_proposal(
    session, principal: Principal, proposal_id: uuid.UUID, lock: bool = False
) -> ImprovementProposal:
    proposal = session.get(ImprovementProposal, proposal_id, with_for_update=lock)
    if proposal is None or proposal.project_id != principal.project_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such proposal")
    return proposal


@router.get("", response_model=ProposalPage)
def list_proposals(
    session: SessionDep,
    principal: Reader,
    status_: Annotated[list[Literal[PROPOSAL_STATUSES]], Query(alias="status")] = [],  # type: ignore[valid-type]  # noqa: B006
    proposal_type: Annotated[list[str], Query(alias="type", max_length=20)] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProposalPage:
    """Newest first."""
    where = [ImprovementProposal.project_id == principal.project_id]
    if status_:
        where.append(ImprovementProposal.status.in_(status_))
    if proposal_type:
        where.append(ImprovementProposal.proposal_type.in_(proposal_type))
    total = session.scalar(select(func.count()).select_from(ImprovementProposal).where(*where))
    rows = session.scalars(
        select(ImprovementProposal)
        .where(*where)
        .order_by(ImprovementProposal.created_at.desc(), ImprovementProposal.id)
        .limit(limit)
        .offset(offset)
    )
    return ProposalPage(total=total, items=[ProposalSummary.of(p) for p in rows])


@router.get("/stats", response_model=ProposalStats)
def proposal_stats(session: SessionDep, principal: Reader) -> ProposalStats:
    rows = session.execute(
        select(ImprovementProposal.status, ImprovementProposal.proposal_type, func.count())
        .where(ImprovementProposal.project_id == principal.project_id)
        .group_by(ImprovementProposal.status, ImprovementProposal.proposal_type)
    ).all()
    by_status = {s: 0 for s in PROPOSAL_STATUSES}
    by_type: dict[str, int] = {}
    for state, kind, count in rows:
        by_status[state] += count
        by_type[kind] = by_type.get(kind, 0) + count
    decided = (
        by_status["approved"] + by_status["rolling_out"] + by_status["implemented"] + by_status["rolled_back"]
    )
    return ProposalStats(
        total=sum(by_status.values()),
        by_status=by_status,
        by_type=by_type,
        approval_rate=decided / (decided + by_status["rejected"])
        if decided + by_status["rejected"]
        else None,
    )


@router.get("/{proposal_id}", response_model=ProposalDetail)
def get_proposal(proposal_id: uuid.UUID, session: SessionDep, principal: Reader) -> ProposalDetail:
    proposal = _own_proposal(session, principal, proposal_id)
    validation = session.scalar(
        select(ValidationResult)
        .where(ValidationResult.proposal_id == proposal.id)
        .order_by(ValidationResult.started_at.desc())
    )
    impacts = session.scalars(
        select(ImprovementImpact)
        .where(ImprovementImpact.proposal_id == proposal.id)
        .order_by(ImprovementImpact.measured_at)
    )
    return ProposalDetail.of(
        proposal,
        validation=Validation.of(validation) if validation else None,
        impact=[Impact.of(i) for i in impacts],
    )


def _decide(
    session, settings, principal: Principal, proposal_id: uuid.UUID, to: str, body: Decision
) -> Proposal:
    proposal = _own_proposal(session, principal, proposal_id, lock=True)
    try:
        decide(session, settings, proposal, to, reviewer=body.reviewer, comment=body.comment)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except DecisionRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return Proposal.of(proposal)


@router.post("/{proposal_id}/approve", response_model=Proposal)
def approve_proposal(
    proposal_id: uuid.UUID, body: Decision, session: SessionDep, settings: SettingsDep, principal: Reviewer
) -> Proposal:
    """Approve a validated proposal (a high-impact one needs a reviewer and a comment); 409 otherwise."""
    return _decide(session, settings, principal, proposal_id, "approved", body)


@router.post("/{proposal_id}/reject", response_model=Proposal)
def reject_proposal(
    proposal_id: uuid.UUID, body: Decision, session: SessionDep, settings: SettingsDep, principal: Reviewer
) -> Proposal:
    return _decide(session, settings, principal, proposal_id, "rejected", body)


@router.post("/{proposal_id}/rollout", response_model=Proposal)
def rollout_proposal(
    proposal_id: uuid.UUID, body: RolloutStep, session: SessionDep, settings: SettingsDep, principal: Reviewer
) -> Proposal:
    """Start rolling out an approved proposal (its candidate config serves the first stage's share of the
    app's traffic), or move a rolling-out one to the next stage by hand; after the last stage the candidate
    becomes the app's active config and the proposal is implemented. 409 in any other state. The monitor
    agent also advances a rollout each run once it has enough samples, or rolls it back on a degradation."""
    proposal = _own_proposal(session, principal, proposal_id, lock=True)
    try:
        if proposal.status == "rolling_out":
            advance(session, settings, proposal, body.by)
        else:
            start_rollout(session, settings, proposal, body.by)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return Proposal.of(proposal)


@router.post("/{proposal_id}/rollback", response_model=Proposal)
def rollback_proposal(
    proposal_id: uuid.UUID, body: Rollback, session: SessionDep, settings: SettingsDep, principal: Reviewer
) -> Proposal:
    """Take a rolling-out proposal's candidate config off all traffic; 409 in any other state."""
    proposal = _own_proposal(session, principal, proposal_id, lock=True)
    try:
        rollback(session, settings, proposal, body.by, body.reason)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return Proposal.of(proposal)
