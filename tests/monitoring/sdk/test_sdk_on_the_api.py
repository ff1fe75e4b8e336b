"""The SDK's decorator / context manager and its OpenTelemetry helper against the real API."""

from metamon.sdk import Metamon
from metamon.sdk.otel import send_to_metamon
from tests.monitoring.sdk.test_langchain_handler import key_of, traces_of


def test_a_traced_block_is_stored_with_its_spans_documents_tags_and_metadata(
    live_api, make_key, database_url
):
    metamon = Metamon(
        live_api, key_of(make_key("sdk-trace")), app="support-bot", prompt_version="v7", flush_interval=0.1
    )

    @metamon.traced(kind="retrieval")
    def search(question):
        return "Refunds are paid within 30 days."

    with metamon.trace("answer", input="How long?", tags=["beta"], metadata={"tier": "gold"}) as run:
        run.add_document("kb-12", search("How long?"), score=0.8)
        run.output, run.model = "30 days.", "gpt-4o"
    assert metamon.flush(10)
    [(trace, spans)] = traces_of(database_url, "sdk-trace")
    assert (trace.app, trace.prompt_version, trace.model, trace.status) == (
        "support-bot",
        "v7",
        "gpt-4o",
        "ok",
    )
    assert (trace.input, trace.output, trace.tags, trace.metadata_) == (
        "How long?",
        "30 days.",
        ["beta"],
        {"tier": "gold"},
    )
    assert trace.retrieved_context == [
        {"source_id": "kb-12", "content": "Refunds are paid within 30 days.", "score": 0.8}
    ]
    assert [s.kind for s in spans] == ["retrieval"]
    assert metamon.shipper.stats.sent == 1


def test_an_opentelemetry_provider_sends_genai_spans_to_metamon(live_api, make_key, database_url):
    provider = send_to_metamon(
        live_api, key_of(make_key("sdk-otel")), service_name="otel-bot", set_global=False
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 12)
        span.set_attribute("gen_ai.usage.output_tokens", 3)
        span.set_attribute("gen_ai.prompt", "Hello?")
        span.set_attribute("gen_ai.completion", "Hi.")
    assert provider.force_flush(10_000)
    provider.shutdown()
    [(trace, _)] = traces_of(database_url, "sdk-otel")
    assert (trace.app, trace.model, trace.input_tokens, trace.output_tokens) == (
        "otel-bot",
        "gpt-4o-mini",
        12,
        3,
    )
    assert (trace.input, trace.output) == ("Hello?", "Hi.")
