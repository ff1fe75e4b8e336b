"""Latency SLA and errors: a trace passes when it succeeded within its app's latency SLA."""

from metamon.agents.evaluation.evaluators.base import Evaluator, Score, TraceLike


class Sla(Evaluator):
    name = "sla"
    kind = "code"
    direction = "maximize"

    def __init__(self, latency_seconds: dict[str, float]):
        self.latency = latency_seconds

    def limit(self, app: str) -> float:
        return self.latency.get(app, self.latency.get("default", 2.0))

    def evaluate(self, trace: TraceLike) -> Score | None:
        if trace.status == "error":
            return Score(0.0, False, f"error: {trace.error_type or 'unknown'}", {"error": True})
        if trace.latency_seconds is None:
            return None
        limit = self.limit(trace.app)
        ok = trace.latency_seconds <= limit
        verb = "within" if ok else "over"
        return Score(
            1.0 if ok else 0.0,
            ok,
            f"{trace.latency_seconds:.3f}s {verb} the {limit:g}s SLA",
            {"latency_seconds": trace.latency_seconds, "sla_seconds": limit},
        )
