"""Creating, listing and revoking projects' API keys (`metamon keys create | list | revoke`)."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from metamon.monitoring.db.models import ApiKey, Project
from metamon.monitoring.db.models.projects import SCOPES
from metamon.monitoring.security import generate_key, parse_prefix


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


def list_keys(
    session: Session, project_slug: str | None = None, include_revoked: bool = False
) -> list[ApiKey]:
    query = (
        select(ApiKey)
        .join(Project)
        .options(joinedload(ApiKey.project))
        .order_by(Project.slug, ApiKey.created_at)
    )
    if project_slug is not None:
        query = query.where(Project.slug == project_slug)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, key: str) -> ApiKey:
    """Revoke by prefix (as `keys list` shows it) or by the whole key; the API refuses it from the next
    request on. Revoking a revoked key keeps its first revocation time. LookupError: no such key."""
    prefix = parse_prefix(key) or key
    stored = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix).with_for_update())
    if stored is None:
        raise LookupError(f"no API key with prefix {prefix!r}")
    if stored.revoked_at is None:
        stored.revoked_at = datetime.now(UTC)
    session.flush()
    return stored
