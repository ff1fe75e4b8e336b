import asyncio

import pytest

from metamon.sdk import Metamon


def client(receiver, **options) -> Metamon:
    return Metamon(receiver.url, "k", app="support-bot", prompt_version="v7", flush_interval=0.05, **options)


def test_a_trace_block_with_nested_spans_becomes_one_trace(receiver):
    metamon = client(receiver, domain="billing")

    @metamon.traced(kind="retrieval")
    def search(question, limit=2):
        return ["Refunds are paid within 30 days."]

    with metamon.trace(
        "answer", input="How long do refunds take?", tags=["beta"], metadata={"tier": "gold"}
    ) as run:
        docs = search("How long do refunds take?")
        run.add_document("kb-12", docs[0], score=0.9)
        with metamon.trace("llm call", kind="llm") as llm:
            llm.model, llm.input_tokens, llm.output_tokens = "gpt-4o", 120, 8
            llm.output = "Refunds take 30 days."
        run.output = llm.output
    assert metamon.flush(10)
    [trace] = receiver.traces
    assert (trace["app"], trace["prompt_version"], trace["domain"]) == ("support-bot", "v7", "billing")
    assert (trace["input"], trace["output"]) == ("How long do refunds take?", "Refunds take 30 days.")
    assert (trace["model"], trace["input_tokens"], trace["output_tokens"]) == ("gpt-4o", 120, 8)
    assert trace["retrieved_context"] == [
        {"source_id": "kb-12", "content": "Refunds are paid within 30 days.", "score": 0.9}
    ]
    assert (trace["tags"], trace["metadata"], trace["status"]) == (["beta"], {"tier": "gold"}, "ok")
    spans = {s["name"]: s for s in trace["spans"]}
    assert set(spans) == {
        "test_a_trace_block_with_nested_spans_becomes_one_trace.<locals>.search",
        "llm call",
    }
    retrieval = spans["test_a_trace_block_with_nested_spans_becomes_one_trace.<locals>.search"]
    assert retrieval["kind"] == "retrieval"
    assert retrieval["input"] == "How long do refunds take?"  # a single argument is sent as itself
    assert retrieval["parent_span_id"] == spans["llm call"]["parent_span_id"] == trace["id"].replace("-", "")
    assert trace["latency_seconds"] >= 0


def test_an_exception_is_recorded_and_reaches_the_application_unchanged(receiver):
    metamon = client(receiver)

    @metamon.traced("charge")
    def charge(amount):
        raise ValueError("card declined")

    with pytest.raises(ValueError, match="card declined"):
        charge(12)
    assert metamon.flush(10)
    [trace] = receiver.traces
    assert (trace["status"], trace["error_type"], trace["error_message"]) == (
        "error",
        "ValueError",
        "card declined",
    )
    assert trace["input"] == "12"


def test_async_functions_and_concurrent_tasks_are_traced_apart(receiver):
    metamon = client(receiver)

    @metamon.traced("answer")
    async def answer(question):
        await asyncio.sleep(0.01)
        with metamon.trace("inner", kind="tool"):
            await asyncio.sleep(0.01)
        return question.upper()

    async def main():
        return await asyncio.gather(answer("a"), answer("b"))

    assert asyncio.run(main()) == ["A", "B"]
    assert metamon.flush(10)
    traces = sorted(receiver.traces, key=lambda t: t["input"])
    assert [(t["input"], t["output"], len(t["spans"])) for t in traces] == [("a", "A", 1), ("b", "B", 1)]
    for trace in traces:  # each task's span belongs to its own trace
        assert trace["spans"][0]["parent_span_id"] == trace["id"].replace("-", "")


def test_an_unknown_kind_is_refused_before_the_block_runs(receiver):
    with pytest.raises(ValueError, match="kind must be one of"), client(receiver).trace("x", kind="llms"):
        pytest.fail("the block must not run")
