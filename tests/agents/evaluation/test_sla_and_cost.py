"""SLA and cost on hand-written traces."""

import pytest

from metamon.agents.evaluation.evaluators.cost import Cost
from metamon.agents.evaluation.evaluators.sla import Sla
from tests.agents.evaluation.traces import trace

sla = Sla({"default": 2.0, "search": 0.5})
cost = Cost({"gpt-4o": {"input": 0.0025, "output": 0.01}}, budget_usd=0.05)


@pytest.mark.parametrize(
    "fields,score,passed",
    [
        ({"latency_seconds": 1.2}, 1.0, True),
        ({"latency_seconds": 2.5}, 0.0, False),
        ({"latency_seconds": 0.7, "app": "search"}, 0.0, False),  # the app's own, stricter SLA
        ({"latency_seconds": 0.1, "status": "error", "error_type": "Timeout"}, 0.0, False),
    ],
)
def test_sla(fields, score, passed):
    result = sla.evaluate(trace(**fields))
    assert (result.score, result.passed) == (score, passed)


def test_sla_does_not_apply_without_latency():
    assert sla.evaluate(trace()) is None


def test_cost_from_tokens_and_price_table():
    # 1000 in * 0.0025/1k + 2000 out * 0.01/1k = 0.0225 USD, 45% of the 0.05 budget
    result = cost.evaluate(trace(input_tokens=1000, output_tokens=2000))
    assert result.details["cost_usd"] == pytest.approx(0.0225)
    assert result.score == pytest.approx(0.55) and result.passed


def test_reported_cost_wins_and_over_budget_fails():
    result = cost.evaluate(trace(cost_usd=0.08, input_tokens=1, output_tokens=1))
    assert result.details["cost_usd"] == 0.08 and result.score == 0.0 and not result.passed


def test_cost_does_not_apply_to_unknown_models_without_a_cost():
    assert cost.evaluate(trace(model="mystery", input_tokens=10)) is None
