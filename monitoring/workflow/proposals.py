"""Improvement proposals: created from the research agent's drafts (one open per root cause), moved
through their states by people, the validation agent and the rollout, every move audited.

pending -> validating -> validated | failed_validation -> approved | rejected
        -> rolling_out (10% -> 50% -> 100%) -> implemented | rolled_back"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import ImprovementProposal
from metamon.monitoring.db.models.proposals import OPEN_PROPOSAL_STATUSES
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.audit import record

TRANSITIONS: dict[str, set[str]] = {
    "pending": {"validating", "rejected"},
    "validating": {"validated", "failed_validation"},
    "validated": {"approved", "rejected"},
    "failed_validation": {"validating", "rejected"},  # a fixed target may be validated again
    "approved": {"rolling_out"},
    "rolling_out": {"implemented", "rolled_back"},
    "rejected": set(),
    "implemented": set(),
    "rolled_back": set(),
}


class InvalidTransition(Exception):
    """The proposal is not in a state that allows this (the API answers 409)."""


class DecisionRefused(ValueError):
    """The decision lacks what the policy asks for (the API answers 422)."""


def transition(
    session: Session,
    proposal: ImprovementProposal,
    to: str,
    *,
    actor: str,
    details: dict | None = None,
) -> None:
    if to not in TRANSITIONS[proposal.status]:
        raise InvalidTransition(f"a {proposal.status} proposal cannot become {to}")
    before = proposal.status
    proposal.status = to
    record(
        session,
        project_id=proposal.project_id,
        actor=actor,
        action=f"proposal.{to}",
        entity_type="proposal",
        entity_id=proposal.id,
        before={"status": before},
        after={"status": to, **(details or {})},
    )
    session.flush()


def create_from_draft(
    session: Session, project_id: uuid.UUID, draft, *, alert_id: uuid.UUID | None, actor: str
) -> tuple[ImprovementProposal, bool]:
    """Insert the draft as a pending proposal, unless one for the same root cause is still open:
    then that one is returned (False). The partial unique index makes this safe under concurrency."""
    values = {
        "id": uuid.uuid4(),
        "project_id": project_id,
        "alert_id": alert_id,
        "status": "pending",
        "proposal_type": draft.proposal_type,
        "title": draft.title[:500],
        "app": draft.app,
        "root_cause_key": draft.root_cause_key[:500],
        "scope": draft.scope,
        "root_cause": draft.root_cause,
        "evidence": draft.evidence,
        "recommended_change": draft.recommended_change,
        "expected_improvement": draft.expected_improvement,
        "effort": draft.effort,
        "risk": draft.risk,
        "narrative": draft.narrative,
        "alternatives": draft.alternatives,
    }
    inserted = session.execute(
        pg_insert(ImprovementProposal)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=["project_id", "root_cause_key"],
            index_where=text(f"status IN {OPEN_PROPOSAL_STATUSES}"),
        )
        .returning(ImprovementProposal.id)
    ).scalar()
    if inserted is None:
        existing = session.scalar(
            select(ImprovementProposal).where(
                ImprovementProposal.project_id == project_id,
                ImprovementProposal.root_cause_key == values["root_cause_key"],
                ImprovementProposal.status.in_(OPEN_PROPOSAL_STATUSES),
            )
        )
        return existing, False
    record(
        session,
        project_id=project_id,
        actor=actor,
        action="proposal.created",
        entity_type="proposal",
        entity_id=inserted,
        after={"status": "pending", "root_cause_key": values["root_cause_key"], "alert_id": str(alert_id)},
    )
    return session.get(ImprovementProposal, inserted), True


def is_high_impact(proposal: ImprovementProposal, settings: Settings) -> bool:
    return proposal.risk == "high" or (proposal.expected_improvement or 0) >= settings.high_impact_improvement


def decide(
    session: Session,
    settings: Settings,
    proposal: ImprovementProposal,
    to: str,
    *,
    reviewer: str | None,
    comment: str | None,
) -> None:
    """A person approves or rejects. A high-impact approval needs a named reviewer and a comment."""
    if to not in TRANSITIONS[proposal.status]:
        raise InvalidTransition(f"a {proposal.status} proposal cannot become {to}")
    if to == "approved" and is_high_impact(proposal, settings) and not (reviewer and comment):
        raise DecisionRefused("approving a high-impact proposal needs a reviewer and a comment")
    transition(session, proposal, to, actor=reviewer or "anonymous", details={"comment": comment})
    proposal.reviewer, proposal.review_comment = reviewer, comment
    proposal.decided_at = datetime.now(UTC)


def auto_approve(session: Session, settings: Settings, proposal: ImprovementProposal) -> bool:
    """The optional policy: a validated low-risk proposal is approved without waiting for a person,
    unless it is high-impact (that always needs a named reviewer)."""
    if not (settings.auto_approve_low_risk and proposal.status == "validated" and proposal.risk == "low"):
        return False
    if is_high_impact(proposal, settings):
        return False
    transition(session, proposal, "approved", actor="policy:auto_approve_low_risk")
    proposal.reviewer, proposal.decided_at = "policy", datetime.now(UTC)
    return True
