"""`POST /v1/traces` and `/v1/logs`: what the real OpenTelemetry SDK exporters, OpenInference's LangChain
tracer and OpenLLMetry-shaped instrumentations send, and the protocol's answers (partial success,
google.rpc.Status errors, Retry-After)."""

import base64
import gzip
import json
import socket
import time

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough
from openinference.instrumentation.langchain import LangChainInstrumentor
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from sqlalchemy import select
from sqlalchemy.engine import make_url

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.api.routes import otlp as otlp_route
from metamon.monitoring.db.models import PendingContent, Project, Span, Trace
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.ingest.otlp import mapping, writing


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
        ("application/json", b"[" * 10_000 + b"]" * 10_000, 400),
        ("text/plain", b"hello", 415),
    ],
    ids=[
        "garbage-protobuf",
        "garbage-json",
        "bad-hex-id",
        "missing-span-id",
        "nested-10000-deep",
        "wrong-type",
    ],
)
def test_bad_otlp_payloads_get_a_clear_4xx_and_write_nothing(
    client, make_key, database_url, content_type, body, status
):
    resp = client.post(
        "/v1/traces", content=body, headers={**make_key("otlp-bad"), "Content-Type": content_type}
    )
    assert resp.status_code == status
    assert status_message(resp, content_type)
    assert stored(database_url, "otlp-bad") == []


def test_gzip_bodies_are_accepted_and_gzip_bombs_refused(client, make_key, settings, database_url):
    headers = {**make_key("otlp-gzip"), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    ok = client.post("/v1/traces", content=gzip.compress(json.dumps(otlp_json()).encode()), headers=headers)
    assert ok.status_code == 200
    client.app.dependency_overrides[current_settings] = lambda: settings.model_copy(
        update={"ingest_max_body_bytes": 10_000}
    )
    bomb = client.post("/v1/traces", content=gzip.compress(b" " * 1_000_000), headers=headers)
    assert bomb.status_code == 413


def status_message(resp, content_type: str) -> str:
    """The google.rpc.Status of an error, in the encoding of the request."""
    if content_type == "application/x-protobuf":
        assert resp.headers["content-type"] == "application/x-protobuf"
        return status_pb2.Status.FromString(resp.content).message
    if resp.headers["content-type"].startswith("application/json"):
        return resp.json()["message"]
    return resp.json()["detail"]  # not an OTLP media type at all (415): the API's plain JSON error


def recorded(service: str = "rag-app"):
    """A tracer of the real SDK whose finished spans are kept, to be exported in any order later."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider.get_tracer("test"), memory


def rag_trace(tracer) -> None:
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("input.value", "How long do refunds take?")
        with tracer.start_as_current_span("retrieve") as r:
            r.set_attribute("gen_ai.operation.name", "retrieval")
            r.set_attribute("gen_ai.data_source.id", "kb")
            r.set_attribute("gen_ai.retrieval.documents", json.dumps([{"id": "12", "content": "30 days."}]))
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.response.model", "gpt-4o")
            chat.set_attribute("gen_ai.usage.input_tokens", 40)
        with tracer.start_as_current_span("execute_tool refund_status") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "refund_status")
        root.set_attribute("output.value", "Within 30 days.")


def test_errors_to_protobuf_requests_are_rpc_status_bodies(client):
    resp = client.post("/v1/traces", content=b"", headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 401
    status = status_pb2.Status.FromString(resp.content)
    assert status.code == code_pb2.UNAUTHENTICATED and "API key" in status.message
    resp = client.post("/v1/traces", content=b"{}x", headers={"Content-Type": "application/json"})
    assert resp.status_code == 401 and resp.json()["code"] == code_pb2.UNAUTHENTICATED


def _attribute(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def test_partial_success_stores_the_usable_spans_and_names_the_rest(live_api, client, make_key, database_url):
    tracer, memory = recorded()
    for question in ("first?", "second?", "third?"):
        with tracer.start_as_current_span("answer") as root:
            root.set_attribute("input.value", question)
    request = ExportTraceServiceRequest.FromString(
        encode_spans(memory.get_finished_spans()).SerializeToString()
    )
    kvlist = AnyValue()
    kvlist.kvlist_value.values.append(_attribute("name", AnyValue(string_value="billing")))
    request.resource_spans[0].scope_spans[0].spans[1].attributes.append(_attribute("metamon.domain", kvlist))
    headers = make_key("otlp-partial")
    resp = client.post(
        "/v1/traces",
        content=request.SerializeToString(),
        headers={**headers, "Content-Type": "application/x-protobuf"},
    )
    assert resp.status_code == 200
    reply = ExportTraceServiceResponse.FromString(resp.content)
    assert reply.partial_success.rejected_spans == 1
    assert "metamon.domain must be a string" in reply.partial_success.error_message
    assert sorted(t.input for t, _ in stored(database_url, "otlp-partial")) == ["first?", "third?"]
    # The JSON encoding answers in JSON; a kvlist where text is expected is never a 500.
    body = otlp_json(trace_hex="6b8efff798038103d269b633813fc60c")
    bad = json.loads(json.dumps(body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]))
    bad["spanId"] = "fee19b7ec3c1b174"
    bad["traceId"] = "7b8efff798038103d269b633813fc60c"
    bad["attributes"] = [{"key": "input.value", "value": {"kvlistValue": {"values": []}}}]
    bad["attributes"].append(
        {"key": "llm.model_name", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}}
    )
    body["resourceSpans"][0]["scopeSpans"][0]["spans"].append(bad)
    resp = client.post(
        "/v1/traces", content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )
    assert resp.status_code == 200
    assert resp.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "llm.model_name" in resp.json()["partialSuccess"]["errorMessage"]


def test_a_saturated_write_path_answers_429_with_retry_after(client, make_key, monkeypatch):
    monkeypatch.setattr(otlp_route, "MAX_WRITES_IN_FLIGHT", 0)
    resp = client.post(
        "/v1/traces",
        content=json.dumps(otlp_json()),
        headers={**make_key("otlp-busy"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 429 and resp.headers["retry-after"] == otlp_route.RETRY_AFTER_SATURATED
    assert resp.json()["code"] == code_pb2.RESOURCE_EXHAUSTED


def test_a_database_down_answers_503_with_retry_after_fast(client, settings):
    # A PostgreSQL that is not listening, as when the database is stopped.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = make_url(settings.database.url).set(port=port).render_as_string(hide_password=False)
    client.app.dependency_overrides[current_settings] = lambda: settings.model_copy(
        update={"database_url": down}
    )
    start = time.monotonic()
    resp = client.post(
        "/v1/traces",
        content=encode_spans([]).SerializeToString(),
        headers={"Authorization": "Bearer mm_x_y", "Content-Type": "application/x-protobuf"},
    )
    assert time.monotonic() - start < 10
    assert resp.status_code == 503 and resp.headers["retry-after"] == otlp_route.RETRY_AFTER_UNAVAILABLE
    assert status_pb2.Status.FromString(resp.content).code == code_pb2.UNAVAILABLE


def trace_summary(database_url: str, project: str) -> tuple:
    [(trace, spans)] = stored(database_url, project)
    return (
        trace.input,
        trace.output,
        trace.model,
        trace.input_tokens,
        trace.retrieved_context,
        round(trace.latency_seconds, 6),
        sorted((s.name, s.kind, s.parent_span_id is None) for s in spans),
        trace.counted_at is not None,
    )


def test_spans_of_one_trace_over_two_exports_in_either_order(live_api, make_key, database_url):
    tracer, memory = recorded()
    rag_trace(tracer)
    spans = memory.get_finished_spans()
    root = [s for s in spans if s.parent is None]
    children = [s for s in spans if s.parent is not None]
    for project, order in (("otlp-root-first", (root, children)), ("otlp-root-last", (children, root))):
        exporter = OTLPSpanExporter(endpoint=f"{live_api}/v1/traces", headers=make_key(project), timeout=10)
        for batch in order:
            assert exporter.export(batch).name == "SUCCESS"
    first, last = (
        trace_summary(database_url, "otlp-root-first"),
        trace_summary(database_url, "otlp-root-last"),
    )
    assert first == last
    assert first[:5] == (
        "How long do refunds take?",
        "Within 30 days.",
        "gpt-4o",
        40,
        [{"source_id": "kb/12", "content": "30 days.", "score": None}],
    )
    assert first[-1] is True  # counted in the usage counters once its root arrived
    assert {kind for _, kind, _ in first[6]} == {"other", "retrieval", "llm", "tool"}


def log_exporter(live_api: str, headers: dict) -> LoggerProvider:
    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{live_api}/v1/logs", headers=headers, timeout=10))
    )
    return provider


def emit_details(provider: LoggerProvider, context) -> None:
    provider.get_logger("genai").emit(
        LogRecord(
            context=context,
            event_name="gen_ai.client.inference.operation.details",
            attributes={
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "Where is my parcel?"}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "It ships today."}]}]
                ),
                "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Track parcels."}]),
            },
        )
    )
    provider.force_flush()


def test_content_log_records_join_their_span_in_either_order(live_api, make_key, database_url):
    for project, logs_first in (("otlp-logs-after", False), ("otlp-logs-before", True)):
        headers = make_key(project)
        tracer, memory = recorded("parcel-bot")
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4o")
            context = set_span_in_context(chat)
        logs = log_exporter(live_api, headers)
        exporter = OTLPSpanExporter(endpoint=f"{live_api}/v1/traces", headers=headers, timeout=10)
        if logs_first:
            emit_details(logs, context)
            with session_scope(database_url) as session:
                assert (
                    session.query(PendingContent)
                    .join(Trace)
                    .join(Project)
                    .filter(Project.slug == project)
                    .count()
                    == 1
                )
                hidden = session.scalars(select(Trace).join(Project).where(Project.slug == project)).one()
                assert hidden.evaluated_at is not None  # nothing to score until its span comes
        assert exporter.export(memory.get_finished_spans()).name == "SUCCESS"
        if not logs_first:
            emit_details(logs, context)
        logs.shutdown()
        [(trace, [span])] = stored(database_url, project)
        assert (span.input, span.output) == ("Where is my parcel?", "It ships today.")
        assert span.attributes["gen_ai.system_instructions"] == "Track parcels."
        assert (trace.input, trace.output, trace.app, trace.evaluated_at) == (
            "Where is my parcel?",
            "It ships today.",
            "parcel-bot",
            None,
        )
    with session_scope(database_url) as session:
        assert session.query(PendingContent).count() == 0


def test_logs_endpoint_answers_like_the_traces_one(client, make_key):
    headers = {**make_key("otlp-logs"), "Content-Type": "application/json"}
    assert client.post("/v1/logs", content=b"[" * 10_000, headers=headers).status_code == 400
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"eventName": "gen_ai.user.message", "body": {"kvlistValue": {"values": [
                                {"key": "content", "value": {"stringValue": "hi"}}]}}},
                            {"body": {"stringValue": "an application log line"}},
                        ]
                    }
                ]
            }
        ]
    }  # fmt: skip
    resp = client.post("/v1/logs", content=json.dumps(body), headers=headers)
    assert resp.status_code == 200
    assert resp.json()["partialSuccess"]["rejectedLogRecords"] == "1"


def test_openllmetry_shaped_spans(live_api, make_key, database_url):
    provider = provider_for(live_api, make_key("otlp-ollm"), "traceloop-app")
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai")
    with tracer.start_as_current_span("support.workflow") as wf:
        wf.set_attribute("traceloop.span.kind", "workflow")
        wf.set_attribute("traceloop.workflow.name", "support")
        with tracer.start_as_current_span("openai.chat") as chat:
            chat.set_attribute("llm.request.type", "chat")
            chat.set_attribute("gen_ai.system", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            chat.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            chat.set_attribute("gen_ai.prompt.0.role", "user")
            chat.set_attribute("gen_ai.prompt.0.content", "Where is my parcel?")
            chat.set_attribute("gen_ai.completion.0.role", "assistant")
            chat.set_attribute("gen_ai.completion.0.content", "It ships tomorrow.")
            chat.set_attribute("gen_ai.completion.0.finish_reason", "stop")
            chat.set_attribute("gen_ai.usage.prompt_tokens", 30)
            chat.set_attribute("gen_ai.usage.completion_tokens", 6)
    provider.shutdown()
    [(trace, spans)] = stored(database_url, "otlp-ollm")
    assert (trace.input, trace.output) == ("Where is my parcel?", "It ships tomorrow.")
    assert (trace.model, trace.input_tokens, trace.output_tokens) == ("gpt-4o-mini-2024-07-18", 30, 6)
    assert trace.metadata_["provider"] == "openai"
    assert [s.kind for s in spans] == ["chain", "llm"]


def test_an_export_sent_again_changes_nothing(live_api, make_key, database_url):
    tracer, memory = recorded()
    rag_trace(tracer)
    exporter = OTLPSpanExporter(endpoint=f"{live_api}/v1/traces", headers=make_key("otlp-retry"), timeout=10)
    spans = memory.get_finished_spans()
    assert exporter.export(spans).name == "SUCCESS"
    once = trace_summary(database_url, "otlp-retry")
    assert exporter.export(spans).name == "SUCCESS"  # as an exporter retries after a timeout
    assert trace_summary(database_url, "otlp-retry") == once
    [(_, stored_spans)] = stored(database_url, "otlp-retry")
    assert len(stored_spans) == 4
    root = next(s for s in stored_spans if s.parent_span_id is None)
    assert root.input == "How long do refunds take?" and "input.value" not in root.attributes  # stored once


def _any_values():
    """Generated AnyValues: every kind, nested, with the awkward ones (NaN, NUL, huge ints, bytes)."""
    scalars = st.one_of(
        st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=30)),
        st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
        st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=True, allow_infinity=True)),
        st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
        st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=10)),
        st.just(AnyValue()),
    )

    def nest(children):
        def array(values):
            value = AnyValue()
            value.array_value.values.extend(values)
            return value

        def kvlist(pairs):
            value = AnyValue()
            value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in pairs)
            return value

        return st.one_of(
            st.builds(array, st.lists(children, max_size=3)),
            st.builds(kvlist, st.lists(st.tuples(st.text(max_size=8), children), max_size=3)),
        )

    return st.recursive(scalars, nest, max_leaves=12)


# The keys the mapping reads, so generated values land where a type is expected.
FUZZ_KEYS = sorted(
    {*mapping.TEXT_KEYS, *mapping.NUMBER_KEYS, *writing.CONTENT_KEYS}
    | {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.operation.name",
    }
    | {"gen_ai.retrieval.documents", "metamon.reference", "metamon.tags", "metamon.metadata", "tag.tags"}
    | {"retrieval.documents.0.document.id", "gen_ai.prompt.0.content", "openinference.span.kind", "metadata"}
)


@st.composite
def exports(draw) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(draw(st.integers(1, 3))):
        span = scope.spans.add(
            trace_id=draw(st.sampled_from([b"\x01" * 16, b"\x02" * 16, b"", b"\x03" * 15])),
            span_id=draw(st.binary(min_size=8, max_size=8) | st.just(b"")),
            parent_span_id=draw(st.just(b"") | st.binary(min_size=8, max_size=8)),
            name=draw(st.text(max_size=20)),
            start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
            end_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        )
        span.status.code = draw(st.integers(0, 2))
        for key in draw(st.lists(st.sampled_from(FUZZ_KEYS), max_size=6)):
            span.attributes.append(KeyValue(key=key, value=draw(_any_values())))
        for _ in range(draw(st.integers(0, 2))):
            event = span.events.add(
                name=draw(st.sampled_from(["exception", "gen_ai.choice", mapping.DETAILS_EVENT]))
            )
            event.attributes.append(KeyValue(key=draw(st.sampled_from(FUZZ_KEYS)), value=draw(_any_values())))
    return request


def _as_json(request: ExportTraceServiceRequest) -> bytes:
    doc = json_format.MessageToDict(request)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(doc).encode()


@settings_(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=exports(), as_json=st.booleans())
def test_fuzzed_exports_never_get_a_5xx(client_module, key_module, request, as_json):
    body = _as_json(request) if as_json else request.SerializeToString()
    media_type = "application/json" if as_json else "application/x-protobuf"
    resp = client_module.post(
        "/v1/traces", content=body, headers={**key_module("otlp-fuzz"), "Content-Type": media_type}
    )
    assert resp.status_code in (200, 400), resp.content[:500]
