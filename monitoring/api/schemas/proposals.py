"""Improvement proposals, their validation and measured impact, and the bodies of decisions and rollouts."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from metamon.agents.research.confidence import level
from metamon.monitoring.db.models import ImprovementImpact, ImprovementProposal, ValidationResult


class ProposalSummary(BaseModel):
    id: uuid.UUID
    alert_id: uuid.UUID | None
    status: str
    proposal_type: str
    title: str
    app: str | None
    root_cause_key: str
    root_cause: dict[str, Any]
    recommended_change: dict[str, Any]
    expected_improvement: float | None
    effort: str | None
    risk: str | None
    confidence: float | None
    confidence_level: str
    provisional: bool
    revision: int
    rollout_percent: int
    reviewer: str | None
    review_comment: str | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, proposal: ImprovementProposal, **extra: Any) -> "ProposalSummary":
        """The proposal as stored, with its confidence's level and whether it is provisional; `extra`
        fills the fields a subclass adds from elsewhere."""
        stored = cls.model_fields.keys() - {"confidence_level", "provisional"} - extra.keys()
        return cls(
            **{name: getattr(proposal, name) for name in stored},
            confidence_level=level(proposal.confidence),
            provisional=bool(proposal.evidence.get("provisional")),
            **extra,
        )


class Proposal(ProposalSummary):
    """A proposal with what research found: its scope, evidence, narrative and the alternatives."""

    scope: dict[str, Any]
    evidence: dict[str, Any]
    narrative: str | None
    alternatives: list[Any]


class ScoreDelta(BaseModel):
    mean: float | None
    ci95: tuple[float | None, float | None]


class Validation(BaseModel):
    id: uuid.UUID
    status: str
    passed: bool | None
    case_count: int
    baseline: dict[str, Any]
    candidate: dict[str, Any]
    mcnemar_p_value: float | None
    score_delta: ScoreDelta
    regressions: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, result: ValidationResult) -> "Validation":
        return cls(
            id=result.id,
            status=result.status,
            passed=result.passed,
            case_count=result.case_count,
            baseline=result.baseline_metrics,
            candidate=result.candidate_metrics,
            mcnemar_p_value=result.mcnemar_p_value,
            score_delta=ScoreDelta(
                mean=result.score_delta_mean, ci95=(result.score_delta_ci_low, result.score_delta_ci_high)
            ),
            regressions=result.regressions,
            started_at=result.started_at,
            finished_at=result.finished_at,
        )


class Impact(BaseModel):
    metric: str
    rollout_percent: int
    before: float | None
    after: float | None
    p_value: float | None
    significant: bool | None
    roi_usd: float | None
    details: dict[str, Any]
    measured_at: datetime

    @classmethod
    def of(cls, impact: ImprovementImpact) -> "Impact":
        return cls(
            metric=impact.metric,
            rollout_percent=impact.rollout_percent,
            before=impact.before_value,
            after=impact.after_value,
            p_value=impact.p_value,
            significant=impact.significant,
            roi_usd=impact.roi_usd,
            details=impact.details,
            measured_at=impact.measured_at,
        )


class ProposalDetail(Proposal):
    validation: Validation | None = Field(description="The latest validation, if any ran.")
    impact: list[Impact] = Field(description="Measured at each rollout stage, oldest first.")


class ProposalPage(BaseModel):
    total: int
    items: list[ProposalSummary]


class ProposalStats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    approval_rate: float | None = Field(description="Decided proposals approved (null before any decision).")


class Decision(BaseModel):
    reviewer: str | None = Field(None, min_length=1, max_length=200)
    comment: str | None = Field(None, min_length=1, max_length=5000)


class RolloutStep(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="Who does it (for the audit log).")


class Rollback(RolloutStep):
    reason: str = Field(min_length=1, max_length=5000)
