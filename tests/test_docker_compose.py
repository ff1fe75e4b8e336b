"""docker-compose.complete.yml cannot run here (no Docker engine), so it is checked the next best way:
its mounts resolve against a fresh clone, every long-running service has a health check and a restart
policy, ports are published on loopback only, no secret is written in it, and every metamon service's
command (and health check) runs from the installed wheel with the compose environment, its service
hosts pointed at the local stack."""

import os
import shlex
import subprocess
import time
import uuid
from contextlib import ExitStack
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from metamon.monitoring.cli.main import app
from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indices import delete_trace_indices
from tests.conftest import create_database, drop_database, free_port
from tests.live import running
from tests.paths import CHECKOUT

COMPOSE = yaml.safe_load((CHECKOUT / "docker-compose.complete.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
ONE_SHOT = {name for name, service in SERVICES.items() if service.get("restart") == "no"}
LONG_RUNNING = set(SERVICES) - ONE_SHOT
METAMON_SERVICES = {name for name, service in SERVICES.items() if service.get("build") == "."}


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


def as_list(command) -> list[str]:
    return command if isinstance(command, list) else shlex.split(command)


# -- mounts -------------------------------------------------------------------------------------


def mounts(service: dict) -> list[tuple[str, PurePosixPath, bool]]:
    """(source, container path, read-only) of each volume entry; a source starting with . is the repo's."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append((volume["source"], PurePosixPath(volume["target"]), bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            found.append((source, PurePosixPath(target), "ro" in (mode[0].split(",") if mode else [])))
    return found


def mount_problems(compose: dict, root: Path) -> list[str]:
    """What would stop the containers from starting in a clone at `root`: a repository path that is not
    there, or a mount point inside a read-only mount that the mounted folder does not already have
    (Docker cannot create it there)."""
    problems = []
    for name, service in compose["services"].items():
        entries = mounts(service)
        for source, _, _ in entries:
            if source.startswith(".") and not (root / source).exists():
                problems.append(f"{name}: {source} does not exist in a fresh clone")
        for outer_source, outer, read_only in entries:
            for _, inner, _ in entries:
                if not read_only or inner == outer or outer not in inner.parents:
                    continue
                inside = inner.relative_to(outer)
                if not outer_source.startswith(".") or not (root / outer_source / inside).exists():
                    problems.append(
                        f"{name}: {inner} is mounted inside the read-only mount {outer_source}:{outer},"
                        f" which has no {inside} in a fresh clone"
                    )
    return problems


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    clone = tmp_path_factory.mktemp("clone") / "metamon"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(CHECKOUT), str(clone)], check=True)
    return clone


def test_every_mount_resolves_in_a_fresh_clone(fresh_clone):
    assert mount_problems(COMPOSE, fresh_clone) == []
    assert any(source.startswith("./") for s in SERVICES.values() for source, _, _ in mounts(s))


def test_the_mount_check_catches_a_mount_point_missing_inside_a_read_only_mount(fresh_clone):
    broken = {  # what the compose file once did: targets/ is git-ignored, so absent from a clone
        "services": {
            "prometheus": {
                "volumes": [
                    "./prometheus:/etc/prometheus:ro",
                    "./prometheus/compose-targets:/etc/prometheus/targets:ro",
                ]
            }
        }
    }
    [problem] = mount_problems(broken, fresh_clone)
    assert "/etc/prometheus/targets is mounted inside the read-only mount ./prometheus" in problem
    assert mount_problems({"services": {"x": {"volumes": ["./nowhere:/x"]}}}, fresh_clone) == [
        "x: ./nowhere does not exist in a fresh clone"
    ]


# -- services -----------------------------------------------------------------------------------


def test_every_service_the_design_names_is_there():
    expected = {"postgres", "elasticsearch", "prometheus", "alertmanager", "grafana", "mailpit", "api"}
    expected |= {"exporter", "indexer", "worker", "scheduler"}
    assert expected <= LONG_RUNNING
    assert SERVICES["elasticsearch"]["image"].split(":")[-1].startswith("8.19")


def test_every_long_running_service_has_a_health_check_and_a_restart_policy():
    for name in LONG_RUNNING:
        service = SERVICES[name]
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name
        check = service.get("healthcheck", {})
        assert not check.get("disable") and check.get("test", [None])[0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name


def test_one_shot_services_are_waited_for_by_the_others():
    awaited = {
        dependency
        for service in SERVICES.values()
        for dependency, condition in service.get("depends_on", {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }
    assert ONE_SHOT == awaited == {"secrets", "migrate", "alertmanager-config"}


def test_every_port_is_published_on_loopback_only():
    published = [(name, port) for name, s in SERVICES.items() for port in s.get("ports", [])]
    assert len(published) >= 8
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)


def test_no_secret_is_written_in_the_compose_file():
    for name, service in SERVICES.items():
        for variable, value in (service.get("environment") or {}).items():
            if any(word in variable.upper() for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert variable.endswith("_FILE") and str(value).startswith("/run/secrets/"), (name, variable)


def test_every_metamon_service_reads_the_generated_secrets():
    # The webhook token above all: the API checks what the Alertmanager config renderer wrote.
    for name in METAMON_SERVICES:
        assert "secrets:/run/secrets/metamon" in ",".join(SERVICES[name].get("volumes", [])), name
    assert "generate-secrets.sh" in SERVICES["secrets"]["command"]


def test_secrets_are_generated_once_and_kept(tmp_path):
    script = str(CHECKOUT / "docker" / "generate-secrets.sh")
    first = subprocess.run(["sh", script, str(tmp_path)], capture_output=True, text=True, check=True)
    values = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert set(values) == {
        "postgres_password",
        "alert_webhook_token",
        "grafana_db_password",
        "grafana_admin_password",
    }
    assert len(set(values.values())) == 4 and all(len(v) == 48 for v in values.values())
    assert first.stdout.count("generated") == 4
    again = subprocess.run(["sh", script, str(tmp_path)], capture_output=True, text=True, check=True)
    assert again.stdout == "" and {p.name: p.read_text() for p in tmp_path.iterdir()} == values


def test_every_metamon_command_is_a_real_cli_command():
    commands = [
        as_list(check["test"])[1:]
        for s in SERVICES.values()
        if (check := s.get("healthcheck", {})).get("test", [None, None])[1] == "metamon"
    ]
    commands += [
        as_list(s["command"]) for s in SERVICES.values() if as_list(s.get("command", ""))[:1] == ["metamon"]
    ]
    assert len(commands) >= 10
    for command in commands:
        assert command[0] == "metamon"
        parse_cli(command[1:])


def test_the_cli_check_itself_refuses_unknown_commands_and_options():
    with pytest.raises(AssertionError):
        parse_cli(["exporterz"])
    with pytest.raises(typer.TyperException, match="No such option"):
        parse_cli(["serve", "--no-such-option"])


# -- the image ----------------------------------------------------------------------------------


def dockerignore_excludes(path: str) -> bool:
    """.dockerignore's verdict on a context path: the last matching rule wins, `!` re-includes, a rule
    matching a folder covers what is inside it."""
    rules = [line.strip() for line in (CHECKOUT / ".dockerignore").read_text().splitlines()]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for rule in filter(lambda r: r and not r.startswith("#"), rules):
        negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            excluded = not negate
    return excluded


def test_the_build_context_holds_what_the_image_copies_and_nothing_private():
    dockerfile = (CHECKOUT / "Dockerfile").read_text()
    copied = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    assert copied and not [source for source in copied if dockerignore_excludes(source)]
    assert all((CHECKOUT / source).exists() for source in copied)
    for private in (
        ".venv/bin/python",
        ".stack/postgres/data",
        ".env",
        ".git/config",
        "tests/conftest.py",
        "monitoring/__pycache__/settings.cpython-311.pyc",
    ):
        assert dockerignore_excludes(private), private


def test_the_image_runs_as_an_unprivileged_user():
    final_stage = (CHECKOUT / "Dockerfile").read_text().split("\nFROM ")[-1]
    [user] = [line.split()[1] for line in final_stage.splitlines() if line.startswith("USER ")]
    assert user.split(":")[0] not in ("root", "0")
    assert "useradd" in final_stage


# -- the metamon services, from the wheel, with the compose environment -------------------------


def compose_env(service: str, settings, secrets: Path, database: str, **overrides: str) -> dict[str, str]:
    """The service's compose environment with each compose host (postgres, elasticsearch...) replaced by
    the local stack's address; `overrides` keep the run off the stack's own data and ports."""
    stack = {
        "postgres": ("127.0.0.1", settings.database.port),
        "elasticsearch": tuple(urlsplit(settings.search.url).netloc.split(":")),
        "prometheus": tuple(urlsplit(settings.alerting.prometheus_url).netloc.split(":")),
        "alertmanager": tuple(urlsplit(settings.alerting.alertmanager_url).netloc.split(":")),
        "mailpit": ("127.0.0.1", settings.notifications.smtp_port),
        "api": ("127.0.0.1", overrides["METAMON_API_PORT"]),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAMON_")}
    for variable, value in SERVICES[service].get("environment", {}).items():
        value = str(value)
        url = urlsplit(value)
        if url.hostname in stack:
            host, port = stack[url.hostname]
            value = url._replace(netloc=f"{host}:{port}").geturl()
        elif variable.endswith("_HOST") and value in stack:
            host, port = stack[value]
            value = host
            env[variable.removesuffix("_HOST") + "_PORT"] = str(port)
        if variable.endswith("_PORT") and variable in env:
            continue  # set from its host above
        env[variable] = value
    env.update(
        METAMON_POSTGRES_DB=database,
        METAMON_SECRETS_DIR=str(secrets),
        PATH=os.pathsep.join([overrides.pop("PATH"), os.environ["PATH"]]),
        **overrides,
    )
    return env


def in_container(args: list[str], paths: dict[str, str]) -> list[str]:
    """The command as the image's entrypoint runs it, with container paths mapped to temporary ones."""
    mapped = []
    for arg in args:
        for container, local in paths.items():
            arg = arg.replace(container, local)
        mapped.append(arg)
    return ["sh", str(CHECKOUT / "docker" / "entrypoint.sh"), *mapped]


def test_every_metamon_service_runs_from_the_wheel_with_the_compose_environment(
    installed_wheel, base_settings, tmp_path
):
    assert {
        "secrets",
        "migrate",
        "alertmanager-config",
        "api",
        "exporter",
        "indexer",
        "worker",
        "scheduler",
    } == METAMON_SERVICES
    database = f"metamon_test_compose_{uuid.uuid4().hex[:8]}"
    create_database(base_settings, database)
    alias = f"metamon-compose{os.getpid()}-traces"
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    # The stack's own database password stands in for the generated one; the rest is generated.
    (secrets / "postgres_password").write_text(base_settings.database.password)
    paths = {"/run/secrets/metamon": str(secrets), "/rendered": str(tmp_path / "rendered")}
    ports = {"METAMON_API_PORT": str(free_port()), "METAMON_EXPORTER_PORT": str(free_port())}
    path = os.pathsep.join([str(installed_wheel.bin), str(CHECKOUT / "docker")])

    def env(service: str) -> dict[str, str]:
        return compose_env(
            service, base_settings, secrets, database, PATH=path, METAMON_TRACES_INDEX_ALIAS=alias, **ports
        )

    def run(service: str, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            in_container(args, paths),
            capture_output=True,
            text=True,
            env=env(service),
            cwd=installed_wheel.workdir,
            timeout=120,
        )

    try:
        for service in ("secrets", "migrate", "alertmanager-config"):  # in their dependency order
            done = run(service, as_list(SERVICES[service]["command"]))
            assert done.returncode == 0, (service, done.stdout, done.stderr)
        assert (secrets / "alert_webhook_token").exists()  # generated; postgres_password was kept
        assert (secrets / "postgres_password").read_text() == base_settings.database.password
        rendered = (tmp_path / "rendered" / "alertmanager.yml").read_text()
        assert f"http://127.0.0.1:{ports['METAMON_API_PORT']}/api/v1/alerts/webhook" in rendered

        long_running = sorted(METAMON_SERVICES - ONE_SHOT)
        with ExitStack() as services:
            for service in long_running:
                args = in_container(as_list(SERVICES[service]["command"]), paths)
                log = tmp_path / f"{service}.log"
                services.enter_context(running(args, None, log, env(service), cwd=installed_wheel.workdir))
            deadline = time.monotonic() + 120
            for service in long_running:
                check = as_list(SERVICES[service]["healthcheck"]["test"])[1:]
                while (result := run(service, check)).returncode != 0:
                    log = (tmp_path / f"{service}.log").read_text()[-2000:]
                    assert time.monotonic() < deadline, (service, result.stdout, result.stderr, log)
                    time.sleep(1)
                assert " up " in result.stdout, (service, result.stdout)
        for service in long_running:
            assert "Traceback" not in (tmp_path / f"{service}.log").read_text(), service
    finally:
        drop_database(base_settings, database)
        es = get_es(base_settings.search.url)
        delete_trace_indices(es, base_settings.model_copy(update={"traces_index_alias": alias}))
        es.options(ignore_status=404).indices.delete_index_template(name=alias)
