"""`metamon dead-letters list|retry`: the traces Elasticsearch refused, set aside by the indexer."""

import uuid
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import Project
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import dead_letters, retry_dead_letters

app = typer.Typer(help="Traces Elasticsearch refused (each with its reason), set aside until retried.")
ProjectOption = Annotated[str | None, typer.Option("--project", help="Project slug (default: all).")]


def _project_id(session: Session, slug: str | None) -> uuid.UUID | None:
    if slug is None:
        return None
    if (found := session.scalar(select(Project.id).where(Project.slug == slug))) is None:
        raise typer.BadParameter(f"no project {slug!r}", param_hint="--project")
    return found


@app.command("list")
def list_letters(
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest failure first.")] = 100,
) -> None:
    """One line per dead letter: trace id, project, HTTP status, failures, last failure, reason."""
    with session_scope() as session:
        slugs = dict(session.execute(select(Project.id, Project.slug)).all())
        found = dead_letters(session, _project_id(session, project), limit)
        for letter in found:
            typer.echo(
                f"{letter.trace_id}\t{slugs[letter.project_id]}\t{letter.status}\t{letter.failures}\t"
                f"{letter.last_failed_at:%Y-%m-%dT%H:%M:%SZ}\t{letter.reason}"
            )
        typer.echo(f"{len(found)} dead letters", err=True)


@app.command("retry")
def retry(project: ProjectOption = None) -> None:
    """Queue the dead letters for indexing again (say, after fixing the index template): each leaves
    the list once indexed, or stays with Elasticsearch's new reason."""
    with session_scope() as session:
        queued = retry_dead_letters(session, _project_id(session, project))
    typer.echo(f"queued {queued} dead letters for indexing")
