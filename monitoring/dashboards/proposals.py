"""metamon-proposals: the research agent's improvement proposals, filtered by status and type, each with
its root cause, confidence, latest validation (pass rates, McNemar p-value, the score delta's confidence
interval), rollout stage and measured impact; decided, validated, rolled out or back from its row; and
the audit trail of one proposal."""

from metamon.monitoring.dashboards.actions import API, GRAFANA_USER, api_action, docs, field
from metamon.monitoring.dashboards.panels import (
    SqlQuery,
    barchart_panel,
    base,
    column,
    custom_variable,
    data_link,
    sql_variable,
    table_panel,
)
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models.proposals import PROPOSAL_STATUSES

SCOPE = """JOIN projects p ON p.id = pr.project_id
WHERE p.slug = '$project' AND pr.status IN ($status) AND pr.proposal_type IN ($type)"""
TYPES = """
SELECT DISTINCT pr.proposal_type FROM improvement_proposals pr JOIN projects p ON p.id = pr.project_id
WHERE p.slug = '$project' ORDER BY 1
"""
ONE_PROPOSAL = """
SELECT pr.id::text AS __value, pr.title || ' (' || pr.status || ')' AS __text
FROM improvement_proposals pr JOIN projects p ON p.id = pr.project_id
WHERE p.slug = '$project' ORDER BY pr.created_at DESC LIMIT 100
"""
PROPOSALS = f"""
SELECT pr.id, pr.created_at AS "created", pr.title, pr.status, pr.proposal_type AS "type", pr.app,
    concat_ws(' ', pr.root_cause ->> 'metric', nullif(concat_ws('=', pr.root_cause ->> 'dimension',
        pr.root_cause ->> 'value'), '')) AS "root cause",
    pr.confidence, pr.expected_improvement AS "expected gain", pr.risk,
    v.passed AS "validated", (v.baseline_metrics ->> 'pass_rate')::float AS "baseline pass",
    (v.candidate_metrics ->> 'pass_rate')::float AS "candidate pass", v.mcnemar_p_value AS "McNemar p",
    v.score_delta_ci_low AS "delta CI low", v.score_delta_ci_high AS "delta CI high",
    pr.rollout_percent AS "rollout %", i.after_value - i.before_value AS "impact", i.p_value AS "impact p"
FROM improvement_proposals pr
LEFT JOIN LATERAL (SELECT * FROM validation_results WHERE proposal_id = pr.id
    ORDER BY started_at DESC LIMIT 1) v ON true
LEFT JOIN LATERAL (SELECT * FROM improvement_impact WHERE proposal_id = pr.id
    ORDER BY measured_at DESC LIMIT 1) i ON true
{SCOPE} AND $__timeFilter(pr.created_at)
ORDER BY pr.created_at DESC LIMIT 200
"""
BY_STATUS = f"""
SELECT pr.status, count(*) AS proposals FROM improvement_proposals pr {SCOPE} AND $__timeFilter(pr.created_at)
GROUP BY 1 ORDER BY array_position(ARRAY[{", ".join(f"'{s}'" for s in PROPOSAL_STATUSES)}], pr.status)
"""
IMPACT = f"""
SELECT i.measured_at AS "measured", pr.title, i.rollout_percent AS "rollout %", i.metric,
    i.before_value AS "before", i.after_value AS "after", i.p_value AS "p", i.significant,
    i.roi_usd AS "ROI (USD / 30 days)"
FROM improvement_impact i JOIN improvement_proposals pr ON pr.id = i.proposal_id
{SCOPE} AND $__timeFilter(i.measured_at)
ORDER BY i.measured_at DESC LIMIT 100
"""
AUDIT = """
SELECT l.created_at AS "when", l.actor, l.action, l.before::text AS "before", l.after::text AS "after"
FROM audit_log l JOIN projects p ON p.id = l.project_id
WHERE p.slug = '$project' AND l.entity_type = 'proposal' AND l.entity_id = '$proposal'
ORDER BY l.created_at, l.id
"""
PROPOSAL = f"/api/v1/proposals/{field('id')}"


def proposals_table():
    table = table_panel(
        "Proposals",
        "Proposals created in the time range, newest first, with their latest validation and impact. title "
        "links to the proposal's JSON and its audit trail; status approves, rejects, validates, rolls out "
        "or rolls back.",
        "short",
        SqlQuery(PROPOSALS),
        height=12,
    )
    table = column(
        table, "confidence", "baseline pass", "candidate pass", "expected gain", unit="percentunit"
    )
    table = column(
        table,
        "title",
        links=[
            data_link("Proposal JSON (API)", f"{API}{PROPOSAL}"),
            data_link("API docs: read a proposal", docs("proposals-get_proposal")),
            data_link(
                "Audit trail", f"/d/{UIDS['proposals']}?var-project=$project&var-proposal={field('id')}"
            ),
        ],
    )
    decision = {"reviewer": GRAFANA_USER, "comment": "$comment"}
    by = {"by": GRAFANA_USER}
    return column(
        table,
        "status",
        actions=[
            api_action(
                "Approve",
                f"{PROPOSAL}/approve",
                decision,
                confirmation="Approve this validated proposal?",
                variables={"comment": "Comment"},
            ),
            api_action(
                "Reject",
                f"{PROPOSAL}/reject",
                decision,
                confirmation="Reject this proposal?",
                variables={"comment": "Comment"},
            ),
            api_action(
                "Validate",
                "/api/v1/control/validate-proposal",
                {"proposal_id": field("id")},
                confirmation="Replay the golden dataset with this proposal's candidate config?",
            ),
            api_action(
                "Roll out (next stage)",
                f"{PROPOSAL}/rollout",
                by,
                confirmation="Start the rollout, or move it to its next stage?",
            ),
            api_action(
                "Roll back",
                f"{PROPOSAL}/rollback",
                {**by, "reason": "$reason"},
                confirmation="Take this proposal's candidate config off all traffic?",
                variables={"reason": "Reason"},
            ),
        ],
        links=[data_link("API docs: approve, reject, roll out", docs("proposals-approve_proposal"))],
    )


def build():
    dashboard = base(
        UIDS["proposals"],
        "metamon / Proposals",
        "Improvement proposals from root cause to validation, rollout and impact, with their audit trail.",
        ["proposals"],
        datasources=[("postgres", "grafana-postgresql-datasource", "PostgreSQL")],
    )
    for variable in (
        custom_variable("status", "Status", PROPOSAL_STATUSES),
        sql_variable("type", "Type", TYPES),
        sql_variable("proposal", "Proposal (audit trail)", ONE_PROPOSAL, multi=False),
    ):
        dashboard = dashboard.with_variable(variable)
    return (
        dashboard.with_panel(proposals_table())
        .with_panel(
            barchart_panel(
                "Proposals by status",
                "Proposals created in the time range, per workflow state.",
                "short",
                SqlQuery(BY_STATUS),
            )
        )
        .with_panel(
            table_panel(
                "Impact per rollout stage",
                "Before/after of each rollout stage against the control group, its significance and ROI.",
                "short",
                SqlQuery(IMPACT),
                span=12,
            )
        )
        .with_panel(
            table_panel(
                "Audit trail of the chosen proposal",
                "Every state change of the proposal picked above: who, when, from what to what.",
                "short",
                SqlQuery(AUDIT),
            )
        )
    )
