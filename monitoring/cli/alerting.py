"""`metamon alerting render`: Alertmanager's config from the settings."""

from pathlib import Path
from typing import Annotated

import typer

from metamon.monitoring.alerting.alertmanager_config import render as render_config
from metamon.monitoring.settings import get_settings

app = typer.Typer(help="Alert routing: Alertmanager's config rendered from the METAMON_* settings.")


@app.command()
def render(
    out: Annotated[
        Path, typer.Option(metavar="DIR", help="Directory for alertmanager.yml, metamon.tmpl and secrets/.")
    ],
    relative_secrets: Annotated[
        bool,
        typer.Option(
            help="Name the secret files as secrets/<name> (Alertmanager must then run from DIR), "
            "as in the committed prometheus/alertmanager.yml, instead of by absolute path."
        ),
    ] = False,
    fast: Annotated[
        bool, typer.Option(help="Waits of seconds instead of minutes (live tests, demo).")
    ] = False,
) -> None:
    """Write alertmanager.yml, its message templates and its secret files (mode 0600) into DIR."""
    path = render_config(get_settings(), out, relative_secrets=relative_secrets, fast=fast)
    typer.echo(f"wrote {path}")
