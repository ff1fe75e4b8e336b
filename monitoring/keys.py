"""Creating projects and API keys (used by `metamon keys create`)."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import ApiKey, Project
from metamon.monitoring.db.models.projects import SCOPES
from metamon.monitoring.security import generate_key


def parse_scopes(text: str) -> list[str]:
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be a comma-separated subset of {', '.join(SCOPES)}; got {text!r}")
    return scopes


def get_or_create_project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        project = Project(slug=slug, name=slug)
        session.add(project)
        session.flush()
    return project


def create_key(session: Session, project_slug: str, scopes: list[str], name: str = "") -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext, which is never stored and cannot be shown again."""
    project = get_or_create_project(session, project_slug)
    new = generate_key()
    key = ApiKey(
        project_id=project.id, name=name, prefix=new.prefix, secret_hash=new.secret_hash, scopes=scopes
    )
    session.add(key)
    session.flush()
    return key, new.plaintext
