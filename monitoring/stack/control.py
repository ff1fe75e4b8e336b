"""`metamon stack up | down | status`: start the services in order, wait until each is healthy, report."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from metamon.monitoring.alerting import alertmanager_messages
from metamon.monitoring.alerting.alertmanager_config import CONFIG_NAME as ALERTMANAGER_CONFIG
from metamon.monitoring.alerting.alertmanager_config import render as render_alertmanager
from metamon.monitoring.db import migrate
from metamon.monitoring.probes import ProbeResult
from metamon.monitoring.settings import Settings
from metamon.monitoring.stack import StackError
from metamon.monitoring.stack.ha import ha_services, ha_settings, write_ha_configs
from metamon.monitoring.stack.prepare import (
    check_binaries,
    ensure_database,
    init_postgres,
    install_elasticsearch,
    make_dirs,
    port_taken,
    stack_user,
)
from metamon.monitoring.stack.services import Service, alertmanager_dir, stack_services
from metamon.monitoring.stack.supervisor import Supervisor, log_path, render_config
from metamon.monitoring.stack.targets import (
    standard_targets,
    write_prometheus_config,
    write_prometheus_targets,
)

LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # supervisor's state name, or STOPPED when supervisord is not running
    pid: int | None
    probe: ProbeResult
    # When supervisor gave up on it (FATAL: it kept dying at start): why, and the tail of its log.
    gave_up: str | None = None


def _tail(path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return "(no log yet)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _failure(settings: Settings, svc: Service, why: str) -> StackError:
    log = log_path(settings, svc.name)
    return StackError(f"{svc.name} failed: {why}\n--- last lines of {log} ---\n{_tail(log)}")


def profile(settings: Settings, ha: bool) -> tuple[Settings, list[Service]]:
    """The stack's settings and services: the standard profile, or the HA one derived from it."""
    if ha:
        return ha_settings(settings), ha_services(settings)
    return settings, stack_services(settings)


def _select(services: list[Service], only: list[str] | None) -> list[Service]:
    if not only:
        return services
    unknown = set(only) - {svc.name for svc in services}
    if unknown:
        raise StackError(f"unknown service(s): {', '.join(sorted(unknown))}")
    return [svc for svc in services if svc.name in only]


def up(
    settings: Settings, only: list[str] | None = None, say: Callable[[str], None] = print, ha: bool = False
) -> None:
    base = settings
    settings, services = profile(settings, ha)
    check_binaries(settings)
    wanted = _select(services, only)
    names = {svc.name for svc in wanted}
    supervisor = Supervisor(settings)
    # Check every port first, so a clash is reported before anything is installed or started.
    states = supervisor.states()
    for svc in wanted:
        if svc.port and states.get(svc.name, {}).get("statename") != "RUNNING" and port_taken(svc.port):
            raise StackError(
                f"port {svc.port} for {svc.name} is already taken by another process: "
                f"stop that process or set {svc.port_setting} to a free port"
            )

    user = stack_user(settings)
    make_dirs(settings, user)
    if any(name.startswith("elasticsearch") for name in names):
        install_elasticsearch(settings, user, say)
    if "postgres" in names:
        init_postgres(settings, user, say)
    if ha:
        write_ha_configs(base)
    else:
        write_prometheus_targets(settings.config_dir / "prometheus" / "targets", standard_targets(settings))
        write_prometheus_config(settings)
    peers = [s for s in services if s.name.startswith("alertmanager")]
    _render_alertmanager(settings, [s for s in peers if states.get(s.name, {}).get("statename") == "RUNNING"])
    stopped = supervisor.ensure_running(render_config(settings, services, user))
    # Programs a config change stopped (all of them if supervisord restarted): bring back what ran.
    wanted += [
        s
        for s in services
        if s.name not in names
        and (stopped is None or s.name in stopped)
        and states.get(s.name, {}).get("statename") == "RUNNING"
    ]

    for group in (
        [s for s in wanted if not s.app],
        [s for s in wanted if s.app],
    ):
        for svc in group:
            supervisor.start(svc.name)
        for svc in group:
            _wait_healthy(settings, supervisor, svc, say)
            if svc.name == "postgres":
                # The API, exporter and indexer need the schema: bring the database to head first.
                ensure_database(settings)
                migrate.upgrade(settings.database.url)


def _render_alertmanager(settings: Settings, running: list[Service]) -> None:
    """Render Alertmanager's config from the settings (ports, recipients, secrets) before it starts.
    Alertmanager reads it only at start and on reload, so the running peers reload a changed rendering."""
    directory = alertmanager_dir(settings)
    files = [directory / ALERTMANAGER_CONFIG, directory / alertmanager_messages.TEMPLATES_FILE]
    before = [path.read_text() if path.exists() else None for path in files]
    render_alertmanager(settings, directory, fast=settings.stack.alerting_profile == "fast")
    if [path.read_text() for path in files] == before:
        return
    for peer in running:
        try:
            response = httpx.post(f"http://127.0.0.1:{peer.port}/-/reload", timeout=30)
        except httpx.HTTPError as exc:
            raise StackError(f"{peer.name} did not reload its new config: {exc}") from exc
        if response.status_code != 200:
            raise StackError(f"{peer.name} refused its new config: {response.text.strip()}")


def _wait_healthy(settings: Settings, supervisor: Supervisor, svc: Service, say) -> None:
    deadline = time.monotonic() + settings.stack.start_timeout
    while True:
        state = supervisor.states().get(svc.name, {}).get("statename", "UNKNOWN")
        # BACKOFF and EXITED pass: supervisor restarts it, with back-off, until it gives up (FATAL).
        if state in ("FATAL", "STOPPED"):
            raise _failure(settings, svc, f"the process is {state}")
        result = probe(svc, state)
        if result.healthy:
            where = f"on port {svc.port}" if svc.port else "(worker)"
            say(f"{svc.name:<14} healthy {where} ({result.detail})")
            return
        if time.monotonic() > deadline:
            raise _failure(
                settings, svc, f"not healthy after {settings.stack.start_timeout:.0f}s: {result.detail}"
            )
        time.sleep(0.5)


def probe(svc: Service, state: str) -> ProbeResult:
    if svc.probe is not None:
        return svc.probe()
    return ProbeResult(svc.name, state == "RUNNING", f"process {state.lower()}", 0.0)


def down(settings: Settings, only: list[str] | None = None, ha: bool = False) -> None:
    settings, services = profile(settings, ha)
    supervisor = Supervisor(settings)
    if not supervisor.running():
        return
    if only:
        for svc in _select(services, only):
            supervisor.stop(svc.name)
    else:
        supervisor.shutdown()


def status(
    settings: Settings, services: list[Service] | None = None, ha: bool = False
) -> list[ServiceStatus]:
    settings, everything = profile(settings, ha)
    states = Supervisor(settings).states()
    rows = []
    for svc in everything if services is None else services:
        info = states.get(svc.name, {})
        state = info.get("statename", "STOPPED")
        gave_up = None
        if state == "FATAL":
            log = log_path(settings, svc.name)
            gave_up = (
                f"supervisor gave up on {svc.name} after {settings.stack.start_retries} restarts "
                f"({info.get('spawnerr') or info.get('description') or 'it kept dying at start'}); "
                f"`metamon stack up {svc.name}` tries again\n--- last lines of {log} ---\n{_tail(log)}"
            )
        rows.append(
            ServiceStatus(
                name=svc.name,
                state=state,
                pid=info.get("pid") or None,
                probe=probe(svc, state),
                gave_up=gave_up,
            )
        )
    return rows
