"""The OTLP mapping, on spans and log records as the real OpenTelemetry SDK encodes them (no servers)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context

from metamon.monitoring.ingest.otlp.decoding import JSON, PROTOBUF, OtlpError, decode
from metamon.monitoring.ingest.otlp.mapping import (
    OtelSpan,
    Unusable,
    contents_of,
    spans_of,
    trace_fields,
    trace_of,
)


@pytest.fixture
def sdk():
    """A tracer of the real SDK and a function returning what it recorded, encoded as the exporter does."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))

    def exported() -> ExportTraceServiceRequest:
        request = ExportTraceServiceRequest.FromString(
            encode_spans(memory.get_finished_spans()).SerializeToString()
        )
        memory.clear()
        return request

    yield provider.get_tracer("test"), exported
    provider.shutdown()


def mapped(request: ExportTraceServiceRequest):
    spans, rejected = spans_of(request)
    assert rejected == []
    return spans, trace_fields(spans)


def test_current_genai_conventions(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("invoke_agent support") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.conversation.id", "conv-7")
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o")
            chat.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            chat.set_attribute("gen_ai.response.id", "chatcmpl-42")
            chat.set_attribute("gen_ai.response.finish_reasons", ["length"])
            chat.set_attribute("gen_ai.usage.input_tokens", 120)
            chat.set_attribute("gen_ai.usage.output_tokens", 9)
            chat.set_attribute(
                "gen_ai.system_instructions", json.dumps([{"type": "text", "content": "Answer briefly."}])
            )
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "How long do refunds take?"}]}]
                ),
            )
            chat.set_attribute(
                "gen_ai.output.messages",
                json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": "Within 30"}],
                            "finish_reason": "length",
                        }
                    ]
                ),
            )
            chat.set_attribute("error.type", "length_exceeded")
    spans, fields = mapped(exported())
    assert {s.name: s.kind for s in spans} == {"invoke_agent support": "agent", "chat gpt-4o": "llm"}
    assert fields["model"] == "gpt-4o-2024-08-06"
    assert (fields["input"], fields["output"]) == ("How long do refunds take?", "Within 30")
    assert (fields["input_tokens"], fields["output_tokens"]) == (120, 9)
    assert fields["session_id"] == "conv-7"
    assert fields["metadata"] == {
        "provider": "openai",
        "response_id": "chatcmpl-42",
        "finish_reasons": "length",
    }
    assert (fields["status"], fields["error_type"]) == ("error", "length_exceeded")
    chat_span = next(s for s in spans if s.kind == "llm")
    assert chat_span.attributes["gen_ai.system_instructions"]  # kept on the span, not in the question


def test_the_older_gen_ai_system_names_the_provider(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("chat") as chat:
        chat.set_attribute("gen_ai.system", "anthropic")
        chat.set_attribute("gen_ai.request.model", "claude-3")
    _, fields = mapped(exported())
    assert (fields["model"], fields["metadata"]["provider"]) == ("claude-3", "anthropic")


def test_retrieval_spans_give_the_trace_its_context_and_sources(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("answer"), tracer.start_as_current_span("retrieval kb") as r:
        r.set_attribute("gen_ai.operation.name", "retrieval")
        r.set_attribute("gen_ai.data_source.id", "help-center")
        r.set_attribute("gen_ai.retrieval.query.text", "refund delay")
        r.set_attribute(
            "gen_ai.retrieval.documents",
            json.dumps([{"id": "doc-17", "score": 0.9, "content": "Refunds take 30 days."}, {"id": "doc-3"}]),
        )
    spans, fields = mapped(exported())
    retrieval = next(s for s in spans if s.kind == "retrieval")
    assert retrieval.input == "refund delay"
    assert fields["retrieved_context"] == [
        {"source_id": "help-center/doc-17", "content": "Refunds take 30 days.", "score": 0.9},
        {"source_id": "help-center/doc-3", "content": "", "score": None},
    ]


def test_tool_calls(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("execute_tool lookup_order") as t:
        t.set_attribute("gen_ai.operation.name", "execute_tool")
        t.set_attribute("gen_ai.tool.name", "lookup_order")
        t.set_attribute("gen_ai.tool.call.arguments", '{"order": 7}')
        t.set_attribute("gen_ai.tool.call.result", '{"status": "shipped"}')
    [span], _ = mapped(exported())
    assert (span.kind, span.input, span.output) == ("tool", '{"order": 7}', '{"status": "shipped"}')
    assert span.attributes["gen_ai.tool.name"] == "lookup_order"


def test_content_as_span_events_current_and_older(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("chat") as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.add_event(
            "gen_ai.client.inference.operation.details",
            {
                "gen_ai.input.messages": json.dumps(
                    [
                        {"role": "system", "parts": [{"type": "text", "content": "Be kind."}]},
                        {"role": "user", "parts": [{"type": "text", "content": "Hi?"}]},
                    ]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}]}]
                ),
            },
        )
    with tracer.start_as_current_span("chat old") as old:
        old.set_attribute("gen_ai.operation.name", "chat")
        old.add_event("gen_ai.user.message", {"content": "What is 2+2?"})
        old.add_event("gen_ai.choice", {"message": json.dumps({"content": "4"}), "content": "4"})
    spans, _ = spans_of(exported())
    current, older = spans
    assert (current.input, current.output) == ("Hi?", "Hello!")
    assert current.attributes["gen_ai.system_instructions"] == "Be kind."
    assert (older.input, older.output) == ("What is 2+2?", "4")


def test_openllmetry_indexed_prompts_and_completions(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("support.workflow") as wf:
        wf.set_attribute("traceloop.span.kind", "workflow")
        wf.set_attribute("traceloop.entity.input", '{"question": "Where is my parcel?"}')
        with tracer.start_as_current_span("openai.chat") as chat:
            chat.set_attribute("llm.request.type", "chat")
            chat.set_attribute("gen_ai.system", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            chat.set_attribute("gen_ai.prompt.0.role", "system")
            chat.set_attribute("gen_ai.prompt.0.content", "You track parcels.")
            chat.set_attribute("gen_ai.prompt.1.role", "user")
            chat.set_attribute("gen_ai.prompt.1.content", "Where is my parcel?")
            chat.set_attribute("gen_ai.completion.0.role", "assistant")
            chat.set_attribute("gen_ai.completion.0.content", "It ships tomorrow.")
            chat.set_attribute("gen_ai.usage.prompt_tokens", 30)
            chat.set_attribute("gen_ai.usage.completion_tokens", 6)
    spans, fields = mapped(exported())
    chat_span = next(s for s in spans if s.name == "openai.chat")
    assert (chat_span.kind, chat_span.input, chat_span.output) == (
        "llm",
        "Where is my parcel?",
        "It ships tomorrow.",
    )
    assert chat_span.attributes["gen_ai.system_instructions"] == "You track parcels."
    assert next(s for s in spans if s.name == "support.workflow").kind == "chain"
    assert fields["input"] == '{"question": "Where is my parcel?"}'
    assert fields["output"] == "It ships tomorrow."
    assert (fields["model"], fields["input_tokens"], fields["output_tokens"]) == ("gpt-4o-mini", 30, 6)


def test_metamon_attributes(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("metamon.prompt_version", "v3")
        root.set_attribute("metamon.domain", "billing")
        root.set_attribute("metamon.cost_usd", 0.0042)
        root.set_attribute("metamon.tags", ["beta", "eu"])
        root.set_attribute("metamon.metadata", json.dumps({"tenant": "acme", "tier": 2}))
        root.set_attribute("metamon.reference.expected_answer", "Refunds take 30 days.")
        root.set_attribute("metamon.reference.facts", ["30 days"])
    _, fields = mapped(exported())
    assert (fields["prompt_version"], fields["domain"], fields["cost_usd"]) == ("v3", "billing", 0.0042)
    assert fields["tags"] == ["beta", "eu"]
    assert fields["metadata"] == {"tenant": "acme", "tier": 2}
    assert fields["reference"] == {"expected_answer": "Refunds take 30 days.", "facts": ["30 days"]}
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("metamon.reference", json.dumps({"expected_answer": "42", "facts": ["42"]}))
    _, fields = mapped(exported())
    assert fields["reference"] == {"expected_answer": "42", "facts": ["42"]}


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def test_structured_values_where_text_is_expected_reject_the_span_not_the_export(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("good") as good:
        good.set_attribute("input.value", "fine")
    with tracer.start_as_current_span("bad"):
        pass
    request = exported()
    bad = request.resource_spans[0].scope_spans[0].spans[1]
    kvlist = AnyValue()
    kvlist.kvlist_value.values.append(_kv("x", AnyValue(string_value="y")))
    bad.attributes.append(_kv("metamon.domain", kvlist))
    spans, rejected = spans_of(request)
    assert [s.name for s in spans] == ["good"]
    assert rejected == ["attribute metamon.domain must be a string, got dict"]
    # Content given as a structure is kept, as JSON text.
    array = AnyValue()
    array.array_value.values.append(AnyValue(int_value=1))
    bad.attributes[-1].CopyFrom(_kv("input.value", array))
    spans, rejected = spans_of(request)
    assert rejected == [] and spans[1].input == "[1]"


def test_limits_of_the_rest_ingest_apply(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("x" * 501):
        pass
    spans, rejected = spans_of(exported())
    assert spans == [] and "name" in rejected[0]
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("metamon.domain", "d" * 101)
    spans, rejected = spans_of(exported())
    with pytest.raises(Unusable, match="domain"):
        trace_of(spans)


def test_spans_that_are_each_others_parents_still_make_a_trace():
    """No span without a parent among them (found by fuzzing: a 500 before): the earliest is the root."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    spans = [
        OtelSpan("t1", "b", "a", "second", start + timedelta(seconds=1), None, "ok", {}),
        OtelSpan("t1", "a", "b", "first", start, start + timedelta(seconds=2), "ok", {}),
    ]
    fields = trace_fields(spans)
    assert (fields["id"], fields["timestamp"], fields["latency_seconds"]) == ("t1", start, 2.0)
    assert trace_fields([OtelSpan("t2", "a", "a", "self", start, None, "ok", {})])["timestamp"] == start


def test_nul_characters_are_dropped(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("input.value", "a\x00b")
    [span], _ = spans_of(exported())
    assert span.input == "ab"


def _nested_json(depth: int) -> bytes:
    value = '{"stringValue": "x"}'
    for _ in range(depth):
        value = '{"kvlistValue": {"values": [{"key": "k", "value": ' + value + "}]}}"
    span = (
        '{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "n", '
        '"attributes": [{"key": "deep", "value": ' + value + "}]}"
    )
    return ('{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + "]}]}]}").encode()


@pytest.mark.parametrize(
    "media_type,body",
    [
        (JSON, b"[" * 10_000 + b"]" * 10_000),
        (JSON, _nested_json(10_000)),
        (JSON, _nested_json(150)),  # within JSON's depth, beyond protobuf's
        (JSON, b'{"resourceSpans": 5}'),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}'),
        (JSON, b"[]"),
        (PROTOBUF, b"\xff\xff\xff not protobuf"),
    ],
    ids=["deep-array", "deep-kvlist", "kvlist-150", "wrong-shape", "bad-hex", "not-an-object", "garbage"],
)
def test_hostile_bodies_are_otlp_errors(media_type, body):
    with pytest.raises(OtlpError):
        decode(media_type, body, ExportTraceServiceRequest)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, by hand: the library refuses to build a message this deep."""
    size, length = len(payload), b""
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            return bytes([number << 3 | 2]) + length + payload


def test_deep_protobuf_values_are_refused():
    value = AnyValue(string_value="x").SerializeToString()
    for _ in range(150):  # AnyValue.array_value (5) -> ArrayValue.values (1) -> AnyValue ...
        value = _field(5, _field(1, value))
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"1" * 16, span_id=b"2" * 8, name="n")
    )
    body = request.SerializeToString()
    span_bytes = span.SerializeToString() + _field(
        9, _field(1, b"deep") + _field(2, value)
    )  # Span.attributes
    deep = _field(1, _field(2, _field(2, span_bytes)))  # resource_spans -> scope_spans -> spans
    assert len(deep) > len(body)
    with pytest.raises(OtlpError):
        decode(PROTOBUF, deep, ExportTraceServiceRequest)


def _logs(emit) -> ExportLogsServiceRequest:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    emit(provider.get_logger("test"))
    return ExportLogsServiceRequest.FromString(encode_logs(memory.get_finished_logs()).SerializeToString())


def test_content_log_records_name_their_span(sdk):
    tracer, _ = sdk
    with tracer.start_as_current_span("chat") as span:
        context = set_span_in_context(span)

    def emit(logger):
        logger.emit(
            LogRecord(
                context=context,
                event_name="gen_ai.client.inference.operation.details",
                attributes={
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "Hi?"}]}]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}]}]
                    ),
                    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be kind."}]),
                },
            )
        )
        logger.emit(LogRecord(context=context, event_name="gen_ai.user.message", body={"content": "Again?"}))
        logger.emit(
            LogRecord(
                context=context,
                event_name="gen_ai.choice",
                body={"index": 0, "message": {"role": "assistant", "content": "Yes."}},
            )
        )
        logger.emit(LogRecord(event_name="gen_ai.user.message", body={"content": "orphan"}))
        logger.emit(LogRecord(context=context, body="an ordinary application log line"))

    contents, rejected = contents_of(_logs(emit))
    ids = {(c.trace_id, c.span_id) for c in contents}
    assert ids == {(format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"))}
    assert [(c.content.input, c.content.output, c.content.system) for c in contents] == [
        ("Hi?", "Hello!", "Be kind."),
        ("Again?", None, None),
        (None, "Yes.", None),
    ]
    assert rejected == ["log record 'gen_ai.user.message' has no valid trace and span id to join it to"]


def test_an_error_status_marks_the_trace(sdk):
    tracer, exported = sdk
    with tracer.start_as_current_span("answer") as root:
        root.record_exception(TimeoutError("slow"))
        root.set_status(Status(StatusCode.ERROR, "slow"))
    _, fields = mapped(exported())
    assert (fields["status"], fields["error_type"], fields["error_message"]) == (
        "error",
        "TimeoutError",
        "slow",
    )
