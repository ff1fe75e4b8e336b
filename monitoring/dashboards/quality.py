"""metamon-quality: what the evaluation agent and the monitor say about each app, and where it comes from
(per model and domain, per evaluator)."""

from grafana_foundation_sdk.builders import dashboard as dash

from metamon.monitoring.dashboards.panels import (
    SCOPE,
    base,
    promql,
    table_panel,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS

APP_WIDE = f'{SCOPE}, model="all", domain="all"'
RATIOS = (
    (
        "Fact accuracy",
        "metamon_fact_accuracy_ratio",
        "Share of reference facts stated correctly (or claims grounded in the retrieved context).",
    ),
    (
        "Guardrail pass rate",
        "metamon_guardrail_pass_ratio",
        "Share of traces passing every guardrail (PII, refusals, schema, banned terms, injection echoes).",
    ),
    (
        "SLA compliance",
        "metamon_sla_compliance_ratio",
        "Share of traces within their app's latency SLA and not in error.",
    ),
    (
        "Agreement with experts",
        "metamon_expert_agreement_ratio",
        "Share of expert-labelled traces where the evaluators' verdict matches the label.",
    ),
)


def build():
    dashboard = base(
        UIDS["quality"],
        "metamon / Quality",
        "Evaluation results of the latest windows per app, model and domain, evaluator failures and anomalies.",
        ["quality"],
    )
    dashboard = dashboard.with_row(dash.Row("Latest evaluation window, app-wide"))
    for title, metric, description in RATIOS:
        dashboard = dashboard.with_panel(
            timeseries_panel(
                title,
                f"{description} App-wide window of each evaluation run.",
                "percentunit",
                promql(f"{metric}{{{APP_WIDE}}}", "{{app}}"),
                min=0,
                max=1,
                span=12,
            )
        )
    dashboard = dashboard.with_panel(
        timeseries_panel(
            "Fact accuracy against its 7-day baseline",
            "The app-wide fact accuracy and its average over the last 7 days (MetamonFactAccuracyDropping fires "
            "on a relative drop below it).",
            "percentunit",
            promql(f"metamon_fact_accuracy_ratio{{{APP_WIDE}}}", "{{app}} now"),
            promql(
                f"project_app:metamon_fact_accuracy_ratio:avg_over_time7d{{{SCOPE}}}", "{{app}} 7-day average"
            ),
            min=0,
            max=1,
        )
    ).with_panel(
        timeseries_panel(
            "Cost per request",
            "Mean LLM cost of a request in the latest window, in US dollars.",
            "currencyUSD",
            promql(f"metamon_cost_per_request_dollars{{{APP_WIDE}}}", "{{app}}"),
            min=0,
        )
    )
    dashboard = dashboard.with_row(dash.Row("Where it comes from"))
    dashboard = (
        dashboard.with_panel(
            table_panel(
                "Fact accuracy per model and domain",
                "The latest window of each model and domain of the selected apps, with its trace count: the "
                "research agent's starting point.",
                "percentunit",
                promql(
                    f'metamon_fact_accuracy_ratio{{{SCOPE}, model!="all"}}',
                    "{{app}} {{model}} {{domain}}",
                    instant=True,
                ),
            )
        )
        .with_panel(
            timeseries_panel(
                "Evaluation failures by evaluator",
                "Share of evaluations failing their evaluator's threshold, per app and evaluator.",
                "percentunit",
                promql(
                    f"sum by (app, evaluator) (rate(metamon_evaluation_failures_total{{{SCOPE}}}[$__rate_interval])) / "
                    f"sum by (app, evaluator) (rate(metamon_evaluations_total{{{SCOPE}}}[$__rate_interval]))",
                    "{{app}} {{evaluator}}",
                ),
                min=0,
                max=1,
            )
        )
        .with_panel(
            timeseries_panel(
                "Anomaly scores",
                "The monitor agent's z-score of the latest 5 minutes against each signal's EWMA, positive when worse "
                "(MetamonAnomalyScoreHigh above 3).",
                "short",
                promql(f"metamon_anomaly_score{{{SCOPE}}}", "{{app}} {{signal}}"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Traces per evaluation window",
                "Traces in the latest app-wide window: how much each ratio above rests on.",
                "short",
                promql(f"metamon_evaluation_window_traces{{{APP_WIDE}}}", "{{app}}"),
                min=0,
            )
        )
    )
    return dashboard
