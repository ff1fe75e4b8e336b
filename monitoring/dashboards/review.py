"""metamon-review: the expert review queue (size and age), the labels per reviewer and issue category,
how far reviewers agree with each other (Cohen's kappa per pair, as monitoring/review/agreement.py) and
how far the evaluators agree with the experts."""

from metamon.monitoring.dashboards.panels import (
    SqlQuery,
    barchart_panel,
    bargauge_panel,
    base,
    column,
    promql,
    sql_variable,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models.review import LABELS
from metamon.monitoring.settings import ReviewSettings

QUEUE_DAYS = ReviewSettings.model_fields["queue_days"].default
MARGIN = ReviewSettings.model_fields["borderline_margin"].default
LABEL_SCOPE = """JOIN projects p ON p.id = l.project_id
WHERE p.slug = '$project' AND l.reviewer IN ($reviewer)"""
REVIEWERS = """
SELECT DISTINCT l.reviewer FROM review_labels l JOIN projects p ON p.id = l.project_id
WHERE p.slug = '$project' ORDER BY 1
"""
# Tier 1 of the queue (monitoring/review/queue.py, the exporter's metamon_review_queue_traces) over the
# default review window: unlabelled traces with a failing or borderline evaluator score.
QUEUE = f"""
FROM traces t JOIN projects p ON p.id = t.project_id
WHERE p.slug = '$project' AND t.timestamp >= now() - interval '{QUEUE_DAYS} days'
    AND NOT EXISTS (SELECT 1 FROM review_labels l WHERE l.trace_id = t.id)
    AND EXISTS (SELECT 1 FROM trace_evaluations e WHERE e.trace_id = t.id
        AND (e.passed IS FALSE OR abs(e.score - 0.5) <= {MARGIN}))
"""
QUEUE_BY_AGE = f"""
SELECT CASE WHEN now() - t.timestamp < interval '1 hour' THEN '< 1 h'
    WHEN now() - t.timestamp < interval '1 day' THEN '1-24 h'
    WHEN now() - t.timestamp < interval '7 days' THEN '1-7 days' ELSE '> 7 days' END AS age,
    count(*) AS traces
{QUEUE} GROUP BY 1 ORDER BY min(now() - t.timestamp)
"""
OLDEST = f"SELECT max(extract(epoch FROM now() - t.timestamp)) AS oldest {QUEUE}"
PER_LABEL = ", ".join(f"count(*) FILTER (WHERE l.label = '{x}') AS {x}" for x in LABELS)
PER_REVIEWER = f"""
SELECT l.reviewer, {PER_LABEL}
FROM review_labels l {LABEL_SCOPE} AND $__timeFilter(l.updated_at)
GROUP BY 1 ORDER BY 1
"""
PER_CATEGORY = f"""
SELECT c.category, count(*) AS labels
FROM review_labels l CROSS JOIN LATERAL unnest(l.issue_categories) AS c(category) {LABEL_SCOPE}
    AND $__timeFilter(l.updated_at)
GROUP BY 1 ORDER BY 2 DESC, 1
"""
LABELS_OVER_TIME = f"""
SELECT $__timeGroupAlias(l.updated_at, '1h'), l.reviewer AS metric, count(*) AS labels
FROM review_labels l {LABEL_SCOPE} AND $__timeFilter(l.updated_at)
GROUP BY 1, 2 ORDER BY 1
"""
# Cohen's kappa of each pair over the traces both labelled: observed agreement against the agreement
# expected from each reviewer's own label shares; NULL (undefined) when that expectation is 1.
KAPPA = f"""
WITH l AS (SELECT l.trace_id, l.reviewer, l.label FROM review_labels l {LABEL_SCOPE}),
pairs AS (SELECT a.reviewer AS a, b.reviewer AS b, a.label AS la, b.label AS lb
    FROM l a JOIN l b ON a.trace_id = b.trace_id AND a.reviewer < b.reviewer),
observed AS (SELECT a, b, count(*) AS n, avg((la = lb)::int)::float AS po FROM pairs GROUP BY a, b),
margins AS (SELECT a, b, k, sum((la = k)::int) AS ca, sum((lb = k)::int) AS cb
    FROM pairs CROSS JOIN unnest(ARRAY[{", ".join(f"'{x}'" for x in LABELS)}]) AS k GROUP BY a, b, k),
expected AS (SELECT m.a, m.b, sum(m.ca * m.cb)::float / (o.n * o.n) AS pe
    FROM margins m JOIN observed o USING (a, b) GROUP BY m.a, m.b, o.n)
SELECT o.a || ' & ' || o.b AS reviewers, o.n AS "shared traces", o.po AS "observed agreement",
    (o.po - e.pe) / nullif(1 - e.pe, 0) AS kappa
FROM observed o JOIN expected e USING (a, b) ORDER BY 1
"""
# An evaluator agrees with an expert when it passed a trace labelled pass, or failed one labelled fail.
EVALUATOR_AGREEMENT = f"""
SELECT e.evaluator, avg(((l.label = 'pass') = e.passed)::int) AS agreement, count(*) AS labels
FROM review_labels l JOIN trace_evaluations e ON e.trace_id = l.trace_id {LABEL_SCOPE}
    AND l.label IN ('pass', 'fail') AND e.passed IS NOT NULL AND $__timeFilter(l.updated_at)
GROUP BY 1 ORDER BY 1
"""


def build():
    dashboard = base(
        UIDS["review"],
        "metamon / Expert review",
        "The expert review queue and its progress: labels per reviewer and category, agreement between "
        "reviewers and between the evaluators and the experts.",
        ["review"],
        datasources=[("postgres", "grafana-postgresql-datasource", "PostgreSQL")],
    )
    dashboard = dashboard.with_variable(sql_variable("reviewer", "Reviewer", REVIEWERS))
    return (
        dashboard.with_panel(
            stat_panel(
                "Review queue",
                "Traces waiting for an expert label (MetamonReviewBacklogHigh above its limit).",
                "short",
                promql('max(metamon_review_queue_traces{project="$project"})', instant=True),
            )
        )
        .with_panel(
            stat_panel(
                "Oldest trace in the queue",
                f"Age of the oldest unlabelled trace with a failing or borderline score (last {QUEUE_DAYS} days).",
                "s",
                SqlQuery(OLDEST),
            )
        )
        .with_panel(
            bargauge_panel(
                "Queue by age",
                "Traces waiting for review, by how long ago they happened.",
                "short",
                SqlQuery(QUEUE_BY_AGE),
                span=16,
            )
        )
        .with_panel(
            barchart_panel(
                "Labels per reviewer",
                "Labels each reviewer gave or changed in the time range, per label.",
                "short",
                SqlQuery(PER_REVIEWER),
            )
        )
        .with_panel(
            barchart_panel(
                "Labels per issue category",
                "Issue categories the reviewers named in the time range.",
                "short",
                SqlQuery(PER_CATEGORY),
            )
        )
        .with_panel(
            timeseries_panel(
                "Labels over time",
                "Labels given per hour, per reviewer: the review's progress.",
                "short",
                SqlQuery(LABELS_OVER_TIME, "time_series"),
                min=0,
            )
        )
        .with_panel(
            column(
                table_panel(
                    "Agreement between reviewers",
                    "Cohen's kappa of each pair of reviewers over the traces both labelled (1 perfect, 0 chance).",
                    "short",
                    SqlQuery(KAPPA),
                    span=12,
                ),
                "observed agreement",
                unit="percentunit",
            )
        )
        .with_panel(
            column(
                bargauge_panel(
                    "Evaluators against the experts",
                    "Share of expert pass/fail labels each evaluator's verdict matches, in the time range.",
                    "percentunit",
                    SqlQuery(EVALUATOR_AGREEMENT),
                ),
                "labels",
                unit="short",
            )
        )
    )
