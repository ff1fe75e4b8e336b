"""metamon-workflow: the improvement loop and expert review. Proposals and alerts from PostgreSQL (the
source of truth), the review queue from the exporter, labelled traces from Elasticsearch."""

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import elasticsearch

from metamon.monitoring.dashboards.panels import (
    SqlQuery,
    base,
    lucene,
    promql,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS

# Grafana substitutes $project (a slug) and the $__timeFilter macro before PostgreSQL sees the query.
PROPOSALS_TO_REVIEW = """
SELECT pr.created_at AS "created", pr.title, pr.status, pr.proposal_type AS "type", pr.app,
    pr.expected_improvement AS "expected gain", pr.risk, v.passed AS "validated", v.mcnemar_p_value AS "McNemar p"
FROM improvement_proposals pr JOIN projects p ON p.id = pr.project_id
LEFT JOIN LATERAL (SELECT passed, mcnemar_p_value FROM validation_results WHERE proposal_id = pr.id
    ORDER BY started_at DESC LIMIT 1) v ON true
WHERE p.slug = '$project' AND pr.status IN ('pending', 'validating', 'validated', 'approved', 'rolling_out')
ORDER BY pr.created_at DESC LIMIT 50
"""
RECENT_ALERTS = """
SELECT a.starts_at AS "started", a.alertname, a.severity, a.status, a.labels ->> 'app' AS app,
    a.annotations ->> 'summary' AS summary, a.notification_count AS notifications
FROM monitoring_alerts a JOIN projects p ON p.id = a.project_id
WHERE p.slug = '$project' AND $__timeFilter(a.starts_at)
ORDER BY a.starts_at DESC LIMIT 50
"""
IMPACT = """
SELECT i.measured_at AS "measured", pr.title, i.rollout_percent AS "rollout %", i.metric,
    i.before_value AS "before", i.after_value AS "after", i.p_value AS "p", i.roi_usd AS "ROI (USD / 30 days)"
FROM improvement_impact i JOIN improvement_proposals pr ON pr.id = i.proposal_id
JOIN projects p ON p.id = pr.project_id
WHERE p.slug = '$project'
ORDER BY i.measured_at DESC LIMIT 50
"""
LABELS = """
SELECT l.label, count(*) AS traces
FROM review_labels l JOIN projects p ON p.id = l.project_id
WHERE p.slug = '$project' AND $__timeFilter(l.updated_at)
GROUP BY l.label ORDER BY l.label
"""


def build():
    dashboard = base(
        UIDS["workflow"],
        "metamon / Proposals and review",
        "Improvement proposals from alert to impact, the alerts behind them, and the expert review queue.",
        ["workflow", "review"],
        datasources=[
            ("postgres", "grafana-postgresql-datasource", "PostgreSQL"),
            ("elasticsearch", "elasticsearch", "Elasticsearch"),
        ],
    )
    dashboard = (
        dashboard.with_panel(
            timeseries_panel(
                "Proposals by status",
                "Improvement proposals of the project in each state of the workflow.",
                "short",
                promql('metamon_improvement_proposals{project="$project"}', "{{status}}"),
                min=0,
                span=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Open alerts by severity",
                "metamon alerts firing or acknowledged, per severity.",
                "short",
                promql("sum by (severity) (metamon_open_alerts)", "{{severity}}"),
                min=0,
                span=12,
            )
        )
        .with_panel(
            table_panel(
                "Proposals to decide or roll out",
                "Open proposals, newest first, with their latest golden-dataset validation.",
                "short",
                SqlQuery(PROPOSALS_TO_REVIEW),
            )
        )
        .with_panel(
            table_panel(
                "Impact of rolled-out proposals",
                "Before/after of each rollout stage against the control group, its significance and ROI.",
                "short",
                SqlQuery(IMPACT),
            )
        )
        .with_panel(
            table_panel(
                "Alerts",
                "Alerts Alertmanager sent to metamon in the time range, newest first.",
                "short",
                SqlQuery(RECENT_ALERTS),
            )
        )
        .with_row(dash.Row("Expert review"))
        .with_panel(
            stat_panel(
                "Review queue",
                "Traces waiting for an expert label (MetamonReviewBacklogHigh above 500).",
                "short",
                promql('max(metamon_review_queue_traces{project="$project"})', instant=True),
                span=6,
            )
        )
        .with_panel(
            table_panel(
                "Labels given",
                "Expert labels (pass, fail, needs_review) given in the time range.",
                "short",
                SqlQuery(LABELS),
                span=6,
            )
        )
        .with_panel(
            table_panel(
                "Labelled traces by app",
                "Traces in the search index by app and expert label (all projects: Grafana is the operators' view).",
                "short",
                lucene(
                    "labels:*",
                    elasticsearch.Terms().id("2").field("app"),
                    elasticsearch.Terms().id("3").field("labels"),
                ),
                span=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Indexed traces",
                "Traces in the search index over time, per app (what reviewers can search).",
                "short",
                lucene(
                    "*",
                    elasticsearch.Terms().id("2").field("app"),
                    elasticsearch.DateHistogram().id("3").field("timestamp"),
                ),
                min=0,
            )
        )
    )
    return dashboard
