"""The REST ingest payload: `{"traces": [...]}`. Unknown fields are refused, not silently dropped.

Limits are explicit so that nothing accepted here breaks storage, indexing or scoring later: ids and
names have bounded lengths (the index keeps them as keywords), numbers are finite and bounded, and
timestamps lie between 1970-01-01 and one day from now (offsets are normalised to UTC)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

ID_LENGTH = 200  # trace, session, user ids; app, model, error type and guardrail names
LABEL_LENGTH = 100  # prompt version, domain, a tag, a metadata or attribute key
SOURCE_ID_LENGTH = 500  # a retrieved document's id (hierarchical ids are long)
MAX_TAGS = 50
MAX_KEYS = 100  # metadata keys, span attribute keys
MAX_CONTEXT_DOCUMENTS = 100
MAX_SPANS = 1000
MAX_LATENCY_SECONDS = 86_400.0
MAX_COST_USD = 100_000.0
MAX_TOKENS = 100_000_000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(days=1)  # clocks run ahead; a trace from next year is a bug, not a trace

Name = Annotated[str, Field(min_length=1, max_length=ID_LENGTH)]
Label = Annotated[str, Field(min_length=1, max_length=LABEL_LENGTH)]
Seconds = Annotated[float, Field(ge=0, le=MAX_LATENCY_SECONDS, allow_inf_nan=False)]
Dollars = Annotated[float, Field(ge=0, le=MAX_COST_USD, allow_inf_nan=False)]
Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]


def _in_range(value: datetime) -> datetime:
    """A timestamp without a zone is taken as UTC, the OpenTelemetry convention; any other offset is
    normalised to UTC. Outside 1970 .. now + 1 day it is refused (it could not be indexed or paged)."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted past the calendar by its offset
        raise ValueError("timestamp is outside the accepted range") from None
    latest = datetime.now(UTC) + FUTURE_SKEW
    if not EARLIEST <= value <= latest:
        raise ValueError(
            f"timestamp must lie between {EARLIEST.isoformat()} and one day from now ({latest:%Y-%m-%d})"
        )
    return value


Timestamp = Annotated[datetime, AfterValidator(_in_range)]


def _bounded_keys(value: dict) -> dict:
    if len(value) > MAX_KEYS:
        raise ValueError(f"at most {MAX_KEYS} keys")
    if long := [k for k in value if not 1 <= len(k) <= LABEL_LENGTH]:
        raise ValueError(f"keys must have 1 to {LABEL_LENGTH} characters (got one of {len(long[0])})")
    return value


Mapping = Annotated[dict, AfterValidator(_bounded_keys)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContextDocument(Strict):
    source_id: Annotated[str, Field(max_length=SOURCE_ID_LENGTH)] | None = None
    content: str = ""
    score: Annotated[float, Field(allow_inf_nan=False)] | None = None


class Reference(Strict):
    expected_answer: str | None = None
    facts: list[str] = []


class GuardrailResult(Strict):
    name: Name
    passed: bool
    detail: str | None = None


class SpanIn(Strict):
    span_id: Annotated[str, Field(min_length=1, max_length=64)]
    parent_span_id: Annotated[str, Field(max_length=64)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=500)]
    kind: Literal["llm", "retrieval", "tool", "chain", "embedding", "agent", "other"] = "other"
    start_time: Timestamp
    end_time: Timestamp | None = None
    status: Literal["ok", "error"] = "ok"
    input: str | None = None
    output: str | None = None
    attributes: Mapping = {}


class TraceIn(Strict):
    id: Name | None = Field(None, description="Your id for the trace; re-sending it updates the trace.")
    timestamp: Timestamp = Field(
        default_factory=lambda: datetime.now(UTC),
        description="From 1970-01-01 to one day from now; without an offset it is UTC.",
    )
    app: Name = "default"
    model: Name | None = None
    prompt_version: Label | None = None
    domain: Label | None = None
    session_id: Name | None = None
    user_id: Name | None = None
    input: str = ""
    output: str = ""
    retrieved_context: Annotated[list[ContextDocument], Field(max_length=MAX_CONTEXT_DOCUMENTS)] = []
    reference: Reference | None = None
    output_schema: dict | None = None
    latency_seconds: Seconds | None = None
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None
    cost_usd: Dollars | None = None
    status: Literal["ok", "error"] = "ok"
    error_type: Name | None = None
    error_message: str | None = None
    guardrails: Annotated[list[GuardrailResult], Field(max_length=100)] = []
    tags: Annotated[list[Label], Field(max_length=MAX_TAGS)] = []
    metadata: Mapping = {}
    spans: Annotated[list[SpanIn], Field(max_length=MAX_SPANS)] = []

    @field_validator("spans")
    @classmethod
    def _unique_span_ids(cls, spans: list[SpanIn]) -> list[SpanIn]:
        seen: set[str] = set()
        for span in spans:
            if span.span_id in seen:
                raise ValueError(f"span_id {span.span_id!r} appears twice in this trace")
            seen.add(span.span_id)
        return spans


class TraceBatch(Strict):
    traces: Annotated[list[TraceIn], Field(min_length=1)]


class IngestedTrace(BaseModel):
    id: str
    trace_id: str


class IngestResult(BaseModel):
    accepted: int
    traces: list[IngestedTrace]
