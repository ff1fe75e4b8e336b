"""Rollout annotations: each proposal's rollout stages, completion and rollback, from the audit log in
PostgreSQL, drawn on the quality and SLO panels so a change in a curve meets the change that caused it."""

from grafana_foundation_sdk.builders import dashboard

from metamon.monitoring.dashboards.panels import POSTGRES, SqlQuery

ROLLOUT_ACTIONS = ("rolling_out", "rollout_stage", "implemented", "rolled_back")
ROLLOUTS = f"""
SELECT l.created_at AS time, pr.title || ': ' || replace(l.action, 'proposal.', '')
    || coalesce(' at ' || (l.after ->> 'rollout_percent') || '%', '') AS text,
    replace(l.action, 'proposal.', '') AS tags
FROM audit_log l JOIN improvement_proposals pr ON pr.id::text = l.entity_id
JOIN projects p ON p.id = pr.project_id
WHERE p.slug = '$project' AND l.entity_type = 'proposal'
    AND l.action IN ({", ".join(f"'proposal.{a}'" for a in ROLLOUT_ACTIONS)}) AND $__timeFilter(l.created_at)
ORDER BY 1
"""


def rollouts() -> dashboard.AnnotationQuery:
    return (
        dashboard.AnnotationQuery()
        .name("Rollouts")
        .datasource(POSTGRES)
        .enable(True)
        .icon_color("purple")
        .target(SqlQuery(ROLLOUTS))
    )
