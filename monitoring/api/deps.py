"""Dependencies shared by the routes: settings, a database session, and the caller's API key."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import ApiKey
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.security import matches, parse_prefix
from metamon.monitoring.settings import Settings, get_settings


async def current_settings() -> Settings:
    """The settings, as a coroutine: FastAPI runs a plain-function dependency on its thread pool, a hop
    every request would pay for (tests override this dependency)."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]
LAST_USED_RESOLUTION = timedelta(minutes=1)


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request, committed when the route returns, rolled back when it raises."""
    with session_factory(settings.database_url)() as session, session.begin():
        yield session


# scope="function": the transaction commits when the route returns and before the response is sent,
# so a client never sees a 200 for a write that then fails to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

bearer = HTTPBearer(auto_error=False, description="An API key created with `metamon keys create`.")


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    project_id: uuid.UUID
    scopes: frozenset[str]


def get_principal(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"}
    )
    if credentials is None:
        raise unauthorized
    prefix = parse_prefix(credentials.credentials)
    if prefix is None:
        raise unauthorized
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if key is None or not matches(credentials.credentials, key.secret_hash):
        raise unauthorized
    if key.last_used_at is None or datetime.now(UTC) - key.last_used_at > LAST_USED_RESOLUTION:
        _touch(session, key.id)
    return Principal(key_id=key.id, project_id=key.project_id, scopes=frozenset(key.scopes))


def _touch(session: Session, key_id: uuid.UUID) -> None:
    """Record when a key was last used, in its own short transaction and at most once a minute:
    inside the request's transaction the row lock would serialise every request made with the key."""
    stale = datetime.now(UTC) - LAST_USED_RESOLUTION
    with session.get_bind().connect() as conn, conn.begin():
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale))
            .values(last_used_at=datetime.now(UTC))
        )


def require_scope(scope: str):
    """A dependency that admits keys holding `scope` (or admin) and yields their principal."""

    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the '{scope}' scope")
        return principal

    return dependency
