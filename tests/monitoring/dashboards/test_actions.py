"""The dashboards' actions and links reach metamon's API: every action is a POST route of the API sent
through the provisioned Infinity datasource (no key, no CORS in a browser), every API link is a GET
route or an operation of the API docs, and each action, as Grafana sends it for a row, does what it
says on a project of its own."""

import json
import re
import uuid
from datetime import UTC, datetime

import yaml
from sqlalchemy import select

from metamon.monitoring.api.main import create_app
from metamon.monitoring.dashboards.actions import (
    API,
    API_DATASOURCE_UID,
    API_SERVER,
    API_SERVER_DEFAULT,
    GRAFANA_USER,
)
from metamon.monitoring.db.models import ImprovementProposal, MonitoringAlert, Project, Trace
from metamon.monitoring.db.session import session_scope
from tests.monitoring.dashboards.test_dashboards import dashboards, panels
from tests.paths import CHECKOUT

DATASOURCES = CHECKOUT / "grafana" / "provisioning" / "datasources" / "metamon.yml"
COMPOSE = CHECKOUT / "docker-compose.complete.yml"
FIELD = re.compile(r"\$\{__data\.fields\.([a-z_ ]+)\}")
APP = create_app()
OPENAPI = APP.openapi()


def _overrides(kind: str) -> list[tuple[str, str, dict]]:
    """(dashboard uid, panel SQL or query, item) of every action or link set on a table column."""
    found = []
    for dashboard in dashboards().values():
        for panel in panels(dashboard):
            query = json.dumps([panel["targets"], panel.get("transformations", [])])  # what the rows hold
            for override in panel["fieldConfig"]["overrides"]:
                for prop in override["properties"]:
                    if prop["id"] == kind:
                        found += [(dashboard["uid"], query, item) for item in prop["value"]]
    return found


def _route(url: str, method: str) -> str:
    """The OpenAPI path template a concrete URL with row fields in it stands for."""
    path = FIELD.sub("{x}", url.split("?")[0])
    for template, operations in OPENAPI["paths"].items():
        if method in operations and re.fullmatch(re.sub(r"\{[^}]+\}", r"\\{x\\}", template), path):
            return template
    raise AssertionError(f"{method.upper()} {url} is no route of the API")


def test_every_action_is_an_api_post_through_the_provisioned_infinity_datasource():
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    infinity = next(d for d in provisioned if d["uid"] == API_DATASOURCE_UID)
    assert infinity["type"] == "yesoreyeram-infinity-datasource"
    assert "bearerToken" in infinity["secureJsonData"]  # the key stays on Grafana's server
    # The one host it may call is where the actions go, in compose too, with the toggle actions need.
    assert infinity["jsonData"]["allowedHosts"] == ["${METAMON_API_URL:-" + API_SERVER_DEFAULT + "}"]
    grafana = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]["environment"]
    assert grafana["METAMON_API_URL"] == API_SERVER_DEFAULT
    assert "vizActionsAuth" in grafana["GF_FEATURE_TOGGLES_ENABLE"].split(",")
    actions = _overrides("actions")
    assert len(actions) >= 9
    for uid, query, action in actions:
        where = f"{uid}: {action['title']}"
        assert action["type"] == "infinity" and action["confirmation"], where
        request = action["infinity"]
        assert request["datasourceUid"] == API_DATASOURCE_UID and request["method"] == "POST", where
        assert not any(h[0].lower() == "authorization" for h in request["headers"]), where
        assert request["url"].startswith(f"{API_SERVER}/"), where  # Grafana wants it absolute
        _route(request["url"].removeprefix(API_SERVER), "post")
        json.loads(request["body"])
        for name in FIELD.findall(request["url"] + request["body"]):
            assert re.search(rf"\b{name}\b", query), f"{where}: the row has no column {name}"


def test_every_api_link_is_a_get_route_or_an_operation_of_the_api_docs():
    operations = {
        op["operationId"]: op["tags"][0] for ops in OPENAPI["paths"].values() for op in ops.values()
    }
    links = _overrides("links")
    assert len(links) >= 8
    assert sum(f"{APP.docs_url}#/" in link["url"] for _, _, link in links) >= 5
    for uid, query, link in links:
        url = link["url"]
        if url.startswith(f"{API}{APP.docs_url}#/"):
            tag, operation = url.removeprefix(f"{API}{APP.docs_url}#/").split("/")
            assert operations.get(operation) == tag, f"{uid}: {url}"
        elif url.startswith(f"{API}/"):
            _route(url.removeprefix(API), "get")
        for name in FIELD.findall(url):
            assert re.search(rf"\b{name}\b", query), f"{uid}: {url}: the row has no column {name}"


def _as_grafana_sends(action: dict, row: dict[str, str], asked: dict[str, str]) -> tuple[str, dict]:
    """The request of an action for one row: its fields, the viewer's login, the values it asked for."""
    request = action["infinity"]

    def fill(text: str) -> str:
        text = FIELD.sub(lambda m: row[m.group(1)], text).replace(GRAFANA_USER, "grafana-viewer")
        for key, value in asked.items():  # as Grafana does: `$key`, for the action's own variables
            assert key in {v["key"] for v in action.get("variables", [])}, key
            text = re.sub(rf"\${key}\b", value, text)
        return text

    url, body = fill(request["url"]).removeprefix(API_SERVER), fill(request["body"])
    assert "$" not in url + body, (url, body)
    return url, json.loads(body)


def _actions(uid: str) -> dict[str, dict]:
    return {a["title"]: a for u, _, a in _overrides("actions") if u == uid}


def test_each_action_does_what_it_says(client, make_key, settings):
    project = f"dash-actions-{uuid.uuid4().hex[:6]}"
    headers = make_key(project, scopes=("read", "review", "admin"))  # what the provisioning is told to give
    trace = {"id": "t-1", "app": "support-bot", "input": "How long do refunds take?", "output": "30 days."}
    ingest = make_key(project, scopes=("ingest",))
    assert client.post("/api/v1/traces", json={"traces": [trace]}, headers=ingest).status_code == 200
    with session_scope(settings.database.url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == project))
        alert = MonitoringAlert(
            project_id=project_id,
            fingerprint=f"{project}-fp",
            alertname="MetamonFactAccuracyLow",
            severity="critical",
            starts_at=datetime.now(UTC),
            labels={"project": project, "app": "support-bot"},
            annotations={"summary": "low"},
        )
        proposal = ImprovementProposal(
            project_id=project_id,
            proposal_type="rollback_prompt_version",
            title="Roll back",
            root_cause_key=f"{project}|fact_accuracy",
        )
        session.add_all([alert, proposal])
        session.flush()
        alert_row, proposal_row = {"id": str(alert.id)}, {"id": str(proposal.id)}
        trace_row = {"trace_id": str(session.scalar(select(Trace.id).where(Trace.project_id == project_id)))}

    def send(action: dict, row: dict, asked: dict | None = None):
        url, body = _as_grafana_sends(action, row, asked or {})
        return client.post(url, json=body, headers=headers)

    alerts = _actions("metamon-alerts")
    response = send(alerts["Acknowledge"], alert_row)
    assert response.status_code == 200 and response.json()["acknowledged_by"] == "grafana-viewer"
    response = send(alerts["Resolve"], alert_row)
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    assert send(alerts["Evaluate now"], alert_row).status_code == 200
    assert client.get(f"/api/v1/alerts/{alert.id}", headers=headers).json()["status"] == "resolved"

    proposals = _actions("metamon-proposals")
    # A pending proposal can be rejected, not approved (it was never validated), nor rolled out.
    assert send(proposals["Approve"], proposal_row, {"comment": "looks right"}).status_code == 409
    assert send(proposals["Roll out (next stage)"], proposal_row).status_code == 409
    assert send(proposals["Roll back"], proposal_row, {"reason": "worse"}).status_code == 409
    response = send(proposals["Reject"], proposal_row, {"comment": "not now"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected" and response.json()["reviewer"] == "grafana-viewer"
    # A rejected proposal is not validated again.
    assert send(proposals["Validate"], proposal_row).status_code == 409

    traces = _actions("metamon-traces")
    response = send(traces["Label fail"], trace_row, {"notes": "wrong refund period"})
    assert response.status_code == 200, response.text
    assert response.json()["reviewer"] == "grafana-viewer" and response.json()["label"] == "fail"
    response = send(traces["Promote to the golden set"], trace_row, {"expected_answer": "30 days."})
    assert response.status_code == 200, response.text
