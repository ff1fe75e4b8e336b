"""Evidence for one segment in the alert's window: failing trace ids, the failure reasons grouped with
counts, and the facts the playbook needs (the segment's usual top_k, the guardrail rules that failed)."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.agents.research.dimensions import SizeBuckets, predicate
from metamon.agents.research.metrics import Metric
from metamon.agents.research.segments import Segment
from metamon.agents.research.sql import IN_WINDOW
from metamon.monitoring.statistics.failures import metric_params, metric_rows


@dataclass(frozen=True)
class Evidence:
    trace_ids: list[str]
    reasons: list[dict]
    top_k: int | None = None
    guardrail_rules: list[dict] = field(default_factory=list)


def collect(
    session: Session,
    metric: Metric,
    segment: Segment,
    sizes: SizeBuckets,
    *,
    project_id,
    app: str | None,
    window: tuple[datetime, datetime],
    max_traces: int,
    max_reasons: int,
) -> Evidence:
    rows, scope, failed = metric_rows(metric, app)
    # The error ratio has no evaluator: its failures are grouped by the error type the app reported.
    reason = "coalesce(t.error_type, 'error')" if metric.evaluator is None else "e.reason"
    rules = "e.details -> 'failed'" if metric.evaluator == "guardrails" else "NULL::jsonb"
    held = [predicate(d, v, sizes, f"p{i}") for i, (d, v) in enumerate(segment.parts)]
    conds = [c for c, _ in held]
    # One pass over the segment's rows in the window; the four answers are read from it.
    sql = f"""
        WITH seg AS MATERIALIZED (
            SELECT t.id, t.timestamp, {failed} AS failed, {reason} AS reason,
                   t.metadata ->> 'top_k' AS top_k, {rules} AS rules
            FROM {rows}
            WHERE {scope} AND {IN_WINDOW}
              AND {" AND ".join(conds)}
        )
        SELECT
            ARRAY(SELECT id::text FROM seg WHERE failed ORDER BY timestamp DESC, id LIMIT :max_traces)
                AS trace_ids,
            (SELECT coalesce(json_agg(json_build_object('reason', reason, 'count', n)
                                      ORDER BY n DESC, reason), '[]')
             FROM (SELECT reason, count(*) AS n FROM seg WHERE failed
                   GROUP BY reason ORDER BY n DESC, reason LIMIT :max_reasons) r) AS reasons,
            (SELECT top_k::int FROM seg WHERE top_k ~ '^[0-9]{{1,6}}$'
             GROUP BY top_k ORDER BY count(*) DESC, top_k::int LIMIT 1) AS top_k,
            (SELECT coalesce(json_agg(json_build_object('rule', rule, 'count', n)
                                      ORDER BY n DESC, rule), '[]')
             FROM (SELECT rule, count(*) AS n FROM seg
                   CROSS JOIN LATERAL jsonb_object_keys(
                       CASE WHEN jsonb_typeof(rules) = 'object' THEN rules ELSE '{{}}'::jsonb END) AS rule
                   WHERE failed GROUP BY rule) g) AS rules
    """
    params = metric_params(metric, project_id, app) | {
        "window_start": window[0],
        "window_end": window[1],
        "max_traces": max_traces,
        "max_reasons": max_reasons,
    }
    for _, p in held:
        params |= p
    found = session.execute(text(sql), params).one()
    return Evidence(
        trace_ids=list(found.trace_ids),
        reasons=found.reasons,
        top_k=found.top_k,
        guardrail_rules=found.rules,
    )
