"""What a catalogue metric counts: the rows (traces, joined to its evaluator's verdict) and which of them
failed, as SQL fragments every counting query shares, and the counts themselves. Research explains a
metric, the monitor judges a rollout and impact measures it with these same definitions."""

from dataclasses import dataclass

from metamon.monitoring.catalogue import Metric


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


@dataclass(frozen=True)
class Counts:
    """Rows counted for a metric, and how many of them failed it."""

    n: int = 0
    failures: int = 0

    @property
    def rate(self) -> float:
        """The failure rate (0 over no rows)."""
        return self.failures / self.n if self.n else 0.0

    def value(self, metric: Metric) -> float | None:
        """The metric in its own units (a pass ratio, or a failure rate for minimised metrics); None over
        no rows."""
        return metric.value(self.rate) if self.n else None

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts(self.n - other.n, self.failures - other.failures)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.n + other.n, self.failures + other.failures)
