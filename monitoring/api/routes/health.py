"""`GET /api/v1/health`: the API's own liveness plus each dependency's status and latency."""

import asyncio
from importlib.metadata import version
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.exc import ProgrammingError

from metamon.monitoring.api.deps import SettingsDep
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.outbox import backlog
from metamon.monitoring.probes import probe_database, probe_elasticsearch, probe_http_ready

router = APIRouter(prefix="/health", tags=["health"])


class DependencyHealth(BaseModel):
    status: Literal["up", "down"]
    detail: str
    latency_ms: float


class IndexBacklog(BaseModel):
    traces: int
    oldest_age_seconds: float


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    version: str
    dependencies: dict[str, DependencyHealth]
    # Traces stored but not yet in Elasticsearch; null when the database is down.
    index_backlog: IndexBacklog | None


@router.get("", response_model=Health, responses={503: {"model": Health}})
async def health(settings: SettingsDep, response: Response) -> Health:
    """`ok` when every dependency is up; `degraded` (200) when search or alerting is down;
    `unavailable` (503) when the database, the source of truth, is down."""
    t = settings.health_timeout
    results = await asyncio.gather(
        asyncio.to_thread(probe_database, settings.database_url, t),
        asyncio.to_thread(probe_elasticsearch, settings.elasticsearch_url, t),
        asyncio.to_thread(probe_http_ready, "prometheus", settings.prometheus_url, "/-/ready", t),
        asyncio.to_thread(probe_http_ready, "alertmanager", settings.alertmanager_url, "/-/ready", t),
    )
    deps = {r.name: DependencyHealth(**r.as_dict()) for r in results}
    pending = None
    if deps["database"].status == "up":
        try:
            pending = await asyncio.to_thread(_backlog, settings.database_url)
        except ProgrammingError:  # reachable, but the tables are not there
            deps["database"].status = "down"
            deps["database"].detail += "; schema missing: run `metamon db upgrade`"
    if deps["database"].status != "up":
        overall = "unavailable"
        response.status_code = 503
    else:
        overall = "ok" if all(d.status == "up" for d in deps.values()) else "degraded"
    return Health(status=overall, version=version("metamon"), dependencies=deps, index_backlog=pending)


def _backlog(database_url: str) -> IndexBacklog:
    with session_factory(database_url)() as session:
        found = backlog(session)
    return IndexBacklog(traces=found.traces, oldest_age_seconds=round(found.oldest_age_seconds, 3))
