"""What each service of the local stack runs, where it listens and how its health is probed."""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metamon.monitoring.alerting.alertmanager_config import CONFIG_NAME as ALERTMANAGER_CONFIG
from metamon.monitoring.probes import ProbeResult, probe_database, probe_elasticsearch, probe_http_ready
from metamon.monitoring.settings import Settings
from metamon.monitoring.stack.targets import prometheus_config

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    port: int | None
    port_setting: str | None
    # None for workers without a port: supervisor's RUNNING state is their health.
    probe: Callable[[], ProbeResult] | None
    # PostgreSQL and Elasticsearch refuse to run as root: they run as the stack user.
    unprivileged: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    stopsignal: str = "TERM"
    # metamon's own programs start after the infrastructure is healthy: they need the database and index.
    app: bool = False


def elasticsearch_home(settings: Settings) -> Path:
    return settings.stack.dir / f"elasticsearch-{settings.stack.elasticsearch_version}"


def alertmanager_dir(settings: Settings) -> Path:
    """Where `stack up` renders Alertmanager's config, templates and secret files from the settings."""
    return settings.stack.dir / "alertmanager"


def postgres(s: Settings) -> Service:
    state = s.stack.dir
    return Service(
        name="postgres",
        command=[
            str(s.stack.postgres_bin / "postgres"),
            "-D",
            str(state / "postgres"),
            "-p",
            str(s.database.port),
            "-k",
            str(state / "run"),
            "-c",
            f"listen_addresses={s.database.host}",
        ],
        port=s.database.port,
        port_setting="METAMON_POSTGRES_PORT",
        probe=lambda: probe_database(s.database.maintenance_url, s.api.health_timeout),
        unprivileged=True,
        stopsignal="INT",  # PostgreSQL's "fast" shutdown
    )


def elasticsearch(
    s: Settings, name: str, port: int, data: Path, logs: Path, heap: str, options: list[str]
) -> Service:
    """One Elasticsearch node on `port`; `options` (-E...) make it a single node or a cluster member."""
    url = f"http://127.0.0.1:{port}"
    return Service(
        name=name,
        command=[
            str(elasticsearch_home(s) / "bin" / "elasticsearch"),
            *options,
            "-Expack.security.enabled=false",
            "-Enetwork.host=127.0.0.1",
            f"-Ehttp.port={port}",
            f"-Epath.data={data}",
            f"-Epath.logs={logs}",
        ],
        port=port,
        port_setting="METAMON_ELASTICSEARCH_PORT",
        probe=lambda: probe_elasticsearch(url, s.api.health_timeout, wait_for_status="yellow"),
        unprivileged=True,
        environment={"ES_JAVA_HOME": str(s.stack.java_home), "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}"},
    )


def prometheus(s: Settings, name: str, port: int, config: Path, data: Path) -> Service:
    url = f"http://127.0.0.1:{port}"
    return Service(
        name=name,
        command=[
            "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        port=port,
        port_setting="METAMON_PROMETHEUS_PORT",
        probe=lambda: probe_http_ready(name, url, "/-/ready", s.api.health_timeout),
    )


def alertmanager(s: Settings, name: str, port: int, data: Path, cluster: list[str]) -> Service:
    """One Alertmanager on `port`; `cluster`: its --cluster.* flags."""
    url = f"http://127.0.0.1:{port}"
    return Service(
        name=name,
        command=[
            "/usr/bin/prometheus-alertmanager",
            f"--config.file={alertmanager_dir(s) / ALERTMANAGER_CONFIG}",
            f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            *cluster,
        ],
        port=port,
        port_setting="METAMON_ALERTMANAGER_PORT",
        probe=lambda: probe_http_ready(name, url, "/-/ready", s.api.health_timeout),
    )


def api(s: Settings, name: str, port: int, options: tuple[str, ...] = (), env: dict | None = None) -> Service:
    return Service(
        name=name,
        command=[str(VENV_BIN / "metamon"), "serve", "--port", str(port), *options],
        port=port,
        port_setting="METAMON_API_PORT",
        probe=lambda: probe_http_ready(name, s.api.bind_url(port), "/api/v1/health", s.api.health_timeout),
        environment=env or {},
        app=True,
    )


def exporter(s: Settings, env: dict | None = None) -> Service:
    return Service(
        name="exporter",
        command=[str(VENV_BIN / "metamon"), "exporter", "--port", str(s.exporter.port)],
        port=s.exporter.port,
        port_setting="METAMON_EXPORTER_PORT",
        probe=lambda: probe_http_ready(
            "exporter", s.api.bind_url(s.exporter.port), "/metrics", s.api.health_timeout
        ),
        environment=env or {},
        app=True,
    )


def program(name: str, command: str, env: dict | None = None) -> Service:
    """A metamon program without a port (indexer, worker, scheduler): RUNNING is its health."""
    return Service(
        name=name,
        command=[str(VENV_BIN / "metamon"), command],
        port=None,
        port_setting=None,
        probe=None,
        environment=env or {},
        app=True,
    )


def stack_services(settings: Settings) -> list[Service]:
    """The standard profile: one of each."""
    s, state = settings, settings.stack.dir
    return [
        postgres(s),
        elasticsearch(
            s,
            "elasticsearch",
            s.search.port,
            state / "elasticsearch-data",
            state / "logs" / "elasticsearch",
            s.stack.elasticsearch_heap,
            ["-Ediscovery.type=single-node"],
        ),
        prometheus(
            s, "prometheus", s.alerting.prometheus_port, prometheus_config(s), state / "prometheus-data"
        ),
        alertmanager(
            s,
            "alertmanager",
            s.alerting.alertmanager_port,
            state / "alertmanager-data",
            ["--cluster.listen-address="],  # one local instance: no gossip port
        ),
        api(s, "api", s.api.port),
        exporter(s),
        *(program(name, name) for name in ("indexer", "worker", "scheduler")),
    ]
