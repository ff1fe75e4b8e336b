"""Running an agent now: evaluation, research for an alert or a metric, validation of a proposal."""

import re
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from metamon.agents.research.metrics import METRICS as RESEARCH_METRICS
from metamon.monitoring.api.schemas.metrics import EvaluationRunOut
from metamon.monitoring.api.schemas.proposals import Proposal

METRIC_NAMES = tuple(RESEARCH_METRICS)
TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class EvaluateRequest(BaseModel):
    window_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60, description="Default: the setting.")
    max_traces: int = Field(10_000, ge=1, le=1_000_000, description="Traces to score in this request.")
    pin_baseline: bool = Field(False, description="Make the new app-wide runs their scopes' baseline.")


class EvaluationReport(BaseModel):
    scored: int
    runs: list[EvaluationRunOut]


class GenerateProposalRequest(BaseModel):
    alert_id: uuid.UUID | None = Field(None, description="Research this alert's metric and app.")
    metric: Literal[METRIC_NAMES] | None = Field(None, description="Or name the metric yourself.")  # type: ignore[valid-type]
    app: str | None = Field(None, max_length=200)
    window_minutes: int | None = Field(None, ge=5, le=30 * 24 * 60)


class GeneratedProposal(BaseModel):
    proposal: Proposal | None = Field(description="Null when nothing significant explains the failures.")
    created: bool = Field(
        description="False when a proposal for the same root cause was already open (that one)."
    )


class ValidateProposalRequest(BaseModel):
    proposal_id: uuid.UUID
    target: str | None = Field(
        None,
        max_length=100,
        description="The name of a validation target the operator registered (METAMON_VALIDATION_TARGETS); "
        "default: the one named like the proposal's app, else `default`. Never a URL or a module.",
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=50, description="Only golden cases with one of these tags."
    )

    @field_validator("target")
    @classmethod
    def _a_name(cls, target: str | None) -> str | None:
        if target is not None and not TARGET_NAME.fullmatch(target):
            raise ValueError(
                "name a registered validation target (letters, digits, '_', '-', '.'), not a URL or module"
            )
        return target


class ValidationQueued(BaseModel):
    proposal_id: uuid.UUID
    status: Literal["validating"]
    target: str
    location: str = Field(description="GET it for the status and, once done, the validation result.")
