"""docker-compose.complete.yml cannot run here (no Docker engine), so check what it refers to is real."""

import shlex
from pathlib import Path

import pytest
import typer
import yaml

from metamon.monitoring.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.complete.yml").read_text())


def parse_cli(args: list[str]):
    """Resolve `metamon ARGS` through the real CLI: unknown commands or options raise."""
    command = typer.main.get_command(app)
    name = "metamon"
    while hasattr(command, "commands"):  # a group
        assert args, f"{name} needs a subcommand"
        name, args = args[0], args[1:]
        assert name in command.commands, f"no such command: {name}"
        command = command.commands[name]
    return command.make_context(name, list(args))


def test_every_service_the_design_names_is_there():
    expected = {"postgres", "elasticsearch", "prometheus", "alertmanager", "grafana", "mailpit", "api"}
    assert expected <= set(COMPOSE["services"])
    assert COMPOSE["services"]["elasticsearch"]["image"].split(":")[-1].startswith("8.19")


def test_every_mounted_path_exists_in_the_repository():
    mounts = [
        volume.split(":")[0]
        for service in COMPOSE["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert mounts, "the compose file mounts the repository's config folders"
    for source in mounts:
        assert (ROOT / source).exists(), source


def test_every_metamon_command_is_a_real_cli_command():
    commands = [
        service["command"] if isinstance(service["command"], list) else shlex.split(service["command"])
        for service in COMPOSE["services"].values()
        if "metamon" in str(service.get("command", ""))
    ]
    assert len(commands) >= 2
    for command in commands:
        assert command[0] == "metamon"
        parse_cli(command[1:])


def test_the_cli_check_itself_refuses_unknown_commands_and_options():
    with pytest.raises(AssertionError):
        parse_cli(["exporterz"])
    with pytest.raises(typer.TyperException, match="No such option"):
        parse_cli(["serve", "--no-such-option"])


def test_every_service_built_from_here_has_a_dockerfile():
    for service in COMPOSE["services"].values():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists()


def test_no_webhook_token_ships_in_the_file_and_api_and_renderer_share_the_generated_one():
    env = COMPOSE["x-metamon-env"]
    assert "METAMON_ALERT_WEBHOOK_TOKEN" not in env
    token_dir = str(Path(env["METAMON_ALERT_WEBHOOK_TOKEN_FILE"]).parent)
    for name in ("api", "alertmanager-config"):
        service = COMPOSE["services"][name]
        assert "METAMON_ALERT_WEBHOOK_TOKEN" not in service["environment"]
        assert any(v.split(":")[1] == token_dir for v in service["volumes"]), name
