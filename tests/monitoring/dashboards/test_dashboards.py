"""The dashboards as code: committed JSON matches the code, every panel has a unit and a description,
the UIDs alerts link to exist, and every panel's query runs against the real Prometheus, PostgreSQL and
Elasticsearch (no Grafana server runs here: Grafana's variables and macros are substituted as it would)."""

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import yaml
from sqlalchemy import select

from metamon.monitoring.dashboards import review
from metamon.monitoring.dashboards.render import DASHBOARDS_DIR, rendered, stale
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models import (
    ImprovementImpact,
    ImprovementProposal,
    MonitoringAlert,
    Project,
    Trace,
)
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.review.agreement import cohens_kappa
from metamon.monitoring.scheduler.runner import claim, finish
from metamon.monitoring.workflow.audit import record
from tests.live import RULES, dashboards_prometheus
from tests.paths import CHECKOUT
from tests.populated import PROJECT

# What Grafana puts in for the variables: the seeded project, every app, a rate window.
PROMQL_VARIABLES = {"$project": PROJECT, "$app": ".*", "$__rate_interval": "1m"}


def dashboards() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in rendered().items()}


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def targets(kind: str) -> list[tuple[str, dict]]:
    """(panel title, target) of every target of a datasource type, over all dashboards, with the
    annotation queries'."""
    found = [
        (f"{d['uid']}: {p['title']}", t)
        for d in dashboards().values()
        for p in panels(d)
        for t in p["targets"]
        if t["datasource"]["type"] == kind
    ]
    return found + [
        (f"{d['uid']}: annotation {a['name']}", a["target"])
        for d in dashboards().values()
        for a in d.get("annotations", {}).get("list", [])
        if a["datasource"]["type"] == kind
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
        rule["annotations"]["dashboard_url"].rsplit("/d/", 1)[1].split("?")[0]
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
    queries = targets("prometheus")
    assert len(queries) > 25
    with dashboards_prometheus(settings.database.url, live_api, tmp_path, PROJECT) as url:
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


def sql_literals(values) -> str:
    """A multi-value variable as Grafana hands it to SQL: each value quoted, comma-separated."""
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _sql(raw: str, values: dict[str, str] | None = None) -> str:
    """The SQL as Grafana sends it: macros expanded, `values` (variable -> SQL text) put in."""
    raw = raw.replace("'$project'", f"'{PROJECT}'")
    raw = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 > now() - interval '30 days'", raw)
    raw = re.sub(r"\$__timeGroupAlias\(([^,]+), '1h'\)", r"date_trunc('hour', \1) AS time", raw)
    for name, value in sorted((values or {}).items(), key=lambda kv: -len(kv[0])):
        raw = raw.replace(f"'${name}'", value if value.startswith("'") else f"'{value}'")
        raw = raw.replace(f"${name}", value)
    assert "$" not in raw, raw
    return raw


# The value other than the default each PostgreSQL-backed variable is tried with: one the test data has.
OTHER = {
    "metamon-alerts": {"severity": "high", "status": "resolved", "alertname": "MetamonGuardrailPassRateLow"},
    "metamon-proposals": {"status": "pending", "type": "rollback_prompt_version"},
    # Two of the three reviewers: agreement needs a pair.
    "metamon-review": {"reviewer": ("ann", "bob")},
}


def sql_cases(run) -> list[tuple[str, str]]:
    """(where, SQL) of every PostgreSQL query of every dashboard, with each variable at its default and,
    one variable at a time, at its value in OTHER; `run(sql)` answers the variables' own queries."""
    cases = []
    for dashboard in dashboards().values():
        uid = dashboard["uid"]
        defaults, choices = {}, {}
        for variable in dashboard["templating"]["list"]:
            name = variable["name"]
            if variable["type"] == "custom":
                choices[name] = variable["query"].split(",")
            elif (
                variable["type"] == "query"
                and variable["datasource"]["type"] == "grafana-postgresql-datasource"
            ):
                choices[name] = [str(row[0]) for row in run(_sql(variable["query"], defaults))] or ["none"]
            else:
                continue
            # All (every choice) for a multi-value variable, the first choice for a single one.
            defaults[name] = sql_literals(choices[name] if variable.get("multi") else choices[name][:1])
        tried = [("default", defaults)] + [
            (
                f"{name}={value}",
                {**defaults, name: sql_literals(value if isinstance(value, tuple) else [value])},
            )
            for name, value in OTHER.get(uid, {}).items()
        ]
        queries = [(f"{uid}: {p['title']}", t) for p in panels(dashboard) for t in p["targets"]]
        queries += [
            (f"{uid}: annotation {a['name']}", a["target"]) for a in dashboard["annotations"].get("list", [])
        ]
        for where, target in queries:
            if target["datasource"]["type"] == "grafana-postgresql-datasource":
                cases += [(f"{where} ({label})", _sql(target["rawSql"], values)) for label, values in tried]
    return cases


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


def _history(client, make_key, settings) -> dict:
    """What the seeded project lacks for the alerts, proposals, review and metamon-itself panels, made
    through the API where it has a route (acknowledging, resolving, labelling) and the real writers
    elsewhere (the audit log of a rollout, the scheduler's bookkeeping). Idempotent: tests share it."""
    headers = make_key(PROJECT, scopes=("review", "read"))
    with session_scope(settings.database.url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == PROJECT))
        alerts = {}
        for fingerprint in ("dash-acknowledged", "dash-resolved"):
            alert = session.scalar(select(MonitoringAlert).where(MonitoringAlert.fingerprint == fingerprint))
            if alert is None:
                alert = MonitoringAlert(
                    project_id=project_id,
                    fingerprint=fingerprint,
                    alertname="MetamonGuardrailPassRateLow",
                    severity="high",
                    starts_at=datetime.now(UTC) - timedelta(minutes=30),
                    labels={"project": PROJECT, "app": "support-bot"},
                )
                session.add(alert)
                session.flush()
            alerts[fingerprint] = (alert.id, alert.status)
        proposals = session.scalars(
            select(ImprovementProposal.id).where(ImprovementProposal.project_id == project_id)
        ).all()
        for proposal_id in proposals:
            record(
                session,
                project_id=project_id,
                actor="ann",
                action="proposal.rolling_out",
                entity_type="proposal",
                entity_id=proposal_id,
                after={"status": "rolling_out", "rollout_percent": 10},
            )
        traces = session.scalars(
            select(Trace.id).where(Trace.project_id == project_id).order_by(Trace.timestamp.desc()).limit(3)
        ).all()
    for fingerprint, verb in (("dash-acknowledged", "acknowledge"), ("dash-resolved", "resolve")):
        alert_id, state = alerts[fingerprint]
        if state == "firing":
            response = client.post(f"/api/v1/alerts/{alert_id}/{verb}", json={"by": "ann"}, headers=headers)
            assert response.status_code == 200, response.text
    # Reviewers over the same (newest, passing) traces, agreeing on some; the failing ones stay queued.
    for reviewer, labels in (
        ("ann", ("pass", "fail", "pass")),
        ("bob", ("pass", "fail", "fail")),
        ("cy", ("pass",)),
    ):
        for trace_id, label in zip(traces, labels, strict=False):
            body = {
                "trace_id": str(trace_id),
                "reviewer": reviewer,
                "label": label,
                "issue_categories": ["tone"],
            }
            response = client.post("/api/v1/expert-review/label", json=body, headers=headers)
            assert response.status_code == 200, response.text
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    if claim(settings, "dashboards-test", due):
        finish(settings, "dashboards-test", due, None)
    return {"alerts": [a for a, _ in alerts.values()], "traces": traces, "proposals": proposals}


def test_every_postgresql_query_runs_and_answers(client, make_key, settings, populated):
    _label_a_trace_and_record_an_impact(client, make_key, settings)
    _history(client, make_key, settings)
    with psycopg.connect(settings.database.url.replace("postgresql+psycopg", "postgresql")) as conn:
        cases = sql_cases(lambda sql: conn.execute(sql).fetchall())
        assert len(cases) >= 40
        empty = [where for where, sql in cases if not conn.execute(sql).fetchall()]
    assert empty == [], empty


def _es_body(target: dict, query: str) -> dict:
    """Grafana's Elasticsearch query model as the search Grafana sends: the Lucene query over the time
    range, bucket aggregations nested in order, the metric inside the innermost (a count is each
    bucket's doc_count; raw data is the newest documents)."""
    aggs: dict = {}
    inner = aggs
    for bucket in target["bucketAggs"]:
        if bucket["type"] == "terms":
            agg = {"terms": {"field": bucket["field"], "size": 10}}
        elif bucket["type"] == "histogram":
            options = bucket["settings"]
            agg = {
                "histogram": {
                    "field": bucket["field"],
                    "interval": float(options["interval"]),
                    "min_doc_count": int(options["min_doc_count"]),
                }
            }
        else:
            agg = {"date_histogram": {"field": bucket["field"], "fixed_interval": "1m", "min_doc_count": 0}}
        inner[bucket["id"]] = agg
        inner = agg.setdefault("aggs", {})
    time_range = {"range": {target["timeField"]: {"gte": "now-30d", "lte": "now"}}}
    body = {"query": {"bool": {"filter": [time_range, {"query_string": {"query": query}}]}}}
    (metric,) = target["metrics"]
    if metric["type"] == "raw_data":
        assert not aggs
        return body | {"size": int(metric["settings"]["size"]), "sort": [{target["timeField"]: "desc"}]}
    assert metric["type"] == "count"
    return body | {"size": 0, "aggs": aggs}


def _lucene(value) -> str:
    """A chosen value of an Elasticsearch variable as Grafana puts it in Lucene."""
    return "(" + " OR ".join(f'"{v}"' for v in value) + ")"


def es_cases(es, settings, project_id) -> list[tuple[str, str, dict]]:
    """(where, Lucene query, target) of every Elasticsearch query, with each variable at its default (All:
    the variable's all value) and, one at a time, at a value its own terms query finds (q: a word)."""
    cases = []
    for dashboard in dashboards().values():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        defaults = {
            "$project_id": str(project_id),
            "$q": variables.get("q", {}).get("current", {}).get("value", ""),
        }
        others = {"$q": "refunds"}
        for name, variable in variables.items():
            if variable["type"] == "query" and variable["datasource"]["type"] == "elasticsearch":
                find = json.loads(variable["query"])
                terms = es.search(
                    index=settings.search.traces_index_alias,
                    size=0,
                    query={"term": {"project_id": str(project_id)}},
                    aggs={"values": {"terms": {"field": find["field"], "size": find["size"]}}},
                )["aggregations"]["values"]["buckets"]
                assert terms, f"{dashboard['uid']}: variable {name} has no values"
                defaults[f"${name}"] = variable["allValue"]
                others[f"${name}"] = _lucene([terms[0]["key"]])
        tried = [("default", defaults)] + [
            (f"{name[1:]}={value}", {**defaults, name: value}) for name, value in others.items()
        ]
        for panel in panels(dashboard):
            for target in panel["targets"]:
                if target["datasource"]["type"] != "elasticsearch":
                    continue
                for label, values in tried:
                    query = target["query"]
                    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
                        query = query.replace(name, value)
                    assert "$" not in query, query
                    cases.append((f"{dashboard['uid']}: {panel['title']} ({label})", query, target))
    return cases


def test_every_elasticsearch_query_runs_and_answers(client, make_key, settings, es, drain, populated):
    _label_a_trace_and_record_an_impact(client, make_key, settings)
    _history(client, make_key, settings)
    drain()
    cases = es_cases(es, settings, populated["project_id"])
    assert len(cases) >= 40
    empty = []
    for where, query, target in cases:
        result = es.search(index=settings.search.traces_index_alias, **_es_body(target, query))
        found = (
            result["hits"]["hits"]
            if "aggregations" not in result
            else next(iter(result["aggregations"].values()))["buckets"]
        )
        if not found or result["hits"]["total"]["value"] == 0:
            empty.append(where)
    assert empty == [], empty


def test_the_review_dashboards_kappa_is_the_apis(client, make_key, settings, populated):
    """The SQL kappa per reviewer pair equals monitoring/review/agreement.py's over the same labels."""
    _history(client, make_key, settings)
    with psycopg.connect(settings.database.url.replace("postgresql+psycopg", "postgresql")) as conn:
        reviewers = sql_literals(["ann", "bob", "cy"])
        found = {
            r[0]: (r[1], r[3]) for r in conn.execute(_sql(review.KAPPA, {"reviewer": reviewers})).fetchall()
        }
        labels = conn.execute(
            "SELECT l.trace_id, l.reviewer, l.label FROM review_labels l "
            "JOIN projects p ON p.id = l.project_id WHERE p.slug = %s",
            (PROJECT,),
        ).fetchall()
    by_reviewer: dict[str, dict] = {}
    for trace_id, reviewer, label in labels:
        by_reviewer.setdefault(reviewer, {})[trace_id] = label
    assert set(found) >= {"ann & bob", "ann & cy", "bob & cy"}
    for pair, (shared, kappa) in found.items():
        a, b = pair.split(" & ")
        pairs = [(by_reviewer[a][t], by_reviewer[b][t]) for t in by_reviewer[a] if t in by_reviewer[b]]
        assert shared == len(pairs), pair
        expected = cohens_kappa(pairs)
        assert (kappa is None and expected is None) or kappa == pytest.approx(expected), pair
