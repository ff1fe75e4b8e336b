"""`metamon stack up | down | status`."""

import shlex
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from metamon.monitoring.settings import get_settings
from metamon.monitoring.stack import StackError, control
from metamon.monitoring.stack.ha import ha_environment

app = typer.Typer(help="Run the local stack: PostgreSQL, Elasticsearch, Prometheus, Alertmanager, the API.")
console = Console()
err = Console(stderr=True)

Only = Annotated[list[str] | None, typer.Argument(help="Services to act on (default: all).")]
Ha = Annotated[
    bool,
    typer.Option(
        "--ha",
        help="The HA profile: two Prometheus replicas, two Alertmanager peers, two APIs behind HAProxy, "
        "two indexers and workers, three Elasticsearch nodes; in <stack dir>/ha, on the next ports.",
    ),
]


@app.command()
def up(services: Only = None, ha: Ha = False) -> None:
    """Start the services (first use installs Elasticsearch and a PostgreSQL cluster); wait until healthy."""
    try:
        control.up(
            get_settings(),
            services,
            say=lambda line: console.print(line, markup=False, highlight=False),
            ha=ha,
        )
    except StackError as exc:
        err.print(f"[bold red]stack up failed:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    console.print("[green]stack is up[/]")
    if ha:
        console.print('to use it from a shell: eval "$(metamon stack env --ha)"', highlight=False)


@app.command()
def down(services: Only = None, ha: Ha = False) -> None:
    """Stop the services (all of them, and supervisord, when none is named)."""
    try:
        control.down(get_settings(), services, ha=ha)
    except StackError as exc:
        err.print(f"[bold red]stack down failed:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    console.print("stack is down" if not services else f"stopped: {', '.join(services)}")


@app.command()
def status(ha: Ha = False) -> None:
    """Show each service's process state and health, and the log tail of any service supervisor gave up
    on; exit 1 when any is unhealthy."""
    rows = control.status(get_settings(), ha=ha)
    table = Table("service", "process", "pid", "health", "latency", "detail")
    for row in rows:
        health = "[green]up[/]" if row.probe.healthy else "[red]down[/]"
        table.add_row(
            row.name,
            row.state,
            str(row.pid or "-"),
            health,
            f"{row.probe.latency_seconds * 1000:.1f} ms",
            escape(row.probe.detail[:80]),
        )
    console.print(table)
    for row in rows:
        if row.gave_up:
            err.print(f"[bold red]{row.name} gave up (FATAL):[/]", highlight=False)
            err.print(row.gave_up, markup=False, highlight=False)
    if not all(row.probe.healthy for row in rows):
        raise typer.Exit(1)


@app.command()
def env(ha: Ha = False) -> None:
    """Print the METAMON_* variables that point metamon's commands at the stack (`eval` them)."""
    if not ha:
        return  # the standard stack is what the settings already describe
    for name, value in ha_environment(get_settings()).items():
        typer.echo(f"export {name}={shlex.quote(value)}")
