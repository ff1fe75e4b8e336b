"""The `metamon` command."""

import os
import sys
from contextlib import nullcontext
from importlib.metadata import version
from typing import Annotated

import psycopg
import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from metamon.monitoring.cli import (
    alerting,
    dashboards,
    db,
    dead_letters,
    digest,
    grafana,
    keys,
    rules,
    settings,
    stack,
)
from metamon.monitoring.cli.evaluate import evaluate
from metamon.monitoring.cli.seed import seed
from metamon.monitoring.logs import configure_logging
from metamon.monitoring.settings import get_settings, refuse_public_bind_with_known_token

app = typer.Typer(help="metamon: meta-monitoring for LLM and RAG applications.", no_args_is_help=True)
app.add_typer(stack.app, name="stack")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(alerting.app, name="alerting")
app.add_typer(digest.app, name="digest")
app.add_typer(rules.app, name="rules")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(grafana.app, name="grafana")
app.add_typer(settings.app, name="settings")
app.add_typer(dead_letters.app, name="dead-letters")
app.command()(evaluate)
app.command()(seed)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"metamon {version('metamon')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    pass


def _database_url(argv: list[str]) -> tuple[str, str]:
    """The URL the command used and where it came from: its --url option (the db commands have one)
    or the settings."""
    for i, arg in enumerate(argv):
        if arg.startswith("--url="):
            return arg.removeprefix("--url="), "--url"
        if arg == "--url" and i + 1 < len(argv):
            return argv[i + 1], "--url"
    return get_settings().database.url, "METAMON_DATABASE_URL"


def main() -> None:
    """The console script: the CLI, with a one-line error instead of a traceback when the database or
    Elasticsearch cannot be reached."""
    try:
        app()
    except Exception as exc:
        if message := _unreachable(exc):
            sys.exit(message)
        raise


def _unreachable(exc: Exception) -> str | None:
    """The one-line error for a database or Elasticsearch that cannot be reached, else None."""
    # psycopg raises its base OperationalError (no SQLSTATE subclass) exactly when it cannot connect.
    if isinstance(exc, OperationalError) and type(exc.orig) is psycopg.OperationalError:
        url, source = _database_url(sys.argv[1:])
        reason = str(exc.orig).strip().splitlines()[0]
        shown = make_url(url).render_as_string(hide_password=True)
        return f"error: cannot connect to the database at {shown} ({source}): {reason}"
    # The Elasticsearch client's transport, looked up only if loaded: importing it costs every command.
    transport = sys.modules.get("elastic_transport")
    if transport and isinstance(exc, transport.ConnectionError | transport.ConnectionTimeout):
        return (
            f"error: cannot reach Elasticsearch at {get_settings().search.url}"
            f" (METAMON_ELASTICSEARCH_URL): {exc.message}"
        )
    return None


WORKER_HEALTHCHECK_SECONDS = 60


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: METAMON_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: METAMON_API_PORT.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes. Default: METAMON_API_WORKERS, else one per core.")
    ] = None,
) -> None:
    """Run the API under uvicorn. Beyond loopback it refuses a known or short webhook token."""
    from metamon.monitoring.api.metrics import multiprocess_folder

    settings = get_settings()
    configure_logging(settings.log_level)
    host = host or settings.api.host
    try:
        refuse_public_bind_with_known_token(settings, host)
    except ValueError as exc:
        typer.echo(f"metamon serve: {exc}", err=True)
        raise typer.Exit(2) from None
    if not settings.alerting.webhook_token:
        typer.echo(f"the webhook token is in {settings.alerting.webhook_token_file}", err=True)
    workers = workers or settings.api.workers or len(os.sched_getaffinity(0))
    # Several workers share one port: their metrics meet in a folder that /metrics sums.
    with multiprocess_folder() if workers > 1 else nullcontext():
        uvicorn.run(
            "metamon.monitoring.api.main:create_app",
            factory=True,
            host=host,
            port=port or settings.api.port,
            workers=workers,
            log_config=None,
            # uvicorn kills a worker that misses its 5 s liveness ping: on a busy machine a worker still
            # importing, or serving a burst, is slow, not hung, and killing it drops its requests.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )


PROBES = ("api", "exporter", "database", "elasticsearch")


@app.command()
def probe(
    targets: Annotated[list[str], typer.Argument(help=f"Any of {', '.join(PROBES)}.", show_default=False)],
) -> None:
    """Check what a service needs answers, as its configuration sees it (the containers' health checks):
    this process's API or exporter on its bind address, the database, Elasticsearch. Exit 1 if any is down."""
    from metamon.monitoring.probes import probe_database, probe_elasticsearch, probe_http_ready

    unknown = sorted(set(targets) - set(PROBES))
    if unknown:
        raise typer.BadParameter(f"unknown: {', '.join(unknown)}; choose from {', '.join(PROBES)}")
    settings = get_settings()
    timeout = settings.api.health_timeout
    checks = {
        "api": lambda: probe_http_ready(
            "api", settings.api.bind_url(settings.api.port), "/api/v1/health", timeout
        ),
        "exporter": lambda: probe_http_ready(
            "exporter", settings.api.bind_url(settings.exporter.port), "/metrics", timeout
        ),
        "database": lambda: probe_database(settings.database.url, timeout),
        "elasticsearch": lambda: probe_elasticsearch(settings.search.url, timeout),
    }
    results = [checks[target]() for target in targets]
    for result in results:
        typer.echo(f"{result.name}: {'up' if result.healthy else 'down'} ({result.detail})")
    if not all(result.healthy for result in results):
        raise typer.Exit(1)


@app.command()
def exporter(
    port: Annotated[int | None, typer.Option(help="Default: METAMON_EXPORTER_PORT.")] = None,
) -> None:
    """Serve the Prometheus exporter's /metrics."""
    from metamon.exporter.app import serve as serve_exporter

    settings = get_settings()
    if port:
        settings = settings.model_copy(update={"exporter_port": port})
    configure_logging(settings.log_level)
    serve_exporter(settings)


@app.command()
def scheduler() -> None:
    """Run the scheduled jobs (evaluation, monitor, daily run, retention, digest); run several for
    availability: each job occurrence runs once."""
    from metamon.monitoring.scheduler.runner import build_scheduler

    settings = get_settings()
    configure_logging(settings.log_level)
    build_scheduler(settings).start()


@app.command()
def worker() -> None:
    """Turn new firing alerts into proposals (drains the research queue; run as many as needed)."""
    from metamon.monitoring.db.session import session_factory
    from metamon.monitoring.workflow.worker import run_forever

    settings = get_settings()
    configure_logging(settings.log_level)
    run_forever(settings, session_factory(settings.database.url))


@app.command()
def indexer() -> None:
    """Index traces into Elasticsearch as they are stored (drains the outbox; run as many as needed)."""
    from metamon.monitoring.db.session import session_factory
    from metamon.monitoring.search.client import get_es
    from metamon.monitoring.search.indexer import run_forever

    settings = get_settings()
    configure_logging(settings.log_level)
    run_forever(settings, get_es(settings.search.url), session_factory(settings.database.url))


@app.command()
def reindex(
    keep: Annotated[
        bool, typer.Option(help="Overwrite documents in place instead of rebuilding the indices.")
    ] = False,
) -> None:
    """Rebuild the traces index from PostgreSQL, the source of truth."""
    from metamon.monitoring.search.reindex import reindex as run_reindex

    run_reindex(get_settings(), recreate=not keep)


@app.command()
def demo() -> None:
    """The main job on a running stack: migrate, check health, create a key."""
    from metamon.monitoring.cli.demo import run

    run()
