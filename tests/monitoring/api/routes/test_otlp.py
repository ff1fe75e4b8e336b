"""`POST /v1/traces`: what the real OpenTelemetry SDK exporter and OpenInference's LangChain tracer send."""

import json

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough
from openinference.instrumentation.langchain import LangChainInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import select

from metamon.monitoring.db.models import Project, Span, Trace
from metamon.monitoring.db.session import session_scope


def provider_for(live_api: str, headers: dict, service: str) -> TracerProvider:
    # SimpleSpanProcessor exports each span as it ends: children arrive before their root.
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=f"{live_api}/v1/traces", headers=headers, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def stored(database_url: str, project: str) -> list[tuple[Trace, list[Span]]]:
    with session_scope(database_url) as session:
        traces = session.scalars(select(Trace).join(Project).where(Project.slug == project)).all()
        return [
            (t, session.scalars(select(Span).where(Span.trace_id == t.id).order_by(Span.start_time)).all())
            for t in traces
        ]


def test_the_sdk_exporter_with_genai_attributes_makes_one_trace_with_its_spans(
    live_api, make_key, database_url
):
    provider = provider_for(live_api, make_key("otlp-sdk"), "rag-app")
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("input.value", "How long do refunds take?")
        root.set_attribute("metamon.prompt_version", "v7")
        root.set_attribute("metamon.domain", "billing")
        root.set_attribute("session.id", "sess-1")
        with tracer.start_as_current_span("retrieve") as retrieve:
            retrieve.set_attribute("openinference.span.kind", "RETRIEVER")
            retrieve.set_attribute("retrieval.documents.0.document.id", "kb-12")
            retrieve.set_attribute(
                "retrieval.documents.0.document.content", "Refunds are paid within 30 days."
            )
            retrieve.set_attribute("retrieval.documents.0.document.score", 0.91)
        for tokens in ((120, 9), (30, 4)):
            with tracer.start_as_current_span("chat gpt-4o") as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", "gpt-4o")
                chat.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
                chat.set_attribute("gen_ai.usage.input_tokens", tokens[0])
                chat.set_attribute("gen_ai.usage.output_tokens", tokens[1])
        root.set_attribute("output.value", "Within 30 days.")
    provider.shutdown()

    [(trace, spans)] = stored(database_url, "otlp-sdk")
    assert len(trace.external_id) == 32  # the OTel trace id, hex
    assert trace.app == "rag-app"
    assert trace.input == "How long do refunds take?"
    assert trace.output == "Within 30 days."
    assert trace.model == "gpt-4o-2024-08-06"
    assert (trace.input_tokens, trace.output_tokens) == (150, 13)
    assert (trace.prompt_version, trace.domain, trace.session_id) == ("v7", "billing", "sess-1")
    assert trace.retrieved_context == [
        {"source_id": "kb-12", "content": "Refunds are paid within 30 days.", "score": 0.91}
    ]
    assert trace.latency_seconds > 0 and trace.status == "ok"
    assert [s.kind for s in spans] == ["other", "retrieval", "llm", "llm"]
    assert spans[0].parent_span_id is None


def test_an_exception_marks_the_trace_as_an_error(live_api, make_key, database_url):
    provider = provider_for(live_api, make_key("otlp-err"), "rag-app")
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("answer") as root:
        try:
            raise TimeoutError("retriever timed out")
        except TimeoutError as exc:
            root.record_exception(exc)
            root.set_status(Status(StatusCode.ERROR, "retriever timed out"))
    provider.shutdown()
    [(trace, _)] = stored(database_url, "otlp-err")
    assert (trace.status, trace.error_type, trace.error_message) == (
        "error",
        "TimeoutError",
        "retriever timed out",
    )


class KnowledgeBase(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun):
        return [Document(page_content="Refunds are paid within 30 days.", metadata={"id": "kb-12"})]


def test_openinference_langchain_tracing_of_a_rag_chain(live_api, make_key, database_url):
    provider = provider_for(live_api, make_key("otlp-lc"), "lc-app")
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        prompt = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("human", "{question}")])
        llm = FakeListChatModel(responses=["Refunds take 30 days."])
        chain = (
            {"context": KnowledgeBase(), "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()
        )
        assert chain.invoke("How long do refunds take?") == "Refunds take 30 days."
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    [(trace, spans)] = stored(database_url, "otlp-lc")
    assert trace.app == "lc-app"
    assert "How long do refunds take?" in trace.input
    assert "Refunds take 30 days." in trace.output
    assert {"chain", "retrieval", "llm"} <= {s.kind for s in spans}
    assert trace.retrieved_context[0]["content"] == "Refunds are paid within 30 days."
    llm_span = next(s for s in spans if s.kind == "llm")
    assert "How long do refunds take?" in (llm_span.input or "")


def otlp_json(trace_hex="5b8efff798038103d269b633813fc60c", span_hex="eee19b7ec3c1b174") -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_hex,
                                "spanId": span_hex,
                                "name": "answer",
                                "kind": 2,
                                "startTimeUnixNano": "1763719200000000000",
                                "endTimeUnixNano": "1763719201500000000",
                                "attributes": [
                                    {"key": "input.value", "value": {"stringValue": "hello"}},
                                    {"key": "output.value", "value": {"stringValue": "hi there"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "claude"}},
                                ],
                                "status": {},
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_otlp_json_with_hex_ids_is_accepted(client, make_key, database_url):
    resp = client.post(
        "/v1/traces",
        content=json.dumps(otlp_json()),
        headers={**make_key("otlp-json"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    [(trace, spans)] = stored(database_url, "otlp-json")
    assert trace.external_id == "5b8efff798038103d269b633813fc60c"
    assert (trace.app, trace.input, trace.output, trace.latency_seconds) == (
        "json-app",
        "hello",
        "hi there",
        1.5,
    )
    assert spans[0].span_id == "eee19b7ec3c1b174" and spans[0].kind == "llm"


@pytest.mark.parametrize(
    "content_type,body,status",
    [
        ("application/x-protobuf", b"\xff\xff\xff not protobuf", 400),
        ("application/json", b"{not json", 400),
        ("application/json", json.dumps(otlp_json(trace_hex="zz")).encode(), 400),
        ("application/json", json.dumps(otlp_json(span_hex="")).encode(), 400),
        ("text/plain", b"hello", 415),
    ],
    ids=["garbage-protobuf", "garbage-json", "bad-hex-id", "missing-span-id", "wrong-type"],
)
def test_bad_otlp_payloads_get_a_clear_4xx_and_write_nothing(
    client, make_key, database_url, content_type, body, status
):
    resp = client.post(
        "/v1/traces", content=body, headers={**make_key("otlp-bad"), "Content-Type": content_type}
    )
    assert resp.status_code == status
    assert resp.json()["detail"]
    assert stored(database_url, "otlp-bad") == []


def test_gzip_bodies_are_accepted_and_gzip_bombs_refused(client, make_key, settings, database_url):
    import gzip

    from metamon.monitoring.api.deps import current_settings

    headers = {**make_key("otlp-gzip"), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    ok = client.post("/v1/traces", content=gzip.compress(json.dumps(otlp_json()).encode()), headers=headers)
    assert ok.status_code == 200
    client.app.dependency_overrides[current_settings] = lambda: settings.model_copy(
        update={"ingest_max_body_bytes": 10_000}
    )
    bomb = client.post("/v1/traces", content=gzip.compress(b" " * 1_000_000), headers=headers)
    assert bomb.status_code == 413
