"""`/api/v1/projects/current`: which project and scopes the caller's API key carries, and who receives the
project's daily digest."""

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import AfterValidator, BaseModel, Field

from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, get_principal, require_scope
from metamon.monitoring.db.models import Project
from metamon.monitoring.notifications.recipients import MAX_RECIPIENTS, checked_address, digest_recipients
from metamon.monitoring.settings import Settings

router = APIRouter(prefix="/projects", tags=["projects"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]
Address = Annotated[str, Field(max_length=254), AfterValidator(checked_address)]


class CurrentProject(BaseModel):
    project: str
    scopes: list[str]
    digest_email_to: list[str] = Field(description="Who receives the project's daily digest.")
    digest_email_to_is_default: bool = Field(
        description="True when the project names nobody and the server's METAMON_DIGEST_EMAIL_TO applies."
    )


class DigestRecipients(BaseModel):
    email_to: list[Address] | None = Field(
        max_length=MAX_RECIPIENTS,
        description="Addresses (user@domain) for this project's digest; null: back to the server's default.",
    )


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
