"""Evidence for one segment in the alert's window: failing trace ids, the failure reasons grouped with
counts, and the facts the playbook needs (the segment's usual top_k, the guardrail rules that failed)."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from agents.research.metrics import Metric
from agents.research.segments import Segment
from agents.research.sql import DIMENSIONS, metric_params, metric_rows


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
    *,
    project_id,
    app: str | None,
    window: tuple[datetime, datetime],
    max_traces: int,
    max_reasons: int,
) -> Evidence:
    rows, scope, failed = metric_rows(metric, app)
    where = (
        f"{scope} AND t.timestamp >= :window_start AND t.timestamp < :window_end "
        f"AND {DIMENSIONS[segment.dimension]} = :value"
    )
    params = metric_params(metric, project_id, app) | {
        "window_start": window[0],
        "window_end": window[1],
        "value": segment.value,
        "max_traces": max_traces,
        "max_reasons": max_reasons,
    }

    def query(sql: str) -> list:
        return session.execute(text(sql), params).all()

    trace_ids = query(
        f"SELECT t.id FROM {rows} WHERE {where} AND {failed} "
        "ORDER BY t.timestamp DESC, t.id LIMIT :max_traces"
    )
    # The error ratio has no evaluator: its failures are grouped by the error type the app reported.
    reason = "coalesce(t.error_type, 'error')" if metric.evaluator is None else "e.reason"
    reasons = query(
        f"SELECT {reason} AS reason, count(*) AS n FROM {rows} WHERE {where} AND {failed} "
        "GROUP BY 1 ORDER BY n DESC, reason LIMIT :max_reasons"
    )
    top_k = query(
        f"SELECT (t.metadata ->> 'top_k')::int AS top_k, count(*) AS n FROM {rows} WHERE {where} "
        "AND t.metadata ->> 'top_k' ~ '^[0-9]{1,6}$' GROUP BY 1 ORDER BY n DESC, top_k LIMIT 1"
    )
    rules = []
    if metric.evaluator == "guardrails":
        rules = query(
            f"SELECT rule, count(*) AS n FROM {rows} "
            "CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(e.details -> 'failed') = 'object' "
            "THEN e.details -> 'failed' ELSE '{}'::jsonb END) AS rule "
            f"WHERE {where} AND {failed} GROUP BY rule ORDER BY n DESC, rule"
        )
    return Evidence(
        trace_ids=[str(r.id) for r in trace_ids],
        reasons=[{"reason": r.reason, "count": r.n} for r in reasons],
        top_k=top_k[0].top_k if top_k else None,
        guardrail_rules=[{"rule": r.rule, "count": r.n} for r in rules],
    )
