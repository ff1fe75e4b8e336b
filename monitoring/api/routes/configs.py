"""`GET /api/v1/configs/{app}`: the config a target app runs, and the candidate of a rollout in progress."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status

from metamon.monitoring.api.deps import Principal, SessionDep, require_scope
from metamon.monitoring.api.schemas.configs import ActiveConfig, AppConfigs, CandidateConfig, Release
from metamon.monitoring.workflow.configs import active_config
from metamon.monitoring.workflow.proposals import InvalidTransition
from metamon.monitoring.workflow.rollout import publish, serving_candidate

router = APIRouter(prefix="/configs", tags=["configs"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
AppName = Annotated[str, Path(max_length=200)]


@router.get("/{app}", response_model=AppConfigs)
def get_config(app: AppName, session: SessionDep, principal: Reader) -> AppConfigs:
    """The app serves `candidate.config` to `candidate.rollout_percent`% of its requests and `active.config`
    to the rest, and tags each trace's metadata with `{"config_version": n}` of the config that served
    it: that is how the monitor compares the two. Either is null when there is none."""
    active = active_config(session, principal.project_id, app)
    candidate = serving_candidate(session, principal.project_id, app)
    return AppConfigs(
        app=app,
        active=ActiveConfig.model_validate(active) if active else None,
        candidate=CandidateConfig.model_validate(candidate) if candidate else None,
    )


@router.put("/{app}", response_model=AppConfigs)
def publish_config(app: AppName, body: Release, session: SessionDep, principal: Admin) -> AppConfigs:
    """The app's own release: the config becomes the active version at once (409 during a rollout)."""
    try:
        publish(session, principal.project_id, app, body.config, body.by)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return get_config(app, session, principal)
