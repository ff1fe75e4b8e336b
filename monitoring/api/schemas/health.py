"""Health: the status alone for anyone, the version and each dependency's state with a key."""

from typing import Literal

from pydantic import BaseModel

Overall = Literal["ok", "degraded", "unavailable"]


class DependencyHealth(BaseModel):
    status: Literal["up", "down"]
    detail: str
    latency_ms: float


class IndexBacklog(BaseModel):
    traces: int
    oldest_age_seconds: float


class HealthStatus(BaseModel):
    status: Overall


class Health(HealthStatus):
    version: str
    dependencies: dict[str, DependencyHealth]
    # Traces stored but not yet in Elasticsearch; null when the database is down.
    index_backlog: IndexBacklog | None
