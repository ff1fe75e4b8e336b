"""metamon-self: metamon watching itself. The API's request rate and latency per route, the index and
evaluation backlogs, how far the outbox workers and the scheduler lag, the exporter's scrape time and
which components Prometheus can scrape."""

from metamon.monitoring.dashboards.panels import (
    API_ROUTES,
    SqlQuery,
    base,
    column,
    promql,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS

# Traces of the last day that no evaluator has scored yet (all projects: the pipeline is shared).
EVALUATION_BACKLOG = """
SELECT count(*) AS traces, coalesce(max(extract(epoch FROM now() - t.timestamp)), 0) AS "oldest (s)"
FROM traces t
WHERE t.timestamp >= now() - interval '1 day'
    AND NOT EXISTS (SELECT 1 FROM trace_evaluations e WHERE e.trace_id = t.id)
"""
# Outbox work of the last day per topic: how much is due and not done, how long the oldest has waited.
WORKER_LAG = """
SELECT o.topic, count(*) FILTER (WHERE o.processed_at IS NULL AND o.available_at <= now()) AS pending,
    coalesce(max(extract(epoch FROM now() - o.available_at)) FILTER (WHERE o.processed_at IS NULL
        AND o.available_at <= now()), 0) AS "lag (s)",
    count(*) FILTER (WHERE o.processed_at IS NOT NULL) AS "done", max(o.attempts) AS "most attempts"
FROM outbox o WHERE o.processed_at IS NULL OR o.created_at >= now() - interval '1 day'
GROUP BY 1 ORDER BY 1
"""
# Each scheduled job's latest occurrence: how late it started and how it ended.
SCHEDULER_LAG = """
SELECT DISTINCT ON (r.job_id) r.job_id AS job, r.scheduled_for AS "scheduled for",
    extract(epoch FROM r.started_at - r.scheduled_for) AS "start lag (s)",
    extract(epoch FROM r.finished_at - r.started_at) AS "took (s)", r.status
FROM scheduler_runs r WHERE $__timeFilter(r.scheduled_for)
ORDER BY r.job_id, r.scheduled_for DESC
"""


def build():
    dashboard = base(
        UIDS["self"],
        "metamon / metamon itself",
        "The health of metamon's own API, workers, scheduler and exporter.",
        ["self"],
        datasources=[("postgres", "grafana-postgresql-datasource", "PostgreSQL")],
    )
    return (
        dashboard.with_panel(
            timeseries_panel(
                "Components up",
                "1 while Prometheus scrapes the metamon API and exporter; 0 pages MetamonApiDown or "
                "MetamonExporterDown.",
                "bool",
                promql('up{job=~"metamon-api|metamon-exporter"}', "{{job}}"),
                min=0,
                max=1,
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter scrape time",
                "Time the exporter spends collecting one scrape (its queries of PostgreSQL).",
                "s",
                promql("max(metamon_exporter_scrape_duration_seconds)", "scrape"),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "API requests by route",
                "Requests per second the API serves, per route template and status code.",
                "reqps",
                promql(
                    f"sum by (route, status) (rate(metamon_api_requests_total{{{API_ROUTES}}}[$__rate_interval]))",
                    "{{route}} {{status}}",
                ),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "API latency p95 by route",
                "The API's 95th percentile latency per route template (MetamonApiLatencyHigh above its objective).",
                "s",
                promql(
                    f"histogram_quantile(0.95, sum by (route, le) "
                    f"(rate(metamon_api_request_duration_seconds_bucket{{{API_ROUTES}}}[$__rate_interval])))",
                    "{{route}}",
                ),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "API load",
                "Requests per second, requests in flight, requests shed with 503 (at the in-flight limit), "
                "database connections in use and their limit, summed over the API's workers.",
                "short",
                promql(
                    f"sum(rate(metamon_api_requests_total{{{API_ROUTES}}}[$__rate_interval]))", "requests/s"
                ),
                promql(f"sum(metamon_api_requests_in_flight{{{API_ROUTES}}})", "in flight"),
                # No series until a first request is shed.
                promql("sum(rate(metamon_api_requests_shed_total[$__rate_interval])) or vector(0)", "shed/s"),
                promql("sum(metamon_api_db_connections_in_use)", "connections in use"),
                promql("sum(metamon_api_db_connections_max)", "connections max"),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "Index backlog",
                "Traces waiting for the search index, and the oldest one's age: what an Elasticsearch outage leaves "
                "(MetamonIndexBacklogHigh).",
                "short",
                promql("sum(metamon_index_backlog_traces)", "traces to index"),
                promql("max(metamon_index_backlog_oldest_age_seconds)", "oldest (s)"),
                min=0,
            )
        )
        .with_panel(
            column(
                stat_panel(
                    "Evaluation backlog",
                    "Traces of the last day no evaluator has scored yet, and the oldest one's age.",
                    "short",
                    SqlQuery(EVALUATION_BACKLOG),
                    span=12,
                ),
                "oldest (s)",
                unit="s",
            )
        )
        .with_panel(
            column(
                table_panel(
                    "Worker lag",
                    "Outbox work of the last day per topic: how much is due and not done, how long the oldest has "
                    "waited, how much is done, retries.",
                    "short",
                    SqlQuery(WORKER_LAG),
                    span=12,
                ),
                "lag (s)",
                unit="s",
            )
        )
        .with_panel(
            column(
                table_panel(
                    "Scheduler lag",
                    "The latest occurrence of each scheduled job in the time range: how late it started, how long "
                    "it took, how it ended.",
                    "short",
                    SqlQuery(SCHEDULER_LAG),
                    span=12,
                ),
                "start lag (s)",
                "took (s)",
                unit="s",
            )
        )
    )
