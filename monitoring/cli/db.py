"""`metamon db upgrade | downgrade | current | revision`: Alembic migrations."""

from typing import Annotated

import typer

from metamon.monitoring.db import migrate
from metamon.monitoring.settings import get_settings

app = typer.Typer(help="Database migrations (Alembic).")

Url = Annotated[str | None, typer.Option(help="Database URL (default: METAMON_DATABASE_URL).")]


@app.command()
def upgrade(revision: str = "head", url: Url = None) -> None:
    """Apply migrations up to REVISION."""
    migrate.upgrade(url or get_settings().database.url, revision)
    typer.echo(f"database at {migrate.current_revision(url or get_settings().database.url)}")


@app.command()
def downgrade(revision: str, url: Url = None) -> None:
    """Revert migrations down to REVISION (`base` empties the database)."""
    migrate.downgrade(url or get_settings().database.url, revision)
    typer.echo(f"database at {migrate.current_revision(url or get_settings().database.url) or 'base'}")


@app.command()
def current(url: Url = None) -> None:
    """Print the database's migration revision."""
    typer.echo(migrate.current_revision(url or get_settings().database.url) or "base")


@app.command()
def revision(message: Annotated[str, typer.Option("--message", "-m")], url: Url = None) -> None:
    """Autogenerate a new migration from the models."""
    migrate.revision(url or get_settings().database.url, message)
