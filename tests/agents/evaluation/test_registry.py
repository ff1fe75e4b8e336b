"""Every evaluator declares a unique name, a kind and a direction, and scores within [0, 1]."""

from metamon.agents.evaluation.registry import build_evaluators
from metamon.monitoring.db.models.evaluations import EVALUATOR_KINDS
from metamon.monitoring.settings import Settings
from tests.agents.evaluation.traces import trace


def test_evaluators_are_well_formed_and_scores_stay_in_the_unit_interval():
    evaluators = build_evaluators(Settings())
    names = [e.name for e in evaluators]
    assert len(names) == len(set(names))
    sample = trace(
        output="Refunds take 30 days. Mail jane@example.com.",
        reference={"facts": ["30 days"]},
        latency_seconds=3.0,
        input_tokens=100,
        output_tokens=50,
    )
    for evaluator in evaluators:
        assert evaluator.kind in EVALUATOR_KINDS and evaluator.direction in ("maximize", "minimize")
        usable, why = evaluator.available()
        assert usable or why
        score = evaluator.evaluate(sample) if usable else None
        if score is not None and score.score is not None:
            assert 0 <= score.score <= 1, evaluator.name
