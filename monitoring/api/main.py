"""The FastAPI application factory (`metamon serve` runs it under uvicorn)."""

from importlib.metadata import version

from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import make_asgi_app

from monitoring.api.routes import expert_review, health, otlp, projects, search, traces

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
    for module in (health, projects, traces, search, expert_review):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(otlp.router)  # OTLP's own path, where exporters expect it
    # The API's own process metrics, scraped by Prometheus as job "metamon-api".
    app.mount("/metrics", make_asgi_app())
    return app
