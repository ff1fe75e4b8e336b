"""`metamon digest send`: the daily digests, on demand (the scheduler sends them at 09:00)."""

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from metamon.monitoring.db.models import Project
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.settings import get_settings

app = typer.Typer(help="The daily digest emails, one per project.")


@app.command()
def send(
    project: Annotated[
        str | None, typer.Option(help="Only this project's digest (default: every project with news).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the email as .eml instead of sending it.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="With --dry-run: the .eml file to write (default: stdout).")
    ] = None,
) -> None:
    """Build each project's digest from the database and send it to the project's recipients (else
    METAMON_DIGEST_EMAIL_TO) over SMTP. A project with no runs this week, no open alert and no proposal to
    review gets none, unless named with --project."""
    if output and not dry_run:
        raise typer.BadParameter("only with --dry-run", param_hint="--output")
    # Imported here: matplotlib takes seconds to import, which every other command would pay.
    from metamon.monitoring.notifications.digest import build_digest, projects_with_news, send_digest
    from metamon.monitoring.notifications.recipients import digest_recipients
    from metamon.monitoring.notifications.smtp import EmailDeliveryError

    settings = get_settings()
    now = datetime.now().astimezone()
    with session_factory(settings.database.url)() as session:
        if project is not None:
            projects = list(session.scalars(select(Project).where(Project.slug == project)))
            if not projects:
                typer.echo(f"error: no project {project!r}", err=True)
                raise typer.Exit(1)
        else:
            projects = projects_with_news(session, now=now)
        if dry_run:
            if len(projects) != 1:
                names = ", ".join(p.slug for p in projects) or "none has news this week"
                typer.echo(f"error: --dry-run writes one digest: name a --project ({names})", err=True)
                raise typer.Exit(1)
            message = build_digest(session, settings, projects[0], now=now)
            if output:
                output.write_bytes(message.as_bytes())
                typer.echo(f"wrote {message['Subject']!r} to {output}", err=True)
            else:
                sys.stdout.buffer.write(message.as_bytes())
            return
        failed = False
        for one in projects:
            try:
                message = send_digest(session, settings, one, now=now)
            except (EmailDeliveryError, ValueError) as exc:
                typer.echo(f"error: {exc}", err=True)
                failed = True
                continue
            to = ", ".join(digest_recipients(one, settings))
            typer.echo(f"sent {message['Subject']!r} to {to}", err=True)
        if failed:
            raise typer.Exit(1)
