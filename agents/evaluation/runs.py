"""Evaluation runs: one row per project/app (and per project/app/model/domain) summarising a window of
scored traces, with its deltas against the previous run of the same scope and against a baseline (the
scope's pinned run, else the trailing days before the window)."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metamon.monitoring.catalogue import MEASURES
from metamon.monitoring.db.models import EvaluationRun

METRICS = tuple(m.column for m in MEASURES)

# Per trace: its scores pivoted, and the reviewers' majority label. Then one row per scope; the app-wide
# grouping set has NULL model and domain (a trace without a model is 'unknown', never NULL).
_WINDOW = """
WITH scored AS (
    SELECT t.id, t.project_id, t.app, coalesce(t.model, 'unknown') AS model,
        coalesce(t.domain, 'unknown') AS domain, t.status, t.latency_seconds,
        max(e.score) FILTER (WHERE e.evaluator = 'fact_accuracy') AS fact,
        bool_and(e.passed) FILTER (WHERE e.evaluator = 'guardrails') AS guard,
        bool_and(e.passed) FILTER (WHERE e.evaluator = 'sla') AS sla,
        max((e.details ->> 'cost_usd')::float) FILTER (WHERE e.evaluator = 'cost') AS cost,
        bool_and(e.passed) AS all_passed
    FROM traces t LEFT JOIN trace_evaluations e ON e.trace_id = t.id
    WHERE t.timestamp >= :start AND t.timestamp < :end AND (CAST(:project AS uuid) IS NULL
        OR t.project_id = CAST(:project AS uuid))
    GROUP BY t.id
), labelled AS (
    SELECT s.*, (SELECT mode() WITHIN GROUP (ORDER BY l.label) FROM review_labels l
        WHERE l.trace_id = s.id AND l.label IN ('pass', 'fail')) AS label
    FROM scored s
)
SELECT project_id, app, CASE WHEN grouping(model) = 0 THEN model END AS model,
    CASE WHEN grouping(domain) = 0 THEN domain END AS domain, count(*) AS trace_count,
    avg(fact) AS fact_accuracy, avg(guard::int)::float AS guardrail_pass_rate,
    avg(sla::int)::float AS sla_compliance,
    avg((status = 'error')::int)::float AS error_rate, avg(cost) AS cost_per_request_usd,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_seconds) AS latency_p50_seconds,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_seconds) AS latency_p95_seconds,
    (avg((all_passed = (label = 'pass'))::int) FILTER (WHERE label IS NOT NULL))::float
        AS expert_agreement
FROM labelled
GROUP BY GROUPING SETS ((project_id, app), (project_id, app, model, domain))
"""

Scope = tuple[uuid.UUID, str, str | None, str | None]
SCOPE_WINDOW = ("project_id", "app", "model", "domain", "window_start", "window_end")


def window_metrics(
    session: Session, start: datetime, end: datetime, project_id: uuid.UUID | None = None
) -> dict[Scope, dict]:
    rows = session.execute(text(_WINDOW), {"start": start, "end": end, "project": project_id}).mappings()
    return {(r["project_id"], r["app"], r["model"], r["domain"]): dict(r) for r in rows}


def _delta(current: dict, reference: dict | None) -> dict[str, float]:
    if not reference:
        return {}
    return {
        m: current[m] - reference[m] for m in METRICS if current[m] is not None and reference[m] is not None
    }


def _metrics_of(run: EvaluationRun | None) -> dict | None:
    return {m: getattr(run, m) for m in METRICS} if run else None


def _latest(session: Session, scope: Scope, *conditions) -> EvaluationRun | None:
    project_id, app, model, domain = scope
    query = select(EvaluationRun).where(
        EvaluationRun.project_id == project_id,
        EvaluationRun.app == app,
        EvaluationRun.model.is_not_distinct_from(model),
        EvaluationRun.domain.is_not_distinct_from(domain),
        *conditions,
    )
    return session.scalar(query.order_by(EvaluationRun.window_end.desc(), EvaluationRun.created_at.desc()))


def of_length(window: timedelta):
    """Runs whose window is `window` long: an hourly and a daily run are different series."""
    return EvaluationRun.window_end - EvaluationRun.window_start == window


def write_runs(
    session: Session,
    *,
    end: datetime,
    window: timedelta,
    baseline_days: int,
    project_id: uuid.UUID | None = None,
    trigger: str = "scheduled",
) -> list[EvaluationRun]:
    """Write the runs of the window [end - window, end) for every scope with traces in it. A window
    evaluated again updates its runs (a pinned baseline stays pinned)."""
    start = end - window
    current = window_metrics(session, start, end, project_id)
    trailing = window_metrics(session, start - timedelta(days=baseline_days), start, project_id)
    rows = []
    for scope, metrics in sorted(current.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
        pinned = _latest(session, scope, EvaluationRun.is_baseline)
        previous = _latest(session, scope, of_length(window), EvaluationRun.window_end < end)
        rows.append(
            {
                "project_id": scope[0],
                "app": scope[1],
                "model": scope[2],
                "domain": scope[3],
                "window_start": start,
                "window_end": end,
                "trace_count": metrics["trace_count"],
                "delta_previous": _delta(metrics, _metrics_of(previous)),
                "delta_baseline": _delta(metrics, _metrics_of(pinned) or trailing.get(scope)),
                "trigger": trigger,
                **{m: metrics[m] for m in METRICS},
            }
        )
    if not rows:
        return []
    statement = insert(EvaluationRun).values(rows)
    updated = ("trace_count", "delta_previous", "delta_baseline", "trigger", *METRICS)
    statement = statement.on_conflict_do_update(
        index_elements=SCOPE_WINDOW,
        set_={**{c: statement.excluded[c] for c in updated}, "created_at": func.now()},
    ).returning(EvaluationRun)
    return list(session.scalars(statement, execution_options={"populate_existing": True}))
