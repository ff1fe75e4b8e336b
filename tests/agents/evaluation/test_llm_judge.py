"""The LLM judge driven by LangChain's fake chat models, including malformed answers."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from metamon.agents.evaluation.evaluators.llm_judge import LlmJudge, load_prompt
from tests.agents.evaluation.traces import trace

GOOD = '{"score": 0.9, "passed": true, "reasoning": "States the 30-day window from the context."}'
CASE = trace(
    input="How long do refunds take?",
    output="30 days.",
    reference={"facts": ["30 days"]},
    retrieved_context=[{"content": "Refunds within 30 days."}],
)


def test_a_well_formed_verdict_becomes_the_score():
    score = LlmJudge(FakeListChatModel(responses=[GOOD])).evaluate(CASE)
    assert (score.score, score.passed, score.details["attempts"]) == (0.9, True, 1)
    assert score.reason == "States the 30-day window from the context."


def test_malformed_replies_are_retried_with_the_error():
    model = FakeListChatModel(
        responses=["Looks fine to me!", '{"score": 3, "passed": true, "reasoning": "x"}', GOOD]
    )
    score = LlmJudge(model, max_retries=2).evaluate(CASE)
    assert score.score == 0.9 and score.details["attempts"] == 3


def test_giving_up_after_the_retries_says_so():
    model = FakeListChatModel(responses=["no json here"] * 3)
    score = LlmJudge(model, max_retries=2).evaluate(CASE)
    assert score.score is None and score.passed is None
    assert "no readable verdict after 3 attempts" in score.reason
    assert len(score.details["errors"]) == 3


def test_without_a_model_the_judge_is_unavailable():
    judge = LlmJudge(None)
    assert judge.available() == (False, "no chat model configured")
    assert judge.evaluate(CASE) is None
    assert (judge.kind, judge.direction) == ("llm", "maximize")


def test_the_prompt_is_a_data_file_with_every_variable():
    prompt = load_prompt()
    for variable in ("{input}", "{output}", "{context}", "{reference}"):
        assert variable in prompt["human"]
    assert "{format_instructions}" in prompt["system"] and "{error}" in prompt["retry"]


def test_embedding_similarity_reports_itself_unavailable_without_the_extra():
    from importlib.util import find_spec

    from metamon.agents.evaluation.evaluators.embedding_similarity import EmbeddingSimilarity

    if find_spec("sentence_transformers") is not None:
        pytest.skip("the semantic extra is installed here")
    evaluator = EmbeddingSimilarity()
    usable, why = evaluator.available()
    assert not usable and "metamon[semantic]" in why
    assert evaluator.evaluate(trace(output="a", reference={"expected_answer": "a"})) is None
