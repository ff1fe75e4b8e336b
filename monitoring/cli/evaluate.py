"""`metamon evaluate`: score the traces not scored yet and write the evaluation runs, with progress.
Several can run at once (on one machine or many): they share the backlog batch by batch."""

import time
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy import func, select

from metamon.monitoring.db.models import Project, Trace
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.logs import configure_logging
from metamon.monitoring.settings import get_settings


def evaluate(
    project: Annotated[str | None, typer.Option(help="Only this project (its slug); default: all.")] = None,
    window_minutes: Annotated[
        int | None, typer.Option(min=1, help="The runs' window; default: METAMON_EVALUATION_WINDOW_SECONDS.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score at most this many traces.")] = None,
) -> None:
    """Score the traces not scored yet and write the evaluation runs of the window ending now."""
    from metamon.agents.evaluation.agent import evaluate as run_evaluation  # LangChain: only when needed

    settings = get_settings()
    configure_logging("WARNING")  # the progress bar says what the info logs would
    sessions = session_factory(settings.database.url)
    with sessions() as session:
        project_id = None
        if project is not None:
            project_id = session.scalar(select(Project.id).where(Project.slug == project))
            if project_id is None:
                raise typer.BadParameter(f"no project {project!r}", param_hint="--project")
        pending = select(func.count()).select_from(Trace).where(Trace.evaluated_at.is_(None))
        if project_id is not None:
            pending = pending.where(Trace.project_id == project_id)
        total = session.scalar(pending)
    if limit is not None:
        total = min(total, limit)
    columns = (
        TextColumn("scoring traces"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    start = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("score", total=total)
        report = run_evaluation(
            settings,
            sessions,
            project_id=project_id,
            trigger="manual",
            window=timedelta(minutes=window_minutes) if window_minutes else None,
            limit=limit,
            progress=lambda scored: progress.advance(task, scored),
        )
    elapsed = time.perf_counter() - start
    typer.echo(
        f"scored {report.scored:,} traces in {elapsed:.1f} s ({report.scored / max(elapsed, 1e-9):,.0f}/s); "
        f"{len(report.runs)} evaluation runs written"
    )
