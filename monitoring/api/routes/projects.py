"""`GET /api/v1/projects/current`: which project and scopes the caller's API key carries."""

from typing import Annotated

from fastapi import APIRouter, Depends

from metamon.monitoring.api.deps import Principal, SessionDep, get_principal
from metamon.monitoring.api.schemas.projects import CurrentProject
from metamon.monitoring.db.models import Project

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("/current", response_model=CurrentProject)
def current_project(
    session: SessionDep, principal: Annotated[Principal, Depends(get_principal)]
) -> CurrentProject:
    project = session.get(Project, principal.project_id)
    return CurrentProject(project=project.slug, scopes=sorted(principal.scopes))
