"""The REST ingest payload: `{"traces": [...]}`. Unknown fields are refused, not silently dropped."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Name = Annotated[str, Field(min_length=1, max_length=200)]


def _aware(value: datetime) -> datetime:
    """A timestamp without a zone is taken as UTC, the OpenTelemetry convention."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContextDocument(Strict):
    source_id: Annotated[str, Field(max_length=500)] | None = None
    content: str = ""
    score: float | None = None


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
    start_time: Annotated[datetime, AfterValidator(_aware)]
    end_time: Annotated[datetime, AfterValidator(_aware)] | None = None
    status: Literal["ok", "error"] = "ok"
    input: str | None = None
    output: str | None = None
    attributes: dict = {}


class TraceIn(Strict):
    id: Name | None = Field(None, description="Your id for the trace; re-sending it updates the trace.")
    timestamp: Annotated[datetime, AfterValidator(_aware)] = Field(default_factory=lambda: datetime.now(UTC))
    app: Name = "default"
    model: Name | None = None
    prompt_version: Annotated[str, Field(max_length=100)] | None = None
    domain: Annotated[str, Field(max_length=100)] | None = None
    session_id: Name | None = None
    user_id: Name | None = None
    input: str = ""
    output: str = ""
    retrieved_context: list[ContextDocument] = []
    reference: Reference | None = None
    output_schema: dict | None = None
    latency_seconds: Annotated[float, Field(ge=0)] | None = None
    input_tokens: Annotated[int, Field(ge=0)] | None = None
    output_tokens: Annotated[int, Field(ge=0)] | None = None
    cost_usd: Annotated[float, Field(ge=0)] | None = None
    status: Literal["ok", "error"] = "ok"
    error_type: Name | None = None
    error_message: str | None = None
    guardrails: list[GuardrailResult] = []
    tags: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=50)] = []
    metadata: dict = {}
    spans: Annotated[list[SpanIn], Field(max_length=1000)] = []

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
