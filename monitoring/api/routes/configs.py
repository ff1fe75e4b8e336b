"""`GET /api/v1/configs/{app}`: the config a target app runs, and the candidate of a rollout in progress."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field

from metamon.monitoring.api.deps import Principal, SessionDep, require_scope
from metamon.monitoring.workflow.configs import active_config
from metamon.monitoring.workflow.proposals import InvalidTransition
from metamon.monitoring.workflow.rollout import publish, serving_candidate

router = APIRouter(prefix="/configs", tags=["configs"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
AppName = Annotated[str, Path(max_length=200)]


@router.get("/{app}")
def get_config(app: AppName, session: SessionDep, principal: Reader) -> dict:
    """The app serves `candidate.config` to `candidate.rollout_percent`% of its requests and `active.config`
    to the rest, and tags each trace's metadata with `{"config_version": n}` of the config that served
    it: that is how the monitor compares the two. Either is null when there is none."""
    active = active_config(session, principal.project_id, app)
    candidate = serving_candidate(session, principal.project_id, app)
    return {
        "app": app,
        "active": {"version": active.version, "config": active.config} if active else None,
        "candidate": {
            "version": candidate.version,
            "config": candidate.config,
            "rollout_percent": candidate.rollout_percent,
            "proposal_id": str(candidate.proposal_id) if candidate.proposal_id else None,
        }
        if candidate
        else None,
    }


class Release(BaseModel):
    config: dict = Field(description="The app's whole config (prompt_version, model, top_k, ...).")
    by: str = Field(min_length=1, max_length=200)


@router.put("/{app}")
def publish_config(app: AppName, body: Release, session: SessionDep, principal: Admin) -> dict:
    """The app's own release: the config becomes the active version at once (409 during a rollout)."""
    try:
        publish(session, principal.project_id, app, body.config, body.by)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return get_config(app, session, principal)
