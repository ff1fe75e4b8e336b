"""Improvement proposals: created from the research agent's drafts (one open per root cause), moved
through their states by people, the validation agent and the rollout, every move audited.

pending -> validating -> validated | failed_validation -> approved | rejected
        -> rolling_out (10% -> 50% -> 100%) -> implemented | rolled_back"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import exists, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from metamon.agents.research.confidence import level
from metamon.monitoring.db.models import ImprovementProposal, MonitoringAlert
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
    """The proposal (or alert) is not in a state that allows this (the API answers 409)."""


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


# What a revision replaces: everything research wrote, never the workflow's own fields.
RESEARCHED_FIELDS = (
    "proposal_type",
    "title",
    "app",
    "root_cause_key",
    "scope",
    "root_cause",
    "evidence",
    "recommended_change",
    "expected_improvement",
    "effort",
    "risk",
    "confidence",
    "narrative",
    "alternatives",
)


def _open(session: Session, project_id: uuid.UUID, *where) -> ImprovementProposal | None:
    return session.scalar(
        select(ImprovementProposal)
        .where(
            ImprovementProposal.project_id == project_id,
            ImprovementProposal.status.in_(OPEN_PROPOSAL_STATUSES),
            *where,
        )
        .with_for_update()
    )


def create_from_draft(
    session: Session, project_id: uuid.UUID, draft, *, alert_id: uuid.UUID | None, actor: str
) -> tuple[ImprovementProposal, bool]:
    """Insert the draft as a pending proposal, unless one is still open for the same alert or root cause:
    then that one is revised in place while it is pending (a person has not started on it) and returned
    (False). The partial unique index makes this safe under concurrency."""
    values = {
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
        "confidence": draft.confidence,
        "narrative": draft.narrative,
        "alternatives": draft.alternatives,
    }
    same_cause = ImprovementProposal.root_cause_key == values["root_cause_key"]
    # The alert's own proposal follows the evidence, even to another root cause, unless another open
    # proposal already holds that cause: then that one is revised. An alert that re-fired (its first
    # firing resolved over a gap) has no proposal of its own yet: an open abstention on the same metric
    # and scope is the question its evidence answers, so that one follows it.
    existing = _open(session, project_id, ImprovementProposal.alert_id == alert_id) if alert_id else None
    adopted = None
    if existing is None and alert_id:
        unexplained = ImprovementProposal.root_cause_key == draft.unexplained_key
        # Only from an alert that stopped firing: two alerts firing at once (say, an accuracy alert and
        # the anomaly alert on the same metric) keep their own proposals.
        still_firing = exists().where(
            MonitoringAlert.id == ImprovementProposal.alert_id, MonitoringAlert.status != "resolved"
        )
        existing = adopted = _open(
            session, project_id, unexplained, ImprovementProposal.status == "pending", ~still_firing
        )
    if existing is not None and existing.root_cause_key != values["root_cause_key"]:
        existing = _open(session, project_id, same_cause) or existing
    if existing is not None and existing is adopted:
        existing.alert_id = alert_id  # revised from now on while this alert fires
    if existing is None:
        inserted = session.execute(
            pg_insert(ImprovementProposal)
            .values(
                values
                | {
                    "id": uuid.uuid4(),
                    "project_id": project_id,
                    "alert_id": alert_id,
                    "status": "pending",
                    "researched_at": datetime.now(UTC),
                }
            )
            .on_conflict_do_nothing(
                index_elements=["project_id", "root_cause_key"],
                index_where=text(f"status IN {OPEN_PROPOSAL_STATUSES}"),
            )
            .returning(ImprovementProposal.id)
        ).scalar()
        if inserted is not None:
            record(
                session,
                project_id=project_id,
                actor=actor,
                action="proposal.created",
                entity_type="proposal",
                entity_id=inserted,
                after={
                    "status": "pending",
                    "root_cause_key": values["root_cause_key"],
                    "alert_id": str(alert_id),
                    "confidence": values["confidence"],
                },
            )
            return session.get(ImprovementProposal, inserted), True
        existing = _open(session, project_id, same_cause)
    if existing.status == "pending":
        revise(session, existing, values, actor=actor)
    return existing, False


def revise(session: Session, proposal: ImprovementProposal, values: dict, *, actor: str) -> None:
    """Research ran again: replace what it wrote, count the revision, audit what changed."""
    before = {
        "revision": proposal.revision,
        "root_cause_key": proposal.root_cause_key,
        "confidence": proposal.confidence,
        "expected_improvement": proposal.expected_improvement,
    }
    changed = proposal.root_cause_key != values["root_cause_key"]
    revision = proposal.revision + 1
    values = values | {
        "root_cause": values["root_cause"] | ({"changed_from": proposal.root_cause_key} if changed else {}),
        "evidence": values["evidence"]
        | {
            "revision": {
                "number": revision,
                "root_cause_changed": changed,
                "previous_root_cause_key": proposal.root_cause_key if changed else None,
            }
        },
    }
    for name in RESEARCHED_FIELDS:
        setattr(proposal, name, values[name])
    proposal.revision, proposal.researched_at = revision, datetime.now(UTC)
    record(
        session,
        project_id=proposal.project_id,
        actor=actor,
        action="proposal.revised",
        entity_type="proposal",
        entity_id=proposal.id,
        before=before,
        after={
            "revision": revision,
            "root_cause_key": proposal.root_cause_key,
            "root_cause_changed": changed,
            "confidence": proposal.confidence,
            "expected_improvement": proposal.expected_improvement,
        },
    )
    session.flush()


def is_high_impact(proposal: ImprovementProposal, settings: Settings) -> bool:
    return (
        proposal.risk == "high"
        or (proposal.expected_improvement or 0) >= settings.proposals.high_impact_improvement
    )


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
    """The optional policy: a validated low-risk proposal of high confidence is approved without waiting
    for a person, unless it is high-impact (that always needs a named reviewer)."""
    if not (
        settings.proposals.auto_approve_low_risk and proposal.status == "validated" and proposal.risk == "low"
    ):
        return False
    if level(proposal.confidence) != "high":
        return False
    if is_high_impact(proposal, settings):
        return False
    transition(session, proposal, "approved", actor="policy:auto_approve_low_risk")
    proposal.reviewer, proposal.decided_at = "policy", datetime.now(UTC)
    return True
