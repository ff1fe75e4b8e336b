"""`metamon dashboards generate | check`: the Grafana dashboards rendered from monitoring/dashboards/."""

import typer

from metamon.monitoring.dashboards.render import DASHBOARDS_DIR, stale
from metamon.monitoring.dashboards.render import generate as write_dashboards

app = typer.Typer(
    help="Grafana dashboards (as code, provisioned from grafana/dashboards/).", no_args_is_help=True
)


@app.command()
def generate() -> None:
    """Write every dashboard's JSON into grafana/dashboards/."""
    for path in write_dashboards():
        typer.echo(f"wrote {path}")


@app.command()
def check() -> None:
    """Exit 1 when a dashboard file differs from a fresh rendering (or is missing, or left over)."""
    changed = stale()
    for name in changed:
        path = DASHBOARDS_DIR / name
        typer.echo(f"{path} is stale: run `metamon dashboards generate`", err=True)
    if changed:
        raise typer.Exit(1)
    typer.echo("dashboards are up to date")
