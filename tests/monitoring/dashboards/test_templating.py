"""What the preview does to a query before a backend sees it, as Grafana documents it: variables in each
datasource's format, the built-in intervals, the PostgreSQL macros and the Elasticsearch search body."""

from datetime import UTC, datetime

import pytest

from metamon.monitoring.dashboards.backends import es_search_body
from metamon.monitoring.dashboards.templating import (
    Scope,
    TimeRange,
    Variable,
    expand_sql_macros,
    interpolate,
    parse_time,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = TimeRange(parse_time("now-1h", NOW), NOW)


def scope(**variables: Variable) -> Scope:
    return Scope(HOUR, HOUR.interval(720, 15), variables)


def test_times_and_intervals():
    assert parse_time("now-7d", NOW) == datetime(2026, 2, 22, 12, 0, tzinfo=UTC)
    assert parse_time("2026-03-01T10:00:00", NOW) == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday", NOW)
    # An hour over 720 points is 5 s, raised to the 15 s scrape interval; rate windows are 4 scrapes.
    builtins = scope().builtins()
    assert (builtins["__interval"], builtins["__rate_interval"], builtins["__range"]) == ("15s", "1m", "1h")
    assert TimeRange(parse_time("now-7d", NOW), NOW).interval(700) == 900  # 864 s rounds up to 15 min


def test_variables_take_each_datasource_format():
    apps = Variable("app", ["support-bot", "search.v2"], multi=True)
    project = Variable("project", ["acme"])
    every = Variable("app", ["a", "b"], multi=True, all_value=".*")
    s = scope(app=apps, project=project)
    assert interpolate('x{project="$project", app=~"$app"}', s, "prometheus") == (
        'x{project="acme", app=~"(support-bot|search\\.v2)"}'
    )
    assert interpolate("app IN ($app) AND slug = '${project}'", s, "sql") == (
        "app IN ('support-bot','search.v2') AND slug = 'acme'"
    )
    assert interpolate("app:$app", s, "lucene") == 'app:("support\\-bot" OR "search.v2")'
    assert interpolate("${app:csv} [[project]] $unknown", s, "sql") == "support-bot,search.v2 acme $unknown"
    assert interpolate('app=~"$app"', scope(app=every), "prometheus") == 'app=~".*"'


def test_sql_macros():
    sql = "SELECT $__timeGroupAlias(t, 5m), count(*) FROM x WHERE $__timeFilter(t) AND $__unixEpochFilter(e)"
    assert expand_sql_macros(sql, scope()) == (
        'SELECT floor(extract(epoch from t)/300)*300 AS "time", count(*) FROM x WHERE '
        "t BETWEEN '2026-03-01T11:00:00Z' AND '2026-03-01T12:00:00Z' AND e >= 1772362800 AND e <= 1772366400"
    )
    with pytest.raises(ValueError, match=r"\$__nope"):
        expand_sql_macros("SELECT $__nope(t)", scope())


def test_elasticsearch_body_as_grafana_builds_it():
    target = {
        "query": "app:$app",
        "timeField": "timestamp",
        "bucketAggs": [
            {"id": "2", "type": "terms", "field": "model", "settings": {"size": "5", "orderBy": "3"}},
            {"id": "4", "type": "date_histogram", "field": "timestamp", "settings": {"interval": "auto"}},
        ],
        "metrics": [{"id": "3", "type": "avg", "field": "latency_seconds"}],
    }
    body = es_search_body(target, scope(app=Variable("app", ["bot"])))
    start, end = int(HOUR.start.timestamp() * 1000), int(NOW.timestamp() * 1000)
    assert body["query"]["bool"]["filter"] == [
        {"range": {"timestamp": {"gte": start, "lte": end, "format": "epoch_millis"}}},
        {"query_string": {"query": "app:bot", "analyze_wildcard": True}},
    ]
    terms = body["aggs"]["2"]
    assert terms["terms"] == {"field": "model", "size": 5, "order": {"3": "desc"}}
    assert terms["aggs"]["3"] == {"avg": {"field": "latency_seconds"}}  # ordering by it needs it here
    histogram = terms["aggs"]["4"]
    assert histogram["date_histogram"]["fixed_interval"] == "15s"
    assert histogram["aggs"] == {"3": {"avg": {"field": "latency_seconds"}}}
