"""`POST /api/v1/control/...`: run an agent now instead of waiting for the scheduler."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.research.alerts import alert_target
from metamon.agents.validation.agent import NoGoldenCases
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.control import (
    EvaluateRequest,
    EvaluationReport,
    GeneratedProposal,
    GenerateProposalRequest,
    ValidateProposalRequest,
    ValidationQueued,
)
from metamon.monitoring.api.schemas.metrics import EvaluationRunOut
from metamon.monitoring.api.schemas.proposals import Proposal
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
Admin = Annotated[Principal, Depends(require_scope("admin"))]


@router.post("/evaluate", response_model=EvaluationReport)
async def trigger_evaluation(
    body: EvaluateRequest, session: SessionDep, settings: SettingsDep, principal: Admin
) -> EvaluationReport:
    """Score the project's unscored traces (up to max_traces) and write evaluation runs of the window."""
    window = None if body.window_minutes is None else timedelta(minutes=body.window_minutes)
    report = await run_in_threadpool(
        evaluate,
        settings,
        session_factory(settings.database.url),
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
    return EvaluationReport(scored=report.scored, runs=[EvaluationRunOut.of(run) for run in report.runs])


@router.post("/generate-proposal", response_model=GeneratedProposal)
def generate_proposal(
    body: GenerateProposalRequest, session: SessionDep, settings: SettingsDep, principal: Admin
) -> GeneratedProposal:
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
    return GeneratedProposal(proposal=Proposal.of(proposal) if proposal else None, created=created)


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
