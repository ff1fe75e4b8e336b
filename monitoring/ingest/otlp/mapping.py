"""OTLP spans and GenAI events mapped onto metamon's spans and trace fields.

Three attribute vocabularies are read: the OpenTelemetry GenAI semantic conventions (`gen_ai.*`, current
and older names, content as attributes or as events), OpenInference (`input.value`, `llm.model_name`,
`retrieval.documents.N.document.*`) and OpenLLMetry (`gen_ai.prompt.N.*`, `gen_ai.completion.N.*`,
`traceloop.*`), plus metamon's own `metamon.*`. The root span is the trace; trace fields are derived
from all the spans of the trace stored so far, whichever export brought them.
"""

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError

from metamon.monitoring.ingest.otlp.decoding import attributes, value
from metamon.monitoring.ingest.schemas import SpanIn, TraceIn

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
    "retrieval": "retrieval",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "invoke_workflow": "chain",
}
TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"

# Attributes that fill a trace column: a value of another type makes the span unusable (partial
# success names it) rather than a database error.
TEXT_KEYS = (
    "service.name",
    "llm.model_name",
    "gen_ai.response.model",
    "gen_ai.request.model",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.response.id",
    "gen_ai.data_source.id",
    "metamon.prompt_version",
    "llm.prompt_template.version",
    "metamon.domain",
    "session.id",
    "gen_ai.conversation.id",
    "user.id",
    "exception.type",
    "error.type",
)
NUMBER_KEYS = (
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "metamon.cost_usd",
    "llm.cost.total",
)
_TEXT_KEYS, _NUMBER_KEYS = frozenset(TEXT_KEYS), frozenset(NUMBER_KEYS)
INPUT_TOKENS = ("llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_INDEXED_PREFIXES = ("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.")
_DOC_KEY = re.compile(r"^(retrieval)\.documents\.(\d+)\.document\.(content|id|score)$")
_OI_MESSAGE_KEY = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(content|role)$")
_OLLM_MESSAGE_KEY = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(content|role)$")


class Unusable(ValueError):
    """A span (or a trace's spans) that cannot be stored; the rest of the export is."""


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


@dataclass
class Content:
    """Prompt and completion text carried by an event (span event or log record) or by attributes."""

    input: str | None = None
    output: str | None = None
    system: str | None = None

    def fill(self, other: "Content") -> "Content":
        """This content, with what it lacks taken from `other`."""
        return Content(self.input or other.input, self.output or other.output, self.system or other.system)

    def join(self, other: "Content") -> "Content":
        """Both contents, one after the other (several events of one span)."""
        return Content(
            _join([self.input, other.input]),
            _join([self.output, other.output]),
            _join([self.system, other.system]),
        )


def _text(raw) -> str | None:
    """Content as text: strings as they are, structured values as JSON."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        return raw
    return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()


def _loads(raw):
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    return raw


def _join(texts) -> str | None:
    return "\n".join(t for t in texts if t) or None


def _part_text(part) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type", "text") == "text":
        return _text(part.get("content"))
    return None


def _message_text(message) -> str | None:
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, list):
        return _join(_part_text(p) for p in content)
    parts = message.get("parts")
    return _text(content) or (_join(_part_text(p) for p in parts) if isinstance(parts, list) else None)


def messages_text(raw, *, system: bool | None = None) -> str | None:
    """`gen_ai.input.messages` / `gen_ai.output.messages` (a JSON string on spans, structured in events):
    [{role, parts: [{type: text, content}]}], the texts joined; `system` keeps only (True) or drops
    (False) system messages."""
    messages = _loads(raw)
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        return _text(raw)
    return _join(
        _message_text(m)
        for m in messages
        if system is None or (isinstance(m, dict) and m.get("role") == "system") == system
    )


def instructions_text(raw) -> str | None:
    """`gen_ai.system_instructions`: a list of parts ([{type: text, content}]) or plain text."""
    parts = _loads(raw)
    if isinstance(parts, list):
        return _join(_part_text(p) for p in parts)
    return _text(raw)


def event_content(name: str, attrs: dict, body=None) -> Content:
    """The content of a GenAI event: the current `gen_ai.client.inference.operation.details` and the
    older per-message events (`gen_ai.user.message`, `gen_ai.system.message`, `gen_ai.choice`, and
    `gen_ai.content.prompt` / `.completion`). Log records carry it in the body, span events in attributes."""
    payload = body if isinstance(body, dict) else attrs
    if name == DETAILS_EVENT:
        return Content(
            messages_text(attrs.get("gen_ai.input.messages"), system=False),
            messages_text(attrs.get("gen_ai.output.messages")),
            instructions_text(attrs.get("gen_ai.system_instructions"))
            or messages_text(attrs.get("gen_ai.input.messages"), system=True),
        )
    if name == "gen_ai.user.message":
        return Content(input=_message_text(payload) or _text(body))
    if name == "gen_ai.system.message":
        return Content(system=_message_text(payload) or _text(body))
    if name == "gen_ai.choice":
        # span events can only carry the message as a JSON string; log records carry a map
        return Content(output=_message_text(_loads(payload.get("message"))) or _message_text(payload))
    if name == "gen_ai.content.prompt":
        return Content(input=_text(attrs.get("gen_ai.prompt")))
    if name == "gen_ai.content.completion":
        return Content(output=_text(attrs.get("gen_ai.completion")))
    return Content()


def _indexed(attrs: dict, pattern: re.Pattern, direction: str) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for key, v in attrs.items():
        if (m := pattern.match(key)) and m.group(1) == direction:
            found.setdefault(int(m.group(2)), {})[m.group(3)] = v
    return found


def _indexed_text(attrs: dict, pattern: re.Pattern, direction: str, *, system: bool | None) -> str | None:
    messages = _indexed(attrs, pattern, direction)
    return _join(
        _text(m.get("content"))
        for _, m in sorted(messages.items())
        if system is None or (m.get("role") == "system") == system
    )


def attribute_content(attrs: dict, kind: str) -> Content:
    """Content carried by the span's own attributes, in each vocabulary (the first that has it wins)."""
    get, tool = attrs.get, kind == "tool"
    indexed = any(k.startswith(_INDEXED_PREFIXES) for k in attrs)
    return Content(
        _text(get("input.value"))
        or (indexed and _indexed_text(attrs, _OI_MESSAGE_KEY, "input", system=None))
        or (indexed and _indexed_text(attrs, _OLLM_MESSAGE_KEY, "prompt", system=False))
        or _text(get("traceloop.entity.input"))
        or messages_text(get("gen_ai.input.messages"), system=False)
        or _text(get("gen_ai.prompt"))
        or _text(get("gen_ai.retrieval.query.text"))
        or (tool and _text(get("gen_ai.tool.call.arguments")))
        or None,
        _text(get("output.value"))
        or (indexed and _indexed_text(attrs, _OI_MESSAGE_KEY, "output", system=None))
        or (indexed and _indexed_text(attrs, _OLLM_MESSAGE_KEY, "completion", system=None))
        or _text(get("traceloop.entity.output"))
        or messages_text(get("gen_ai.output.messages"))
        or _text(get("gen_ai.completion"))
        or (tool and _text(get("gen_ai.tool.call.result")))
        or None,
        instructions_text(get("gen_ai.system_instructions"))
        or messages_text(get("gen_ai.input.messages"), system=True)
        or (indexed and _indexed_text(attrs, _OLLM_MESSAGE_KEY, "prompt", system=True))
        or None,
    )


def span_kind(attrs: dict) -> str:
    if kind := OPENINFERENCE_KINDS.get(str(attrs.get("openinference.span.kind", "")).upper()):
        return kind
    if kind := GENAI_OPERATIONS.get(str(attrs.get("gen_ai.operation.name", ""))):
        return kind
    if kind := TRACELOOP_KINDS.get(str(attrs.get("traceloop.span.kind", ""))):
        return kind
    llm_keys = ("gen_ai.request.model", "llm.model_name", "llm.request.type")
    return "llm" if any(k in attrs for k in llm_keys) else "other"


def check_types(attrs: dict) -> None:
    for key in attrs.keys() & _TEXT_KEYS:
        v = attrs[key]
        if v is not None and not isinstance(v, str | int | float):
            raise Unusable(f"attribute {key} must be a string, got {type(v).__name__}")
    for key in attrs.keys() & _NUMBER_KEYS:
        v = attrs[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)):
            raise Unusable(f"attribute {key} must be a finite number, got {str(v)[:40]!r}")


def _max_length(model, name: str) -> int:
    return next(m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length"))


# Span ids, kinds and statuses are ours to make; a span's name is the one limit its sender can break.
_SPAN_NAME_MAX = _max_length(SpanIn, "name")


def _time(nanos: int) -> datetime | None:
    return datetime.fromtimestamp(nanos / 1e9, UTC) if nanos else None


def _limits_error(what: str, exc: ValidationError) -> Unusable:
    err = exc.errors(include_url=False, include_input=False)[0]
    return Unusable(f"{what}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}")


def map_span(s, resource: dict) -> OtelSpan:
    """One protobuf Span as an OtelSpan, or Unusable."""
    if len(s.trace_id) != 16 or len(s.span_id) != 8:
        raise Unusable(f"span {s.name[:100]!r} has an invalid trace or span id")
    attrs = attributes(s.attributes)
    if "service.name" in resource:
        attrs.setdefault("service.name", resource["service.name"])
    content = Content()
    for e in s.events:
        event_attrs = attributes(e.attributes)
        if e.name == "exception":  # exceptions become span attributes, easy to search and map
            for key in ("exception.type", "exception.message"):
                if key in event_attrs:
                    attrs.setdefault(key, event_attrs[key])
        else:
            content = content.join(event_content(e.name, event_attrs))
    if s.status.code == 2 and s.status.message:
        attrs.setdefault("exception.message", s.status.message)
    check_types(attrs)
    kind = span_kind(attrs)
    content = attribute_content(attrs, kind).fill(content)
    if content.system:
        attrs.setdefault("gen_ai.system_instructions", content.system)
    span = OtelSpan(
        trace_id=s.trace_id.hex(),
        span_id=s.span_id.hex(),
        parent_span_id=s.parent_span_id.hex() or None,
        name=s.name or "span",
        start_time=_time(s.start_time_unix_nano) or datetime.now(UTC),
        end_time=_time(s.end_time_unix_nano),
        status="error" if s.status.code == 2 else "ok",
        attributes=attrs,
        kind=kind,
        input=content.input,
        output=content.output,
    )
    if len(span.name) > _SPAN_NAME_MAX:  # the REST ingest's limit for a span name (schemas.SpanIn)
        raise Unusable(f"span {span.span_id}: name: longer than {_SPAN_NAME_MAX} characters")
    return span


def spans_of(request: ExportTraceServiceRequest) -> tuple[list[OtelSpan], list[str]]:
    """The usable spans of an export, and a reason for each span that is not."""
    spans, rejected = [], []
    for rs in request.resource_spans:
        resource = {kv.key: value(kv.value) for kv in rs.resource.attributes if kv.key == "service.name"}
        for ss in rs.scope_spans:
            for s in ss.spans:
                try:
                    spans.append(map_span(s, resource))
                except Unusable as exc:
                    rejected.append(str(exc))
    return spans, rejected


@dataclass
class LoggedContent:
    """GenAI content from a log record, for the span it names."""

    trace_id: str
    span_id: str
    content: Content


def contents_of(request: ExportLogsServiceRequest) -> tuple[list[LoggedContent], list[str]]:
    """The GenAI content events among the log records (others are accepted and ignored), and a reason
    for each content event that cannot be joined to a span."""
    contents, rejected = [], []
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                attrs = attributes(record.attributes)
                name = record.event_name or str(attrs.get("event.name", ""))
                if not name.startswith("gen_ai."):
                    continue
                content = event_content(name, attrs, value(record.body) if record.HasField("body") else None)
                if content == Content():
                    continue
                if len(record.trace_id) != 16 or len(record.span_id) != 8:
                    rejected.append(f"log record {name!r} has no valid trace and span id to join it to")
                    continue
                contents.append(LoggedContent(record.trace_id.hex(), record.span_id.hex(), content))
    return contents, rejected


def _merged(spans: list[OtelSpan]) -> dict:
    """The attributes of these spans in one dict, the earliest span's value winning: one pass, so each
    trace field is then a lookup."""
    if len(spans) == 1:
        return spans[0].attributes
    merged: dict = {}
    for span in reversed(spans):
        merged.update(span.attributes)
    return merged


def _first(attrs: dict, *keys):
    for key in keys:
        v = attrs.get(key)
        if v is not None and v != "":
            return v
    return None


def _str(v) -> str | None:
    return None if v is None else str(v)


def _sum(spans, keys) -> int | None:
    """Token counts summed over LLM spans, each span counted once under the first key it has."""
    total, seen = 0, False
    for span in spans:
        for key in keys:
            v = span.attributes.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                total += v
                seen = True
                break
    return int(total) if seen else None


def _source(data_source, doc_id) -> str | None:
    """Hierarchical source ids (`kb/doc-17`) when the span names its data source, so research can roll
    documents up to their source."""
    doc_id = _str(doc_id) if not isinstance(doc_id, dict | list) else None
    if data_source and doc_id:
        return f"{data_source}/{doc_id}"
    return doc_id or _str(data_source)


def _score(v) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def documents(span: OtelSpan) -> list[dict]:
    """Retrieved documents: OpenInference's flattened `retrieval.documents.N.document.*` and the GenAI
    `gen_ai.retrieval.documents` ([{id, score, content}]), under `gen_ai.data_source.id`."""
    data_source = _str(span.attributes.get("gen_ai.data_source.id"))
    found = (
        _indexed(span.attributes, _DOC_KEY, "retrieval")
        if any(k.startswith("retrieval.documents.") for k in span.attributes)
        else {}
    )
    docs = [doc for _, doc in sorted(found.items())]
    genai = _loads(span.attributes.get("gen_ai.retrieval.documents"))
    docs += [d for d in genai if isinstance(d, dict)] if isinstance(genai, list) else []
    return [
        {
            "source_id": _source(data_source, doc.get("id")),
            "content": _text(doc.get("content")) or "",
            "score": _score(doc.get("score")),
        }
        for doc in docs
    ]


def _json_object(v) -> dict | None:
    v = _loads(v)
    return v if isinstance(v, dict) else None


def _metadata(root: OtelSpan, llm: dict, last_llm: dict) -> dict:
    """metamon.metadata (a JSON object) or OpenInference's `metadata`, with the GenAI facts that have no
    trace column: provider, response id, finish reasons."""
    metadata = (
        _json_object(root.attributes.get("metamon.metadata"))
        or _json_object(root.attributes.get("metadata"))
        or {}
    )
    provider = _first(llm, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    finish = _first(last_llm, "gen_ai.response.finish_reasons")
    facts = {
        "provider": _str(provider),
        "response_id": _str(_first(last_llm, "gen_ai.response.id")),
        "finish_reasons": ",".join(map(str, finish)) if isinstance(finish, list) else _str(finish),
    }
    return {**{k: v for k, v in facts.items() if v}, **metadata}


def _reference(attrs: dict) -> dict | None:
    """`metamon.reference` as a JSON object, or `metamon.reference.expected_answer` / `.facts`."""
    if ref := _json_object(_first(attrs, "metamon.reference")):
        return ref
    answer = _first(attrs, "metamon.reference.expected_answer")
    facts = _first(attrs, "metamon.reference.facts")
    if answer is None and facts is None:
        return None
    return {"expected_answer": answer, "facts": facts if isinstance(facts, list) else []}


def _tags(root: OtelSpan) -> list:
    tags = _loads(root.attributes.get("metamon.tags")) or root.attributes.get("tag.tags")
    return tags if isinstance(tags, list) else []


def trace_fields(spans: list[OtelSpan]) -> dict:
    """The fields of a trace (TraceIn's) derived from all its spans."""
    ordered = sorted(spans, key=lambda s: s.start_time) if len(spans) > 1 else spans
    ids = {s.span_id for s in ordered}
    # Every span's parent among them (a span its own parent, a cycle): the earliest stands as the root.
    root = next((s for s in ordered if not s.parent_span_id or s.parent_span_id not in ids), ordered[0])
    llm_spans = [s for s in ordered if s.kind == "llm"]
    errors = [s for s in ordered if s.status == "error" or "error.type" in s.attributes]
    every, llm = _merged(ordered), _merged(llm_spans) if llm_spans else {}
    error = _merged(errors) if errors else {}
    latency = (root.end_time - root.start_time).total_seconds() if root.end_time else None
    cost = _first(every, "metamon.cost_usd", "llm.cost.total")
    return {
        "id": root.trace_id,
        "timestamp": root.start_time,
        "app": _str(_first(root.attributes, "service.name") or _first(every, "service.name")) or "default",
        "model": _str(_first(llm, "gen_ai.response.model", "llm.model_name", "gen_ai.request.model")),
        "prompt_version": _str(_first(every, "metamon.prompt_version", "llm.prompt_template.version")),
        "domain": _str(_first(every, "metamon.domain")),
        "session_id": _str(_first(every, "session.id", "gen_ai.conversation.id")),
        "user_id": _str(_first(every, "user.id")),
        "input": root.input or (llm_spans[0].input if llm_spans else None) or "",
        "output": root.output or (llm_spans[-1].output if llm_spans else None) or "",
        "retrieved_context": [d for s in ordered if s.kind == "retrieval" for d in documents(s)],
        "reference": _reference(every),
        "latency_seconds": max(latency, 0.0) if latency is not None else None,
        "input_tokens": _sum(llm_spans, INPUT_TOKENS),
        "output_tokens": _sum(llm_spans, OUTPUT_TOKENS),
        "cost_usd": float(cost) if cost is not None else None,
        "status": "error" if errors else "ok",
        "error_type": _str(_first(error, "exception.type", "error.type")) or "SpanError" if errors else None,
        "error_message": _str(_first(error, "exception.message")) if errors else None,
        "tags": _tags(root),
        "metadata": _metadata(root, llm, llm_spans[-1].attributes if llm_spans else {}),
        # given, so that pydantic need not copy the mutable defaults
        "guardrails": [],
        "spans": [],
    }


def trace_of(spans: list[OtelSpan]) -> TraceIn:
    """The trace of these spans within the REST ingest's limits (schemas.py), or Unusable."""
    fields = trace_fields(spans)
    try:
        return TraceIn.model_validate(fields)
    except ValidationError as exc:
        raise _limits_error(f"trace {fields['id']}", exc) from None
