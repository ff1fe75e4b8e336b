"""`metamon demo`: the main job, run live against the stack that `metamon stack up` started."""

import httpx
import typer
from rich.console import Console
from rich.table import Table

from monitoring.db import migrate
from monitoring.db.session import session_scope
from monitoring.keys import create_key
from monitoring.settings import get_settings

console = Console()


def run() -> None:
    settings = get_settings()
    api = f"http://{settings.api_host}:{settings.api_port}/api/v1"

    console.rule("1. database migrations")
    migrate.upgrade(settings.database_url)
    console.print(f"schema at revision {migrate.current_revision(settings.database_url)}")

    console.rule("2. health, through the running API")
    health = httpx.get(f"{api}/health", timeout=10).json()
    table = Table("dependency", "status", "latency", "detail")
    for name, dep in health["dependencies"].items():
        table.add_row(name, dep["status"], f"{dep['latency_ms']} ms", dep["detail"])
    console.print(table)
    console.print(f"overall: {health['status']}")

    console.rule("3. an API key for project 'demo'")
    with session_scope() as session:
        _, key = create_key(session, "demo", ["ingest", "read", "review", "admin"], name="metamon demo")
    whoami = httpx.get(f"{api}/projects/current", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    whoami.raise_for_status()
    console.print(f"the API accepts the key: {whoami.json()}")
    if health["status"] != "ok":
        raise typer.Exit(1)
    console.print(key)
