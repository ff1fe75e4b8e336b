"""`metamon digest send`: the daily digest email, on demand (the scheduler sends it at 09:00)."""

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from metamon.monitoring.db.session import session_factory
from metamon.monitoring.settings import get_settings

app = typer.Typer(help="The daily digest email.")


@app.command()
def send(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the email as .eml instead of sending it.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="With --dry-run: the .eml file to write (default: stdout).")
    ] = None,
) -> None:
    """Build the digest from the database and send it to METAMON_DIGEST_EMAIL_TO over SMTP."""
    if output and not dry_run:
        raise typer.BadParameter("only with --dry-run", param_hint="--output")
    # Imported here: matplotlib takes seconds to import, which every other command would pay.
    from metamon.monitoring.notifications.digest import build_digest, send_digest
    from metamon.monitoring.notifications.smtp import EmailDeliveryError

    settings = get_settings()
    with session_factory(settings.database.url)() as session:
        if not dry_run:
            try:
                message = send_digest(session, settings)
            except (EmailDeliveryError, ValueError) as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            typer.echo(
                f"sent {message['Subject']!r} to {', '.join(settings.notifications.digest_email_to)}",
                err=True,
            )
            return
        message = build_digest(session, settings, now=datetime.now().astimezone())
    if output:
        output.write_bytes(message.as_bytes())
        typer.echo(f"wrote {message['Subject']!r} to {output}", err=True)
    else:
        sys.stdout.buffer.write(message.as_bytes())
