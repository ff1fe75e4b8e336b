"""The `metamon` command."""

from typing import Annotated

import typer
import uvicorn

from monitoring.cli import db, keys, stack
from monitoring.logs import configure_logging
from monitoring.settings import get_settings

app = typer.Typer(help="metamon: meta-monitoring for LLM and RAG applications.", no_args_is_help=True)
app.add_typer(stack.app, name="stack")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: METAMON_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: METAMON_API_PORT.")] = None,
    workers: int = 1,
) -> None:
    """Run the API under uvicorn."""
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "monitoring.api.main:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_config=None,
    )


@app.command()
def demo() -> None:
    """The main job on a running stack: migrate, check health, create a key."""
    from monitoring.cli.demo import run

    run()
