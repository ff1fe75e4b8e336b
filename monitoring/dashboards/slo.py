"""metamon-slo: the latency SLO of each app, its error budget and the burn rates the multi-window alerts
use (objective and burn-rate factors from monitoring/alerting/thresholds.yaml)."""

from metamon.monitoring.alerting.rules import errors_ratio_record, sla_violations_ratio_record
from metamon.monitoring.alerting.thresholds import load_thresholds
from metamon.monitoring.dashboards.annotations import rollouts
from metamon.monitoring.dashboards.panels import SCOPE, base, promql, stat_panel, timeseries_panel
from metamon.monitoring.dashboards.uids import UIDS


def build():
    thresholds = load_thresholds()
    slo, lv, windows = thresholds.slo.latency, thresholds.levels, thresholds.profiles["standard"].windows
    hour = windows.latency_burn.critical.long
    errors = errors_ratio_record(windows.error_ratio)
    budget = round(1 - slo.objective, 6)
    dashboard = base(
        UIDS["slo"],
        "metamon / Latency SLO",
        f"Share of requests within their app's SLA latency against the {slo.objective:.0%} objective: burn rates "
        f"over the alert windows (critical at {slo.burn_rates.critical}x, high at {slo.burn_rates.high}x) and "
        "the error ratio.",
        ["slo"],
        datasources=[("postgres", "grafana-postgresql-datasource", "PostgreSQL")],
    )
    dashboard = dashboard.annotation(rollouts())
    dashboard = (
        dashboard.with_panel(
            stat_panel(
                f"SLA violations, last {hour}",
                f"Share of requests slower than their app's SLA over the last {hour}, worst selected app.",
                "percentunit",
                promql(f"max({sla_violations_ratio_record(hour)}{{{SCOPE}}})", instant=True),
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                f"Burn rate, last {hour}",
                f"How fast the worst selected app spends its error budget ({budget:.2%} of requests): 1 spends it "
                f"exactly in 30 days; {slo.burn_rates.critical} pages.",
                "x",
                promql(
                    f"max({sla_violations_ratio_record(hour)}{{{SCOPE}}}) / {budget}",
                    instant=True,
                ),
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                f"Error ratio, last {windows.error_ratio}",
                f"Share of requests in error, worst selected app (MetamonErrorRatioSpike above {lv.error_ratio:.0%}).",
                "percentunit",
                promql(f"max({errors}{{{SCOPE}}})", instant=True),
                span=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Burn rate per alert window",
                "SLA violation ratio over each window of the multi-window alerts, divided by the error budget.",
                "x",
                *(
                    promql(
                        f"{sla_violations_ratio_record(w)}{{{SCOPE}}} / {budget}",
                        f"{{{{app}}}} {w}",
                    )
                    for w in windows.burn_windows
                ),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio",
                f"Share of requests that ended in error over {windows.error_ratio}, per app.",
                "percentunit",
                promql(f"{errors}{{{SCOPE}}}", "{{app}}"),
                min=0,
                max=1,
            )
        )
    )
    return dashboard
