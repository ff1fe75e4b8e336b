"""The Helm chart: `helm lint` and `helm template` with the default and the HA values, and the rendered
manifests read back: kinds, probes, labels, referenced secrets, and the alert rules and dashboards equal
to the generated files."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from metamon.monitoring.dashboards.actions import API_DATASOURCE_UID, API_SERVER_DEFAULT
from tests.paths import CHECKOUT

CHART = CHECKOUT / "deploy" / "helm" / "metamon"
HA_VALUES = CHART / "ci" / "ha-values.yaml"
WORKERS = ("indexer", "worker", "scheduler")
# helm renders for an old Kubernetes unless told; the chart needs 1.25 or later.
KUBE_VERSION = "--kube-version=1.31.0"


def _helm() -> str:
    found = os.environ.get("METAMON_HELM") or shutil.which("helm")
    gobin = Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "helm"
    if not found and gobin.exists():
        found = str(gobin)
    if not found:
        pytest.fail("helm is not installed: run `bash deploy/helm/install-helm.sh` (builds it with go)")
    return found


def _run(*args: str) -> str:
    result = subprocess.run([_helm(), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _render(*values: Path) -> dict[tuple[str, str], dict]:
    args = ["--namespace", "llm", KUBE_VERSION, *[f"--values={v}" for v in values]]
    text = _run("template", "metamon", str(CHART), *args)
    docs = [d for d in yaml.safe_load_all(text) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module", params=["default", "ha"])
def rendered(request) -> dict[tuple[str, str], dict]:
    return _render(*([HA_VALUES] if request.param == "ha" else []))


@pytest.mark.parametrize("values", [[], [HA_VALUES]], ids=["default", "ha"])
def test_helm_lint_passes(values):
    output = _run("lint", "--strict", KUBE_VERSION, str(CHART), *[f"--values={v}" for v in values])
    assert "0 chart(s) failed" in output


def test_every_component_is_a_deployment_with_resources_and_a_non_root_pod(rendered):
    names = {name for kind, name in rendered if kind == "Deployment"}
    assert names == {f"metamon-{c}" for c in ("api", "exporter", *WORKERS)}
    for name in names:
        pod = rendered["Deployment", name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = {e["name"]: e for e in container["env"]}
        # Secrets come from existing Secrets, never from values.
        assert env["METAMON_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "metamon-database"
        assert env["METAMON_ALERT_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "metamon-webhook"
    assert not [key for key in rendered if key[0] == "Secret"]


def test_the_api_and_exporter_have_probes_on_their_ports_and_services(rendered):
    for component, port in (("api", "http"), ("exporter", "metrics")):
        pod = rendered["Deployment", f"metamon-{component}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] == port
        service = rendered["Service", f"metamon-{component}"]
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == component
    (api,) = rendered["Deployment", "metamon-api"]["spec"]["template"]["spec"]["containers"]
    assert api["args"][:3] == ["serve", "--host", "0.0.0.0"]


def test_the_api_scales_with_a_horizontal_pod_autoscaler_and_a_disruption_budget(rendered):
    hpa = rendered["HorizontalPodAutoscaler", "metamon-api"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "metamon-api" and hpa["maxReplicas"] > hpa["minReplicas"]
    assert "replicas" not in rendered["Deployment", "metamon-api"]["spec"]  # the HPA owns it
    assert rendered["PodDisruptionBudget", "metamon-api"]["spec"]["minAvailable"] >= 1


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(rendered):
    job = rendered["Job", "metamon-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]


def test_service_monitors_select_the_exporter_and_the_api(rendered):
    for component in ("exporter", "api"):
        monitor = rendered["ServiceMonitor", f"metamon-{component}"]["spec"]
        service = rendered["Service", f"metamon-{component}"]
        selector = monitor["selector"]["matchLabels"]
        assert selector.items() <= service["spec"]["selector"].items()
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert [e["port"] for e in monitor["endpoints"]] == [next(iter(port_names))]


def test_the_prometheus_rule_is_the_generated_rule_file(rendered):
    committed = yaml.safe_load((CHECKOUT / "prometheus" / "rules" / "metamon.rules.yml").read_text())
    assert rendered["PrometheusRule", "metamon"]["spec"] == committed


def test_the_alertmanager_config_routes_metamon_alerts_to_the_webhook_with_the_token(rendered):
    spec = rendered["AlertmanagerConfig", "metamon"]["spec"]
    (receiver,) = spec["receivers"]
    (webhook,) = receiver["webhookConfigs"]
    assert webhook["url"] == "http://metamon-api.llm.svc:8000/api/v1/alerts/webhook"
    assert webhook["httpConfig"]["authorization"]["credentials"]["name"] == "metamon-webhook"
    assert spec["route"]["receiver"] == receiver["name"]


API_SERVICE = "http://metamon-api.llm.svc:8000"


def test_each_dashboard_is_a_config_map_for_the_grafana_sidecar_equal_to_the_generated_json(rendered):
    """The same dashboards, their actions sent to the API's Service instead of compose's host."""
    maps = {n: doc for (kind, n), doc in rendered.items() if kind == "ConfigMap" and "dashboard" in n}
    files = sorted((CHECKOUT / "grafana" / "dashboards").glob("*.json"))
    assert len(maps) == len(files)
    for path in files:
        (doc,) = [d for d in maps.values() if path.name in d["data"]]
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        generated = path.read_text().replace(f'"{API_SERVER_DEFAULT}"', f'"{API_SERVICE}"')
        assert json.loads(doc["data"][path.name]) == json.loads(generated)
        variables = {v["name"]: v for v in json.loads(doc["data"][path.name])["templating"]["list"]}
        assert variables["api_server_url"]["query"] == API_SERVICE


def test_the_actions_datasource_is_the_provisioned_one_allowed_only_the_api_service(rendered):
    provisioned = yaml.safe_load(
        (CHECKOUT / "grafana" / "provisioning" / "datasources" / "metamon.yml").read_text()
    )
    expected = next(d for d in provisioned["datasources"] if d["uid"] == API_DATASOURCE_UID)
    doc = rendered["ConfigMap", "metamon-grafana-datasource"]
    assert doc["metadata"]["labels"]["grafana_datasource"] == "1"
    (datasource,) = yaml.safe_load(doc["data"]["metamon-api.yaml"])["datasources"]
    assert datasource["jsonData"]["allowedHosts"] == [API_SERVICE]
    assert datasource["secureJsonData"] == {"bearerToken": "$METAMON_GRAFANA_API_KEY"}  # from Grafana's env
    for key in ("name", "uid", "type"):
        assert datasource[key] == expected[key]
    assert datasource["jsonData"]["auth_method"] == expected["jsonData"]["auth_method"]


def test_the_ha_values_run_several_of_each_and_spread_the_api():
    ha = _render(HA_VALUES)
    assert ha["HorizontalPodAutoscaler", "metamon-api"]["spec"]["minReplicas"] == 3
    for name in WORKERS:
        assert ha["Deployment", f"metamon-{name}"]["spec"]["replicas"] >= 2
    spread = ha["Deployment", "metamon-api"]["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert ha["ConfigMap", "metamon-config"]["data"]["METAMON_INDEX_REPLICAS"] == "1"
