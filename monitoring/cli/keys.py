"""`metamon keys create`."""

from typing import Annotated

import typer

from metamon.monitoring.db.session import session_scope
from metamon.monitoring.keys import create_key, parse_scopes

app = typer.Typer(help="API keys.")


@app.command()
def create(
    project: Annotated[str, typer.Option(help="Project slug; created if it does not exist.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: ingest, read, review, admin.")
    ] = "ingest,read",
    name: Annotated[str, typer.Option(help="A note saying what the key is for.")] = "",
) -> None:
    """Create an API key. The key is printed alone on the last line and never shown again."""
    try:
        scope_list = parse_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from None
    with session_scope() as session:
        key, plaintext = create_key(session, project, scope_list, name)
        typer.echo(
            f"created key {key.prefix} for project {project} with scopes {','.join(scope_list)}", err=True
        )
    typer.echo(plaintext)
