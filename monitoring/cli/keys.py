"""`metamon keys create | list | revoke`."""

from typing import Annotated

import typer

from metamon.monitoring.db.session import session_scope
from metamon.monitoring.keys import create_key, list_keys, parse_scopes, revoke_key

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


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@app.command("list")
def list_(
    project: Annotated[str | None, typer.Option(help="Only this project's keys.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
) -> None:
    """List API keys (prefix, project, scopes, name, created, last used, revoked); never their secrets."""
    with session_scope() as session:
        keys = list_keys(session, project, include_revoked=revoked)
        rows = [
            (
                k.prefix,
                k.project.slug,
                ",".join(sorted(k.scopes)),
                k.name or "-",
                _when(k.created_at),
                _when(k.last_used_at),
                _when(k.revoked_at),
            )
            for k in keys
        ]
    header = ("PREFIX", "PROJECT", "SCOPES", "NAME", "CREATED", "LAST USED", "REVOKED")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="The key's prefix (see `keys list`) or the whole key.")],
) -> None:
    """Revoke an API key: the API refuses it from the next request on."""
    with session_scope() as session:
        try:
            stored = revoke_key(session, key)
        except LookupError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"revoked key {stored.prefix} of project {stored.project.slug} at {_when(stored.revoked_at)}"
        )
