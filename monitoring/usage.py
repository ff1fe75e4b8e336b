"""Usage counters: each trace adds to its app's request, error, token, cost, SLA and latency counters
exactly once, in the transaction that makes it complete. A trace whose timestamp is older than
`backfill_after_seconds` on arrival adds to the backfill row of its key instead: the exporter publishes
those apart, so a backfill or an SDK flushing its backlog never looks like a burst of live traffic.

The counting is one SQL statement: mark the not-yet-counted traces (`counted_at`), aggregate what the
marking returned, and add it to `usage_counters`. Several API workers or replicas can run it at once;
rows are upserted in key order so concurrent batches never deadlock."""

import uuid
from collections.abc import Iterable

from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.monitoring.settings import Settings

# An OTLP trace is complete once its root span is stored; a REST trace is complete when sent.
_ROOT_SPAN_STORED = (
    "AND EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = traces.id AND s.parent_span_id IS NULL)"
)


def _statement(buckets: list[float], require_root_span: bool) -> str:
    bucket_counts = ", ".join(f"count(*) FILTER (WHERE latency_seconds <= {float(b)!r})" for b in buckets)
    return f"""
WITH counted AS (
    UPDATE traces SET counted_at = now()
    WHERE id = ANY(:ids) AND counted_at IS NULL {_ROOT_SPAN_STORED if require_root_span else ""}
    RETURNING project_id, app, coalesce(model, 'unknown') AS model, status,
        timestamp < now() - make_interval(secs => :backfill_after) AS backfill, latency_seconds,
        coalesce(input_tokens, 0) AS input_tokens, coalesce(output_tokens, 0) AS output_tokens,
        coalesce(cost_usd, (coalesce(input_tokens, 0) * (CAST(:prices AS jsonb) -> model ->> 'input')::float
            + coalesce(output_tokens, 0) * (CAST(:prices AS jsonb) -> model ->> 'output')::float) / 1000,
            0) AS cost_usd,
        latency_seconds > coalesce((CAST(:sla AS jsonb) ->> app)::float,
            (CAST(:sla AS jsonb) ->> 'default')::float) AS slow
)
INSERT INTO usage_counters AS u (project_id, app, model, status, backfill, requests, sla_violations,
    input_tokens, output_tokens, cost_usd, latency_buckets, latency_count, latency_sum)
SELECT project_id, app, model, status, backfill, count(*), count(*) FILTER (WHERE slow), sum(input_tokens),
    sum(output_tokens), sum(cost_usd), ARRAY[{bucket_counts}]::bigint[], count(latency_seconds),
    coalesce(sum(latency_seconds), 0)
FROM counted GROUP BY project_id, app, model, status, backfill
ORDER BY project_id, app, model, status, backfill
ON CONFLICT (project_id, app, model, status, backfill) DO UPDATE SET
    requests = u.requests + EXCLUDED.requests,
    sla_violations = u.sla_violations + EXCLUDED.sla_violations,
    input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
    cost_usd = u.cost_usd + EXCLUDED.cost_usd,
    latency_buckets = ARRAY(SELECT a + b FROM unnest(u.latency_buckets, EXCLUDED.latency_buckets)
        WITH ORDINALITY AS t(a, b, i) ORDER BY i),
    latency_count = u.latency_count + EXCLUDED.latency_count,
    latency_sum = u.latency_sum + EXCLUDED.latency_sum
"""


def count_usage(
    session: Session, settings: Settings, trace_ids: Iterable[uuid.UUID], *, require_root_span: bool = False
) -> None:
    ids = list(trace_ids)
    if not ids:
        return
    session.execute(
        text(_statement(settings.usage.latency_buckets_seconds, require_root_span)),
        {
            "ids": ids,
            "prices": Jsonb(settings.evaluation.model_prices),
            "sla": Jsonb(settings.evaluation.sla_latency_seconds),
            "backfill_after": settings.usage.backfill_after_seconds,
        },
    )
