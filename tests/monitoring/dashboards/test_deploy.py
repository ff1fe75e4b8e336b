"""`metamon grafana deploy` without a Grafana server (none can run here): the objects it would send are
the provisioned files, and bad arguments or an unreachable Grafana end in one plain line."""

import json

import pytest
import yaml

from metamon.monitoring.dashboards.actions import API_DATASOURCE_UID
from metamon.monitoring.dashboards.deploy import (
    DeployError,
    expand,
    grafana_message,
    plan,
    same_dashboard,
    same_datasource,
)
from metamon.monitoring.dashboards.panels import DEFAULT_UIDS
from tests.conftest import free_port, run_metamon
from tests.paths import CHECKOUT

PROVISIONING = CHECKOUT / "grafana" / "provisioning"
SECRET = {"METAMON_GRAFANA_DB_PASSWORD": "s3cret", "METAMON_GRAFANA_API_KEY": "mm_actions"}


def test_the_datasources_sent_are_the_provisioned_ones_with_the_environment_expanded():
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "metamon.yml").read_text())["datasources"]
    env = SECRET | {"METAMON_PROMETHEUS_URL": "http://prom.internal:9090", "METAMON_POSTGRES_DB": "prod"}
    sent = plan(CHECKOUT, env).datasources
    assert [s["uid"] for s in sent] == [p["uid"] for p in provisioned]
    # The dashboards' datasource variables default to these uids; the actions go through the API's.
    assert {s["uid"] for s in sent} == set(DEFAULT_UIDS.values()) | {API_DATASOURCE_UID}
    by_uid = {s["uid"]: s for s in sent}
    for source in provisioned:
        assert by_uid[source["uid"]].keys() == source.keys() - {"orgId", "version", "editable"}
        assert (by_uid[source["uid"]]["type"], by_uid[source["uid"]]["name"]) == (
            source["type"],
            source["name"],
        )
    assert by_uid["metamon-prometheus"]["url"] == "http://prom.internal:9090"
    assert by_uid["metamon-postgres"]["jsonData"]["database"] == "prod"
    assert by_uid["metamon-postgres"]["secureJsonData"] == {"password": "s3cret"}
    # Unset, a variable's default in the file applies, as Grafana's provisioning does.
    assert plan(CHECKOUT, SECRET).datasources[0]["url"] == "http://prometheus:9090"
    assert "$" not in json.dumps(plan(CHECKOUT, SECRET).datasources)


def test_the_dashboards_and_folder_sent_are_the_provisioned_ones():
    target = plan(CHECKOUT, SECRET)
    committed = {
        json.loads(p.read_text())["uid"]: json.loads(p.read_text())
        for p in (CHECKOUT / "grafana" / "dashboards").glob("*.json")
    }
    assert target.dashboards == committed
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "metamon.yml").read_text())["providers"]
    assert target.folder_title == providers[0]["folder"] and target.folder_uid == "metamon"


def test_an_unset_secret_is_refused_before_anything_is_sent():
    with pytest.raises(DeployError, match="METAMON_GRAFANA_DB_PASSWORD"):
        plan(CHECKOUT, {})


def test_grafana_style_expansion():
    unset: set[str] = set()
    value = {"a": "${X:-x}/$Y/${Z}/$$literal", "n": 3}
    assert expand(value, {"Y": "y"}, unset) == {"a": "x/y//$literal", "n": 3}
    assert unset == {"Z"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--url", "http://g:3000"], "exactly one of --token and --basic-auth"),
        (["--url", "http://g:3000", "--token", "t", "--basic-auth", "a:b"], "exactly one of"),
        (["--url", "http://g:3000", "--basic-auth", "admin"], "USER:PASSWORD"),
        (["--url", "grafana:3000", "--token", "t"], "is not an http(s) URL"),
    ],
)
def test_argument_errors_exit_2_with_a_plain_message(args, message):
    result = run_metamon("grafana", "deploy", *args, env={"GRAFANA_TOKEN": ""} | SECRET)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())


def test_an_unreachable_grafana_is_one_line_naming_it():
    url = f"http://127.0.0.1:{free_port()}"
    result = run_metamon("grafana", "deploy", "--url", url, "--token", "t", env=SECRET)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot reach Grafana at {url}: ConnectionError"


def test_a_missing_secret_is_one_line_naming_it():
    result = run_metamon(
        "grafana", "deploy", "--url", "http://g:3000", "--token", "t", env={"GRAFANA_TOKEN": ""}
    )
    assert result.returncode == 2
    assert "needs METAMON_GRAFANA_DB_PASSWORD set" in result.stderr


def test_what_grafana_already_holds_is_left_alone_and_any_difference_is_updated():
    """The comparisons deploy makes on Grafana's answers (shapes from Grafana's HTTP API documentation:
    saved dashboards gain id and version, datasources return which secrets are set, never the secret)."""
    target = plan(CHECKOUT, SECRET)
    dashboard = target.dashboards["metamon-overview"]
    saved = {"dashboard": {**dashboard, "id": 7, "version": 3}, "meta": {"folderUid": target.folder_uid}}
    assert same_dashboard(saved, dashboard, target.folder_uid)
    assert not same_dashboard(saved, {**dashboard, "title": "renamed"}, target.folder_uid)
    assert not same_dashboard({**saved, "meta": {"folderUid": "general"}}, dashboard, target.folder_uid)
    source = next(s for s in target.datasources if "secureJsonData" in s)
    stored = {k: v for k, v in source.items() if k != "secureJsonData"} | {
        "id": 2,
        "orgId": 1,
        "readOnly": False,
    }
    assert same_datasource(stored | {"secureJsonFields": {"password": True}}, source)
    assert not same_datasource(stored, source)  # its password was never stored
    assert not same_datasource(stored | {"secureJsonFields": {"password": True}, "url": "x:1"}, source)


def test_grafanas_refusals_read_as_one_line():
    from grafana_client.client import GrafanaBadInputError, GrafanaClientError

    forbidden = GrafanaClientError(
        403, {"message": "Permission denied"}, "Client Error 403: Permission denied"
    )
    assert grafana_message(forbidden) == "Grafana answered 403: Permission denied"
    assert grafana_message(GrafanaBadInputError("bad dashboard")) == "Grafana answered 400: bad dashboard"
