"""metamon-slo: the latency SLO of each app, its error budget and the burn rates the multi-window alerts
use (objective and burn-rate factors from monitoring/alerting/thresholds.yaml)."""

from metamon.monitoring.alerting.thresholds import load_thresholds
from metamon.monitoring.dashboards.panels import SCOPE, base, promql, stat_panel, timeseries_panel
from metamon.monitoring.dashboards.uids import UIDS

WINDOWS = ("5m", "30m", "1h", "6h")


def build():
    slo = load_thresholds().slo.latency
    budget = round(1 - slo.objective, 6)
    dashboard = base(
        UIDS["slo"],
        "metamon / Latency SLO",
        f"Share of requests within their app's SLA latency against the {slo.objective:.0%} objective: burn rates "
        f"over the alert windows (critical at {slo.burn_rates.critical}x, high at {slo.burn_rates.high}x) and "
        "the error ratio.",
        ["slo"],
    )
    dashboard = (
        dashboard.with_panel(
            stat_panel(
                "SLA violations, last hour",
                "Share of requests slower than their app's SLA over the last hour, worst selected app.",
                "percentunit",
                promql(f"max(project_app:metamon_sla_violations:ratio_rate1h{{{SCOPE}}})", instant=True),
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                "Burn rate, last hour",
                f"How fast the worst selected app spends its error budget ({budget:.2%} of requests): 1 spends it "
                f"exactly in 30 days; {slo.burn_rates.critical} pages.",
                "x",
                promql(
                    f"max(project_app:metamon_sla_violations:ratio_rate1h{{{SCOPE}}}) / {budget}",
                    instant=True,
                ),
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                "Error ratio, last 5 minutes",
                "Share of requests in error, worst selected app (MetamonErrorRatioSpike above 5%).",
                "percentunit",
                promql(f"max(project_app:metamon_requests_errors:ratio_rate5m{{{SCOPE}}})", instant=True),
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
                        f"project_app:metamon_sla_violations:ratio_rate{w}{{{SCOPE}}} / {budget}",
                        f"{{{{app}}}} {w}",
                    )
                    for w in WINDOWS
                ),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio",
                "Share of requests that ended in error over 5 minutes, per app.",
                "percentunit",
                promql(f"project_app:metamon_requests_errors:ratio_rate5m{{{SCOPE}}}", "{{app}}"),
                min=0,
                max=1,
            )
        )
    )
    return dashboard
