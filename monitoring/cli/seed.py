"""`metamon seed`: a realistic week of one project on the running stack (see monitoring/demo/seed.py)."""

import time
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from metamon.monitoring.db import migrate
from metamon.monitoring.db.models import Project, Trace
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.keys import create_key
from metamon.monitoring.settings import get_settings


def seed(
    project: Annotated[
        str, typer.Option(help="The project to fill; it must have no traces yet.")
    ] = "acme-support",
    days: Annotated[int, typer.Option(min=1, max=30, help="How long a history, ending now.")] = 7,
    seed: Annotated[int, typer.Option(help="The random seed: the same seed gives the same data.")] = 0,
) -> None:
    """Fill a project with a week of traces, evaluation runs, alerts, proposals, validations, expert labels
    and golden cases, all through the running stack's API and agents. Prints the project's API key."""
    from metamon.monitoring.demo import seed as seeding

    settings = get_settings()
    migrate.upgrade(settings.database.url)
    with session_scope() as session:
        existing = session.scalar(
            select(func.count()).select_from(Trace).join(Project).where(Project.slug == project)
        )
        if existing:
            typer.echo(
                f"error: project {project!r} already has {existing} traces; seed another --project", err=True
            )
            raise typer.Exit(1)
        _, key = create_key(session, project, ["ingest", "read", "review", "admin"], name="metamon seed")
        project_id = session.scalar(select(Project.id).where(Project.slug == project))
    http = httpx.Client(
        base_url=f"{settings.api.public_base_url}/api/v1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    console = Console(stderr=True)
    total = seeding.work_units(days)
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    started = time.monotonic()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("seeding", total=total)
        report = seeding.seed(
            settings,
            session_factory(settings.database.url),
            http,
            project=project,
            project_id=project_id,
            webhook_token=settings.webhook_token(),
            days=days,
            seed=seed,
            step=lambda what, n: progress.update(task, advance=n, description=what),
        )
        progress.update(task, completed=total)
    states = ", ".join(sorted(report.proposals.values()))
    console.print(
        f"{project}: {report.traces} traces, {report.evaluation_passes} evaluation runs, "
        f"{len(report.alerts)} alerts, {len(report.proposals)} proposals ({states}), "
        f"{report.validations} validations, {report.labels} expert labels, "
        f"{report.golden_cases} golden cases in {time.monotonic() - started:.0f} s"
    )
    print(key)
