"""Fact accuracy on hand-written traces with known scores."""

import pytest

from metamon.agents.evaluation.evaluators.fact_accuracy import FactAccuracy
from tests.agents.evaluation.traces import trace

evaluator = FactAccuracy()


@pytest.mark.parametrize(
    "facts,output,expected,missing,contradicted",
    [
        (["Refunds take 30 days"], "You will get your refund within 30 days.", 1.0, [], []),
        (["The fee is $1,299"], "It costs 1299 USD.", 1.0, [], []),
        (["Refunds take 30 days"], "Refunds take 14 days.", 0.0, [], ["Refunds take 30 days"]),
        (
            ["Refunds take 30 days", "Paris is the capital"],
            "Refunds take 30 days.",
            0.5,
            ["Paris is the capital"],
            [],
        ),
        (["The launch was on March 5, 2024"], "It launched 2024-03-05.", 1.0, [], []),
        (
            ["The launch was on March 5, 2024"],
            "The launch happened on 6 March 2024.",
            0.0,
            [],
            ["The launch was on March 5, 2024"],
        ),
        (['The motto is "always be shipping"'], "Their motto: always be shipping!", 1.0, [], []),
        (
            ['The motto is "always be shipping"'],
            "Their motto is to ship often.",
            0.0,
            ['The motto is "always be shipping"'],
            [],
        ),
        # two right, one contradicted, one missing: (2 - 1) / 4
        (
            ["Dose is 500 mg", "Take it twice daily", "Max 4 doses", "Avoid alcohol"],
            "Dose is 250 mg. Take it twice daily with food. Max 4 doses a day.",
            0.25,
            ["Avoid alcohol"],
            ["Dose is 500 mg"],
        ),
    ],
)
def test_reference_facts(facts, output, expected, missing, contradicted):
    score = evaluator.evaluate(trace(output=output, reference={"facts": facts}))
    assert score.score == pytest.approx(expected)
    assert score.details["missing"] == missing
    assert score.details["contradicted"] == contradicted
    assert score.passed is (expected >= 0.9)
    for fact in missing + contradicted:
        assert fact in score.reason


def test_expected_answer_is_split_into_facts():
    score = evaluator.evaluate(
        trace(
            output="Refunds take 30 days. Shipping is free.",
            reference={"expected_answer": "Refunds take 30 days. Shipping costs $5."},
        )
    )
    assert score.score == pytest.approx(0.5)


def test_groundedness_without_a_reference():
    context = [
        {"source_id": "kb-1", "content": "Refunds are paid within 30 days of the return being received."}
    ]
    grounded = evaluator.evaluate(
        trace(output="Refunds are paid within 30 days of the return.", retrieved_context=context)
    )
    assert grounded.score == 1.0 and grounded.details["mode"] == "groundedness"
    half = evaluator.evaluate(
        trace(
            output="Refunds are paid within 30 days. Premium members get lounge access.",
            retrieved_context=context,
        )
    )
    assert half.score == pytest.approx(0.5)
    assert "Premium members get lounge access." in half.reason
    wrong_number = evaluator.evaluate(
        trace(output="Refunds are paid within 45 days of the return.", retrieved_context=context)
    )
    assert wrong_number.score == 0.0


def test_not_applicable_without_reference_or_context():
    assert evaluator.evaluate(trace(output="Hello")) is None
    assert (evaluator.kind, evaluator.direction) == ("code", "maximize")
