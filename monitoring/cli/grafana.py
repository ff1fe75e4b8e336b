"""`metamon grafana deploy`: metamon's folder, datasources and dashboards into a Grafana that already runs."""

from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer

app = typer.Typer(help="A Grafana that already runs (instead of the provisioned one).", no_args_is_help=True)


def credential(token: str | None, basic_auth: str | None) -> str | tuple[str, str]:
    """The one credential grafana-client takes: a token (service account), or user and password."""
    if bool(token) == bool(basic_auth):
        raise typer.BadParameter("give exactly one of --token and --basic-auth", param_hint="--token")
    if token:
        return token
    user, sep, password = basic_auth.partition(":")
    if not sep or not user:
        raise typer.BadParameter("expected USER:PASSWORD", param_hint="--basic-auth")
    return user, password


@app.command()
def deploy(
    url: Annotated[str, typer.Option(help="Grafana's base URL, e.g. https://grafana.example.com.")],
    token: Annotated[
        str | None, typer.Option(envvar="GRAFANA_TOKEN", help="A service account token (Editor or Admin).")
    ] = None,
    basic_auth: Annotated[str | None, typer.Option(help="USER:PASSWORD of a Grafana user.")] = None,
    config_dir: Annotated[
        Path | None,
        typer.Option(help="The folder holding grafana/provisioning. Default: METAMON_CONFIG_DIR."),
    ] = None,
    resend_secrets: Annotated[
        bool, typer.Option(help="Send datasource secrets even where one is stored (after rotating them).")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would be sent; send nothing.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds each request to Grafana may take.")] = 10.0,
) -> None:
    """Create or update the metamon folder, the datasources (by uid) and every dashboard; what already
    matches is left alone. Prints one line per object: created, updated or unchanged."""
    from metamon.monitoring.dashboards.deploy import DeployError, apply, grafana_message, plan
    from metamon.monitoring.settings import get_settings

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise typer.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--url")
    auth = credential(token, basic_auth)
    try:
        target = plan(config_dir or get_settings().config_dir)
    except DeployError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for warning in target.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if dry_run:
        typer.echo(f"would deploy folder {target.folder_title!r} ({target.folder_uid})")
        for source in target.datasources:
            typer.echo(f"would deploy datasource {source['name']} ({source['uid']}) -> {source.get('url')}")
        for uid, dashboard in sorted(target.dashboards.items()):
            typer.echo(f"would deploy dashboard {dashboard['title']} ({uid})")
        return
    import requests
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaException

    api = GrafanaApi.from_url(url, credential=auth, timeout=timeout)
    try:
        changes = apply(api, target, resend_secrets)
    except requests.RequestException as exc:
        typer.echo(f"error: cannot reach Grafana at {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    except GrafanaException as exc:
        typer.echo(f"error: {grafana_message(exc)}", err=True)
        raise typer.Exit(1) from None
    for change in changes:
        typer.echo(str(change))
    changed = sum(c.action != "unchanged" for c in changes)
    typer.echo(f"{changed} of {len(changes)} objects changed on {url}")
