"""`metamon dashboards preview` on the real stack: every dashboard renders from its panels' own queries,
and what each panel draws is what the backend answered (counted again straight from the backend)."""

import copy
import json
import time
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from PIL import Image

from metamon.monitoring.dashboards.backends import Backends
from metamon.monitoring.dashboards.picture import WIDTH_PX, reduced, series_of, table_of
from metamon.monitoring.dashboards.preview import dashboards_json, preview, resolve_variables
from metamon.monitoring.dashboards.templating import Scope, TimeRange, parse_time
from metamon.monitoring.dashboards.uids import UIDS
from tests.conftest import free_port, serve_api
from tests.live import dashboards_prometheus, wait_for
from tests.monitoring.dashboards.test_dashboards import _label_a_trace_and_record_an_impact
from tests.populated import PROJECT

# The seeded project's evaluators have not been compared with experts: this panel has no value yet.
NO_DATA_YET = {("metamon-quality", "Agreement with experts")}
# The populated project feeds these; the other dashboards' queries are checked for data, with their own
# seeding (acknowledged alerts, audited proposals, several reviewers), in test_dashboards.py.
MUST_HAVE_DATA = {"metamon-overview", "metamon-quality", "metamon-slo"}


@pytest.fixture(scope="module")
def rendered_previews(settings, populated, client_module, key_module, es, drain_module, tmp_path_factory):
    _label_a_trace_and_record_an_impact(client_module, key_module, settings)
    drain_module()
    directory = tmp_path_factory.mktemp("preview")
    port = free_port()
    stop = serve_api(settings, port)
    try:
        with dashboards_prometheus(
            settings.database.url, f"http://127.0.0.1:{port}", directory, PROJECT
        ) as url:
            scraped = settings.model_copy(update={"prometheus_url": url})
            # A range query answers at the steps of its range (15 s, the datasource's scrape interval,
            # aligned): wait for the first step that has scraped data, as a Grafana would.
            wait_for(lambda: _range_points(url) > 0, timeout=40)
            results = preview(scraped, directory / "png", "now-30m", "now", {"project": PROJECT})
            yield scraped, {r.uid: r for r in results}
    finally:
        stop()


def _range_points(url: str) -> int:
    end = time.time()
    # The exporter's own series of the project, not just `up`: the API's target may be scraped first.
    query = f'metamon_requests_total{{project="{PROJECT}"}}'
    params = {"query": query, "start": (end - 300) // 15 * 15, "end": end, "step": 15}
    result = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=10).json()["data"]["result"]
    return sum(len(r["values"]) for r in result)


def _panel(results, uid: str, title: str):
    return next(p for p in results[uid].panels if p.title == title)


def test_every_dashboard_renders_to_a_png_and_every_panel_draws_what_its_queries_returned(rendered_previews):
    _, results = rendered_previews
    assert set(results) == set(UIDS.values())
    empty = set()
    for uid, result in results.items():
        with Image.open(result.path) as image:
            assert image.width == WIDTH_PX and image.height > 200
        assert result.variables["project"] == PROJECT
        for panel in result.panels:
            where = (uid, panel.title)
            answer, drawn = panel.answer, panel.drawn
            assert drawn.get("notes", []) == answer.notes and not answer.notes, where
            if panel.type == "timeseries":
                assert drawn["series"] == len(series_of(answer)), where
                assert drawn["points"] == sum(1 for s in series_of(answer) for v in s.values if v is not None)
            elif panel.type == "stat":
                assert len(drawn["values"]) == len(reduced({}, answer)), where
            elif panel.type == "table":
                table = table_of(answer)
                assert drawn["of"] == (len(table.rows) if table else 0), where
                assert 0 < drawn["rows"] <= drawn["of"] or drawn["of"] == 0, where
            if (
                uid in MUST_HAVE_DATA
                and panel.type != "row"
                and not any(drawn.get(k) for k in ("series", "values", "rows", "bars", "slices"))
            ):
                empty.add(where)
    assert empty <= NO_DATA_YET, sorted(empty)


def test_panels_show_the_backends_own_numbers(rendered_previews, settings, es):
    scraped, results = rendered_previews
    # PostgreSQL: the alerts table has every alert of the project in the range, as the database counts.
    with psycopg.connect(settings.database.url.replace("postgresql+psycopg", "postgresql")) as conn:
        (project_id,) = conn.execute("SELECT id FROM projects WHERE slug = %s", (PROJECT,)).fetchone()
        (alerts,) = conn.execute(
            "SELECT count(*) FROM monitoring_alerts a JOIN projects p ON p.id = a.project_id"
            " WHERE p.slug = %s AND a.starts_at > now() - interval '30 minutes'",
            (PROJECT,),
        ).fetchone()
    assert alerts >= 1
    assert _panel(results, "metamon-alerts", "Alerts").drawn["of"] == alerts
    # Elasticsearch: traces over time by model add up to the project's documents in the range.
    indexed = _panel(results, "metamon-traces", "Traces over time by model")
    in_range = [{"range": {"timestamp": {"gte": "now-30m"}}}, {"term": {"project_id": str(project_id)}}]
    body = {"query": {"bool": {"filter": in_range}}}
    total = es.count(index=settings.search.traces_index_alias, **body)["count"]
    assert total > 0
    assert sum(v for s in indexed.answer.series for v in s.values if v) == total
    # Prometheus: one line per (app, status) the exporter publishes for the project.
    pairs = httpx.get(
        f"{scraped.alerting.prometheus_url}/api/v1/query",
        params={"query": f'count by (app, status) (metamon_requests_total{{project="{PROJECT}"}})'},
        timeout=10,
    ).json()["data"]["result"]
    requests = _panel(results, "metamon-overview", "Requests by app and status")
    assert requests.drawn["series"] == len(pairs) >= 2
    assert {s.name for s in requests.answer.series} == {
        f"{p['metric']['app']} {p['metric']['status']}" for p in pairs
    }


def test_a_variable_without_a_saved_value_opens_on_its_first_option(rendered_previews):
    scraped, _ = rendered_previews
    backends = Backends(scraped)
    try:
        now = datetime.now(UTC)
        scope = Scope(TimeRange(parse_time("now-30m", now), now), 60)
        overview = next(d for d in dashboards_json() if d["uid"] == "metamon-overview")
        assert resolve_variables(overview, backends, scope, {}) == []
        projects = backends.label_values("project", "metamon_requests_total", scope)
        assert PROJECT in projects
        assert scope.variables["project"].values == projects[:1]
        # app is All with a custom all value: the regex, not the list, goes into the queries.
        assert scope.variables["app"].all_value == ".*"
    finally:
        backends.close()


def _grid(y: int) -> dict:
    return {"x": 0, "y": y, "w": 12, "h": 8}


PROM = {"type": "prometheus", "uid": "${datasource}"}
PG = {"type": "grafana-postgresql-datasource", "uid": "${postgres}"}
ES = {"type": "elasticsearch", "uid": "${elasticsearch}"}
# Every panel type the dashboards use, over each backend: what a new dashboard may hold.
EVERY_TYPE = {
    "uid": "preview-every-type",
    "title": "Every panel type",
    "time": {"from": "now-30m", "to": "now"},
    "templating": {"list": [{"name": "project", "type": "textbox", "query": PROJECT}]},
    "panels": [
        {
            "type": "barchart",
            "title": "Traces per app (SQL)",
            "gridPos": _grid(0),
            "targets": [
                {
                    "datasource": PG,
                    "refId": "A",
                    "format": "table",
                    "rawSql": "SELECT t.app, count(*) AS traces FROM traces t"
                    " JOIN projects p ON p.id = t.project_id WHERE p.slug = '$project'"
                    " AND $__timeFilter(t.timestamp) GROUP BY 1 ORDER BY 1",
                }
            ],
        },
        {
            "type": "piechart",
            "title": "Traces per app (Elasticsearch)",
            "gridPos": _grid(8),
            "options": {"reduceOptions": {"values": True, "calcs": ["lastNotNull"]}},
            "targets": [
                {
                    "datasource": ES,
                    "refId": "A",
                    "query": "*",
                    "timeField": "timestamp",
                    "bucketAggs": [{"id": "2", "type": "terms", "field": "app"}],
                    "metrics": [{"id": "1", "type": "count"}],
                }
            ],
        },
        {
            "type": "bargauge",
            "title": "Requests per app (Prometheus)",
            "gridPos": _grid(16),
            "targets": [
                {
                    "datasource": PROM,
                    "refId": "A",
                    "expr": 'sum by (app) (metamon_requests_total{project="$project"})',
                    "instant": True,
                    "range": False,
                    "legendFormat": "{{app}}",
                }
            ],
        },
        {
            "type": "timeseries",
            "title": "Traces over time per app (SQL time series)",
            "gridPos": _grid(24),
            "targets": [
                {
                    "datasource": PG,
                    "refId": "A",
                    "format": "time_series",
                    "rawSql": "SELECT $__timeGroupAlias(t.timestamp, 1m), t.app AS metric, count(*) AS n"
                    " FROM traces t JOIN projects p ON p.id = t.project_id WHERE p.slug = '$project'"
                    " AND $__timeFilter(t.timestamp) GROUP BY 1, 2 ORDER BY 1",
                }
            ],
        },
        {
            "type": "stat",
            "title": "Traces (SQL)",
            "gridPos": _grid(32),
            "targets": [
                {
                    "datasource": PG,
                    "refId": "A",
                    "format": "table",
                    "rawSql": "SELECT count(*) AS traces FROM traces t JOIN projects p ON p.id = t.project_id"
                    " WHERE p.slug = '$project'",
                }
            ],
        },
        {
            "type": "text",
            "title": "Notes",
            "gridPos": _grid(40),
            "options": {"content": "# Read me\n\nTwo lines."},
        },
        {"type": "heatmap", "title": "A type only Grafana draws", "gridPos": _grid(48), "targets": []},
        {
            "type": "stat",
            "title": "An expression",
            "gridPos": _grid(56),
            "targets": [
                {"datasource": {"type": "__expr__", "uid": "__expr__"}, "refId": "B", "expression": "$A"}
            ],
        },
    ],
}


def test_every_panel_type_draws_what_its_backend_answered(rendered_previews, settings, tmp_path):
    scraped, _ = rendered_previews
    with psycopg.connect(settings.database.url.replace("postgresql+psycopg", "postgresql")) as conn:
        (project_id,) = conn.execute("SELECT id FROM projects WHERE slug = %s", (PROJECT,)).fetchone()
    # The index holds every test's traces: the pie counts this project's, as the SQL panels do.
    dashboard = copy.deepcopy(EVERY_TYPE)
    pie = next(p for p in dashboard["panels"] if p["title"] == "Traces per app (Elasticsearch)")
    pie["targets"][0]["query"] = f'project_id:"{project_id}"'
    (tmp_path / "every.json").write_text(json.dumps(dashboard))
    (result,) = preview(scraped, tmp_path / "png", directory=tmp_path)
    with Image.open(result.path) as image:
        assert image.width == WIDTH_PX
    panels = {p.title: p for p in result.panels}
    with psycopg.connect(settings.database.url.replace("postgresql+psycopg", "postgresql")) as conn:
        per_app = conn.execute(
            "SELECT t.app, count(*) FROM traces t JOIN projects p ON p.id = t.project_id"
            " WHERE p.slug = %s AND t.timestamp > now() - interval '30 minutes' GROUP BY 1 ORDER BY 1",
            (PROJECT,),
        ).fetchall()
        (everything,) = conn.execute(
            "SELECT count(*) FROM traces t JOIN projects p ON p.id = t.project_id WHERE p.slug = %s",
            (PROJECT,),
        ).fetchone()
    assert len(per_app) >= 2
    bars = panels["Traces per app (SQL)"]
    assert bars.answer.tables[0].rows == [list(r) for r in per_app] and bars.drawn["bars"] == len(per_app)
    pie = panels["Traces per app (Elasticsearch)"]
    assert pie.drawn["slices"] == len(pie.answer.tables[0].rows) == len(per_app)
    gauge = panels["Requests per app (Prometheus)"]
    assert gauge.drawn["bars"] == len(gauge.answer.series) >= 2
    over_time = panels["Traces over time per app (SQL time series)"]
    assert over_time.drawn["series"] == len(per_app)
    assert sum(v for s in over_time.answer.series for v in s.values) == sum(n for _, n in per_app)
    assert panels["Traces (SQL)"].drawn["values"] == [str(everything)]
    assert panels["Notes"].drawn["lines"] == 3
    assert panels["A type only Grafana draws"].drawn["notes"] == [
        "the heatmap panel type is drawn only by Grafana"
    ]
    assert panels["An expression"].drawn["notes"] == ["B: only Grafana itself answers this query"]


def test_a_chosen_variable_value_narrows_every_panel_that_uses_it(rendered_previews, tmp_path):
    scraped, everything = rendered_previews
    results = preview(scraped, tmp_path, "now-30m", "now", {"project": PROJECT, "app": "search"})
    overview = next(r for r in results if r.uid == "metamon-overview")
    assert overview.variables["app"] == "search"
    narrowed = _panel({"o": overview}, "o", "Requests by app and status").answer.series
    wide = _panel(everything, "metamon-overview", "Requests by app and status").answer.series
    assert {s.labels["app"] for s in narrowed} == {"search"} < {s.labels["app"] for s in wide}
