"""The dashboards as code: committed JSON matches the code, every panel has a unit and a description,
the UIDs alerts link to exist, and every panel's query runs against the real Prometheus, PostgreSQL and
Elasticsearch (no Grafana server runs here: Grafana's variables and macros are substituted as it would)."""

import json
import re

import httpx
import psycopg
import yaml
from sqlalchemy import select

from metamon.monitoring.dashboards.render import DASHBOARDS_DIR, rendered, stale
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models import ImprovementImpact, ImprovementProposal, Project, Trace
from metamon.monitoring.db.session import session_scope
from tests.live import exporter, prometheus, wait_for
from tests.paths import CHECKOUT
from tests.populated import PROJECT

RULES = CHECKOUT / "prometheus" / "rules" / "metamon.rules.yml"
# What Grafana puts in for the variables: the seeded project, every app, a rate window.
PROMQL_VARIABLES = {"$project": PROJECT, "$app": ".*", "$__rate_interval": "1m"}


def dashboards() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in rendered().items()}


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def targets(kind: str) -> list[tuple[str, dict]]:
    """(panel title, target) of every target of a datasource type, over all dashboards."""
    return [
        (f"{d['uid']}: {p['title']}", t)
        for d in dashboards().values()
        for p in panels(d)
        for t in p["targets"]
        if t["datasource"]["type"] == kind
    ]


def test_committed_dashboards_match_the_code_and_render_deterministically():
    assert stale(CHECKOUT / DASHBOARDS_DIR) == [], "run `metamon dashboards generate`"
    assert rendered() == rendered()
    for text in rendered().values():
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    assert sorted(p.name for p in (CHECKOUT / DASHBOARDS_DIR).glob("*.json")) == sorted(
        f"{uid}.json" for uid in UIDS.values()
    )


def test_fixed_uids_datasource_variables_and_a_unit_and_description_on_every_panel():
    found = dashboards()
    assert {d["uid"] for d in found.values()} == set(UIDS.values())
    for dashboard in found.values():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert (
            variables["datasource"]["type"] == "datasource"
            and variables["datasource"]["query"] == "prometheus"
        )
        assert {"project", "app"} <= set(variables)
        datasource_variables = {f"${{{n}}}" for n, v in variables.items() if v["type"] == "datasource"}
        for panel in panels(dashboard):
            where = f"{dashboard['uid']}: {panel['title']}"
            assert panel["description"].strip(), where
            assert panel["fieldConfig"]["defaults"].get("unit"), where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in datasource_variables, where
                assert target["refId"], where
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), where


def test_every_alert_links_to_a_dashboard_that_exists():
    rules = yaml.safe_load(RULES.read_text())
    links = {
        rule["annotations"]["dashboard_url"].rsplit("/d/", 1)[1]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert links and links <= set(UIDS.values())


def _promql(expr: str) -> str:
    for variable, value in PROMQL_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


def test_every_prometheus_query_answers_from_the_real_prometheus(settings, populated, live_api, tmp_path):
    # The committed rules, evaluated every second instead of every 15 s.
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    queries = targets("prometheus")
    assert len(queries) > 25
    with exporter(settings.database.url, tmp_path, exporter_cache_seconds="0") as target:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "rules.yml")],
            "scrape_configs": [
                {"job_name": "metamon-exporter", "static_configs": [{"targets": [target]}]},
                # The API's own metrics, once it has served a request.
                {
                    "job_name": "metamon-api",
                    "static_configs": [{"targets": [live_api.removeprefix("http://")]}],
                },
            ],
        }
        assert httpx.get(f"{live_api}/api/v1/health", timeout=30).status_code == 200
        with prometheus(config, tmp_path) as url:
            # Rates need two scrapes; the recording rules one evaluation after that.
            ready = f'project_app:metamon_sla_violations:ratio_rate6h{{project="{PROJECT}"}}'
            assert wait_for(lambda: _query(url, ready)[1], timeout=30), "the recording rules never ran"
            empty = []
            for where, target in queries:
                status, result = _query(url, _promql(target["expr"]))
                assert status == "success", f"{where}: {target['expr']}"
                if not result:
                    empty.append(where)
    # The seeded project has no expert labels: agreement with experts has no value yet. Everything else does.
    assert empty == ["metamon-quality: Agreement with experts"]


def _query(url: str, expr: str) -> tuple[str, list]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    return body["status"], body.get("data", {}).get("result", [])


def _sql(raw: str) -> str:
    raw = raw.replace("'$project'", f"'{PROJECT}'")
    raw = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 > now() - interval '30 days'", raw)
    assert "$" not in raw, raw
    return raw


def _label_a_trace_and_record_an_impact(client, make_key, settings) -> None:
    """What the seeded project lacks for the review and impact panels: an expert label (through the API,
    so it reaches the index too) and a measured rollout stage."""
    headers = make_key(PROJECT, scopes=("review",))
    with session_scope(settings.database.url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == PROJECT))
        trace_id = session.scalar(select(Trace.id).where(Trace.project_id == project_id).limit(1))
        proposal = session.scalar(
            select(ImprovementProposal).where(ImprovementProposal.project_id == project_id)
        )
        session.add(
            ImprovementImpact(
                proposal_id=proposal.id,
                metric="fact_accuracy",
                rollout_percent=10,
                before_value=0.8,
                after_value=0.9,
                p_value=0.01,
                significant=True,
                roi_usd=12.5,
            )
        )
    body = {"trace_id": str(trace_id), "reviewer": "ann", "label": "fail"}
    assert client.post("/api/v1/expert-review/label", json=body, headers=headers).status_code == 200


def test_every_postgresql_query_runs_and_answers(client, make_key, settings, populated):
    _label_a_trace_and_record_an_impact(client, make_key, settings)
    queries = targets("grafana-postgresql-datasource")
    assert len(queries) >= 4
    with psycopg.connect(settings.database.url.replace("postgresql+psycopg", "postgresql")) as conn:
        for where, target in queries:
            rows = conn.execute(_sql(target["rawSql"])).fetchall()
            assert rows, where


def _es_body(target: dict) -> dict:
    """Grafana's Elasticsearch query model as the search Grafana sends: the Lucene query over the time
    range, bucket aggregations nested in order, the metric inside the innermost."""
    aggs: dict = {}
    inner = aggs
    for bucket in target["bucketAggs"]:
        if bucket["type"] == "terms":
            agg = {"terms": {"field": bucket["field"], "size": 10}}
        else:
            agg = {"date_histogram": {"field": bucket["field"], "fixed_interval": "1m", "min_doc_count": 0}}
        inner[bucket["id"]] = agg
        inner = agg.setdefault("aggs", {})
    assert [m["type"] for m in target["metrics"]] == ["count"]  # doc_count: nothing to add
    time_range = {"range": {target["timeField"]: {"gte": "now-30d", "lte": "now"}}}
    query = {"bool": {"filter": [time_range, {"query_string": {"query": target["query"]}}]}}
    return {"size": 0, "query": query, "aggs": aggs}


def test_every_elasticsearch_query_runs_and_answers(client, make_key, settings, es, drain, populated):
    _label_a_trace_and_record_an_impact(client, make_key, settings)
    drain()
    queries = targets("elasticsearch")
    assert len(queries) >= 2
    for where, target in queries:
        result = es.search(index=settings.search.traces_index_alias, **_es_body(target))
        first = next(iter(result["aggregations"].values()))
        assert first["buckets"], where
        assert result["hits"]["total"]["value"] > 0, where
