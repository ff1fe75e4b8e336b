"""The FastAPI application factory (`metamon serve` runs it under uvicorn)."""

from importlib.metadata import version

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from metamon.monitoring.api.metrics import instrument_pools, metrics_app
from metamon.monitoring.api.middleware import AdmissionMiddleware
from metamon.monitoring.api.openapi import complete_openapi
from metamon.monitoring.api.routes import (
    alerts,
    configs,
    control,
    expert_review,
    health,
    metrics,
    otlp,
    projects,
    proposals,
    search,
    traces,
)
from metamon.monitoring.settings import get_settings

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    # Stable, readable operation ids for generated clients: "<tag>-<function name>".
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app() -> FastAPI:
    app = FastAPI(
        title="metamon",
        version=version("metamon"),
        description="Meta-monitoring for LLM and RAG applications.",
        generate_unique_id_function=_operation_id,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
    )
    for module in (
        health,
        projects,
        traces,
        search,
        expert_review,
        metrics,
        alerts,
        proposals,
        control,
        configs,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(otlp.router)  # OTLP's own path, where exporters expect it
    complete_openapi(app)
    # The API's own metrics (HTTP, pool), scraped by Prometheus as job "metamon-api".
    app.mount("/metrics", metrics_app())
    instrument_pools()
    app.add_middleware(AdmissionMiddleware, api=app, max_in_flight=get_settings().api.max_in_flight)
    # Raised by SQLAlchemy, or by psycopg itself on the COPY path of ingest.
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(psycopg.DataError, _unstorable_value)
    # The database is down, hung or out of connections, wherever it shows (authenticating included).
    for unavailable in (OperationalError, psycopg.OperationalError, PoolTimeout):
        app.add_exception_handler(unavailable, _database_unavailable)
    return app


async def _unstorable_value(request: Request, exc: DataError | psycopg.DataError) -> JSONResponse:
    """PostgreSQL refused a value the schema let through (a NUL character in text, say): the
    transaction is rolled back, so nothing was written, and the caller learns why."""
    cause = getattr(exc, "orig", None) or exc
    reason = str(cause).splitlines()[0] if str(cause) else "invalid value"
    return JSONResponse({"detail": f"a value cannot be stored: {reason}"}, status_code=422)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After: the request's transaction never committed, so the client may resend it.
    A statement too big for PostgreSQL (an OperationalError too) is the request's fault: 422."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(cause, psycopg.errors.ProgramLimitExceeded):
        return await _unstorable_value(request, cause)
    if isinstance(cause, psycopg.errors.QueryCanceled):
        reason = "the database did not answer in time"
    elif isinstance(exc, PoolTimeout):
        reason = "no database connection became free in time"
    else:
        reason = "the database is unreachable"
    retry_after = get_settings().database.retry_after_seconds
    return JSONResponse(
        {"detail": f"{reason}; retry in {retry_after} s"},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )
