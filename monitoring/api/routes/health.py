"""Health. Without a key: `/api/v1/health/live` (the process answers) and `/ready` or `/health` (can it
serve: the database, the source of truth, is reachable), status only. With any valid key,
`/api/v1/health` adds the version and each dependency's status, latency and error detail, which are
not for strangers."""

import asyncio
from importlib.metadata import version
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import OperationalError, ProgrammingError

from metamon.monitoring.api.deps import SettingsDep, bearer, get_principal
from metamon.monitoring.api.schemas.health import DependencyHealth, Health, HealthStatus, IndexBacklog
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.outbox import backlog
from metamon.monitoring.probes import probe_database, probe_elasticsearch, probe_http_ready
from metamon.monitoring.settings import Settings

router = APIRouter(prefix="/health", tags=["health"])
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@router.get("/live", response_model=HealthStatus)
async def live() -> HealthStatus:
    """Liveness: the API process answers (it does not look at any dependency)."""
    return HealthStatus(status="ok")


@router.get("/ready", response_model=HealthStatus, responses={503: {"model": HealthStatus}})
async def ready(settings: SettingsDep, response: Response) -> HealthStatus:
    """Readiness: `ok` (200) when the database answers with its schema, else `unavailable` (503)."""
    report = await _report(settings, response)
    return HealthStatus(status="ok" if report.status != "unavailable" else "unavailable")


@router.get("", response_model=Health | HealthStatus, responses={503: {"model": HealthStatus}})
async def health(
    settings: SettingsDep, response: Response, credentials: Credentials
) -> Health | HealthStatus:
    """`ok` when every dependency is up; `degraded` (200) when search or alerting is down;
    `unavailable` (503, with Retry-After) when the database, the source of truth, is down. The version
    and the dependencies' details only with a valid API key (any scope), so never while the database
    is down (no key can be checked then)."""
    report = await _report(settings, response)
    if report.status != "unavailable" and await asyncio.to_thread(_known_key, settings, credentials):
        return report
    return HealthStatus(status=report.status)


async def _report(settings: Settings, response: Response) -> Health:
    t = settings.api.health_timeout
    results = await asyncio.gather(
        asyncio.to_thread(probe_database, settings.database.url, t),
        asyncio.to_thread(probe_elasticsearch, settings.search.url, t),
        asyncio.to_thread(probe_http_ready, "prometheus", settings.alerting.prometheus_url, "/-/ready", t),
        asyncio.to_thread(
            probe_http_ready, "alertmanager", settings.alerting.alertmanager_url, "/-/ready", t
        ),
    )
    deps = {r.name: DependencyHealth(**r.as_dict()) for r in results}
    pending = None
    if deps["database"].status == "up":
        try:
            pending = await asyncio.to_thread(_backlog, settings.database.url)
        except ProgrammingError:  # reachable, but the tables are not there
            deps["database"].status = "down"
            deps["database"].detail += "; schema missing: run `metamon db upgrade`"
    if deps["database"].status != "up":
        overall = "unavailable"
        response.status_code = 503
        response.headers["Retry-After"] = str(settings.database.retry_after_seconds)
    else:
        overall = "ok" if all(d.status == "up" for d in deps.values()) else "degraded"
    return Health(status=overall, version=version("metamon"), dependencies=deps, index_backlog=pending)


def _known_key(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> bool:
    if credentials is None:
        return False
    try:
        get_principal(settings, credentials)
    except (HTTPException, OperationalError):  # a bad key, or the database went away meanwhile
        return False
    return True


def _backlog(database_url: str) -> IndexBacklog:
    with session_factory(database_url)() as session:
        found = backlog(session)
    return IndexBacklog(traces=found.traces, oldest_age_seconds=round(found.oldest_age_seconds, 3))
