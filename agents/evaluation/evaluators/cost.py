"""Cost: the trace's own cost, or its tokens times the configured price table; fails over budget.
The score is the share of the per-trace budget left (0 when over it); the cost itself is a detail."""

from metamon.agents.evaluation.evaluators.base import Evaluator, Score, TraceLike


class Cost(Evaluator):
    name = "cost"
    kind = "code"
    direction = "maximize"

    def __init__(self, prices: dict[str, dict[str, float]], budget_usd: float):
        self.prices, self.budget = prices, budget_usd

    def cost_usd(self, trace: TraceLike) -> tuple[float | None, str]:
        if trace.cost_usd is not None:
            return trace.cost_usd, "reported by the application"
        price = self.prices.get(trace.model or "")
        if price is None or trace.input_tokens is None and trace.output_tokens is None:
            return None, ""
        cost = (
            (trace.input_tokens or 0) * price["input"] + (trace.output_tokens or 0) * price["output"]
        ) / 1000
        return (
            cost,
            f"{trace.input_tokens or 0} in + {trace.output_tokens or 0} out tokens at {trace.model} prices",
        )

    def evaluate(self, trace: TraceLike) -> Score | None:
        cost, source = self.cost_usd(trace)
        if cost is None:
            return None
        ok = cost <= self.budget
        return Score(
            max(0.0, 1 - cost / self.budget) if self.budget else 0.0,
            ok,
            f"${cost:.5f} ({source}), budget ${self.budget:g}",
            {"cost_usd": cost},
        )
