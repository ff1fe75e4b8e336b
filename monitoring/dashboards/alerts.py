"""metamon-alerts: the alerts Alertmanager sent to metamon (PostgreSQL, the source of truth), filtered by
severity, status and name, each row linking to its JSON and its source, and acknowledged, resolved or
researched from the row; how often alerts fire and how long they wait for a person."""

from metamon.monitoring.catalogue import SEVERITIES
from metamon.monitoring.dashboards.actions import (
    API,
    GRAFANA_USER,
    api_action,
    docs,
    field,
)
from metamon.monitoring.dashboards.panels import (
    SqlQuery,
    barchart_panel,
    base,
    column,
    custom_variable,
    data_link,
    piechart_panel,
    sql_variable,
    table_panel,
    textbox_variable,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models.alerts import ALERT_STATUSES

# The alerts of the dashboard's project and variables (Grafana quotes each chosen value for SQL).
SCOPE = """JOIN projects p ON p.id = a.project_id
WHERE p.slug = '$project' AND a.severity IN ($severity) AND a.status IN ($status) AND a.alertname IN ($alertname)"""
ALERTNAMES = """
SELECT DISTINCT a.alertname FROM monitoring_alerts a JOIN projects p ON p.id = a.project_id
WHERE p.slug = '$project' ORDER BY 1
"""
ALERTS = f"""
SELECT a.id, a.starts_at AS "started", a.alertname, a.severity, a.status, a.labels ->> 'app' AS app,
    a.annotations ->> 'summary' AS summary, a.acknowledged_by AS "acknowledged by",
    a.resolved_by AS "resolved by", a.notification_count AS notifications, a.generator_url AS source
FROM monitoring_alerts a {SCOPE} AND $__timeFilter(a.starts_at)
ORDER BY a.starts_at DESC LIMIT 200
"""
RATE = f"""
SELECT $__timeGroupAlias(a.starts_at, '1h'), a.severity AS metric, count(*) AS alerts
FROM monitoring_alerts a {SCOPE} AND $__timeFilter(a.starts_at)
GROUP BY 1, 2 ORDER BY 1
"""
BY_STATUS = f"""
SELECT a.status, count(*) AS alerts FROM monitoring_alerts a {SCOPE} AND $__timeFilter(a.starts_at)
GROUP BY 1 ORDER BY 1
"""
# Mean wait of the alerts that were acknowledged (resolved) in the range, per severity.
TIME_TO_ACT = f"""
SELECT a.severity,
    avg(extract(epoch FROM a.acknowledged_at - a.starts_at)) AS "to acknowledge",
    avg(extract(epoch FROM a.resolved_at - a.starts_at)) AS "to resolve"
FROM monitoring_alerts a {SCOPE} AND $__timeFilter(a.starts_at)
    AND (a.acknowledged_at IS NOT NULL OR a.resolved_at IS NOT NULL)
GROUP BY 1 ORDER BY array_position(ARRAY[{", ".join(f"'{s}'" for s in SEVERITIES)}], a.severity)
"""
ALERT = f"/api/v1/alerts/{field('id')}"
ALERTMANAGER = "${alertmanager_url}/#/alerts?filter=%7Balertname%3D%22" + field("alertname") + "%22%7D"


def alerts_table():
    table = table_panel(
        "Alerts",
        "Alerts in the time range, newest first. alertname links to the alert's JSON in the API, the API docs, "
        "its rule in Prometheus and its group in Alertmanager; status acknowledges, resolves or researches it.",
        "short",
        SqlQuery(ALERTS),
        height=12,
    )
    table = column(
        table,
        "alertname",
        links=[
            data_link("Alert JSON (API)", f"{API}{ALERT}"),
            data_link("API docs: read an alert", docs("alerts-get_alert")),
            data_link("Source in Prometheus", field("source")),
            data_link("In Alertmanager", ALERTMANAGER),
        ],
    )
    who = {"by": GRAFANA_USER}
    return column(
        table,
        "status",
        actions=[
            api_action("Acknowledge", f"{ALERT}/acknowledge", who, confirmation="Acknowledge this alert?"),
            api_action("Resolve", f"{ALERT}/resolve", who, confirmation="Resolve this alert?"),
            api_action(
                "Research a proposal",
                "/api/v1/control/generate-proposal",
                {"alert_id": field("id")},
                confirmation="Run the research agent on this alert's metric and app now?",
            ),
            api_action(
                "Evaluate now",
                "/api/v1/control/evaluate",
                {},
                confirmation="Run an evaluation of the project's recent traces now?",
            ),
        ],
        links=[data_link("API docs: acknowledge, resolve", docs("alerts-acknowledge_alert"))],
    )


def build():
    dashboard = base(
        UIDS["alerts"],
        "metamon / Alerts",
        "Every alert metamon received, filtered by severity, status and name: details, actions, rates and "
        "how long alerts wait to be acknowledged and resolved.",
        ["alerts"],
        datasources=[("postgres", "grafana-postgresql-datasource", "PostgreSQL")],
    )
    for variable in (
        custom_variable("severity", "Severity", SEVERITIES),
        custom_variable("status", "Status", ALERT_STATUSES),
        sql_variable("alertname", "Alert", ALERTNAMES),
        textbox_variable(
            "alertmanager_url",
            "Alertmanager",
            "http://127.0.0.1:9093",
            "Alertmanager's address as the viewer's browser reaches it.",
        ),
    ):
        dashboard = dashboard.with_variable(variable)
    return (
        dashboard.with_panel(alerts_table())
        .with_panel(
            timeseries_panel(
                "Alerts over time",
                "Alerts that started in each hour, per severity.",
                "short",
                SqlQuery(RATE, "time_series"),
                min=0,
            )
        )
        .with_panel(
            piechart_panel(
                "Alerts by status",
                "Alerts of the time range by their current status.",
                "short",
                SqlQuery(BY_STATUS),
                span=4,
            )
        )
        .with_panel(
            barchart_panel(
                "Time to acknowledge and resolve",
                "Mean time from an alert's start to its acknowledgement and to its resolution, per severity "
                "(alerts of the time range that were acknowledged or resolved).",
                "s",
                SqlQuery(TIME_TO_ACT),
                span=8,
            )
        )
    )
