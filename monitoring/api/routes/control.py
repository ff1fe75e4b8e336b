"""`POST /api/v1/control/...`: run an agent now instead of waiting for the scheduler."""

import re
import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.research.alerts import alert_target
from metamon.agents.research.metrics import METRICS as RESEARCH_METRICS
from metamon.agents.validation.agent import NoGoldenCases
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.routes.metrics import run_json
from metamon.monitoring.api.routes.proposals import proposal_json
from metamon.monitoring.db.models import EvaluationRun, MonitoringAlert
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.workflow.proposals import InvalidTransition
from metamon.monitoring.workflow.research import propose
from metamon.monitoring.workflow.validation import (
    BadTarget,
    NoSuchProposal,
    NothingToValidate,
    request_validation,
)

router = APIRouter(prefix="/control", tags=["control"])
METRIC_NAMES = tuple(RESEARCH_METRICS)
Admin = Annotated[Principal, Depends(require_scope("admin"))]
TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class EvaluateRequest(BaseModel):
    window_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60, description="Default: the setting.")
    max_traces: int = Field(10_000, ge=1, le=1_000_000, description="Traces to score in this request.")
    pin_baseline: bool = Field(False, description="Make the new app-wide runs their scopes' baseline.")


@router.post("/evaluate")
async def trigger_evaluation(
    body: EvaluateRequest, session: SessionDep, settings: SettingsDep, principal: Admin
) -> dict:
    """Score the project's unscored traces (up to max_traces) and write evaluation runs of the window."""
    window = None if body.window_minutes is None else timedelta(minutes=body.window_minutes)
    report = await run_in_threadpool(
        evaluate,
        settings,
        session_factory(settings.database_url),
        project_id=principal.project_id,
        trigger="manual",
        window=window,
        limit=body.max_traces,
    )
    if body.pin_baseline:
        app_wide = [r.id for r in report.runs if r.model is None]
        session.execute(update(EvaluationRun).where(EvaluationRun.id.in_(app_wide)).values(is_baseline=True))
        for run in report.runs:
            run.is_baseline = run.model is None
    return {"scored": report.scored, "runs": [run_json(run) for run in report.runs]}


class GenerateProposalRequest(BaseModel):
    alert_id: uuid.UUID | None = Field(None, description="Research this alert's metric and app.")
    metric: Literal[METRIC_NAMES] | None = Field(None, description="Or name the metric yourself.")  # type: ignore[valid-type]
    app: str | None = Field(None, max_length=200)
    window_minutes: int | None = Field(None, ge=5, le=30 * 24 * 60)


@router.post("/generate-proposal")
def generate_proposal(
    body: GenerateProposalRequest, session: SessionDep, settings: SettingsDep, principal: Admin
) -> dict:
    """Run the research agent now, for an alert or a metric (and app) over the window before now."""
    if body.alert_id is not None:
        alert = session.get(MonitoringAlert, body.alert_id)
        if alert is None or alert.project_id != principal.project_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
        target = alert_target(alert.labels)
        if target is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{alert.alertname} is about no metric"
            )
        metric, app = target
    elif body.metric is not None:
        metric, app = body.metric, body.app
    else:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give alert_id or metric")
    proposal, created = propose(
        session,
        settings,
        project_id=principal.project_id,
        metric=metric,
        app=app,
        window=timedelta(minutes=body.window_minutes) if body.window_minutes else None,
        alert_id=body.alert_id,
        actor="api",
    )
    return {"proposal": proposal_json(proposal, full=True) if proposal else None, "created": created}


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


@router.post("/validate-proposal", status_code=status.HTTP_202_ACCEPTED, response_model=ValidationQueued)
def validate_proposal(
    body: ValidateProposalRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: Admin,
    request: Request,
    response: Response,
) -> ValidationQueued:
    """Queue the replay of the golden dataset through the app's active config and the proposal's
    candidate config: the proposal is `validating` for everyone from now on, and a worker moves it to
    validated or failed_validation (paired statistics). 202 with where to look."""
    try:
        proposal, target = request_validation(
            session,
            settings,
            project_id=principal.project_id,
            proposal_id=body.proposal_id,
            target=body.target,
            tags=body.tags,
        )
    except NoSuchProposal:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such proposal") from None
    except BadTarget as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except (InvalidTransition, NothingToValidate, NoGoldenCases) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    location = request.app.url_path_for("get_proposal", proposal_id=str(proposal.id))
    response.headers["Location"] = location
    return ValidationQueued(proposal_id=proposal.id, status="validating", target=target, location=location)
