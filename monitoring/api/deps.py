"""Dependencies shared by the routes: settings, a database session, and the caller's API key."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, or_, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from metamon.monitoring.db.models import ApiKey
from metamon.monitoring.db.session import get_engine, session_factory
from metamon.monitoring.security import matches, parse_prefix
from metamon.monitoring.settings import Settings, get_settings


async def current_settings() -> Settings:
    """The settings, as a coroutine: FastAPI runs a plain-function dependency on its thread pool, a hop
    every request would pay for (tests override this dependency)."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    """One session per request, committed when the route returns, rolled back when it raises. A session
    takes its pooled connection on its first statement, not here: a route that never reaches the
    database (a 4xx on the body, a search) holds none, and none is held while the body is read. Opened
    on the event loop (no I/O) and ended in one worker-thread hop (the commit's I/O)."""
    session = session_factory(settings.database.url)()
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request must still give its connection back
            await run_in_threadpool(session.close)  # rolls back
        raise
    await run_in_threadpool(_commit_and_close, session)


def _commit_and_close(session: Session) -> None:
    with session:
        session.commit()


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
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller's key, looked up in a short transaction of its own, over before the route runs: the
    request's session connects later, so a request never holds two pooled connections (holding one
    while waiting for a second deadlocked the pool under load)."""
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"}
    )
    if credentials is None:
        raise unauthorized
    prefix = parse_prefix(credentials.credentials)
    if prefix is None:
        raise unauthorized
    with get_engine(settings.database.url).begin() as conn:
        columns = (ApiKey.id, ApiKey.project_id, ApiKey.scopes, ApiKey.secret_hash, ApiKey.last_used_at)
        key = conn.execute(
            select(*columns).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        ).one_or_none()
        if key is None or not matches(credentials.credentials, key.secret_hash):
            raise unauthorized
        if key.last_used_at is None or datetime.now(UTC) - key.last_used_at > LAST_USED_RESOLUTION:
            _touch(conn, key.id)
    return Principal(key_id=key.id, project_id=key.project_id, scopes=frozenset(key.scopes))


def _touch(conn: Connection, key_id: uuid.UUID) -> None:
    """Record when a key was last used, at most once a minute, on the lookup's own connection. SKIP
    LOCKED: when many requests of one key arrive together, one updates the row and the others go on
    without waiting for its lock."""
    stale = datetime.now(UTC) - LAST_USED_RESOLUTION
    due = (
        select(ApiKey.id)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    conn.execute(update(ApiKey).where(ApiKey.id == due).values(last_used_at=datetime.now(UTC)))


def require_scope(scope: str):
    """A dependency that admits keys holding `scope` (or admin) and yields their principal."""

    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the '{scope}' scope")
        return principal

    return dependency
