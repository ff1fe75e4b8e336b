"""SQL fragments shared by the segment counts and the evidence queries: the dimensions a failure can
concentrate in, and the rows (traces, joined to the metric's evaluation) that a metric is counted over.
The fragments are constants of this module; every value from outside is a bound parameter."""

from metamon.agents.research.metrics import Metric

NONE = "(none)"

# Input sizes in UTF-8 bytes (characters for ASCII text); a bucket is named by its bounds. Bytes, because
# octet_length reads the stored size while length() counts characters: 5x slower on 100,000 traces.
INPUT_LENGTH_SQL = (
    "CASE WHEN octet_length(t.input) < 200 THEN '<200' WHEN octet_length(t.input) < 1000 THEN '200-1k' "
    "WHEN octet_length(t.input) < 4000 THEN '1k-4k' ELSE '>4k' END"
)
LONG_INPUT_BUCKETS = ("1k-4k", ">4k")

# In order of preference when two segments explain the failures equally well: the most actionable first.
DIMENSIONS: dict[str, str] = {
    "prompt_version": f"coalesce(t.prompt_version, '{NONE}')",
    "model": f"coalesce(t.model, '{NONE}')",
    "retrieval_source": f"coalesce(t.retrieved_context -> 0 ->> 'source_id', '{NONE}')",
    "domain": f"coalesce(t.domain, '{NONE}')",
    "input_length": INPUT_LENGTH_SQL,
    "app": "t.app",
}


def metric_rows(metric: Metric, app: str | None) -> tuple[str, str, str]:
    """(FROM clause, WHERE scope condition, failed expression) for the rows a metric is counted over.

    Evaluator metrics count the traces that evaluator scored (passed not null); the error ratio counts
    every trace. Parameters: :project_id, :app (when scoped), :evaluator (evaluator metrics)."""
    if metric.evaluator is None:
        rows, failed = "traces t", "t.status = 'error'"
    else:
        rows = (
            "traces t JOIN trace_evaluations e ON e.trace_id = t.id AND e.evaluator = :evaluator "
            "AND e.passed IS NOT NULL"
        )
        failed = "NOT e.passed"
    where = "t.project_id = :project_id" + (" AND t.app = :app" if app is not None else "")
    return rows, where, failed


def metric_params(metric: Metric, project_id, app: str | None) -> dict:
    params = {"project_id": project_id, "evaluator": metric.evaluator}
    if app is not None:
        params["app"] = app
    return params
