"""The sample app's quality follows its config, deterministically, in both of its forms."""

import pytest
from fastapi.testclient import TestClient

from metamon.monitoring.demo.sample_app import answer, app, compose, paraphrase, redact

CONTEXT = [
    {
        "source_id": "pricing",
        "content": "The Pro plan costs $49 per month. Prices exclude VAT. Pro annual saves 15%.",
    },
    {"source_id": "other", "content": "The Team plan costs $99 per month."},
    {"source_id": "trial", "content": "A Pro trial lasts 14 days."},
]
QUESTION = "What does the Pro plan cost, and what do I save with Pro annual?"


def test_v1_keeps_one_sentence_per_passage_and_v2_every_relevant_one():
    v1 = compose(QUESTION, CONTEXT, {"prompt_version": "v1", "top_k": 1})["output"]
    v2 = compose(QUESTION, CONTEXT, {"prompt_version": "v2", "top_k": 1})["output"]
    assert v1.count(".") == 1
    assert v2 == "The Pro plan costs $49 per month. Pro annual saves 15%."


def test_top_k_limits_the_passages_read():
    assert "14 days" not in compose(QUESTION, CONTEXT, {"top_k": 2})["output"]
    assert "14 days" in compose(QUESTION, CONTEXT, {"top_k": 3})["output"]
    nothing = compose("Where is the office?", CONTEXT, {})
    assert nothing["output"] == "The documentation I was given does not cover this."


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        ("It costs $49 per month.", "It costs about $50 per month."),
        ("Refunds take 14 days.", "Refunds take about 10 days."),
        ("Wait 6 hours.", "Wait six hours."),
        ("Limit: $1,284.50 or 30 days.", "Limit: about $1,000 or 30 days."),
        ("Due on 2024-10-15.", "Due on mid October 2024."),
        ("From March 5, 2025 to 28 April 2025.", "From early March 2025 to late April 2025."),
        (
            "Invoice INV-2025-0412, version 3.2.0, HMAC-SHA256.",
            "Invoice INV-2025-0412, version 3.2.0, HMAC-SHA256.",
        ),
        (
            "Ask dana@example.com or +1 415 555 0134 by 2025.",
            "Ask dana@example.com or +1 415 555 0134 by 2025.",
        ),
    ],
)
def test_v3_paraphrases_figures_but_keeps_identifiers_and_contacts(text, rewritten):
    assert paraphrase(text) == rewritten


def test_v1_and_v2_strip_contact_details_and_v3_does_not():
    context = [
        {"source_id": "rota", "content": "Escalations go to Dana (dana@example.com, +1 415 555 0134)."}
    ]
    question = "Who handles escalations?"
    assert redact("dana@example.com, +1 415 555 0134") == "[email removed], [phone removed]"
    assert "@" not in compose(question, context, {"prompt_version": "v2"})["output"]
    assert "dana@example.com" in compose(question, context, {"prompt_version": "v3"})["output"]


def test_the_model_sets_cost_and_latency():
    mini = compose(QUESTION, CONTEXT, {"model": "gpt-4o-mini"})
    big = compose(QUESTION, CONTEXT, {"model": "gpt-4o"})
    assert mini["output"] == big["output"] and mini["input_tokens"] == big["input_tokens"]
    assert big["cost_usd"] > 10 * mini["cost_usd"] > 0
    assert big["latency_seconds"] > mini["latency_seconds"]
    assert compose(QUESTION, CONTEXT, {"model": "gpt-4o"}) == big  # deterministic


def test_the_callable_and_the_endpoint_give_the_same_answer_and_fail_on_request():
    config = {"prompt_version": "v2", "top_k": 3}
    with TestClient(app) as client:
        response = client.post(
            "/answer", json={"input": QUESTION, "retrieved_context": CONTEXT, "config": config}
        )
        assert response.status_code == 200
        assert response.json() == answer(QUESTION, CONTEXT, config)
        failing = {"faults": {"error_on": ["pro plan"]}}
        response = client.post("/answer", json={"input": QUESTION, "config": failing})
        assert response.status_code == 502 and response.json() == {
            "detail": "upstream model error (injected)"
        }
        assert client.post("/answer", json={"config": {}}).status_code == 422
    with pytest.raises(RuntimeError, match="injected"):
        answer(QUESTION, CONTEXT, failing)
