"""`/api/v1/projects/current`: which project and scopes the caller's API key carries, and who receives the
project's daily digest."""

from typing import Annotated

from fastapi import APIRouter, Depends

from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, get_principal, require_scope
from metamon.monitoring.api.schemas.projects import CurrentProject, DigestRecipients
from metamon.monitoring.db.models import Project
from metamon.monitoring.notifications.recipients import digest_recipients
from metamon.monitoring.settings import Settings

router = APIRouter(prefix="/projects", tags=["projects"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]


def _current(project: Project, scopes: list[str], settings: Settings) -> CurrentProject:
    return CurrentProject(
        project=project.slug,
        scopes=scopes,
        digest_email_to=digest_recipients(project, settings),
        digest_email_to_is_default=not project.digest_email_to,
    )


@router.get("/current", response_model=CurrentProject)
def current_project(
    session: SessionDep, settings: SettingsDep, principal: Annotated[Principal, Depends(get_principal)]
) -> CurrentProject:
    return _current(session.get(Project, principal.project_id), sorted(principal.scopes), settings)


@router.put("/current/digest-recipients", response_model=CurrentProject)
def set_digest_recipients(
    body: DigestRecipients, session: SessionDep, settings: SettingsDep, principal: Admin
) -> CurrentProject:
    """Send this project's daily digest to these addresses (an empty list or null: the server's default)."""
    project = session.get(Project, principal.project_id, with_for_update=True)
    project.digest_email_to = list(dict.fromkeys(body.email_to)) if body.email_to else None
    session.flush()
    return _current(project, sorted(principal.scopes), settings)
