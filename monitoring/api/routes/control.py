"""`POST /api/v1/control/...`: run an agent now instead of waiting for the scheduler."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from agents.evaluation.agent import evaluate
from monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from monitoring.api.routes.metrics import run_json
from monitoring.db.models import EvaluationRun
from monitoring.db.session import session_factory

router = APIRouter(prefix="/control", tags=["control"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]


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
