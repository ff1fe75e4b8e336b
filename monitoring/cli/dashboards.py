"""`metamon dashboards generate | check | preview`: the Grafana dashboards rendered from
monitoring/dashboards/, and pictures of them drawn from their own queries' answers."""

from pathlib import Path
from typing import Annotated

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


@app.command()
def preview(
    out: Annotated[Path, typer.Option(help="Folder the PNGs are written to (one per dashboard).")] = Path(
        "dashboard-previews"
    ),
    start: Annotated[
        str | None, typer.Option("--from", help="now-7d, an ISO time… Default: each dashboard's own range.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Default: each dashboard's own (now).")] = None,
    var: Annotated[
        list[str] | None, typer.Option(help="A variable's value, name=value (a,b for several); repeatable.")
    ] = None,
    source: Annotated[
        Path | None, typer.Option("--dir", help="Dashboard JSON files to draw instead of metamon's own.")
    ] = None,
) -> None:
    """Run every panel's queries against the Prometheus, Elasticsearch and PostgreSQL of the settings and
    draw each dashboard as a PNG (no Grafana server needed)."""
    # Imported here: matplotlib takes seconds to import, which every other command would pay.
    from metamon.monitoring.dashboards.preview import preview as draw_previews
    from metamon.monitoring.settings import get_settings

    chosen = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r}: expected name=value", param_hint="--var")
        chosen[name] = value
    try:
        results = draw_previews(get_settings(), out, start, end, chosen, source)
    except ValueError as exc:  # a time that does not parse
        raise typer.BadParameter(str(exc)) from None
    for result in results:
        panels = [p for p in result.panels if p.type != "row"]
        empty = [p.title for p in panels if _empty(p.drawn)]
        notes = sum(len(p.drawn.get("notes", [])) for p in panels)
        summary = f"{len(panels)} panels, {len(empty)} without data, {notes} notes on them"
        typer.echo(f"wrote {result.path} ({summary})")


def _empty(drawn: dict) -> bool:
    counts = [drawn.get(k) for k in ("series", "rows", "values", "bars", "slices", "lines") if k in drawn]
    return not any(counts)
