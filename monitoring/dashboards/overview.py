"""metamon-overview: what an SRE opens first. Traffic, errors, latency, cost, quality at a glance and open
alerts (metamon's own health is metamon-self)."""

from metamon.monitoring.dashboards.panels import SCOPE, base, promql, stat_panel, timeseries_panel
from metamon.monitoring.dashboards.uids import UIDS

APP_WIDE = f'{SCOPE}, model="all", domain="all"'


def build():
    dashboard = base(
        UIDS["overview"],
        "metamon / Overview",
        "Traffic, errors, latency, cost and quality of the LLM apps metamon watches, and their open alerts.",
        ["overview"],
    )
    panels = [
        stat_panel(
            "Requests",
            "LLM requests (traces) per second over the last 5 minutes, all selected apps.",
            "reqps",
            promql(f"sum(rate(metamon_requests_total{{{SCOPE}}}[5m]))", instant=True),
        ),
        stat_panel(
            "Error ratio",
            "Share of requests that ended in error over the last 5 minutes (alert above 5%).",
            "percentunit",
            promql(f"max(project_app:metamon_requests_errors:ratio_rate5m{{{SCOPE}}})", instant=True),
        ),
        stat_panel(
            "Fact accuracy (worst app)",
            "Lowest fact accuracy of the latest evaluation window among the selected apps.",
            "percentunit",
            promql(f"min(metamon_fact_accuracy_ratio{{{APP_WIDE}}})", instant=True),
        ),
        stat_panel(
            "Guardrail pass (worst app)",
            "Lowest share of traces passing every guardrail in the latest evaluation window.",
            "percentunit",
            promql(f"min(metamon_guardrail_pass_ratio{{{APP_WIDE}}})", instant=True),
        ),
        stat_panel(
            "Open alerts",
            "metamon alerts firing or acknowledged, all severities.",
            "short",
            promql("sum(metamon_open_alerts)", instant=True),
        ),
        stat_panel(
            "Last evaluation",
            "Time since the project's latest evaluation run (alert after 26 hours).",
            "s",
            promql(
                'time() - max(metamon_evaluation_last_run_timestamp_seconds{project="$project"})',
                instant=True,
            ),
        ),
        timeseries_panel(
            "Requests by app and status",
            "Requests per second per app, split by ok and error.",
            "reqps",
            promql(
                f"sum by (app, status) (rate(metamon_requests_total{{{SCOPE}}}[$__rate_interval]))",
                "{{app}} {{status}}",
            ),
            min=0,
        ),
        timeseries_panel(
            "Latency p50 / p95",
            "End-to-end latency of LLM requests as reported in their traces, from the exporter's histogram.",
            "s",
            *(
                promql(
                    f"histogram_quantile({q}, sum by (app, le) "
                    f"(rate(metamon_request_duration_seconds_bucket{{{SCOPE}}}[$__rate_interval])))",
                    f"{{{{app}}}} p{int(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
            min=0,
        ),
        timeseries_panel(
            "LLM cost",
            "LLM spend per hour per app (reported by the app, else tokens x the price table).",
            "currencyUSD",
            promql(
                f"sum by (app) (rate(metamon_llm_cost_dollars_total{{{SCOPE}}}[$__rate_interval])) * 3600",
                "{{app}}",
            ),
            min=0,
        ),
        timeseries_panel(
            "Tokens",
            "Tokens per second per app and direction (input, output).",
            "short",
            promql(
                f"sum by (app, direction) (rate(metamon_tokens_total{{{SCOPE}}}[$__rate_interval]))",
                "{{app}} {{direction}}",
            ),
            min=0,
        ),
    ]
    for panel in panels:
        dashboard = dashboard.with_panel(panel)
    return dashboard
