"""The HA profile of the local stack (`metamon stack up --ha`): two Prometheus replicas, a two-peer
Alertmanager cluster, two API processes behind HAProxy, two indexers and two workers, a three-node
Elasticsearch cluster with a replica of every shard, all on loopback.

It runs beside the standard stack, in `<stack_dir>/ha` with its own PostgreSQL, on ports derived from
the standard ones: each standard port opens a block of ten that belongs to this stack (stacks sharing a
machine set their ports ten apart), and the HA ports are the next ones in each block.
"""

from dataclasses import dataclass
from pathlib import Path

from metamon.monitoring.probes import probe_http_ready
from metamon.monitoring.settings import ENVIRONMENT, Settings
from metamon.monitoring.stack import services as svc
from metamon.monitoring.stack.services import Service
from metamon.monitoring.stack.targets import (
    render_prometheus_config,
    write_prometheus_targets,
    write_rendered,
)

HA_DIR = "ha"
CLUSTER = "metamon-ha"
REPLICAS = ("a", "b")  # the Prometheus replicas' `replica` external label
ES_NODES = ("es-1", "es-2", "es-3")
BALANCER_CONFIG = "haproxy.cfg"
HAPROXY = "/usr/sbin/haproxy"


@dataclass(frozen=True)
class HaPorts:
    balancer: int
    api: tuple[int, ...]
    exporter: int
    postgres: int
    es_http: tuple[int, ...]
    es_transport: tuple[int, ...]
    prometheus: tuple[int, ...]
    alertmanager: tuple[int, ...]
    gossip: tuple[int, ...]


def ha_ports(base: Settings) -> HaPorts:
    am, es = base.alerting.alertmanager_port, base.search.port
    return HaPorts(
        balancer=base.api.port + 1,
        api=(base.api.port + 2, base.api.port + 3),
        exporter=base.exporter.port + 1,
        postgres=base.database.port + 1,
        es_http=(es + 1, es + 2, es + 3),
        es_transport=(es + 4, es + 5, es + 6),
        # Prometheus's block holds Alertmanager's port (+3 by default): the replicas take +1 and +2.
        prometheus=(base.alerting.prometheus_port + 1, base.alerting.prometheus_port + 2),
        alertmanager=(am + 1, am + 2),
        gossip=(am + 3, am + 4),
    )


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def ha_environment(base: Settings) -> dict[str, str]:
    """The METAMON_* variables of the HA stack: its programs run with them, and a shell that exports
    them (`metamon stack env --ha`) talks to the HA stack."""
    ports = ha_ports(base)
    return {
        "METAMON_STACK_DIR": str(base.stack.dir / HA_DIR),
        # Clients, links and Alertmanager's webhook go through the balancer.
        "METAMON_API_PORT": str(ports.balancer),
        "METAMON_EXPORTER_PORT": str(ports.exporter),
        "METAMON_POSTGRES_PORT": str(ports.postgres),
        "METAMON_DATABASE_URL": "",  # derived from the port above
        "METAMON_ELASTICSEARCH_URL": ",".join(_url(port) for port in ports.es_http),
        "METAMON_PROMETHEUS_URL": _url(ports.prometheus[0]),
        "METAMON_ALERTMANAGER_URL": _url(ports.alertmanager[0]),
        "METAMON_INDEX_REPLICAS": str(max(base.search.index_replicas, 1)),
        "METAMON_ALERT_WEBHOOK_TOKEN_FILE": str(base.alerting.webhook_token_file),
    }


def ha_settings(base: Settings) -> Settings:
    """The settings the HA stack's programs read: `base` with the HA environment applied."""
    data = base.model_dump()
    for name, value in ha_environment(base).items():
        group, field = ENVIRONMENT[name.removeprefix("METAMON_").lower()]
        (data[group] if group else data)[field] = value
    return Settings.model_validate(data)  # validated again: what derives from the ports follows them


def ha_services(base: Settings) -> list[Service]:
    s, ports, env = ha_settings(base), ha_ports(base), ha_environment(base)
    state = s.stack.dir
    seeds = ",".join(f"127.0.0.1:{port}" for port in ports.es_transport)
    nodes = [
        svc.elasticsearch(
            s,
            f"elasticsearch-{i + 1}",
            http,
            state / "elasticsearch-data" / node,
            state / "logs" / "elasticsearch" / node,
            s.stack.ha_elasticsearch_heap,
            [
                f"-Ecluster.name={CLUSTER}",
                f"-Enode.name={node}",
                f"-Etransport.port={transport}",
                f"-Ediscovery.seed_hosts={seeds}",
                # Read at the cluster's first start only: the three nodes elect the first master.
                f"-Ecluster.initial_master_nodes={','.join(ES_NODES)}",
                "-Enode.processors=1",  # three JVMs share the machine's cores
            ],
        )
        for i, (node, http, transport) in enumerate(
            zip(ES_NODES, ports.es_http, ports.es_transport, strict=True)
        )
    ]
    replicas = [
        svc.prometheus(
            s,
            f"prometheus-{replica}",
            port,
            prometheus_config(s, replica),
            state / "prometheus-data" / replica,
        )
        for replica, port in zip(REPLICAS, ports.prometheus, strict=True)
    ]
    peers = [
        svc.alertmanager(
            s,
            f"alertmanager-{i + 1}",
            port,
            state / "alertmanager-data" / str(i + 1),
            [
                f"--cluster.listen-address=127.0.0.1:{gossip}",
                f"--cluster.advertise-address=127.0.0.1:{gossip}",
                *(f"--cluster.peer=127.0.0.1:{other}" for other in ports.gossip if other != gossip),
            ],
        )
        for i, (port, gossip) in enumerate(zip(ports.alertmanager, ports.gossip, strict=True))
    ]
    # One uvicorn worker per API process: the balancer spreads requests over processes.
    apis = [svc.api(s, f"api-{i + 1}", port, ("--workers", "1"), env) for i, port in enumerate(ports.api)]
    return [
        svc.postgres(s),
        *nodes,
        *replicas,
        *peers,
        *apis,
        balancer(s, ports.balancer),
        svc.exporter(s, env),
        *(svc.program(f"{name}-{i}", name, env) for name in ("indexer", "worker") for i in (1, 2)),
        # One scheduler: it fires each job once (its job store is in PostgreSQL, its lock is not shared).
        svc.program("scheduler", "scheduler", env),
    ]


def balancer(s: Settings, port: int) -> Service:
    return Service(
        name="balancer",
        command=[HAPROXY, "-db", "-f", str(s.stack.dir / BALANCER_CONFIG)],
        port=port,
        port_setting="METAMON_API_PORT",
        probe=lambda: probe_http_ready("balancer", _url(port), "/api/v1/health/ready", s.api.health_timeout),
        app=True,  # after the API processes, which its health goes through
    )


def prometheus_config(s: Settings, replica: str) -> Path:
    return s.stack.dir / "prometheus" / f"prometheus-{replica}.yml"


def write_ha_configs(base: Settings) -> None:
    """What the replicas and the balancer read, from the settings."""
    s, ports = ha_settings(base), ha_ports(base)
    targets = s.stack.dir / "prometheus" / "targets"
    write_prometheus_targets(
        targets,
        {
            "prometheus": list(ports.prometheus),
            "alertmanager": list(ports.alertmanager),
            "metamon-api": list(ports.api),  # each process, not the balancer: their metrics differ
            "metamon-exporter": [ports.exporter],
        },
    )
    for replica in REPLICAS:
        config = render_prometheus_config(s, targets, {"replica": replica})
        # Both replicas send the same alerts: without their `replica` label, Alertmanager sees one.
        config["alerting"]["alert_relabel_configs"] = [{"action": "labeldrop", "regex": "replica"}]
        write_rendered(prometheus_config(s, replica), config)
    for i in range(len(ports.alertmanager)):
        (s.stack.dir / "alertmanager-data" / str(i + 1)).mkdir(parents=True, exist_ok=True)
    (s.stack.dir / BALANCER_CONFIG).write_text(haproxy_config(ports))


def haproxy_config(ports: HaPorts) -> str:
    servers = "\n".join(f"    server api-{i + 1} 127.0.0.1:{port}" for i, port in enumerate(ports.api))
    return f"""# Rendered by `metamon stack up --ha`: HAProxy in front of the API processes.
global
    maxconn 4000
    log stdout format raw local0 notice

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 65s
    timeout server 65s
    timeout http-request 10s
    timeout check 3s

frontend api
    bind 127.0.0.1:{ports.balancer}
    default_backend api

backend api
    balance leastconn
    # Readiness: a process whose database is unreachable takes no requests; one that died is out after
    # two failed checks (and its refused connections go elsewhere at once).
    option httpchk GET /api/v1/health/ready
    http-check expect status 200
    default-server check inter 2s fastinter 500ms fall 2 rise 2
    # Retries where safe: a request that never reached a process (connection refused or failed) goes to
    # another; a GET that got no answer is sent again. Other methods are not repeated here: the client
    # retries them (the SDK's shipper does, and ingest is idempotent per trace id).
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    http-request disable-l7-retry if !METH_GET
{servers}
"""
