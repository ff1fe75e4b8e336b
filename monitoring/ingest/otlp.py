"""OTLP/HTTP traces (protobuf or JSON) mapped onto metamon traces and spans.

Attributes are read with both the OpenTelemetry GenAI semantic conventions (`gen_ai.*`) and
OpenInference's (`input.value`, `llm.model_name`, `retrieval.documents.N.document.*`). The root span
is the trace; every span is kept. Spans of one trace may arrive over several requests (an SDK exports
a child span before its parent ends), so trace fields are derived from all spans stored so far.
"""

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

OPENINFERENCE_KINDS = {
    "LLM": "llm",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "TOOL": "tool",
    "CHAIN": "chain",
    "EMBEDDING": "embedding",
    "AGENT": "agent",
}
GENAI_OPERATIONS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
_DOC_KEY = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(content|id|score)$")
_MESSAGE_KEY = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.content$")


class OtlpError(ValueError):
    """The payload is not a valid OTLP traces export."""


@dataclass
class OtelSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time: datetime
    end_time: datetime | None
    status: str
    attributes: dict
    kind: str = "other"
    input: str | None = None
    output: str | None = None
    events: list[dict] = field(default_factory=list)


def _value(v: AnyValue):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, kind) if kind else None


def _attrs(kvs) -> dict:
    return {kv.key: _value(kv.value) for kv in kvs}


def _hex_ids_to_base64(doc: dict) -> None:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64."""
    for rs in doc.get("resourceSpans", []) or []:
        for ss in rs.get("scopeSpans", []) or []:
            for span in ss.get("spans", []) or []:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        try:
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                        except ValueError as exc:
                            raise OtlpError(f"{key} {span[key]!r} is not hex") from exc


def decode(media_type: str, body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        if media_type == PROTOBUF:
            request.ParseFromString(body)
        else:
            doc = json.loads(body)
            if not isinstance(doc, dict):
                raise OtlpError("the JSON body must be an object with resourceSpans")
            _hex_ids_to_base64(doc)
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (DecodeError, json.JSONDecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise OtlpError(f"not a valid OTLP traces export: {exc}") from exc
    return request


def _time(nanos: int) -> datetime | None:
    return datetime.fromtimestamp(nanos / 1e9, UTC) if nanos else None


def _messages(attrs: dict, direction: str) -> str | None:
    parts = sorted(
        (int(m.group(2)), str(v))
        for k, v in attrs.items()
        if (m := _MESSAGE_KEY.match(k)) and m.group(1) == direction
    )
    return "\n".join(text for _, text in parts) or None


def _genai_messages(raw) -> str | None:
    """`gen_ai.input.messages` / `gen_ai.output.messages`: JSON lists of {role, parts: [{content}]}."""
    try:
        messages = json.loads(raw) if isinstance(raw, str) else raw
        texts = []
        for message in messages or []:
            if isinstance(message, dict):
                texts += [p.get("content", "") for p in message.get("parts", []) if isinstance(p, dict)]
                if isinstance(message.get("content"), str):
                    texts.append(message["content"])
        return "\n".join(t for t in texts if t) or None
    except (TypeError, ValueError):
        return str(raw)


def _event_text(events: list[dict], names: tuple[str, ...]) -> str | None:
    texts = [str(e["attributes"].get("content", "")) for e in events if e["name"] in names]
    return "\n".join(t for t in texts if t) or None


def span_kind(attrs: dict) -> str:
    if kind := OPENINFERENCE_KINDS.get(str(attrs.get("openinference.span.kind", "")).upper()):
        return kind
    if kind := GENAI_OPERATIONS.get(str(attrs.get("gen_ai.operation.name", ""))):
        return kind
    return "llm" if "gen_ai.request.model" in attrs or "llm.model_name" in attrs else "other"


def spans_of(request: ExportTraceServiceRequest) -> list[OtelSpan]:
    spans = []
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                if len(s.trace_id) != 16 or len(s.span_id) != 8:
                    raise OtlpError(f"span {s.name!r} has an invalid trace or span id")
                attrs = _attrs(s.attributes)
                if "service.name" in resource:
                    attrs.setdefault("service.name", resource["service.name"])
                events = [{"name": e.name, "attributes": _attrs(e.attributes)} for e in s.events]
                for e in events:  # exceptions become span attributes, easy to search and map
                    if e["name"] == "exception":
                        for key in ("exception.type", "exception.message"):
                            if key in e["attributes"]:
                                attrs.setdefault(key, e["attributes"][key])
                spans.append(
                    OtelSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        name=s.name or "span",
                        start_time=_time(s.start_time_unix_nano) or datetime.now(UTC),
                        end_time=_time(s.end_time_unix_nano),
                        status="error" if s.status.code == 2 else "ok",
                        attributes=attrs,
                        kind=span_kind(attrs),
                        input=attrs.get("input.value")
                        or _messages(attrs, "input")
                        or _genai_messages(attrs.get("gen_ai.input.messages"))
                        or attrs.get("gen_ai.prompt")
                        or _event_text(events, ("gen_ai.user.message", "gen_ai.system.message")),
                        output=attrs.get("output.value")
                        or _messages(attrs, "output")
                        or _genai_messages(attrs.get("gen_ai.output.messages"))
                        or attrs.get("gen_ai.completion")
                        or _event_text(events, ("gen_ai.choice", "gen_ai.assistant.message")),
                        events=events,
                    )
                )
                if s.status.code == 2 and s.status.message:
                    attrs.setdefault("exception.message", s.status.message)
    return spans


def _first(spans, *keys):
    for span in spans:
        for key in keys:
            value = span.attributes.get(key)
            if value not in (None, ""):
                return value
    return None


def _sum(spans, *keys) -> int | None:
    """Token counts summed over LLM spans, each span counted once under the first key it has."""
    total, seen = 0, False
    for span in spans:
        for key in keys:
            if isinstance(span.attributes.get(key), int | float):
                total += span.attributes[key]
                seen = True
                break
    return int(total) if seen else None


def _documents(spans) -> list[dict]:
    docs = []
    for span in spans:
        found: dict[int, dict] = {}
        for key, value in span.attributes.items():
            if m := _DOC_KEY.match(key):
                found.setdefault(int(m.group(1)), {})[m.group(2)] = value
        for _, doc in sorted(found.items()):
            docs.append(
                {
                    "source_id": str(doc["id"]) if doc.get("id") is not None else None,
                    "content": str(doc.get("content", "")),
                    "score": doc.get("score"),
                }
            )
    return docs


def _json_attr(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def trace_fields(spans: list) -> dict:
    """Trace columns derived from all the spans of one trace (any objects with OtelSpan's fields)."""
    ordered = sorted(spans, key=lambda s: s.start_time)
    ids = {s.span_id for s in ordered}
    roots = [s for s in ordered if not s.parent_span_id or s.parent_span_id not in ids]
    root = roots[0]
    llm = [s for s in ordered if s.kind == "llm"]
    errors = [s for s in ordered if s.status == "error"]
    metadata = _json_attr(root.attributes.get("metadata"))
    reference = _json_attr(_first(ordered, "metamon.reference"))
    tags = root.attributes.get("tag.tags")
    latency = (root.end_time - root.start_time).total_seconds() if root.end_time else None
    return {
        "timestamp": root.start_time,
        "app": str(_first([root, *ordered], "service.name") or "default")[:200],
        "model": _first(llm, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model"),
        "prompt_version": _first(ordered, "metamon.prompt_version", "llm.prompt_template.version"),
        "domain": _first(ordered, "metamon.domain"),
        "session_id": _first(ordered, "session.id", "gen_ai.conversation.id"),
        "user_id": _first(ordered, "user.id"),
        "input": root.input or (llm[0].input if llm else None) or "",
        "output": root.output or (llm[-1].output if llm else None) or "",
        "retrieved_context": _documents([s for s in ordered if s.kind == "retrieval"]),
        "reference": reference if isinstance(reference, dict) else None,
        "latency_seconds": max(latency, 0.0) if latency is not None else None,
        "input_tokens": _sum(
            llm, "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"
        ),
        "output_tokens": _sum(
            llm, "llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
        ),
        "cost_usd": _first(ordered, "metamon.cost_usd", "llm.cost.total"),
        "status": "error" if errors else "ok",
        "error_type": str(_first(errors, "exception.type") or "SpanError")[:200] if errors else None,
        "error_message": _first(errors, "exception.message") if errors else None,
        "tags": [str(t)[:100] for t in tags][:50] if isinstance(tags, list) else [],
        "metadata": metadata if isinstance(metadata, dict) else {},
    }
