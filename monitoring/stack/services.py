"""What each service of the local stack runs, where it listens and how its health is probed."""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metamon.monitoring.alerting.alertmanager_config import CONFIG_NAME as ALERTMANAGER_CONFIG
from metamon.monitoring.probes import ProbeResult, probe_database, probe_elasticsearch, probe_http_ready
from metamon.monitoring.settings import Settings
from metamon.monitoring.stack.targets import prometheus_config


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


def elasticsearch_home(settings: Settings) -> Path:
    return settings.stack.dir / f"elasticsearch-{settings.stack.elasticsearch_version}"


def alertmanager_dir(settings: Settings) -> Path:
    """Where `stack up` renders Alertmanager's config, templates and secret files from the settings."""
    return settings.stack.dir / "alertmanager"


def stack_services(settings: Settings) -> list[Service]:
    s, state, timeout = settings, settings.stack.dir, settings.api.health_timeout
    venv_bin = Path(sys.executable).parent
    return [
        Service(
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
            probe=lambda: probe_database(s.database.maintenance_url, timeout),
            unprivileged=True,
            stopsignal="INT",  # PostgreSQL's "fast" shutdown
        ),
        Service(
            name="elasticsearch",
            command=[
                str(elasticsearch_home(s) / "bin" / "elasticsearch"),
                "-Ediscovery.type=single-node",
                "-Expack.security.enabled=false",
                "-Enetwork.host=127.0.0.1",
                f"-Ehttp.port={s.search.port}",
                f"-Epath.data={state / 'elasticsearch-data'}",
                f"-Epath.logs={state / 'logs' / 'elasticsearch'}",
            ],
            port=s.search.port,
            port_setting="METAMON_ELASTICSEARCH_PORT",
            probe=lambda: probe_elasticsearch(s.search.url, timeout, wait_for_status="yellow"),
            unprivileged=True,
            environment={
                "ES_JAVA_HOME": str(s.stack.java_home),
                "ES_JAVA_OPTS": f"-Xms{s.stack.elasticsearch_heap} -Xmx{s.stack.elasticsearch_heap}",
            },
        ),
        Service(
            name="prometheus",
            command=[
                "/usr/bin/prometheus",
                f"--config.file={prometheus_config(s)}",
                f"--storage.tsdb.path={state / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{s.alerting.prometheus_port}",
                "--web.enable-lifecycle",
            ],
            port=s.alerting.prometheus_port,
            port_setting="METAMON_PROMETHEUS_PORT",
            probe=lambda: probe_http_ready("prometheus", s.alerting.prometheus_url, "/-/ready", timeout),
        ),
        Service(
            name="alertmanager",
            command=[
                "/usr/bin/prometheus-alertmanager",
                f"--config.file={alertmanager_dir(s) / ALERTMANAGER_CONFIG}",
                f"--storage.path={state / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{s.alerting.alertmanager_port}",
                "--cluster.listen-address=",  # one local instance: no gossip port
            ],
            port=s.alerting.alertmanager_port,
            port_setting="METAMON_ALERTMANAGER_PORT",
            probe=lambda: probe_http_ready("alertmanager", s.alerting.alertmanager_url, "/-/ready", timeout),
        ),
        Service(
            name="api",
            command=[str(venv_bin / "metamon"), "serve", "--port", str(s.api.port)],
            port=s.api.port,
            port_setting="METAMON_API_PORT",
            probe=lambda: probe_http_ready(
                "api", f"http://{s.api.host}:{s.api.port}", "/api/v1/health", timeout
            ),
        ),
        Service(
            name="exporter",
            command=[str(venv_bin / "metamon"), "exporter", "--port", str(s.exporter.port)],
            port=s.exporter.port,
            port_setting="METAMON_EXPORTER_PORT",
            probe=lambda: probe_http_ready(
                "exporter", f"http://{s.api.host}:{s.exporter.port}", "/metrics", timeout
            ),
        ),
        Service(
            name="indexer",
            command=[str(venv_bin / "metamon"), "indexer"],
            port=None,
            port_setting=None,
            probe=None,
        ),
        Service(
            name="worker",
            command=[str(venv_bin / "metamon"), "worker"],
            port=None,
            port_setting=None,
            probe=None,
        ),
        Service(
            name="scheduler",
            command=[str(venv_bin / "metamon"), "scheduler"],
            port=None,
            port_setting=None,
            probe=None,
        ),
    ]


# Started after the infrastructure is healthy: they need the database and the index.
APP_SERVICES = ("api", "exporter", "indexer", "worker", "scheduler")
