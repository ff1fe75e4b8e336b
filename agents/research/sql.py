"""The rows (traces, joined to the metric's evaluation) that a metric is counted over, shared by the
segment counts, the onset, the pair counts and the evidence queries. Every value from outside is a
bound parameter."""

from metamon.agents.research.metrics import Metric


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


# The alert's window, and the window or the baseline: the rows research counts. Parameters from periods().
IN_WINDOW = "t.timestamp >= :window_start AND t.timestamp < :window_end"
IN_PERIODS = f"(({IN_WINDOW}) OR (t.timestamp >= :baseline_start AND t.timestamp < :baseline_end))"


def periods(window, baseline) -> dict:
    return {
        "window_start": window[0],
        "window_end": window[1],
        "baseline_start": baseline[0],
        "baseline_end": baseline[1],
    }
