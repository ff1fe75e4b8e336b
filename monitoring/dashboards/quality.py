"""metamon-quality: what the evaluation agent and the monitor say about each app, and where it comes from
(per model and domain, per evaluator)."""

from grafana_foundation_sdk.builders import dashboard as dash

from metamon.monitoring.alerting.rules import fact_accuracy_baseline_record
from metamon.monitoring.alerting.thresholds import load_thresholds
from metamon.monitoring.catalogue import MEASURE, MEASURES
from metamon.monitoring.dashboards.annotations import rollouts
from metamon.monitoring.dashboards.panels import (
    SCOPE,
    base,
    promql,
    table_panel,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS

APP_WIDE = f'{SCOPE}, model="all", domain="all"'
# The ratio measures of the catalogue (cost and latency have panels of their own units).
RATIOS = tuple(m for m in MEASURES if m.format == "ratio" and m.column != "error_rate")


def build():
    thresholds = load_thresholds()
    baseline = thresholds.profiles["standard"].windows.fact_accuracy_baseline
    fact, cost = MEASURE["fact_accuracy"].family, MEASURE["cost_per_request_usd"].family
    dashboard = base(
        UIDS["quality"],
        "metamon / Quality",
        "Evaluation results of the latest windows per app, model and domain, evaluator failures and anomalies.",
        ["quality"],
        datasources=[("postgres", "grafana-postgresql-datasource", "PostgreSQL")],
    )
    dashboard = dashboard.annotation(rollouts())
    dashboard = dashboard.with_row(dash.Row("Latest evaluation window, app-wide"))
    for measure in RATIOS:
        dashboard = dashboard.with_panel(
            timeseries_panel(
                measure.title,
                f"{measure.help} App-wide window of each evaluation run.",
                "percentunit",
                promql(f"{measure.family}{{{APP_WIDE}}}", "{{app}}"),
                min=0,
                max=1,
                span=12,
            )
        )
    dashboard = dashboard.with_panel(
        timeseries_panel(
            f"Fact accuracy against its {baseline} baseline",
            f"The app-wide fact accuracy and its average over the last {baseline} (MetamonFactAccuracyDropping "
            f"fires {thresholds.levels.fact_accuracy_drop:.0%} below it).",
            "percentunit",
            promql(f"{fact}{{{APP_WIDE}}}", "{{app}} now"),
            promql(
                f"{fact_accuracy_baseline_record(baseline)}{{{SCOPE}}}", f"{{{{app}}}} {baseline} average"
            ),
            min=0,
            max=1,
        )
    ).with_panel(
        timeseries_panel(
            "Cost per request",
            "Mean LLM cost of a request in the latest window, in US dollars.",
            "currencyUSD",
            promql(f"{cost}{{{APP_WIDE}}}", "{{app}}"),
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
                    f'{fact}{{{SCOPE}, model!="all"}}',
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
