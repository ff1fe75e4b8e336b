"""The HA profile's shape, without starting it: ports that never clash between stacks set ten apart,
configs the real HAProxy and promtool accept, and the environment its programs and a shell share."""

import itertools
import subprocess

import yaml

from metamon.monitoring.settings import ENVIRONMENT, Settings
from metamon.monitoring.stack import control
from metamon.monitoring.stack.ha import (
    BALANCER_CONFIG,
    HAPROXY,
    REPLICAS,
    ha_environment,
    ha_ports,
    ha_settings,
    prometheus_config,
    write_ha_configs,
)
from tests.conftest import run_metamon
from tests.paths import CHECKOUT

DEFAULT_PORTS = dict(
    api_port=8000,
    exporter_port=9464,
    postgres_port=5432,
    elasticsearch_port=9200,
    prometheus_port=9090,
    alertmanager_port=9093,
)


def _stack(k: int, tmp_path) -> Settings:
    """Stack number k of a shared machine: every port 10 x k above the defaults."""
    return Settings(
        stack_dir=tmp_path / f"stack{k}",
        config_dir=CHECKOUT,
        **{n: p + 10 * k for n, p in DEFAULT_PORTS.items()},
    )


def _all_ports(settings: Settings) -> list[int]:
    ports = ha_ports(settings)
    standard = [getattr(getattr(settings, ENVIRONMENT[n][0]), ENVIRONMENT[n][1]) for n in DEFAULT_PORTS]
    many = [ports.api, ports.es_http, ports.es_transport, ports.prometheus, ports.alertmanager, ports.gossip]
    return standard + [ports.balancer, ports.exporter, ports.postgres, *itertools.chain(*many)]


def test_ha_ports_of_stacks_ten_apart_never_clash_with_each_other_or_any_standard_stack(tmp_path):
    ports = [p for k in range(10) for p in _all_ports(_stack(k, tmp_path))]
    assert len(ports) == len(set(ports))


def test_the_ha_settings_point_every_client_at_the_ha_stack(tmp_path):
    base = _stack(6, tmp_path)
    ha = ha_settings(base)
    assert ha.stack.dir == base.stack.dir / "ha"
    assert ha.api.public_base_url == "http://127.0.0.1:8061"  # the balancer: links and the webhook
    assert ha.database.url.endswith("@127.0.0.1:5493/metamon")
    assert ha.search.url.split(",") == [f"http://127.0.0.1:{p}" for p in (9261, 9262, 9263)]
    assert (ha.alerting.prometheus_url, ha.alerting.alertmanager_url) == (
        "http://127.0.0.1:9151",
        "http://127.0.0.1:9154",
    )
    assert ha.search.index_replicas == 1
    assert (
        ha.alerting.webhook_token_file == base.alerting.webhook_token_file
    )  # the same token as the webhook's
    _, services = control.profile(base, ha=True)
    for name in ("api-1", "api-2", "exporter", "indexer-1", "indexer-2", "worker-1", "worker-2", "scheduler"):
        (svc,) = [s for s in services if s.name == name]
        assert svc.environment == ha_environment(base)
    names = [s.name for s in services]
    assert len(names) == len(set(names))


def test_stack_env_prints_what_a_shell_exports_to_use_the_ha_stack():
    result = run_metamon("stack", "env", "--ha")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("export METAMON_API_PORT=") for line in lines)
    assert "export METAMON_DATABASE_URL=''" in lines


def test_the_rendered_balancer_and_replica_configs_are_valid_for_haproxy_and_promtool(tmp_path):
    base = _stack(6, tmp_path).model_copy(update={"alerting_profile": "fast"})
    write_ha_configs(base)
    ha = ha_settings(base)
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(ha.stack.dir / BALANCER_CONFIG)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for replica in REPLICAS:
        path = prometheus_config(ha, replica)
        check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        config = yaml.safe_load(path.read_text())
        assert config["global"]["external_labels"]["replica"] == replica
        # Alertmanager must see one alert from both replicas: their label goes before sending.
        assert config["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
        assert config["rule_files"] == [str(CHECKOUT / "prometheus" / "rules" / "fast" / "metamon.rules.yml")]
    targets = yaml.safe_load((ha.stack.dir / "prometheus" / "targets" / "alertmanager.json").read_text())
    assert targets[0]["targets"] == ["127.0.0.1:9154", "127.0.0.1:9155"]  # both replicas send to both peers
